//! `spaces-archive simulate`: a local Avaya Spaces stand-in.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::value::RawValue;

use super::{values, Global, Outcome};
use crate::generate::{GenerateOptions, Generator};
use crate::simulate::accounts::OAuthSim;
use crate::simulate::files::FileOptions;
use crate::simulate::{Paging, SimOptions, Simulator};

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (socket at /socket.io/, REST under /api).
    #[arg(
        long,
        default_value = "127.0.0.1:7300",
        value_name = "HOST:PORT",
        help_heading = "Connection"
    )]
    pub listen: String,
    /// Token clients must present (a simulator's, but kept out of the log like a
    /// real one, so that a test of redaction can use it).
    #[arg(
        long,
        env = "SPACES_ARCHIVE_SIM_TOKEN",
        default_value = "simulator-token",
        help_heading = "Connection"
    )]
    pub token: String,
    /// Heartbeat interval announced, in seconds.
    #[arg(long, default_value = "25", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Connection")]
    pub ping_interval: Duration,
    /// Heartbeat timeout announced, in seconds.
    #[arg(long, default_value = "20", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Connection")]
    pub ping_timeout: Duration,
    /// Write the base URL to this file once listening (useful with port 0).
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub url_file: Option<PathBuf>,
    /// Play this JSON-lines file instead of a generated stream.
    #[arg(long, value_name = "FILE", help_heading = "Stream")]
    pub file: Option<PathBuf>,
    /// Generated payloads to play.
    #[arg(long, default_value_t = 10_000, help_heading = "Stream")]
    pub events: u64,
    /// Seed of the generated stream.
    #[arg(long, default_value_t = 1, help_heading = "Stream")]
    pub seed: u64,
    /// Spaces the generated stream starts with.
    #[arg(long, default_value_t = 20, help_heading = "Stream")]
    pub spaces: usize,
    /// Payloads per second (0: as fast as possible).
    #[arg(long, default_value = "200", value_parser = values::rate, allow_negative_numbers = true, help_heading = "Stream")]
    pub rate: f64,
    /// Start playing at once instead of waiting for a first subscription.
    #[arg(long, help_heading = "Stream")]
    pub no_wait: bool,
    /// Put every socket in a new space's room when it is announced (no early
    /// events of a new space are missed).
    #[arg(long, help_heading = "Stream")]
    pub auto_join: bool,
    /// How `GET /api/users/me/messages` pages: `keyset` (after the last item of the
    /// page, so nothing shifts) or `offset` (an offset into the live, changing list
    /// ordered by modified time, as a naive server does: an update moves a message to
    /// the end and every later offset shifts).
    #[arg(long, value_enum, default_value = "keyset", help_heading = "Stream")]
    pub paging: Paging,
    /// Exit this many seconds after the whole stream was played (default: serve on).
    #[arg(long, value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS", help_heading = "Stream")]
    pub linger: Option<Duration>,
    /// Fault: drop every socket every this many seconds.
    #[arg(long, value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS", help_heading = "Faults")]
    pub drop_every: Option<Duration>,
    /// Fault: after a drop, refuse connects for this many seconds.
    #[arg(long, default_value = "0", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Faults")]
    pub down_for: Duration,
    /// Fault: refuse the subscription of this space (repeatable).
    #[arg(long = "refuse-space", value_name = "ID", help_heading = "Faults")]
    pub refuse: Vec<String>,
    /// Fault: send malformed events every this many seconds.
    #[arg(long, value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS", help_heading = "Faults")]
    pub garbage_every: Option<Duration>,
    /// Fault: every Nth new message (chat, post, task) is kept in the history (and so
    /// in the REST API) but never sent on the socket.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub skip_every: Option<u64>,
    /// Fault: refuse this refresh attempt (1 for the first; repeatable).
    #[arg(long = "refuse-refresh", value_name = "N", help_heading = "Faults")]
    pub refuse_refresh: Vec<u64>,
    /// Fault: every Nth attachment (by its key) is missing from the storage (404).
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub missing_files: Option<u64>,
    /// Fault: every Nth attachment (by its key) answers 503 to its first two
    /// downloads.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub flaky_files: Option<u64>,
    /// Fault: every Nth download URL is handed out already expired.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub expired_urls: Option<u64>,
    /// Fault: downloads are throttled to this many bytes a second (`KiB`, `MiB`).
    #[arg(long, value_name = "SIZE", value_parser = crate::files::parse_size, help_heading = "Faults")]
    pub slow_files: Option<u64>,
    /// Seconds a signed download URL stays valid.
    #[arg(long, default_value = "300", value_parser = values::duration, allow_negative_numbers = true, value_name = "SECONDS",
          help_heading = "Files")]
    pub url_ttl: Duration,
    /// Serve an OAuth token endpoint at /oauth2/access_token issuing access tokens
    /// that live this many seconds, with a refresh token that rotates at every use.
    #[arg(long, value_name = "SECONDS", help_heading = "OAuth")]
    pub oauth_lifetime: Option<u64>,
    /// OAuth client id the endpoint accepts.
    #[arg(long, default_value = "simulator-client", help_heading = "OAuth")]
    pub client_id: String,
    /// OAuth client secret the endpoint accepts (not a secret: a simulator's).
    #[arg(long, default_value = "simulator-secret", help_heading = "OAuth")]
    pub client_secret: String,
    /// The refresh token valid at start.
    #[arg(long, default_value = "simulator-refresh", help_heading = "OAuth")]
    pub refresh_token: String,
}

