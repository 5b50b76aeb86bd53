//! The one writer: owns the SQLite write side and, through its index stage
//! ([`index_stage`]), the tantivy `IndexWriter`. It is fed by the bounded channel
//! every producer (socket, backfill, `ingest`) sends to, writes one SQLite
//! transaction per batch (events, normalized rows and the index outbox), and then
//! wakes the index stage. Failing storage ([`storage`]) holds the batch and retries
//! it, or, for `ingest`, stops at once.

pub mod index_stage;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, Receiver};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout_at, Instant};

use crate::index::SearchIndex;
use crate::retention::purge::{PurgeReport, Rule};
use crate::store::{Archive, BatchReport, IndexWork, Item, StoreError, Writer};
pub use index_stage::{IndexCommitPolicy, IndexStageError, IndexTimings, Indexer};
use storage::{storage_cause, Stage, Stall, StorageStatus};

/// When SQLite batches are written.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Write once this many items are waiting. 2,000 amortises the transaction's
    /// commit over enough rows that it stops mattering, and keeps every multi-row
    /// statement far under SQLite's parameter limit.
    pub max_items: usize,
    /// Write at the latest this long after the batch's first item arrived.
    pub max_delay: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_items: 2_000,
            max_delay: Duration::from_millis(250),
        }
    }
}

/// A write failure.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// SQLite.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index stage.
    #[error(transparent)]
    Index(#[from] IndexStageError),
    /// The index stage stopped unexpectedly.
    #[error("the index stage stopped: {0}")]
    Stage(String),
}

impl WriteError {
    /// What failing storage this is, if it is that (see [`storage_cause`]).
    pub fn storage_cause(&self) -> Option<&'static str> {
        storage_cause(self)
    }
}

/// What the writer does when storage fails.
#[derive(Debug, Clone)]
pub enum OnStall {
    /// Stop at once (`ingest`: it says how far it got, and running it again
    /// continues).
    Stop,
    /// Hold the batch and retry it with back-off until it is written, or until this
    /// turns true (shutdown), then give up (`run`).
    Retry(watch::Receiver<bool>),
}

/// Why [`drain`] stopped early, with what it had done by then.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct DrainError {
    /// The failure.
    pub error: WriteError,
    /// Batches committed before it.
    pub totals: BatchReport,
    /// Items received but not archived: the batch that failed and what was still
    /// waiting in the channel.
    pub unarchived: u64,
}

/// The archive's single writer.
pub struct ArchiveWriter {
    store: Writer,
    index_work: mpsc::Sender<IndexWork>,
    indexer: JoinHandle<Result<IndexTimings, IndexStageError>>,
    sqlite_time: Duration,
    storage: Arc<StorageStatus>,
    retention: Option<(Retention, Option<Instant>)>,
}

/// What `run` purges as it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// `--retention DAYS`: message content older than this many days.
    pub days: Option<i64>,
    /// `--honour-space-retention`: each space's own `msgRetention`.
    pub honour_space: bool,
}

/// How often the retention purge runs in `run`.
pub const RETENTION_EVERY: Duration = Duration::from_secs(3600);

impl ArchiveWriter {
    /// Takes the write side of the archive and its index; indexes whatever an earlier
    /// run left in the outbox before returning.
    pub async fn open(
        archive: Archive,
        index: &SearchIndex,
        policy: IndexCommitPolicy,
    ) -> Result<ArchiveWriter, WriteError> {
        let storage = Arc::new(StorageStatus::default());
        let indexer = Indexer::open(archive.clone(), index, policy)
            .await?
            .with_storage(storage.clone());
        // A few batches of slack: the SQLite stage runs ahead of the index stage by at
        // most this much before it waits (the outbox holds the rest durably anyway).
        let (index_work, work) = mpsc::channel(4);
        let indexer = tokio::spawn(indexer.run(work));
        Ok(ArchiveWriter {
            store: Writer::new(archive),
            index_work,
            indexer,
            sqlite_time: Duration::ZERO,
            storage,
            retention: None,
        })
    }

    /// Whether storage is failing now, and why: read by `/healthz` and `/metrics`.
    pub fn storage(&self) -> Arc<StorageStatus> {
        self.storage.clone()
    }

    /// The archive written to.
    pub fn archive(&self) -> &Archive {
        self.store.archive()
    }

    /// Writes one batch to SQLite and hands its index work to the index stage.
    pub async fn write(&mut self, items: &[Item]) -> Result<BatchReport, WriteError> {
        let started = Instant::now();
        let written = self.store.write(items).await?;
        self.sqlite_time += started.elapsed();
        if self.index_work.send(written.index).await.is_err() {
            return Err(self.stage_error().await);
        }
        Ok(written.report)
    }

    /// The index stage's error, once it has stopped.
    async fn stage_error(&mut self) -> WriteError {
        match (&mut self.indexer).await {
            Ok(Err(e)) => e.into(),
            Ok(Ok(_)) => WriteError::Stage("it ended before the writer".into()),
            Err(e) => WriteError::Stage(e.to_string()),
        }
    }

    /// Purges by `rules` (except what a hold covers), `reason` recorded; the index
    /// drops the purged messages' documents, and stored files no longer referred to
    /// are deleted once the purge is committed.
    pub async fn purge(&mut self, rules: &[Rule], reason: &str) -> Result<PurgeReport, WriteError> {
        let (report, work) = self.store.purge(rules, reason).await?;
        if self.index_work.send(work).await.is_err() {
            return Err(self.stage_error().await);
        }
        let data_dir = self
            .archive()
            .path()
            .parent()
            .unwrap_or(std::path::Path::new("."));
        if !report.unreferenced_files.is_empty() {
            let store = crate::files::content::ContentStore::open(data_dir)
                .map_err(|e| WriteError::Stage(format!("the stored files: {e}")))?;
            for sha in &report.unreferenced_files {
                match std::fs::remove_file(store.path_of(sha)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!("cannot delete purged file {sha}: {e}"),
                }
            }
        }
        Ok(report)
    }

