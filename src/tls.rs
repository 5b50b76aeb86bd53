//! TLS set-up shared by every HTTPS and WSS client of the process.

/// Makes ring rustls's process-wide crypto provider (once; every TLS user needs one).
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
