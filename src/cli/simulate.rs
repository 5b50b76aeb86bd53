//! `spaces-archive simulate`: a local Avaya Spaces stand-in.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::value::RawValue;

use super::{Global, Outcome};
use crate::generate::{GenerateOptions, Generator};
use crate::simulate::accounts::OAuthSim;
use crate::simulate::files::FileOptions;
use crate::simulate::{Paging, SimOptions, Simulator};

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (socket at /socket.io/, REST under /api).
    #[arg(long, default_value = "127.0.0.1:7300", value_name = "HOST:PORT")]
    pub listen: String,
    /// Token clients must present (a simulator's, but kept out of the log like a
    /// real one, so that a test of redaction can use it).
    #[arg(
        long,
        env = "SPACES_ARCHIVE_SIM_TOKEN",
        default_value = "simulator-token"
    )]
    pub token: String,
    /// Play this JSON-lines file instead of a generated stream.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Generated payloads to play.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Seed of the generated stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Spaces the generated stream starts with.
    #[arg(long, default_value_t = 20)]
    pub spaces: usize,
    /// Payloads per second (0: as fast as possible).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Start playing at once instead of waiting for a first subscription.
    #[arg(long)]
    pub no_wait: bool,
    /// Heartbeat interval announced, in seconds.
    #[arg(long, default_value_t = 25.0)]
    pub ping_interval: f64,
    /// Heartbeat timeout announced, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub ping_timeout: f64,
    /// Fault: drop every socket every this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub drop_every: Option<f64>,
    /// Fault: after a drop, refuse connects for this many seconds.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub down_for: f64,
    /// Fault: refuse the subscription of this space (repeatable).
    #[arg(long = "refuse-space", value_name = "ID")]
    pub refuse: Vec<String>,
    /// Fault: send malformed events every this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub garbage_every: Option<f64>,
    /// Put every socket in a new space's room when it is announced (no early
    /// events of a new space are missed).
    #[arg(long)]
    pub auto_join: bool,
    /// Serve an OAuth token endpoint at /oauth2/access_token issuing access tokens
    /// that live this many seconds, with a refresh token that rotates at every use.
    #[arg(long, value_name = "SECONDS")]
    pub oauth_lifetime: Option<u64>,
    /// OAuth client id the endpoint accepts.
    #[arg(long, default_value = "simulator-client")]
    pub client_id: String,
    /// OAuth client secret the endpoint accepts (not a secret: a simulator's).
    #[arg(long, default_value = "simulator-secret")]
    pub client_secret: String,
    /// The refresh token valid at start.
    #[arg(long, default_value = "simulator-refresh")]
    pub refresh_token: String,
    /// Fault: refuse this refresh attempt (1 for the first; repeatable).
    #[arg(long = "refuse-refresh", value_name = "N")]
    pub refuse_refresh: Vec<u64>,
    /// How `GET /api/users/me/messages` pages: `keyset` (after the last item of the
    /// page, so nothing shifts) or `offset` (an offset into the live, changing list
    /// ordered by modified time, as a naive server does: an update moves a message to
    /// the end and every later offset shifts).
    #[arg(long, value_enum, default_value = "keyset")]
    pub paging: Paging,
    /// Fault: every Nth new message (chat, post, task) is kept in the history (and so
    /// in the REST API) but never sent on the socket.
    #[arg(long, value_name = "N")]
    pub skip_every: Option<u64>,
    /// Fault: every Nth attachment (by its key) is missing from the storage (404).
    #[arg(long, value_name = "N")]
    pub missing_files: Option<u64>,
    /// Fault: every Nth attachment (by its key) answers 503 to its first two
    /// downloads.
    #[arg(long, value_name = "N")]
    pub flaky_files: Option<u64>,
    /// Fault: every Nth download URL is handed out already expired.
    #[arg(long, value_name = "N")]
    pub expired_urls: Option<u64>,
    /// Fault: downloads are throttled to this many bytes a second (`KiB`, `MiB`).
    #[arg(long, value_name = "SIZE", value_parser = crate::files::parse_size)]
    pub slow_files: Option<u64>,
    /// Seconds a signed download URL stays valid.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub url_ttl: f64,
    /// Write the base URL to this file once listening (useful with port 0).
    #[arg(long, value_name = "FILE")]
    pub url_file: Option<PathBuf>,
    /// Exit this many seconds after the whole stream was played (default: serve on).
    #[arg(long, value_name = "SECONDS")]
    pub linger: Option<f64>,
}

fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
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
        ping_interval: secs(args.ping_interval).max(Duration::from_millis(100)),
        ping_timeout: secs(args.ping_timeout).max(Duration::from_millis(100)),
        drop_every: args.drop_every.map(secs),
        down_for: secs(args.down_for),
        refuse: args.refuse.clone(),
        garbage_every: args.garbage_every.map(secs),
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
            url_ttl: secs(args.url_ttl),
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
                Some(s) => tokio::time::sleep(secs(s)).await,
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
