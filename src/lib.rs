//! `spaces-archive`: a complete, searchable, exportable record of Avaya Spaces.
//!
//! Data flows one way: payloads (live socket, REST backfill, `ingest`) are decoded
//! ([`event`]), then written by one writer ([`writer`]) into SQLite ([`store`]);
//! attachments' bytes are fetched beside it ([`files`]).

pub mod audit;
pub mod chain;
pub mod cli;
pub mod config;
pub mod event;
pub mod export;
pub mod files;
pub mod generate;
pub mod index;
pub mod ingest;
pub mod private;
pub mod redact;
pub mod render;
pub mod retention;
pub mod search;
pub mod simulate;
pub mod spaces;
pub mod store;
pub mod tls;
pub mod verify;
pub mod web;
pub mod writer;
