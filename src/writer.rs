//! The one writer: owns the SQLite write side and, through its index stage
//! ([`crate::indexer`]), the tantivy `IndexWriter`. It is fed by the bounded channel
//! every producer (socket, backfill, `ingest`) sends to, writes one SQLite
//! transaction per batch (events, normalized rows and the index outbox), and then
//! wakes the index stage.

use std::time::Duration;

use tokio::sync::mpsc::{self, Receiver};
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use crate::index::{IndexError, SearchIndex};
use crate::indexer::{IndexCommitPolicy, IndexTimings, Indexer};
use crate::store::{Archive, BatchReport, IndexWork, Item, StoreError, Writer};

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
    /// The index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The index stage stopped unexpectedly.
    #[error("the index stage stopped: {0}")]
    Stage(String),
}

/// The archive's single writer.
pub struct ArchiveWriter {
    store: Writer,
    index_work: mpsc::Sender<IndexWork>,
    indexer: JoinHandle<Result<IndexTimings, WriteError>>,
    sqlite_time: Duration,
}

impl ArchiveWriter {
    /// Takes the write side of the archive and its index; indexes whatever an earlier
    /// run left in the outbox before returning.
    pub async fn open(
        archive: Archive,
        index: &SearchIndex,
        policy: IndexCommitPolicy,
    ) -> Result<ArchiveWriter, WriteError> {
        let indexer = Indexer::open(archive.clone(), index, policy).await?;
        // A few batches of slack: the SQLite stage runs ahead of the index stage by at
        // most this much before it waits (the outbox holds the rest durably anyway).
        let (index_work, work) = mpsc::channel(4);
        let indexer = tokio::spawn(indexer.run(work));
        Ok(ArchiveWriter {
            store: Writer::new(archive),
            index_work,
            indexer,
            sqlite_time: Duration::ZERO,
        })
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
            Ok(Err(e)) => e,
            Ok(Ok(_)) => WriteError::Stage("it ended before the writer".into()),
            Err(e) => WriteError::Stage(e.to_string()),
        }
    }

    /// Lets the index stage index and commit everything, and waits for it.
    pub async fn finish(self) -> Result<(), WriteError> {
        drop(self.index_work);
        let timings = self
            .indexer
            .await
            .map_err(|e| WriteError::Stage(e.to_string()))??;
        tracing::info!(sqlite = ?self.sqlite_time, documents = ?timings.documents, index = ?timings.index,
            commits = ?timings.commits, "writer finished");
        Ok(())
    }
}

/// Drains `rx` until every sender is gone, writing batches; calls `on_batch` after
/// each. Returns the totals, or the first error (earlier batches stay committed).
pub async fn drain(
    writer: &mut ArchiveWriter,
    rx: &mut Receiver<Vec<Item>>,
    policy: BatchPolicy,
    mut on_batch: impl FnMut(&BatchReport),
) -> Result<BatchReport, WriteError> {
    let mut totals = BatchReport::default();
    while let Some(mut batch) = rx.recv().await {
        let deadline = Instant::now() + policy.max_delay;
        while batch.len() < policy.max_items {
            match timeout_at(deadline, rx.recv()).await {
                Ok(Some(more)) => batch.extend(more),
                Ok(None) | Err(_) => break,
            }
        }
        let report = writer.write(&batch).await?;
        on_batch(&report);
        totals += report;
    }
    Ok(totals)
}
