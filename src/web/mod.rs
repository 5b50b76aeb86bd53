//! `serve`: the reviewers' web app. Server-rendered pages (askama templates,
//! HTML-escaped; a little JavaScript only to make them nicer), read-only over the
//! archive, with accounts, sessions and the audit log in `audit.sqlite`
//! ([`crate::audit`]). Every route but `/login` and the static files asks
//! [`auth::Viewer`] who is asking, and every read is limited to the spaces the
//! account may see ([`access`]).

pub mod access;
pub mod auth;
pub mod diff;
pub mod headers;
pub mod pages;
pub mod throttle;
pub mod view;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

use crate::audit::{AuditDb, SessionLimits};
use crate::index::SearchIndex;
use crate::store::Archive;

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// TLS certificate chain and private key (PEM), for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Session lifetimes.
    pub limits: SessionLimits,
    /// Trust a user name in this request header (single sign-on behind a proxy)…
    pub auth_header: Option<String>,
    /// …only from these addresses.
    pub trusted_proxies: Vec<IpAddr>,
    /// Where the web exports are written (private; each kept for its owner).
    pub exports_dir: PathBuf,
    /// The data directory (attachments' stored files are under `files/`).
    pub data_dir: PathBuf,
}

/// What every handler shares.
pub struct App {
    /// The archive, read-only.
    pub archive: Archive,
    /// The search index.
    pub index: SearchIndex,
    /// A long-lived index reader, reloaded as `run` commits.
    pub reader: tantivy::IndexReader,
    /// Accounts, sessions, audit log.
    pub audit: AuditDb,
    /// The options.
    pub options: ServeOptions,
    /// Failed logins, per user and per address.
    pub throttle: Mutex<throttle::Throttle>,
    /// A per-process secret (CSRF tokens of proxy-authenticated users).
    pub secret: String,
}

/// Shared state of the handlers.
pub type Shared = Arc<App>;

/// Why `serve` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be read.
    #[error("cannot use the TLS certificate {cert} and key {key}: {source}")]
    Tls {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The index.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    /// The audit database.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// The routes.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/search", get(pages::search::page))
        .route("/spaces/{id}", get(pages::conversation::page))
        .route("/spaces/{id}/about", get(pages::about::page))
        .route("/messages/{id}", get(pages::message::page))
        .route("/files/{id}", get(pages::files::download))
        .route("/export", post(pages::export::create))
        .route("/exports/{id}", get(pages::export::show))
        .route("/exports/{id}/download", get(pages::export::download))
        .route("/audit", get(pages::audit::page))
        .route("/static/{name}", get(headers::asset))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(app)
}

/// Opens what `serve` reads and writes.
pub async fn app(
    archive: Archive,
    index: SearchIndex,
    audit: AuditDb,
    options: ServeOptions,
) -> Result<Shared, ServeError> {
    let reader = index.reader()?;
    crate::private::create_dir(&options.exports_dir).map_err(|source| ServeError::Listen {
        addr: options.listen,
        source,
    })?;
    Ok(Arc::new(App {
        archive,
        index,
        reader,
        audit,
        options,
        throttle: Mutex::new(throttle::Throttle::default()),
        secret: crate::audit::random_hex(32)?,
    }))
}

/// What changes when the index commits: its `meta.json`'s modification time and
/// size (tantivy replaces the file on every commit).
fn commit_stamp(meta: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(meta).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Serves until `shutdown` resolves; in-flight requests are finished first.
pub async fn serve(
    app: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = app.options.listen;
    // New commits of `run` become searchable here within a second. A reload opens
    // every segment again (hundreds of ms at a million messages, which stalled the
    // requests behind it), so it runs only when `meta.json` changed, and on a
    // blocking thread.
    let reloader = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut expire = 0u32;
            let meta = app.index.path().join("meta.json");
            let mut seen = commit_stamp(&meta);
            loop {
                tick.tick().await;
                let now = commit_stamp(&meta);
                if now != seen {
                    let reload = {
                        let app = app.clone();
                        tokio::task::spawn_blocking(move || app.reader.reload())
                    };
                    match reload.await {
                        Ok(Ok(())) => seen = now,
                        Ok(Err(e)) => tracing::debug!("index reload: {e}"),
                        Err(e) => tracing::warn!("index reload: {e}"),
                    }
                }
                expire += 1;
                if expire.is_multiple_of(120) {
                    if let Err(e) = app.audit.expire_sessions(app.options.limits).await {
                        tracing::warn!("cannot expire sessions: {e}");
                    }
                }
            }
        })
    };
    let service = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let result = match &app.options.tls {
        Some((cert, key)) => {
            crate::tls::install_crypto();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|source| ServeError::Tls {
                    cert: cert.clone(),
                    key: key.clone(),
                    source,
                })?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                stopper.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|source| ServeError::Listen { addr, source })?;
            listener
                .set_nonblocking(true)
                .map_err(|source| ServeError::Listen { addr, source })?;
            tracing::info!("serving https://{}", listener.local_addr().unwrap_or(addr));
            axum_server::from_tcp_rustls(listener, config)
                .map_err(|source| ServeError::Listen { addr, source })?
                .handle(handle)
                .serve(service)
                .await
                .map_err(|source| ServeError::Listen { addr, source })
        }
        None => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Listen { addr, source })?;
            tracing::info!("serving http://{}", listener.local_addr().unwrap_or(addr));
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|source| ServeError::Listen { addr, source })
        }
    };
    reloader.abort();
    result
}
