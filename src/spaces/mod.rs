//! The Avaya Spaces side: the access token ([`auth`], [`tokens`]), the Engine.IO
//! client ([`engineio`]), the live socket task ([`subscriber`]), the REST API
//! ([`rest`], paged by [`keyset`]; attachments' download URLs read by
//! [`file_urls`] and handed to [`crate::files`]), gap filling ([`backfill`]), space changes seen in
//! listings ([`listing`]), the reconciliation sweep ([`sweep`]), shared status
//! ([`status`]), the task that schedules backfills and re-listings ([`controller`])
//! and the `run` loop that ties them to the writer ([`archiver`]).

pub mod archiver;
pub mod auth;
pub mod backfill;
pub mod budget;
pub mod controller;
pub mod engineio;
pub mod file_urls;
pub mod health;
pub mod keyset;
pub mod listing;
pub mod rest;
pub mod status;
pub mod subscriber;
pub mod sweep;
pub mod tokens;

pub use crate::tls::install_crypto;
