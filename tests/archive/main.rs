//! Integration tests: the real binary against a real SQLite archive in a temp dir.

mod cli;
mod generated;
mod helpers;
mod malformed;
mod order;
mod seeds;
