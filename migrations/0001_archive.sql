-- The archive: an append-only log of every payload, and the normalized state derived from it.
-- Times are UTC milliseconds since the epoch. Ids are Avaya's own (24 hex characters).

-- Every payload exactly as received (zstd-compressed), in arrival order.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    received_at  INTEGER NOT NULL,
    source       TEXT    NOT NULL CHECK (source IN ('live', 'backfill', 'import')),
    category     TEXT    NOT NULL,
    known        INTEGER NOT NULL,
    space_id     TEXT,
    message_id   TEXT,
    digest       BLOB    NOT NULL UNIQUE,
    payload      BLOB    NOT NULL
);
CREATE INDEX events_unknown ON events (category) WHERE known = 0;

-- Running totals that are not derivable from rows (payloads received again).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('duplicates', 0);

-- Input that could not be archived, with why and where it came from.
CREATE TABLE rejected (
    id           INTEGER PRIMARY KEY,
    received_at  INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    source_name  TEXT    NOT NULL,
    line         INTEGER,
    reason       TEXT    NOT NULL,
    raw_len      INTEGER NOT NULL,
    raw          BLOB    NOT NULL
);

CREATE TABLE people (
    id            TEXT PRIMARY KEY,
    display_name  TEXT,
    username      TEXT,
    type          TEXT,
    picture_url   TEXT
);

CREATE TABLE spaces (
    id                TEXT PRIMARY KEY,
    title             TEXT,
    type              TEXT,
    status            INTEGER,
    description_html  TEXT,
    settings          TEXT,
    retention         TEXT,
    created           INTEGER,
    modified          INTEGER,
    first_seq         INTEGER NOT NULL
);

-- Current state of every message; its content is the version `current_vno`.
CREATE TABLE messages (
    id           TEXT PRIMARY KEY,
    space_id     TEXT REFERENCES spaces (id),
    kind         TEXT NOT NULL CHECK (kind IN ('chat', 'post', 'task')),
    kind_known   INTEGER NOT NULL,
    parent_id    TEXT,
    sender_id    TEXT REFERENCES people (id),
    created      INTEGER,
    modified     INTEGER,
    task_status  TEXT,
    due          INTEGER,
    like_count   INTEGER,
    chat_count   INTEGER,
    removed_at   INTEGER,
    removed_by   TEXT REFERENCES people (id),
    current_vno  INTEGER NOT NULL,
    version_count INTEGER NOT NULL
);
CREATE INDEX messages_space_created ON messages (space_id, created, id);

-- Every distinct state of a message, the removal included. The HTML is not stored
-- twice: `html` is NULL when it is the `content.bodyText` of the payload of
-- `event_seq` (or, when that payload has none, when it equals `text`); likewise
-- `description_html` with `content.description` and `description_text`.
CREATE TABLE versions (
    id                INTEGER PRIMARY KEY,
    message_id        TEXT    NOT NULL REFERENCES messages (id),
    vno               INTEGER NOT NULL,
    event_seq         INTEGER NOT NULL REFERENCES events (seq),
    change            TEXT    NOT NULL CHECK (change IN ('create', 'update', 'remove')),
    at                INTEGER NOT NULL,
    rank              INTEGER NOT NULL,
    modified          INTEGER,
    editor_id         TEXT,
    removed           INTEGER NOT NULL,
    text              TEXT    NOT NULL,
    html              TEXT,
    description_text  TEXT    NOT NULL,
    description_html  TEXT,
    task_status       TEXT,
    due               INTEGER,
    attachments       TEXT,
    assignees         TEXT,
    digest            BLOB    NOT NULL,
    UNIQUE (message_id, vno)
);

-- Attachments of each message's current version.
CREATE TABLE attachments (
    message_id      TEXT    NOT NULL REFERENCES messages (id),
    position        INTEGER NOT NULL,
    file_id         TEXT,
    name            TEXT,
    file_type       TEXT,
    mime            TEXT,
    size            INTEGER,
    provider        TEXT,
    path            TEXT,
    thumbnail_file  TEXT,
    PRIMARY KEY (message_id, position)
);

-- Assignees of each task's current version.
CREATE TABLE task_assignees (
    message_id  TEXT NOT NULL REFERENCES messages (id),
    person_id   TEXT NOT NULL REFERENCES people (id),
    PRIMARY KEY (message_id, person_id)
);

-- Who is in each space as of the latest membership snapshot applied.
CREATE TABLE space_members (
    space_id   TEXT NOT NULL REFERENCES spaces (id),
    person_id  TEXT NOT NULL REFERENCES people (id),
    role       TEXT,
    joined_at  INTEGER,
    left_at    INTEGER,
    PRIMARY KEY (space_id, person_id)
);

-- Joins and leaves as they were seen in successive snapshots.
CREATE TABLE membership_changes (
    id         INTEGER PRIMARY KEY,
    space_id   TEXT    NOT NULL REFERENCES spaces (id),
    person_id  TEXT    NOT NULL REFERENCES people (id),
    change     TEXT    NOT NULL CHECK (change IN ('join', 'leave')),
    at         INTEGER,
    role       TEXT,
    event_seq  INTEGER NOT NULL REFERENCES events (seq)
);
CREATE INDEX membership_changes_space ON membership_changes (space_id, at);

CREATE TABLE read_markers (
    space_id    TEXT    NOT NULL REFERENCES spaces (id),
    person_id   TEXT    NOT NULL REFERENCES people (id),
    read_at     INTEGER,
    message_id  TEXT,
    event_seq   INTEGER NOT NULL REFERENCES events (seq),
    PRIMARY KEY (space_id, person_id)
);

CREATE TABLE preferences (
    space_id      TEXT    NOT NULL REFERENCES spaces (id),
    person_id     TEXT    NOT NULL REFERENCES people (id),
    pinned        INTEGER,
    notification  INTEGER,
    event_seq     INTEGER NOT NULL REFERENCES events (seq),
    PRIMARY KEY (space_id, person_id)
);
