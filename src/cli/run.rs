//! `spaces-archive run`: the long-running live archiver.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use url::Url;

use super::{values, Global, Outcome};
use crate::spaces::archiver::{run as archive_live, RunOptions};
use crate::spaces::auth::{Token, TokenType};
use crate::spaces::engineio::Protocol;
use crate::spaces::rest::Limits;
use crate::spaces::subscriber::SocketConfig;
use crate::spaces::sweep::SweepOptions;
use crate::spaces::tokens::{OAuthConfig, Tokens, REFRESH_TOKEN_FILE};

/// Environment variable holding the access token.
pub const TOKEN_ENV: &str = "SPACES_ARCHIVE_TOKEN";
/// Environment variable holding the OAuth refresh token.
pub const REFRESH_TOKEN_ENV: &str = "SPACES_ARCHIVE_REFRESH_TOKEN";

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file.
    #[command(flatten)]
    pub config: super::config::ConfigArg,
    /// Socket server base URL.
    #[arg(
        long,
        env = "SPACES_ARCHIVE_SERVER",
        default_value = "https://spacesapis-socket.avayacloud.com",
        value_name = "URL",
        help_heading = "Connection"
    )]
    pub server: Url,
    /// REST API base URL.
    #[arg(
        long,
        env = "SPACES_ARCHIVE_API",
        default_value = "https://spacesapis.avayacloud.com/api",
        value_name = "URL",
        help_heading = "Connection"
    )]
    pub api: Url,
    /// Engine.IO revision: v3 (socket.io 2, what Avaya runs) or v4.
    #[arg(long, value_enum, default_value = "v3", help_heading = "Connection")]
    pub protocol: Protocol,
    /// Seconds allowed for the websocket, handshake and namespace connect.
    #[arg(long, default_value = "20", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Connection")]
    pub connect_timeout: Duration,
    /// Largest delay between reconnect attempts, in seconds.
    #[arg(long, default_value = "60", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Connection")]
    pub max_reconnect_delay: Duration,
    /// Read the token from this file (first line) instead of $SPACES_ARCHIVE_TOKEN
    /// (a docker secret, say).
    #[arg(
        long,
        env = "SPACES_ARCHIVE_TOKEN_FILE",
        value_name = "FILE",
        help_heading = "Authentication"
    )]
    pub token_file: Option<PathBuf>,
    /// How the token was issued.
    #[arg(
        long,
        value_enum,
        default_value = "jwt",
        env = "SPACES_ARCHIVE_TOKEN_TYPE",
        help_heading = "Authentication"
    )]
    pub token_type: TokenType,
    /// OAuth: read the refresh token from this file instead of
    /// $SPACES_ARCHIVE_REFRESH_TOKEN. With a refresh token (or one stored in the data
    /// directory by an earlier run), `run` gets and refreshes its access tokens itself.
    #[arg(
        long,
        env = "SPACES_ARCHIVE_REFRESH_TOKEN_FILE",
        value_name = "FILE",
        help_heading = "Authentication"
    )]
    pub refresh_token_file: Option<PathBuf>,
    /// OAuth client id, for refreshing.
    #[arg(
        long,
        env = "SPACES_ARCHIVE_CLIENT_ID",
        value_name = "ID",
        help_heading = "Authentication"
    )]
    pub client_id: Option<String>,
    /// OAuth token endpoint.
    #[arg(
        long,
        env = "SPACES_ARCHIVE_ACCOUNTS",
        default_value = "https://accounts.avayacloud.com/oauth2/access_token",
        value_name = "URL",
        help_heading = "Authentication"
    )]
    pub accounts: Url,
    /// Archive only this space (id or title; repeatable). Default: every space.
    #[arg(long = "space", value_name = "ID_OR_TITLE", help_heading = "Filters")]
    pub spaces: Vec<String>,
    /// Never archive this space (id or title; repeatable).
    #[arg(
        long = "exclude-space",
        value_name = "ID_OR_TITLE",
        help_heading = "Filters"
    )]
    pub exclude: Vec<String>,
    /// Seconds between fetches of the space list (new spaces are also seen live).
    #[arg(long, default_value = "300", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Intervals")]
    pub relist_interval: Duration,
    /// Backfill resumes this many seconds before the latest change archived.
    #[arg(long, default_value = "300", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Intervals")]
    pub backfill_safety: Duration,
    /// Seconds between reconciliation sweeps: each compares what the REST API lists
    /// for every space with the archive and archives what the socket never delivered.
    #[arg(long, default_value = "900", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Intervals")]
    pub sweep_interval: Duration,
    /// How far back each sweep compares a space, before its latest archived change
    /// (`30m`, `12h`, `7d`).
    #[arg(long, default_value = "24h", value_parser = values::positive_duration, allow_negative_numbers = true,
          value_name = "DURATION", help_heading = "Intervals")]
    pub sweep_window: Duration,
    /// REST requests allowed per minute to one resource (Avaya documents 60).
    #[arg(long, default_value_t = 60, value_name = "N", help_heading = "Limits")]
    pub rest_per_minute: usize,
    /// REST requests allowed per 5 minutes in all (Avaya documents 600).
    #[arg(long, default_value_t = 600, value_name = "N", help_heading = "Limits")]
    pub rest_per_5_minutes: usize,
    /// Attachments bigger than this are not fetched, and listed as `too_large`
    /// (`KiB`, `MiB`, `GiB`).
    #[arg(long, default_value = "512MiB", value_parser = crate::files::parse_size,
          value_name = "SIZE", help_heading = "Limits")]
    pub max_file_size: u64,
    /// Purge message content created more than DAYS ago (hourly and at start),
    /// except what a legal hold covers; each purged payload leaves a tombstone.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i64).range(1..),
          help_heading = "Retention")]
    pub retention: Option<i64>,
    /// Also purge by each space's own retention policy (Avaya's `msgRetention`),
    /// except what a legal hold covers.
    #[arg(long, help_heading = "Retention")]
    pub honour_space_retention: bool,
    /// Seconds between status lines on stderr.
    #[arg(long, default_value = "60", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Monitoring")]
    pub status_interval: Duration,
    /// Serve /healthz and /metrics (Prometheus) on this address.
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "SPACES_ARCHIVE_METRICS_ADDR",
        help_heading = "Monitoring"
    )]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// The token: `--token-file`, else the environment.
