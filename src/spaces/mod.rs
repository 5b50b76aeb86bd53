//! The Avaya Spaces side: the access token ([`auth`], [`tokens`]), the Engine.IO
//! client ([`engineio`]), the live socket task ([`subscriber`]), the REST API
//! ([`rest`], paged by [`keyset`]), gap filling ([`backfill`]), space changes seen in
//! listings ([`listing`]), the reconciliation sweep ([`sweep`]), shared status
//! ([`status`]), the task that schedules backfills and re-listings ([`controller`])
//! and the `run` loop that ties them to the writer ([`archiver`]).

pub mod archiver;
pub mod auth;
pub mod backfill;
pub mod budget;
pub mod controller;
pub mod engineio;
pub mod health;
pub mod keyset;
pub mod listing;
pub mod rest;
pub mod status;
pub mod subscriber;
pub mod sweep;
pub mod tokens;

/// Makes ring rustls's process-wide crypto provider (once; both TLS users need one).
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
