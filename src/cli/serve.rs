//! `spaces-archive serve`: the reviewers' web app over the archive (read-only),
//! with accounts, sessions and the audit log in the audit database.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{Global, Outcome};
use crate::audit::{AuditDb, SessionLimits};
use crate::index::SearchIndex;
use crate::store::Archive;
use crate::web::{self, ServeOptions};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[command(flatten)]
    pub config: super::config::ConfigArg,
    /// Address and port to listen on.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR:PORT",
        help_heading = "Listening"
    )]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key, serves HTTPS and marks the
    /// session cookie Secure.
    #[arg(
        long,
        requires = "tls_key",
        value_name = "FILE",
        help_heading = "Listening"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(
        long,
        requires = "tls_cert",
        value_name = "FILE",
        help_heading = "Listening"
    )]
    pub tls_key: Option<PathBuf>,
    /// A session ends after this long without a request (`30m`, `2h`).
    #[arg(long, default_value = "30m", value_parser = super::values::positive_duration, value_name = "DURATION", help_heading = "Sessions")]
    pub idle_timeout: Duration,
    /// A session ends this long after login, whatever is done.
    #[arg(long, default_value = "12h", value_parser = super::values::positive_duration, value_name = "DURATION", help_heading = "Sessions")]
    pub session_lifetime: Duration,
    /// Single sign-on: trust the user name in this request header, set by a
    /// reverse proxy (only from --trusted-proxy addresses; the name must have an
    /// account).
    #[arg(
        long,
        requires = "trusted_proxy",
        value_name = "NAME",
        help_heading = "Sessions"
    )]
    pub auth_header: Option<String>,
    /// Address of a reverse proxy whose --auth-header and X-Forwarded-For are
    /// believed (repeatable).
    #[arg(long, value_name = "IP", help_heading = "Sessions")]
    pub trusted_proxy: Vec<IpAddr>,
    /// Where exports made in the browser are kept (default: `exports/` beside the
    /// audit database).
    #[arg(long, value_name = "DIR", help_heading = "Storage")]
    pub exports_dir: Option<PathBuf>,
}

/// Caps glibc's malloc at two arenas. Pages are built on many threads (tokio's,
/// SQLite's connection workers, tantivy's); with an arena per thread the memory
/// freed after each page stays spread over them, and under 50 concurrent sessions
/// at a million messages that doubled `serve`'s resident memory (159 MB of heap
/// against 78 MB with two, measured by `cargo bench --bench serve`).
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it is thread-safe and
    // affects arenas created from now on.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Runs `serve` until SIGINT or SIGTERM.
pub async fn run(global: &Global, args: ServeArgs) -> anyhow::Result<Outcome> {
    limit_malloc_arenas();
    let data_dir = global.data_dir();
    let archive = Archive::open_read_only(&data_dir).await?;
    let index = SearchIndex::open_read_only(&data_dir)?;
    let audit_path = global.audit_path();
    let audit = AuditDb::open_file(&audit_path).await?;
    if audit.users().await?.is_empty() && args.auth_header.is_none() {
        eprintln!(
            "note: no accounts yet: `spaces-archive users add NAME --role admin` makes one \
             (the audit database is {})",
            audit_path.display()
        );
    }
    let exports_dir = args.exports_dir.clone().unwrap_or_else(|| {
        audit_path
            .parent()
            .map(|p| p.join("exports"))
            .unwrap_or_else(|| PathBuf::from("exports"))
    });
    let options = ServeOptions {
        listen: args.listen,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        limits: SessionLimits {
            idle: args.idle_timeout,
            absolute: args.session_lifetime,
        },
        auth_header: args.auth_header.clone(),
        trusted_proxies: args.trusted_proxy.clone(),
        exports_dir,
        data_dir,
    };
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let app = web::app(archive, index, audit, options).await?;
    eprintln!(
        "serving the archive at {scheme}://{}/ (stop with Ctrl-C)",
        args.listen
    );
    web::serve(app, super::run::wait_for_signal())
        .await
        .context("serve")?;
    Ok(Outcome::Success)
}