fn token(args: &RunArgs) -> anyhow::Result<Token> {
    token_from(args.token_type, args.token_file.as_deref())
}

/// The token of this type: read from `file`, else from the environment.
pub fn token_from(kind: TokenType, file: Option<&std::path::Path>) -> anyhow::Result<Token> {
    if let Some(path) = file {
        return Ok(Token::from_file(kind, path)?);
    }
    let value = std::env::var(TOKEN_ENV)
        .map_err(|_| anyhow::anyhow!("no token: set {TOKEN_ENV} or pass --token-file FILE"))?;
    Ok(Token::new(kind, &value, TOKEN_ENV)?)
}

/// The refresh token given: `--refresh-token-file`, else the environment.
fn given_refresh_token(args: &RunArgs) -> anyhow::Result<Option<String>> {
    if let Some(path) = &args.refresh_token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the refresh token file {}", path.display()))?;
        return Ok(Some(text.lines().next().unwrap_or("").trim().to_string()));
    }
    Ok(std::env::var(REFRESH_TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string()))
}

/// OAuth refresh settings, when `--token-type oauth` and a refresh token is given or
/// stored; `None` for a fixed token.
fn oauth_config(global: &Global, args: &RunArgs) -> anyhow::Result<Option<OAuthConfig>> {
    if args.token_type != TokenType::Oauth {
        return Ok(None);
    }
    let state_dir = global.data_dir();
    let given = given_refresh_token(args)?.filter(|t| !t.is_empty());
    if given.is_none() && !state_dir.join(REFRESH_TOKEN_FILE).exists() {
        return Ok(None);
    }
    let client_id = args.client_id.clone().ok_or_else(|| {
        anyhow::anyhow!("refreshing needs a client id: set SPACES_ARCHIVE_CLIENT_ID or --client-id")
    })?;
    let client_secret = std::env::var("SPACES_ARCHIVE_CLIENT_SECRET")
        .map_err(|_| anyhow::anyhow!("refreshing needs SPACES_ARCHIVE_CLIENT_SECRET"))?;
    crate::private::open_data_dir(&state_dir)?;
    Ok(Some(OAuthConfig {
        accounts: args.accounts.clone(),
        client_id,
        client_secret,
        refresh_token: given.unwrap_or_default(),
        state_dir,
    }))
}

