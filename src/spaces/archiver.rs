//! The live archiver behind `spaces-archive run`: lists the spaces, starts the
//! socket task, the controller (backfills, re-listings, the status line, see
//! [`super::controller`]), the reconciliation sweep and the attachment fetcher
//! ([`crate::files::fetch`]), feeds one writer through a
//! bounded channel, and on shutdown lets everything drain, commit and close. Failing
//! storage stalls the writer, which retries; a shutdown during a stall gives up and
//! says how much was received but not archived.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::sleep;
use url::Url;

use super::backfill::Backfill;
use super::controller::{wanted, Controller, ControllerOptions};
use super::health::{serve, Health};
use super::rest::{Limits, RestClient, RestError, SpaceInfo};
use super::status::Status;
use super::subscriber::{backoff, SocketConfig, Subscriber};
use super::sweep::{Sweep, SweepOptions};
use super::tokens::Tokens;
use crate::files::content::ContentStore;
use crate::files::download::Downloader;
use crate::files::fetch::Fetcher;
use crate::index::SearchIndex;
use crate::store::{Archive, BatchReport, Item};
use crate::writer::IndexCommitPolicy;
use crate::writer::{drain, ArchiveWriter, BatchPolicy, DrainError, OnStall, WriteError};

/// Chunks of items the writer's channel holds before producers wait.
const CHANNEL_CHUNKS: usize = 32;

