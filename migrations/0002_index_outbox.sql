-- Messages whose search-index document must be (re)written. Rows are added in the same
-- transaction as the message rows; `seq` is the highest event sequence number of that
-- transaction, so the writer can pick up what is new. Rows are deleted after the index
-- commit that contains them; whatever is left at start-up is indexed again.
CREATE TABLE index_outbox (
    message_id  TEXT    PRIMARY KEY,
    seq         INTEGER NOT NULL
);
CREATE INDEX index_outbox_seq ON index_outbox (seq);
