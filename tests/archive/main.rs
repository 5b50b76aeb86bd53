//! Integration tests: the real binary against a real SQLite archive in a temp dir.

mod cli;
mod consistency;
mod convergence;
mod export;
mod generated;
mod health;
mod helpers;
mod interop;
mod killed;
pub mod live;
mod malformed;
mod oauth;
mod order;
mod search;
mod seeds;
mod socket;
mod upgrade;
