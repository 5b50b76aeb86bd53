//! The one writer task: drains the bounded channel that every producer (socket,
//! backfill, `ingest`) feeds, groups items into batches (by count, or by time so a
//! quiet stream is still committed promptly), and writes each batch in one
//! transaction.

use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::time::{timeout_at, Instant};

use crate::store::{BatchReport, Item, StoreError, Writer};

/// When a batch is written.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Write once this many items are waiting. 2,000 keeps a transaction's statements
    /// well under SQLite's parameter limit per chunk and amortises the commit (fsync
    /// of the WAL) over enough rows that it stops mattering.
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

/// Drains `rx` until every sender is gone, writing batches; calls `on_batch` after
/// each commit. Returns the totals, or the first storage error (the batch that
/// failed is not committed; earlier ones are).
pub async fn drain(
    writer: &mut Writer,
    rx: &mut Receiver<Vec<Item>>,
    policy: BatchPolicy,
    mut on_batch: impl FnMut(&BatchReport),
) -> Result<BatchReport, StoreError> {
    let mut totals = BatchReport::default();
    while let Some(first) = rx.recv().await {
        let mut batch = first;
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
