//! The index stage of the writer: a task beside the SQLite stage that turns outbox
//! rows into index documents. It runs concurrently with the next SQLite batch (WAL
//! lets it read while the writer writes), so the two stages use both cores.
//!
//! Commit policy: at most every [`IndexCommitPolicy::max_delay`] or every
//! [`IndexCommitPolicy::max_documents`], whichever comes first; only after a commit
//! are the outbox rows it covers deleted. Whatever is left after a crash is indexed
//! again at start-up (a replace by id, so never twice).
//!
//! Failing storage (a full disk) does not stop it: the stage drops its tantivy
//! writer, retries with back-off (see [`super::storage`]) to open a new one from
//! the last commit and, once that works, indexes the whole outbox again, which holds everything it had not
//! committed; the work that arrives meanwhile is in the outbox too and is dropped.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

use std::sync::Arc;

use super::storage::{storage_cause, Stage, Stall, StorageStatus};
use crate::index::{IndexError, IndexWriterHandle, SearchIndex};
use crate::store::documents::{load_documents, message_ids_after};
use crate::store::{outbox, Archive, IndexWork, StoreError};

/// A failure of the index stage.
#[derive(Debug, thiserror::Error)]
pub enum IndexStageError {
    /// Reading documents or the outbox from SQLite.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The tantivy writer was dropped after a failure and could not be opened again.
    #[error("the search index has no writer after a failure")]
    NoWriter,
}

impl IndexStageError {
    /// What failing storage this is, if it is that (see [`storage_cause`]). A
    /// tantivy writer whose indexing threads died counts too: they die on a failed
    /// write (the error they hit is not passed on), and a new writer is the cure.
    pub fn storage_cause(&self) -> Option<&'static str> {
        storage_cause(self).or_else(|| {
            self.to_string()
                .contains("index writer was killed")
                .then_some("the index's writer threads failed writing (I/O error)")
        })
    }
}

/// When the index is committed.
///
/// A tantivy commit flushes a segment and fsyncs; commits that come too fast leave
/// many small segments for the merger, commits that come too slowly delay search.
/// Measured on the 2-core machine with the 200,000-event ingest benchmark: one commit
/// per second gave 15,100–15,400 events/s, a single commit at the end 12,200–16,000
/// (three runs each): no cost beyond the noise. A message is then searchable at most
/// about 1.25 s after it arrives (the SQLite batch delay of 0.25 s plus this second,
/// plus the commit itself). 50,000 documents bounds what a crash makes the next start
/// re-index when messages arrive faster than a second's commit can keep up with.
#[derive(Debug, Clone, Copy)]
pub struct IndexCommitPolicy {
    /// Commit at the latest this long after the first uncommitted document.
    pub max_delay: Duration,
    /// Commit once this many documents are uncommitted.
    pub max_documents: usize,
}

impl Default for IndexCommitPolicy {
    fn default() -> Self {
        IndexCommitPolicy {
            max_delay: Duration::from_secs(1),
            max_documents: 50_000,
        }
    }
}

/// Time spent, for the log at the end of a run.
#[derive(Debug, Default)]
pub struct IndexTimings {
    /// Reading documents from SQLite.
    pub documents: Duration,
    /// Handing documents to tantivy.
    pub index: Duration,
    /// Commits (including waiting for the indexing thread).
    pub commits: Duration,
}

/// The index stage's state.
pub struct Indexer {
    archive: Archive,
    search: SearchIndex,
    index: Option<IndexWriterHandle>,
    storage: Arc<StorageStatus>,
    policy: IndexCommitPolicy,
    /// Highest outbox mark already handed to tantivy.
    outbox_seq: i64,
    /// When the oldest uncommitted document was added.
    dirty_since: Option<Instant>,
    timings: IndexTimings,
}

impl Indexer {
    /// Takes the index writer and indexes what an earlier run left in the outbox.
    pub async fn open(
        archive: Archive,
        index: &SearchIndex,
        policy: IndexCommitPolicy,
    ) -> Result<Indexer, IndexStageError> {
        let handle = index.writer()?;
        let mut indexer = Indexer {
            archive,
            search: index.clone(),
            index: Some(handle),
            storage: Arc::default(),
            policy,
            outbox_seq: 0,
            dirty_since: None,
            timings: IndexTimings::default(),
        };
        let replayed = indexer.index_outbox().await?;
        if replayed > 0 {
            tracing::info!(
                messages = replayed,
                "indexed messages left in the outbox by an earlier run"
            );
            indexer.commit().await?;
        }
        Ok(indexer)
    }

    /// Reports stalls here (shared with the SQLite stage and `/healthz`).
    pub fn with_storage(mut self, storage: Arc<StorageStatus>) -> Indexer {
        self.storage = storage;
        self
    }

    /// Runs until the writer closes `work`: indexes each batch's work, commits on
    /// time, and at the end commits everything. Failing storage is waited out.
    pub async fn run(
        mut self,
        mut work: mpsc::Receiver<IndexWork>,
    ) -> Result<IndexTimings, IndexStageError> {
        let mut stall = Stall::new(Stage::Index, self.search.path());
        loop {
            match self.run_until_failure(&mut work).await {
                Ok(()) => break,
                Err(e) => match e.storage_cause() {
                    Some(cause) => {
                        if !self.recover(&mut work, &mut stall, cause, &e).await? {
                            return Err(e);
                        }
                    }
                    None => return Err(e),
                },
            }
        }
        if let Some(index) = self.index.take() {
            tokio::task::block_in_place(|| index.finish())?;
        }
        Ok(self.timings)
    }

