//! The audit log's writer: one task per open database that appends rows in group
//! commits. Each row must be durable before the action it records is answered
//! (`synchronous = FULL`, one fsync per transaction), so under many concurrent
//! sessions a transaction per row would queue every request behind the disk's
//! fsyncs and behind SQLite's busy back-off. Instead the task takes every row that
//! arrived while the previous transaction committed and appends them all in the
//! next one, in arrival order. A request that is cancelled (its client went away)
//! leaves its row to the task, which still writes it.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::log::{append_rows, AuditEntry};
use super::AuditError;

/// Rows one transaction appends at most.
const BATCH: usize = 512;

/// A row on its way, and where its number (or the error) goes.
struct Pending {
    entry: AuditEntry,
    at: i64,
    done: oneshot::Sender<Result<i64, String>>,
}

/// The sending side of the writer task.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Writer {
    /// Starts the task appending to `pool`'s database.
    pub(super) fn start(pool: sqlx::SqlitePool, gate: Arc<tokio::sync::Mutex<()>>) -> Writer {
        let (queue, rows) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, gate, rows));
        Writer { queue }
    }

    /// Appends `entry` (made at `at`, UTC ms); returns its number once committed.
    pub(super) async fn append(&self, entry: &AuditEntry, at: i64) -> Result<i64, AuditError> {
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            entry: entry.clone(),
            at,
            done,
        };
        let gone = || AuditError::Refused("the audit log's writer has stopped".into());
        self.queue.send(pending).map_err(|_| gone())?;
        answer
            .await
            .map_err(|_| gone())?
            .map_err(AuditError::Append)
    }
}

async fn run(
    pool: sqlx::SqlitePool,
    gate: Arc<tokio::sync::Mutex<()>>,
    mut rows: mpsc::UnboundedReceiver<Pending>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rows.recv_many(&mut batch, BATCH).await > 0 {
        let entries: Vec<(&AuditEntry, i64)> = batch.iter().map(|p| (&p.entry, p.at)).collect();
        let appended = {
            let _write = gate.lock().await;
            append_rows(&pool, &entries).await
        };
        match appended {
            Ok(seqs) => {
                for (pending, seq) in batch.drain(..).zip(seqs) {
                    let _ = pending.done.send(Ok(seq));
                }
            }
            Err(e) => {
                tracing::error!("cannot append {} rows to the audit log: {e}", batch.len());
                let message = e.to_string();
                for pending in batch.drain(..) {
                    let _ = pending.done.send(Err(message.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AuditDb, AuditEntry};

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            user: format!("u{}", n % 7),
            address: "127.0.0.1".into(),
            action: "search".into(),
            detail: serde_json::json!({"n": n}),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rows_get_distinct_numbers_and_one_unbroken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditDb::open(dir.path()).await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..200 {
            let audit = audit.clone();
            tasks.push(tokio::spawn(async move {
                (n, audit.record(&entry(n)).await.unwrap())
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap());
        }
        let mut numbers: Vec<i64> = seqs.iter().map(|(_, s)| *s).collect();
        numbers.sort();
        assert_eq!(numbers, (1..=200).collect::<Vec<i64>>());
        // Each row holds what its own caller recorded, under the number it was given.
        let rows = audit.list(&Default::default()).await.unwrap();
        assert_eq!(rows.len(), 200);
        for (n, seq) in seqs {
            let row = rows.iter().find(|r| r.seq == seq).unwrap();
            assert_eq!(row.detail["n"], n);
        }
        assert_eq!(audit.verify().await.unwrap(), Ok(200));
        // A second handle on the same file (another process, say) continues the chain.
        let other = AuditDb::open(dir.path()).await.unwrap();
        assert_eq!(other.record(&entry(200)).await.unwrap(), 201);
        assert_eq!(audit.record(&entry(201)).await.unwrap(), 202);
        assert_eq!(audit.verify().await.unwrap(), Ok(202));
    }
}
