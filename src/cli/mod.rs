//! The command line: global options, one file per subcommand, the exit codes; how it
//! is read ([`parse`]: flags after a query, the configuration file of [`config`]).

mod audit;
mod chain;
pub mod config;
mod export;
mod files;
mod filters;
mod generate;
mod health;
mod hold;
mod ingest;
mod parse;
mod purge;
mod reindex;
pub mod run;
mod search;
mod serve;
mod simulate;
mod spaces;
mod stats;
#[cfg(test)]
mod tests;
mod users;
mod values;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{default_data_dir, DATA_DIR_ENV};
use crate::index::SearchIndex;
use crate::store::Archive;

pub use parse::{parse, parse_from};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything done.
    Success = 0,
    /// Done, and what was checked is wrong.
    Failure = 1,
    /// Bad usage or a bad query.
    BadUsage = 2,
    /// Finished, but some input was rejected.
    Rejected = 3,
}

/// What `--help` says about [`Outcome`].
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure: an error, or what was checked is wrong
  2  bad usage: an unknown flag, a bad value, query or configuration file
  3  finished, but some input was rejected";

/// Keeps a complete, searchable, exportable record of Avaya Spaces.
#[derive(Debug, Parser)]
#[command(name = "spaces-archive", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Directory holding the archive (default: $XDG_DATA_HOME/spaces-archive or
    /// ~/.local/share/spaces-archive).
    #[arg(long, global = true, env = DATA_DIR_ENV, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log filter for stderr (`warn`, `info`, `debug`, `spaces_archive=trace`, …);
    /// RUST_LOG works too.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// The web app's accounts, sessions and audit log (default: `audit.sqlite` in
    /// the data directory).
    #[arg(
        long,
        global = true,
        env = "SPACES_ARCHIVE_AUDIT_DB",
        value_name = "FILE"
    )]
    pub audit_db: Option<PathBuf>,
}

impl Global {
    /// The data directory in force.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The audit database in force.
    pub fn audit_path(&self) -> PathBuf {
        self.audit_db
            .clone()
            .unwrap_or_else(|| self.data_dir().join(crate::audit::AUDIT_FILE))
    }

    /// Records a CLI action in the audit log as the OS user; a failure to record is
    /// a warning (the command's output is not withheld for it).
    pub async fn audit(&self, action: &str, detail: serde_json::Value) {
        let entry = crate::audit::AuditEntry {
            user: users::os_user(),
            address: "cli".into(),
            action: action.into(),
            detail,
        };
        let recorded = async {
            let audit = crate::audit::AuditDb::open_file(&self.audit_path()).await?;
            audit.record(&entry).await?;
            audit.close().await;
            Ok::<(), crate::audit::AuditError>(())
        }
        .await;
        if let Err(e) = recorded {
            tracing::warn!("cannot record the {action} in the audit log: {e}");
        }
    }

    /// Opens the archive in the data directory.
    pub async fn open(&self) -> anyhow::Result<Archive> {
        Ok(Archive::open(&self.data_dir()).await?)
    }