/// Runs the simulator until SIGINT/SIGTERM (or `--linger` after the stream).
pub async fn run(_global: &Global, args: SimulateArgs) -> anyhow::Result<Outcome> {
    crate::redact::register(&args.token);
    if args.oauth_lifetime.is_some() {
        crate::redact::register(&args.client_secret);
        crate::redact::register(&args.refresh_token);
    }
    let options = SimOptions {
        token: args.token.clone(),
        rate: args.rate,
        wait_for_subscriber: !args.no_wait,
        ping_interval: args.ping_interval.max(Duration::from_millis(100)),
        ping_timeout: args.ping_timeout.max(Duration::from_millis(100)),
        drop_every: args.drop_every,
        down_for: args.down_for,
        refuse: args.refuse.clone(),
        garbage_every: args.garbage_every,
        page_size: 50,
        paging: args.paging,
        skip_every: args.skip_every.filter(|n| *n > 0),
        auto_join: args.auto_join,
        oauth: args.oauth_lifetime.map(|seconds| OAuthSim {
            lifetime: Duration::from_secs(seconds.max(1)),
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.clone(),
            refresh_token: args.refresh_token.clone(),
            refuse_attempts: args.refuse_refresh.clone(),
        }),
        files: FileOptions {
            url_ttl: args.url_ttl,
            missing_every: args.missing_files.filter(|n| *n > 0),
            flaky_every: args.flaky_files.filter(|n| *n > 0),
            expired_every: args.expired_urls.filter(|n| *n > 0),
            slow: args.slow_files.filter(|n| *n > 0),
        },
    };
    let (spaces, payloads) = source(&args)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let simulator = Simulator::start(listener, options, spaces, payloads).await?;
    eprintln!(
        "simulator listening on {} (socket /socket.io/, REST {}/api)",
        simulator.url(),
        simulator.url()
    );
    if let Some(path) = &args.url_file {
        std::fs::write(path, format!("{}\n", simulator.url()))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    tokio::select! {
        _ = super::run::wait_for_signal() => {}
        _ = async {
            simulator.finished().await;
            eprintln!("simulator: played {} payloads", simulator.shared.played.load(std::sync::atomic::Ordering::Relaxed));
            match args.linger {
                Some(linger) => tokio::time::sleep(linger).await,
                None => std::future::pending().await,
            }
        } => {}
    }
    simulator.stop().await;
    Ok(Outcome::Success)
}

type Source = (
    Vec<(String, String)>,
    Box<dyn Iterator<Item = Box<RawValue>> + Send>,
);

/// The stream: a file's lines (spaces listed as they appear) or a generated one.
fn source(args: &SimulateArgs) -> anyhow::Result<Source> {
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut payloads = Vec::new();
        let mut spaces = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let raw = RawValue::from_string(line.trim().to_string())
                .map_err(|e| anyhow::anyhow!("{}:{}: not JSON: {e}", path.display(), n + 1))?;
            let (value, _): (serde_json::Value, _) =
                crate::event::surrogates::from_str_lenient(raw.get())?;
            if let Some(id) = value["topicId"].as_str() {
                let title = value["topicTitle"].as_str().unwrap_or(id).to_string();
                if !spaces.iter().any(|(s, _): &(String, String)| s == id) {
                    spaces.push((id.to_string(), title));
                }
            }
            payloads.push(raw);
        }
        return Ok((spaces, Box::new(payloads.into_iter())));
    }
    let generator = Generator::new(GenerateOptions {
        events: args.events,
        seed: args.seed,
        spaces: args.spaces,
    });
    let spaces = generator.spaces();
    let payloads = generator.filter_map(|v| serde_json::value::to_raw_value(&v).ok());
    Ok((spaces, Box::new(payloads)))
}