    /// Waits out failing storage: with back-off, opens a new tantivy writer from the
    /// last commit and indexes the outbox again. Work arriving meanwhile is dropped (the
    /// outbox holds it). `Ok(false)` when the writer closed `work` first.
    async fn recover(
        &mut self,
        work: &mut mpsc::Receiver<IndexWork>,
        stall: &mut Stall,
        cause: &str,
        error: &IndexStageError,
    ) -> Result<bool, IndexStageError> {
        let holding = "what it has not indexed stays in the outbox";
        let mut delay = stall.failed(&self.storage, cause, error, holding);
        let mut closed = false;
        loop {
            let deadline = Instant::now() + delay;
            while !closed {
                match timeout_at(deadline, work.recv()).await {
                    Ok(Some(_)) => {}
                    Ok(None) => closed = true,
                    Err(_) => break,
                }
            }
            match self.reopen().await {
                Ok(()) => {
                    stall.succeeded(&self.storage);
                    return Ok(true);
                }
                // The writer is finishing: one last attempt was made.
                Err(_) if closed => return Ok(false),
                Err(e) => match e.storage_cause() {
                    Some(cause) => delay = stall.failed(&self.storage, cause, &e, holding),
                    None => return Err(e),
                },
            }
        }
    }

    /// A new tantivy writer from the last commit, and the whole outbox indexed and
    /// committed again.
    async fn reopen(&mut self) -> Result<(), IndexStageError> {
        // A failed write kills tantivy's indexing threads, and a rolled-back writer
        // may still be one whose threads are gone: the old one is dropped (it holds
        // the index's lock until then) and a new one opened from the last commit.
        tokio::task::block_in_place(|| drop(self.index.take()));
        let search = &self.search;
        self.index = Some(tokio::task::block_in_place(|| search.writer())?);
        self.dirty_since = None;
        let replayed = self.index_outbox().await?;
        if replayed > 0 {
            self.dirty_since.get_or_insert_with(Instant::now);
        }
        self.commit().await
    }

    async fn run_until_failure(
        &mut self,
        work: &mut mpsc::Receiver<IndexWork>,
    ) -> Result<(), IndexStageError> {
        loop {
            let next = match self.dirty_since {
                Some(t) => match timeout_at(t + self.policy.max_delay, work.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.commit().await?;
                        continue;
                    }
                },
                None => work.recv().await,
            };
            let Some(next) = next else { break };
            self.apply(next).await?;
            if self.is_due() {
                self.commit().await?;
            }
        }
        self.commit().await
    }

    /// Indexes one batch's work.
    async fn apply(&mut self, work: IndexWork) -> Result<(), IndexStageError> {
        let started = Instant::now();
        for doc in &work.documents {
            self.writer()?.upsert(doc)?;
        }
        self.timings.index += started.elapsed();
        self.index_ids(&work.load).await?;
        if !work.documents.is_empty() {
            self.dirty_since.get_or_insert_with(Instant::now);
        }
        self.outbox_seq = self.outbox_seq.max(work.seq);
        Ok(())
    }

    /// Rebuilds the whole index from SQLite (`reindex`), calling `progress` with the
    /// number of messages done so far.
    pub async fn rebuild(mut self, progress: impl Fn(u64)) -> Result<u64, IndexStageError> {
        self.writer()?.delete_all()?;
        let mut done = 0u64;
        let mut after = String::new();
        loop {
            let ids = message_ids_after(&self.archive, &after, 2_000).await?;
            let Some(last) = ids.last() else { break };
            after = last.clone();
            self.index_ids(&ids).await?;
            done += ids.len() as u64;
            progress(done);
        }
        self.outbox_seq = i64::MAX;
        self.dirty_since.get_or_insert_with(Instant::now);
        self.commit().await?;
        if let Some(index) = self.index.take() {
            tokio::task::block_in_place(|| index.finish())?;
        }
        Ok(done)
    }

    fn writer(&mut self) -> Result<&mut IndexWriterHandle, IndexStageError> {
        self.index.as_mut().ok_or(IndexStageError::NoWriter)
    }

    fn is_due(&self) -> bool {
        self.dirty_since
            .is_some_and(|t| t.elapsed() >= self.policy.max_delay)
            || self.index.as_ref().map_or(0, |i| i.uncommitted()) >= self.policy.max_documents
    }

    /// Writes the documents of every message in the outbox (left by an earlier run).
    async fn index_outbox(&mut self) -> Result<usize, IndexStageError> {
        let (ids, max_seq) = outbox::pending_after(&self.archive, 0).await?;
        self.index_ids(&ids).await?;
        self.outbox_seq = max_seq;
        Ok(ids.len())
    }

    /// Reads these messages' documents from SQLite and writes them.
    async fn index_ids(&mut self, ids: &[String]) -> Result<(), IndexStageError> {
        for chunk in ids.chunks(2_000) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let started = Instant::now();
            let docs = load_documents(&self.archive, &chunk).await?;
            self.timings.documents += started.elapsed();
            let started = Instant::now();
            for doc in &docs {
                self.writer()?.upsert(doc)?;
            }
            // A message with no document to write (purged) must have none indexed.
            if docs.len() < chunk.len() {
                let written: std::collections::HashSet<&str> =
                    docs.iter().map(|d| d.id.as_str()).collect();
                for id in chunk.iter().filter(|id| !written.contains(*id)) {
                    self.writer()?.delete(id);
                }
            }
            self.timings.index += started.elapsed();
            self.dirty_since.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// Commits the index and forgets the outbox rows it now covers.
    async fn commit(&mut self) -> Result<(), IndexStageError> {
        if self.dirty_since.is_none() {
            return Ok(());
        }
        let started = Instant::now();
        let index = self.writer()?;
        tokio::task::block_in_place(|| index.commit())?;
        outbox::clear_through(&self.archive, self.outbox_seq).await?;
        self.timings.commits += started.elapsed();
        self.dirty_since = None;
        Ok(())
    }
}
