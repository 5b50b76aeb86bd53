-- Attachments' bytes: one row per file key (an attachment's `fileId`, or a thumbnail's
-- `thumbnailFile`), the queue the fetcher works through and what it found. The bytes
-- live outside SQLite, in `files/<sha256>` in the data directory: one copy per
-- distinct content, however many files and messages share it.
--
-- status:
--   pending    not fetched yet
--   stored     the bytes are in files/<sha256>
--   failed     the last attempt failed in a way that may pass (5xx, timeout, reset);
--              retried from next_attempt on, with back-off
--   gone       the storage says the file is not there (404, 410, 403 on a fresh URL)
--   too_large  bigger than --max-file-size: not fetched
CREATE TABLE files (
    file_id        TEXT    PRIMARY KEY,
    -- 'attachment', or 'thumbnail' (of the file `thumbnail_of`).
    role           TEXT    NOT NULL DEFAULT 'attachment' CHECK (role IN ('attachment', 'thumbnail')),
    thumbnail_of   TEXT,
    name           TEXT,
    mime           TEXT,
    -- The size the message states (`fileSize`), before anything is fetched.
    declared_size  INTEGER,
    -- Where the file can be had when no download URL can: `path`, `previewUrl`
    -- (`thumbnailUrl` for a thumbnail).
    path           TEXT,
    preview_url    TEXT,
    status         TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'stored', 'failed', 'gone', 'too_large')),
    sha256         TEXT,
    size           INTEGER,
    attempts       INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    next_attempt   INTEGER NOT NULL DEFAULT 0,
    fetched_at     INTEGER,
    first_seen     INTEGER NOT NULL
);

-- What the fetcher looks for: files not yet stored whose time has come.
CREATE INDEX files_due ON files (next_attempt) WHERE status IN ('pending', 'failed');

-- Which messages carry each file (in any version, current or earlier).
CREATE TABLE file_messages (
    file_id     TEXT NOT NULL REFERENCES files (file_id),
    message_id  TEXT NOT NULL REFERENCES messages (id),
    PRIMARY KEY (file_id, message_id)
) WITHOUT ROWID;
CREATE INDEX file_messages_by_message ON file_messages (message_id);

-- The text of stored text-like files (plain, CSV, Markdown, HTML, PDF, DOCX, XLSX), by
-- content, as indexed with the messages that carry them; or why none could be had.
CREATE TABLE file_texts (
    sha256     TEXT    PRIMARY KEY,
    text       TEXT,
    truncated  INTEGER NOT NULL DEFAULT 0,
    error      TEXT
) WITHOUT ROWID;

-- Archives written before this migration: every attachment of every stored version
-- (and its thumbnail) is queued.
INSERT INTO files (file_id, name, mime, declared_size, path, preview_url, first_seen)
SELECT json_extract(a.value, '$.file_id'), max(json_extract(a.value, '$.name')),
       max(json_extract(a.value, '$.mime')), max(json_extract(a.value, '$.size')),
       max(json_extract(a.value, '$.path')), max(json_extract(a.value, '$.preview_url')),
       min(v.at)
FROM versions v, json_each(v.attachments) a
WHERE v.attachments IS NOT NULL AND json_valid(v.attachments)
  AND coalesce(json_extract(a.value, '$.file_id'), '') <> ''
GROUP BY 1;
INSERT INTO files (file_id, role, thumbnail_of, first_seen)
SELECT json_extract(a.value, '$.thumbnail_file'), 'thumbnail', max(json_extract(a.value, '$.file_id')),
       min(v.at)
FROM versions v, json_each(v.attachments) a
WHERE v.attachments IS NOT NULL AND json_valid(v.attachments)
  AND coalesce(json_extract(a.value, '$.thumbnail_file'), '') <> ''
GROUP BY 1
ON CONFLICT (file_id) DO NOTHING;
INSERT INTO file_messages (file_id, message_id)
SELECT DISTINCT json_extract(a.value, '$.file_id'), v.message_id
FROM versions v, json_each(v.attachments) a
WHERE v.attachments IS NOT NULL AND json_valid(v.attachments)
  AND coalesce(json_extract(a.value, '$.file_id'), '') <> ''
UNION
SELECT DISTINCT json_extract(a.value, '$.thumbnail_file'), v.message_id
FROM versions v, json_each(v.attachments) a
WHERE v.attachments IS NOT NULL AND json_valid(v.attachments)
  AND coalesce(json_extract(a.value, '$.thumbnail_file'), '') <> '';

-- The index outbox's marks rise strictly from batch to batch (see store/writer.rs);
-- until now a batch's mark was its last event's sequence number.
INSERT INTO counters (name, value) VALUES ('outbox_mark', (SELECT coalesce(max(seq), 0) FROM events));
