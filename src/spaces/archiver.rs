//! The live archiver behind `spaces-archive run`: lists the spaces, starts the
//! socket task, backfills after every connect and for every new space, re-lists the
//! spaces periodically, feeds one writer through a bounded channel, prints a status
//! line, and on shutdown lets everything drain, commit and close.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, Instant};
use url::Url;

use super::backfill::{Backfill, BackfillError};
use super::health::{serve, Health};
use super::rest::{Limits, RestClient, RestError, SpaceInfo};
use super::status::Status;
use super::subscriber::{backoff, Signal, SocketConfig, Subscriber};
use super::tokens::Tokens;
use crate::index::SearchIndex;
use crate::indexer::IndexCommitPolicy;
use crate::store::{Archive, BatchReport, Item};
use crate::writer::{drain, ArchiveWriter, BatchPolicy, WriteError};

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
    /// Serve `/healthz` and `/metrics` here.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The archive could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// REST set-up failed.
    #[error(transparent)]
    Rest(#[from] RestError),
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

/// Whether a listed space passes `--space` / `--exclude-space`.
pub fn wanted(space: &SpaceInfo, include: &[String], exclude: &[String]) -> bool {
    let named = |names: &[String]| {
        names
            .iter()
            .any(|n| *n == space.id || space.title.as_deref() == Some(n.as_str()))
    };
    (include.is_empty() || named(include)) && !named(exclude)
}

/// Runs until `shutdown` turns true; then drains, commits and returns.
pub async fn run(
    archive: Archive,
    index: &SearchIndex,
    options: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<RunSummary, RunError> {
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
    let mut writer =
        ArchiveWriter::open(archive.clone(), index, IndexCommitPolicy::default()).await?;
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
        };
        serve(addr, health, shutdown.clone())
            .await
            .map_err(|source| RunError::Metrics { addr, source })?;
    }
    let socket_task = tokio::spawn(subscriber.run());
    tokio::spawn(options.tokens.clone().keep_fresh(shutdown.clone()));
    let controller = Controller {
        backfill: Arc::new(Backfill {
            rest: rest.clone(),
            archive: archive.clone(),
            out: tx.clone(),
            safety: options.safety,
            status: status.clone(),
        }),
        rest,
        options,
        status: status.clone(),
        spaces,
        added: added_tx,
        channel: tx,
    };
    let control_task = tokio::spawn(controller.run(signal_rx, shutdown.clone()));
    let counters = status.clone();
    let written = drain(&mut writer, &mut rx, BatchPolicy::default(), |report| {
        Status::add(&counters.archived, report.archived);
        Status::add(&counters.duplicates, report.duplicates);
        Status::add(&counters.rejected, report.rejected);
    })
    .await;
    let _ = socket_task.await;
    let _ = control_task.await;
    let written = written?;
    writer.finish().await?;
    Ok(RunSummary {
        written,
        connects: Status::get(&status.connects),
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

/// Backfills, re-lists, prints the status line.
struct Controller {
    backfill: Arc<Backfill>,
    rest: Arc<RestClient>,
    options: RunOptions,
    status: Arc<Status>,
    spaces: BTreeSet<String>,
    added: mpsc::UnboundedSender<String>,
    channel: mpsc::Sender<Vec<Item>>,
}

/// One backfill to do.
enum Job {
    /// Every space, from these resume points.
    Gap(HashMap<String, i64>),
    /// One new space, whole.
    Whole(String),
}

impl Controller {
    async fn run(
        mut self,
        mut signals: mpsc::UnboundedReceiver<Signal>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut relist = Instant::now() + self.options.relist_every;
        let mut status_at = Instant::now() + self.options.status_every;
        let mut last_archived = 0;
        // Where the next gap starts: what was archived before this run's first
        // connect, then what was archived when each connection was lost.
        let mut gap_start = self.resume_points().await;
        // Backfills run one at a time, in the background, in order.
        let (jobs, job_rx) = mpsc::unbounded_channel::<Job>();
        let worker = tokio::spawn(backfill_worker(
            self.backfill.clone(),
            self.spaces.clone(),
            job_rx,
            shutdown.clone(),
        ));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(signal) = signals.recv() => match signal {
                    Signal::Lost => {
                        if gap_start.is_none() {
                            gap_start = self.resume_points().await;
                        }
                    }
                    Signal::Connected => {
                        // A space joined while disconnected was announced to nobody.
                        tokio::select! {
                            _ = self.relist(&jobs) => {}
                            _ = shutdown.changed() => break,
                        }
                        let resume = match gap_start.take() {
                            Some(resume) => resume,
                            None => self.resume_points().await.unwrap_or_default(),
                        };
                        let _ = jobs.send(Job::Gap(resume));
                    }
                    Signal::NewSpace(space) => {
                        let info = SpaceInfo { id: space, title: None };
                        self.add_space(info, &jobs);
                    }
                },
                _ = tokio::time::sleep_until(relist) => {
                    relist = Instant::now() + self.options.relist_every;
                    tokio::select! {
                        _ = self.relist(&jobs) => {}
                        _ = shutdown.changed() => break,
                    }
                }
                _ = tokio::time::sleep_until(status_at) => {
                    status_at = Instant::now() + self.options.status_every;
                    last_archived = self.print_status(last_archived);
                }
            }
        }
        drop(jobs);
        let _ = worker.await;
    }

    /// The resume points, or `None` (logged) when SQLite cannot say.
    async fn resume_points(&self) -> Option<HashMap<String, i64>> {
        match self.backfill.resume_points().await {
            Ok(points) => Some(points),
            Err(e) => {
                tracing::warn!("cannot read the backfill resume points: {e}");
                None
            }
        }
    }

    async fn relist(&mut self, jobs: &mpsc::UnboundedSender<Job>) {
        match self.rest.spaces().await {
            Ok(listed) => {
                for info in listed {
                    self.add_space(info, jobs);
                }
            }
            Err(e) => tracing::warn!("cannot list the spaces again: {e}"),
        }
    }

    fn add_space(&mut self, info: SpaceInfo, jobs: &mpsc::UnboundedSender<Job>) {
        if self.spaces.contains(&info.id)
            || !wanted(&info, &self.options.include, &self.options.exclude)
        {
            return;
        }
        tracing::info!(
            space = info.id,
            "new space: subscribing and backfilling it from its beginning"
        );
        self.spaces.insert(info.id.clone());
        let _ = self.added.send(info.id.clone());
        let _ = jobs.send(Job::Whole(info.id));
    }

    fn print_status(&self, last_archived: u64) -> u64 {
        let s = &self.status;
        let counts = s.counts();
        let archived = Status::get(&s.archived);
        let rate = (archived - last_archived) as f64 / self.options.status_every.as_secs_f64();
        let chunks = self.channel.max_capacity() - self.channel.capacity();
        eprintln!(
            "status: {} | spaces {} subscribed, {} pending, {} failed | {:.1} events/s | backlog {} chunks + {} queued | archived {}, duplicates {}, rejected {}, reconnects {}",
            if s.connected() { "connected" } else { "disconnected" },
            counts.subscribed,
            counts.pending,
            counts.failed,
            rate,
            chunks,
            Status::get(&s.socket_backlog),
            archived,
            Status::get(&s.duplicates),
            Status::get(&s.rejected),
            Status::get(&s.connects).saturating_sub(1),
        );
        for (space, error) in s.failed() {
            eprintln!("status: subscription to {space} refused ({error}); retrying");
        }
        archived
    }
}

async fn backfill_worker(
    backfill: Arc<Backfill>,
    mut spaces: BTreeSet<String>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let job = tokio::select! {
            job = jobs.recv() => match job { Some(job) => job, None => return },
            _ = shutdown.changed() => return,
        };
        if let Job::Whole(space) = &job {
            spaces.insert(space.clone());
        }
        let mut delays = backoff(Duration::from_secs(5), Duration::from_secs(300));
        loop {
            let started = Instant::now();
            let run = async {
                match &job {
                    Job::Gap(resume) => {
                        let all: Vec<String> = spaces.iter().cloned().collect();
                        backfill.run(&all, resume).await
                    }
                    Job::Whole(space) => {
                        backfill
                            .run(std::slice::from_ref(space), &HashMap::new())
                            .await
                    }
                }
            };
            let result = tokio::select! {
                result = run => result,
                _ = shutdown.changed() => return,
            };
            let delay = match result {
                Ok(n) => {
                    tracing::info!(
                        items = n,
                        seconds = started.elapsed().as_secs_f64(),
                        "backfill done"
                    );
                    break;
                }
                Err(BackfillError::Closed) => return,
                Err(e) => {
                    let delay = delays.next().unwrap_or(Duration::from_secs(300));
                    tracing::warn!(
                        "backfill failed: {e}; retrying in {:.0} s",
                        delay.as_secs_f64()
                    );
                    delay
                }
            };
            tokio::select! {
                _ = sleep(delay) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
