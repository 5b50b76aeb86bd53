//! `spaces-archive`: a complete, searchable, exportable record of Avaya Spaces.
//!
//! Data flows one way: payloads (live socket, REST backfill, `ingest`) are decoded
//! ([`event`]), then written by one writer ([`ingest`]) into SQLite ([`store`]).

pub mod event;
pub mod ingest;
pub mod store;
pub mod writer;