/// The tokens in force: refreshed OAuth tokens (retrying a refused first refresh with
/// backoff until it works or the process is stopped), else the fixed token.
async fn tokens(
    global: &Global,
    args: &RunArgs,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<Tokens>> {
    let Some(config) = oauth_config(global, args)? else {
        return Ok(Some(Tokens::fixed(token(args)?)));
    };
    let mut delay = Duration::from_secs(1);
    loop {
        match Tokens::oauth(config.clone()).await {
            Ok(tokens) => return Ok(Some(tokens)),
            Err(e) => {
                tracing::error!("cannot get an access token, retrying in {delay:?}: {e}");
                eprintln!("error: cannot get an access token (retrying in {delay:?}): {e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.changed() => return Ok(None),
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// Runs `run` until SIGINT or SIGTERM.
pub async fn run(global: &Global, args: RunArgs) -> anyhow::Result<Outcome> {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("stopping: flushing and committing");
        let _ = stop.send(true);
    });
    let tokens = match tokens(global, &args, &mut stopped).await {
        Ok(Some(tokens)) => tokens,
        Ok(None) => return Ok(Outcome::Success),
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(Outcome::BadUsage);
        }
    };
    let first_delay = Duration::from_millis(500);
    let options = RunOptions {
        socket: SocketConfig {
            server: args.server.clone(),
            protocol: args.protocol,
            namespace: "/chat".into(),
            connect_timeout: args.connect_timeout,
            reconnect: (first_delay, args.max_reconnect_delay.max(first_delay)),
            resubscribe: (Duration::from_secs(1), Duration::from_secs(300)),
        },
        api: args.api.clone(),
        tokens,
        include: args.spaces.clone(),
        exclude: args.exclude.clone(),
        relist_every: args.relist_interval.max(Duration::from_secs(1)),
        status_every: args.status_interval.max(Duration::from_millis(100)),
        safety: args.backfill_safety,
        limits: Limits {
            per_5_minutes: args.rest_per_5_minutes,
            per_minute_per_resource: args.rest_per_minute,
        },
        metrics_addr: args.metrics_addr,
        max_file_size: args.max_file_size,
        retention: crate::writer::Retention {
            days: args.retention,
            honour_space: args.honour_space_retention,
        },
        sweep: SweepOptions {
            interval: args.sweep_interval.max(Duration::from_millis(100)),
            window: args.sweep_window,
        },
    };
    let archive = global.open().await?;
    let index = global.open_index()?;
    eprintln!(
        "archiving {} (REST {}) into {}",
        args.server,
        args.api,
        global.data_dir().display()
    );
    let summary = match archive_live(archive.clone(), &index, options, stopped).await {
        Ok(summary) => summary,
        Err(e @ crate::spaces::archiver::RunError::Stalled { .. }) => {
            eprintln!("error: {e}");
            return Ok(Outcome::Failure);
        }
        Err(e) => return Err(e.into()),
    };
    archive.close().await;
    let w = summary.written;
    eprintln!(
        "stopped: {} new payloads archived, {} duplicates, {} rejected, {} connects",
        w.archived, w.duplicates, w.rejected, summary.connects
    );
    Ok(Outcome::Success)
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
