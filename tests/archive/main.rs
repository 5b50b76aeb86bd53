//! Integration tests: the real binary against a real SQLite archive in a temp dir.

mod browser;
mod cli;
mod config;
mod consistency;
mod convergence;
mod export;
mod files;
mod full_disk;
mod generated;
pub mod health;
mod helpers;
mod interop;
mod killed;
pub mod live;
mod loss;
mod malformed;
mod oauth;
mod order;
mod privacy;
mod redaction;
mod review;
mod search;
mod search_context;
mod seeds;
mod serve;
mod socket;
mod upgrade;