    /// Opens the search index in the data directory.
    pub fn open_index(&self) -> anyhow::Result<SearchIndex> {
        Ok(SearchIndex::open(&self.data_dir())?)
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Archive recorded payloads: JSON lines, a JSON array, or raw socket frames.
    Ingest(ingest::IngestArgs),
    /// Write realistic MESSAGE_SENT payloads as JSON lines (deterministic for a seed).
    Generate(generate::GenerateArgs),
    /// Search the archive's messages (current text and earlier versions).
    Search(search::SearchArgs),
    /// List archived spaces with message counts and last activity.
    Spaces(spaces::SpacesArgs),
    /// Show archive totals.
    Stats(stats::StatsArgs),
    /// Write a compliance export (JSON lines with versions, removals, manifest,
    /// checksums and a cursor); `export verify FILE` checks one.
    Export(export::ExportArgs),
    /// List attachments' files and their state; `files fetch` fetches what is
    /// pending or failed; `files verify` hashes every stored file again.
    Files(files::FilesArgs),
    /// Rebuild the search index from SQLite.
    Reindex(reindex::ReindexArgs),
    /// Check SQLite integrity and that every message is indexed exactly once.
    Verify(verify::VerifyArgs),
    /// Archive Avaya Spaces live: subscribe to every space, backfill gaps, run until stopped.
    Run(run::RunArgs),
    /// Ask a running `run` whether it is healthy (its /healthz); exit 0 or 1.
    Health(health::HealthArgs),
    /// Serve the reviewers' web app (search, conversations, history, exports,
    /// audit log) over the archive, read-only.
    Serve(serve::ServeArgs),
    /// Manage the web app's accounts: add, list, passwd, remove.
    Users(users::UsersArgs),
    /// Read the audit log of who searched, viewed and exported what; `audit verify`
    /// checks its chain.
    Audit(audit::AuditArgs),
    /// Print the archive's Ed25519 public key (on the last line), which checks its
    /// checkpoints and exports.
    Key(chain::KeyArgs),
    /// List the signed checkpoints of the hash chain (copy them somewhere write-once).
    Checkpoints(chain::CheckpointsArgs),
    /// Legal holds: add, list, release; what a hold covers is never purged.
    Hold(hold::HoldArgs),
    /// Remove message content created before a date, except what a hold covers;
    /// tombstones keep the chain verifiable.
    Purge(purge::PurgeArgs),
    /// Serve a local Avaya Spaces stand-in (socket.io 2/4 and REST) playing a stream.
    Simulate(simulate::SimulateArgs),
}

/// Whether an error is stdout's reader having gone away.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes on one line, each cause once: a cause whose text the
/// line already holds (sqlx repeats SQLite's message at every level) is left out.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Crates whose verbose levels print raw websocket frames (tungstenite at trace:
/// every frame's payload as hex, the namespace connect and its token included; the
/// socket.io server crates, should their `tracing` feature ever be turned on, every
/// packet at debug), and the most verbose level each may log at, whatever the filter
/// asks for. What is left is scrubbed by [`crate::redact`] as well.
const FRAME_DUMPERS: &[(&str, tracing::Level)] = &[
    ("tungstenite", tracing::Level::DEBUG),
    ("tokio_tungstenite", tracing::Level::DEBUG),
    ("engineioxide", tracing::Level::INFO),
    ("socketioxide", tracing::Level::INFO),
];

/// Whether an event or span is within the cap of [`FRAME_DUMPERS`].
fn within_frame_cap(metadata: &tracing::Metadata<'_>) -> bool {
    let target = metadata.target();
    FRAME_DUMPERS.iter().all(|(krate, most)| {
        let of_crate = target
            .strip_prefix(krate)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
        !of_crate || metadata.level() <= most
    })
}

/// Sets up logging to stderr: `--log`, else `RUST_LOG`, else `warn`; frame dumps
/// capped ([`FRAME_DUMPERS`]) and every line scrubbed of secrets.
pub fn init_tracing(global: &Global) {
    use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
    use tracing_subscriber::prelude::*;
    let filter = global
        .log
        .as_deref()
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn"));
    let capped = filter.and(filter_fn(within_frame_cap));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(crate::redact::RedactingStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(capped);
    tracing_subscriber::registry().with(layer).init();
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Ingest(args) => ingest::run(&cli.global, args).await,
        Command::Generate(args) => generate::run(args),
        Command::Search(args) => search::run(&cli.global, args).await,
        Command::Spaces(args) => spaces::run(&cli.global, args).await,
        Command::Stats(args) => stats::run(&cli.global, args).await,
        Command::Export(args) => export::run(&cli.global, args).await,
        Command::Files(args) => files::run(&cli.global, args).await,
        Command::Reindex(args) => reindex::run(&cli.global, args).await,
        Command::Verify(args) => verify::run(&cli.global, args).await,
        Command::Run(args) => run::run(&cli.global, args).await,
        Command::Health(args) => health::run(args).await,
        Command::Simulate(args) => simulate::run(&cli.global, args).await,
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Users(args) => users::run(&cli.global, args).await,
        Command::Audit(args) => audit::run(&cli.global, args).await,
        Command::Key(args) => chain::key(&cli.global, args).await,
        Command::Checkpoints(args) => chain::checkpoints(&cli.global, args).await,
        Command::Hold(args) => hold::run(&cli.global, args).await,
        Command::Purge(args) => purge::run(&cli.global, args).await,
    }
}