/// Everything `run` needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The socket.
    pub socket: SocketConfig,
    /// REST base URL.
    pub api: Url,
    /// The token in force (kept fresh, for OAuth with a refresh token).
    pub tokens: Tokens,
    /// Only these spaces (id or title), when not empty.
    pub include: Vec<String>,
    /// Never these spaces (id or title).
    pub exclude: Vec<String>,
    /// How often the space list is fetched again.
    pub relist_every: Duration,
    /// How often the status line is printed.
    pub status_every: Duration,
    /// Backfill safety window.
    pub safety: Duration,
    /// REST request limits.
    pub limits: Limits,
    /// The reconciliation sweep's schedule.
    pub sweep: SweepOptions,
    /// Serve `/healthz` and `/metrics` here.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Attachments bigger than this are not fetched (`too_large`).
    pub max_file_size: u64,
    /// What is purged as it goes (`--retention`, `--honour-space-retention`).
    pub retention: crate::writer::Retention,
}

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The archive could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Stopped while storage was failing: what was received but not archived (its
    /// messages come back through the backfill at the next start).
    #[error("stopped while the archive could not be written ({error}): {unarchived} received payloads were not archived; their messages come back through the backfill at the next start")]
    Stalled {
        /// The storage failure.
        error: WriteError,
        /// Payloads received and not archived.
        unarchived: u64,
    },
    /// REST set-up failed.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// The file store or its HTTP client cannot be set up.
    #[error("cannot set up fetching attachments: {0}")]
    Files(String),
    /// The metrics address cannot be listened on.
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What a run archived.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunSummary {
    /// Writer totals.
    pub written: BatchReport,
    /// Successful connects.
    pub connects: u64,
}

/// Runs until `shutdown` turns true; then drains, commits and returns.
pub async fn run(
    archive: Archive,
    index: &SearchIndex,
    options: RunOptions,
    external: watch::Receiver<bool>,
) -> Result<RunSummary, RunError> {
    // Every task stops on this: at SIGTERM, or when the writer cannot go on.
    let (stop, mut shutdown) = watch::channel(*external.borrow());
    let stop = Arc::new(stop);
    let forward = stop.clone();
    let mut external = external;
    tokio::spawn(async move {
        while external.changed().await.is_ok() {
            if *external.borrow() {
                let _ = forward.send(true);
                return;
            }
        }
    });
    let rest = Arc::new(RestClient::new(
        options.api.clone(),
        options.tokens.clone(),
        options.limits,
    )?);
    let Some(listed) = list_until_ok(&rest, &mut shutdown).await else {
        return Ok(RunSummary::default());
    };
    let spaces: BTreeSet<String> = listed
        .iter()
        .filter(|s| wanted(s, &options.include, &options.exclude))
        .map(|s| s.id.clone())
        .collect();
    tracing::info!("archiving {} of {} spaces", spaces.len(), listed.len());
    let mut writer = ArchiveWriter::open(archive.clone(), index, IndexCommitPolicy::default())
        .await?
        .with_retention(options.retention);
    let (tx, mut rx) = mpsc::channel::<Vec<Item>>(CHANNEL_CHUNKS);
    let status = Arc::new(Status::default());
    let (signal_tx, signal_rx) = mpsc::unbounded_channel();
    let (added_tx, added_rx) = mpsc::unbounded_channel();
    let subscriber = Subscriber::new(
        options.socket.clone(),
        options.tokens.clone(),
        status.clone(),
        spaces.clone(),
        tx.clone(),
        signal_tx,
        added_rx,
        shutdown.clone(),
    );
    if let Some(addr) = options.metrics_addr {
        let health = Health {
            status: status.clone(),
            channel: tx.downgrade(),
            archive: archive.clone(),
            storage: writer.storage(),
            rest: rest.clone(),
        };
        serve(addr, health, shutdown.clone())
            .await
            .map_err(|source| RunError::Metrics { addr, source })?;
    }
    let socket_task = tokio::spawn(subscriber.run());
    tokio::spawn(options.tokens.clone().keep_fresh(shutdown.clone()));
    let backfill = Arc::new(Backfill {
        rest: rest.clone(),
        archive: archive.clone(),
        out: tx.clone(),
        safety: options.safety,
        status: status.clone(),
    });
    let sweep = Sweep {
        backfill: backfill.clone(),
        options: options.sweep,
    };
    let sweep_task = tokio::spawn(sweep.run(shutdown.clone()));
    let fetcher = fetcher(&archive, &rest, &tx, options.max_file_size)?;
    let files_task = tokio::spawn(fetcher.run(shutdown.clone()));
    let controller = Controller {
        backfill,
        rest,
        options: ControllerOptions {
            include: options.include.clone(),
            exclude: options.exclude.clone(),
            relist_every: options.relist_every,
            status_every: options.status_every,
        },
        status: status.clone(),
        spaces,
        added: added_tx,
        channel: tx,
    };
    let control_task = tokio::spawn(controller.run(listed, signal_rx, shutdown.clone()));
    let counters = status.clone();
    let on_stall = OnStall::Retry(shutdown.clone());
    let written = drain(
        &mut writer,
        &mut rx,
        BatchPolicy::default(),
        on_stall,
        |report| {
            Status::add(&counters.archived, report.archived);
            Status::add(&counters.duplicates, report.duplicates);
            Status::add(&counters.rejected, report.rejected);
        },
    )
    .await;
    if written.is_err() {
        let _ = stop.send(true);
    }
    let _ = socket_task.await;
    let _ = control_task.await;
    let _ = sweep_task.await;
    let _ = files_task.await;
    let written = match written {
        Ok(written) => written,
        Err(DrainError {
            error, unarchived, ..
        }) => {
            let unarchived = unarchived + Status::get(&status.socket_backlog);
            return Err(RunError::Stalled { error, unarchived });
        }
    };
    writer.finish().await?;
    Ok(RunSummary {
        written,
        connects: Status::get(&status.connects),
    })
}

/// The attachment fetcher of `run`, storing into the archive's data directory.
fn fetcher(
    archive: &Archive,
    rest: &Arc<RestClient>,
    out: &mpsc::Sender<Vec<Item>>,
    max_file_size: u64,
) -> Result<Fetcher<RestClient>, RunError> {
    let data_dir = archive.path().parent().unwrap_or(std::path::Path::new("."));
    let store = ContentStore::open(data_dir).map_err(|e| RunError::Files(e.to_string()))?;
    let downloader =
        Downloader::new(store, max_file_size).map_err(|e| RunError::Files(e.to_string()))?;
    Ok(Fetcher {
        archive: archive.clone(),
        urls: rest.clone(),
        downloader,
        out: out.clone(),
    })
}

/// Lists the spaces, retrying with back-off until it works or shutdown (`None`).
async fn list_until_ok(
    rest: &RestClient,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Vec<SpaceInfo>> {
    let mut delays = backoff(Duration::from_secs(1), Duration::from_secs(120));
    loop {
        match rest.spaces().await {
            Ok(spaces) => return Some(spaces),
            Err(e) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(120));
                tracing::warn!(
                    "cannot list the spaces: {e}; retrying in {:.1} s",
                    delay.as_secs_f64()
                );
                tokio::select! {
                    _ = sleep(delay) => {}
                    _ = shutdown.changed() => return None,
                }
            }
        }
    }
}