    /// Purges by `run --retention`/`--honour-space-retention` from now on, checked at
    /// once and every [`RETENTION_EVERY`].
    pub fn with_retention(mut self, retention: Retention) -> ArchiveWriter {
        if retention.days.is_some() || retention.honour_space {
            self.retention = Some((retention, None));
        }
        self
    }

    /// What is due while batches come or not: a checkpoint once
    /// [`crate::chain::checkpoint::EVERY_MS`] passed since the last with something new
    /// written, and the retention purge when one is configured and due.
    pub async fn tick(&mut self) -> Result<(), WriteError> {
        self.store.checkpoint(true).await?;
        let due = match &self.retention {
            Some((_, Some(last))) => last.elapsed() >= RETENTION_EVERY,
            Some((_, None)) => true,
            None => false,
        };
        if due {
            let Some((retention, _)) = self.retention else {
                return Ok(());
            };
            let now = crate::event::time::now_millis();
            let mut rules = Vec::new();
            if let Some(days) = retention.days {
                rules.push(Rule {
                    before: now.saturating_sub(days.saturating_mul(crate::retention::DAY_MS)),
                    spaces: None,
                });
            }
            let mut reason = match retention.days {
                Some(days) => format!("run --retention {days}"),
                None => String::new(),
            };
            if retention.honour_space {
                let mut conn = self
                    .archive()
                    .pool()
                    .acquire()
                    .await
                    .map_err(StoreError::from)?;
                rules.extend(
                    crate::retention::space_rules(&mut conn, now)
                        .await
                        .map_err(StoreError::from)?,
                );
                if !reason.is_empty() {
                    reason.push_str(", ");
                }
                reason.push_str("the space's msgRetention (--honour-space-retention)");
            }
            let report = self.purge(&rules, &reason).await?;
            let totals = report.totals();
            if totals.purged > 0 || totals.held > 0 {
                tracing::info!(
                    purged = totals.purged,
                    held = totals.held,
                    payloads = totals.payloads,
                    files = totals.files,
                    "retention purge"
                );
            }
            if let Some((_, last)) = &mut self.retention {
                *last = Some(Instant::now());
            }
        }
        Ok(())
    }

    /// Signs a last checkpoint, lets the index stage index and commit everything, and
    /// waits for it.
    pub async fn finish(mut self) -> Result<(), WriteError> {
        let signed = self.store.checkpoint(false).await;
        drop(self.index_work);
        let timings = self
            .indexer
            .await
            .map_err(|e| WriteError::Stage(e.to_string()))??;
        signed?;
        tracing::info!(sqlite = ?self.sqlite_time, documents = ?timings.documents, index = ?timings.index,
            commits = ?timings.commits, "writer finished");
        Ok(())
    }
}

/// How often [`drain`] does [`ArchiveWriter::tick`]'s work while batches come or not.
const TICK: Duration = Duration::from_secs(30);

/// Drains `rx` until every sender is gone, writing batches; calls `on_batch` after
/// each. Returns the totals, or the first error (earlier batches stay committed);
/// failing storage is handled as `on_stall` says.
pub async fn drain(
    writer: &mut ArchiveWriter,
    rx: &mut Receiver<Vec<Item>>,
    policy: BatchPolicy,
    mut on_stall: OnStall,
    mut on_batch: impl FnMut(&BatchReport),
) -> Result<BatchReport, DrainError> {
    let mut totals = BatchReport::default();
    let mut stall = Stall::new(Stage::Sqlite, writer.archive().path());
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut batch = tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
            _ = ticks.tick() => {
                if let Err(e) = writer.tick().await {
                    tracing::warn!("the writer's periodic work failed (retried at the next tick): {e}");
                }
                continue;
            }
        };
        let deadline = Instant::now() + policy.max_delay;
        while batch.len() < policy.max_items {
            match timeout_at(deadline, rx.recv()).await {
                Ok(Some(more)) => batch.extend(more),
                Ok(None) | Err(_) => break,
            }
        }
        let report = loop {
            let error = match writer.write(&batch).await {
                Ok(report) => break report,
                Err(error) => error,
            };
            let retry = match (&mut on_stall, error.storage_cause()) {
                (OnStall::Retry(stop), Some(cause)) if !*stop.borrow() => {
                    let holding = format!("holding {} payloads", batch.len());
                    let delay = stall.failed(&writer.storage, cause, &error, &holding);
                    tokio::select! {
                        _ = sleep(delay) => true,
                        _ = stop.changed() => false,
                    }
                }
                _ => false,
            };
            if !retry {
                if matches!(on_stall, OnStall::Retry(_)) {
                    tracing::error!("the writer stops: {error}");
                }
                return Err(DrainError {
                    error,
                    totals,
                    unarchived: batch.len() as u64 + close_and_count(rx),
                });
            }
        };
        stall.succeeded(&writer.storage);
        on_batch(&report);
        totals += report;
    }
    Ok(totals)
}

/// Closes the channel (senders fail from now on) and counts what was still in it.
fn close_and_count(rx: &mut Receiver<Vec<Item>>) -> u64 {
    rx.close();
    let mut left = 0;
    while let Ok(items) = rx.try_recv() {
        left += items.len() as u64;
    }
    left
}
