-- Tamper evidence, legal holds and retention (src/chain/, src/retention/).
--
-- Every stored payload and every rejected input carries `chain`, the SHA-256 of the
-- row before's chain, its own sequence number, time, source and the SHA-256 of its
-- payload bytes (see src/chain/link.rs for the exact bytes). Rows written before this
-- migration get theirs when the archive is next opened for writing (src/chain/fill.rs,
-- which records its progress in `counters` so that an interrupted fill resumes).
ALTER TABLE events ADD COLUMN chain BLOB;
ALTER TABLE rejected ADD COLUMN chain BLOB;
INSERT INTO counters (name, value) VALUES ('chain_filled_events', 0), ('chain_filled_rejected', 0);

-- Signed statements of the chain's heads: `signature` is the archive's Ed25519
-- signature of the checkpoint's canonical text (src/chain/checkpoint.rs).
CREATE TABLE checkpoints (
    id             INTEGER PRIMARY KEY,
    seq            INTEGER NOT NULL,
    head           BLOB    NOT NULL,
    rejected_id    INTEGER NOT NULL,
    rejected_head  BLOB    NOT NULL,
    at             INTEGER NOT NULL,
    signature      BLOB    NOT NULL
);

-- What a purge removed from a payload: the row in `events` stays, its `payload`
-- emptied; this keeps what the chain needs (the payload's digest) and why it went.
CREATE TABLE tombstones (
    seq             INTEGER PRIMARY KEY REFERENCES events (seq),
    message_id      TEXT,
    space_id        TEXT,
    received_at     INTEGER NOT NULL,
    payload_sha256  BLOB    NOT NULL,
    purged_at       INTEGER NOT NULL,
    reason          TEXT    NOT NULL
);

-- A purged message keeps its row (ids, space, sender, times) with no content.
ALTER TABLE messages ADD COLUMN purged_at INTEGER;
ALTER TABLE messages ADD COLUMN purge_reason TEXT;

-- Legal holds: never deleted; releasing one records who and when. `spaces` and
-- `senders` are JSON arrays of ids (NULL: any), resolved when the hold was placed;
-- `criteria` keeps the filters as given.
CREATE TABLE holds (
    name          TEXT    PRIMARY KEY,
    reason        TEXT    NOT NULL,
    spaces        TEXT,
    senders       TEXT,
    since         INTEGER,
    until         INTEGER,
    criteria      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    released_at   INTEGER,
    released_by   TEXT,
    release_note  TEXT
);
