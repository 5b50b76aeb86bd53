//! The Avaya Spaces side: the access token ([`auth`]), the Engine.IO client
//! ([`engineio`]), the live socket task ([`subscriber`]), the REST API ([`rest`]),
//! gap filling ([`backfill`]), shared status ([`status`]) and the `run` loop that
//! ties them to the writer ([`archiver`]).

pub mod archiver;
pub mod auth;
pub mod backfill;
pub mod engineio;
pub mod health;
pub mod rest;
pub mod status;
pub mod subscriber;
pub mod tokens;

/// Makes ring rustls's process-wide crypto provider (once; both TLS users need one).
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
