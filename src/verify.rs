//! `verify`: the hash chain and signed checkpoints ([`crate::chain::verify`]), SQLite's
//! own integrity and foreign-key checks, and agreement between the
//! messages table and the index: every message indexed exactly once, no document for
//! a message that does not exist. Messages still in the outbox (written to SQLite,
//! not yet committed to the index by a running or interrupted writer) are reported
//! apart: the next writer start indexes them.

use std::collections::HashMap;

use crate::chain::verify::{verify_chain, ChainReport};
use crate::index::{IndexError, SearchIndex};
use crate::store::documents::message_ids_after;
use crate::store::{outbox, Archive, StoreError};

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// SQLite `quick_check` (or `integrity_check`) lines other than `ok`.
    pub integrity: Vec<String>,
    /// Foreign-key violations (`table rowid parent`).
    pub foreign_keys: Vec<String>,
    /// Messages in SQLite with no index document (and not in the outbox).
    pub missing: Vec<String>,
    /// Messages with more than one index document.
    pub duplicated: Vec<(String, u32)>,
    /// Index documents for messages SQLite does not have.
    pub orphaned: Vec<String>,
    /// Messages waiting in the outbox.
    pub pending: i64,
    /// Messages checked.
    pub messages: u64,
    /// The hash chain and checkpoints.
    pub chain: ChainReport,
}

impl Report {
    /// Whether everything agrees.
    pub fn is_ok(&self) -> bool {
        self.integrity.is_empty()
            && self.foreign_keys.is_empty()
            && self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.orphaned.is_empty()
            && self.chain.is_ok()
    }
}

/// Why `verify` could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// SQLite.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// How thoroughly SQLite checks its own file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// `PRAGMA quick_check`: every page, record and b-tree, but not that each index
    /// entry matches its table row (O(N); the default).
    Quick,
    /// `PRAGMA integrity_check`: also every index against its table (`verify --full`).
    Full,
}

/// SQLite's check of its file, on a connection of its own with the file memory-mapped
/// (read through the page cache, each page copied once less: twice as fast at a
/// million messages), then its foreign-key check on the same connection.
/// Returns its lines and the foreign-key violations (table, row, parent).
async fn sqlite_check(
    archive: &Archive,
    depth: Depth,
) -> Result<(Vec<String>, Vec<ForeignKeyRow>), sqlx::Error> {
    let mut conn = archive.pool().acquire().await?;
    sqlx::query("PRAGMA mmap_size = 17179869184")
        .execute(&mut *conn)
        .await?;
    let pragma = match depth {
        Depth::Quick => "PRAGMA quick_check",
        Depth::Full => "PRAGMA integrity_check",
    };
    let lines = sqlx::query_scalar::<_, String>(pragma)
        .fetch_all(&mut *conn)
        .await;
    let fk = match lines {
        Ok(_) => {
            sqlx::query_as("PRAGMA foreign_key_check")
                .fetch_all(&mut *conn)
                .await
        }
        Err(_) => Ok(Vec::new()),
    };
    sqlx::query("PRAGMA mmap_size = 0")
        .execute(&mut *conn)
        .await?;
    Ok((lines?, fk?))
}

/// A row of `PRAGMA foreign_key_check`: table, rowid, parent table.
type ForeignKeyRow = (String, Option<i64>, String);

/// Checks the archive and its index.
pub async fn verify(
    archive: &Archive,
    index: &SearchIndex,
    depth: Depth,
) -> Result<Report, VerifyError> {
    let mut report = Report::default();
    let pool = archive.pool();
    // SQLite checks its pages on its own connection's thread while the chain is
    // recomputed on this one's.
    let key = archive.signing_key().map(|k| k.public());
    let started = std::time::Instant::now();
    let (integrity, chain) = tokio::join!(
        async {
            let lines = sqlite_check(archive, depth).await;
            tracing::debug!(elapsed = ?started.elapsed(), "verify: SQLite's checks done");
            lines
        },
        async {
            let chain = verify_chain(archive, key).await;
            tracing::debug!(elapsed = ?started.elapsed(), "verify: the chain done");
            chain
        }
    );
    report.chain = chain?;
    let (integrity, fk) = integrity.map_err(StoreError::from)?;
    report.integrity = integrity.into_iter().filter(|line| line != "ok").collect();
    report.foreign_keys = fk
        .into_iter()
        .map(|(t, r, p)| format!("{t} row {} refers to a missing {p}", r.unwrap_or(-1)))
        .collect();
    report.pending = outbox::backlog(archive).await?;
    let pending: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT message_id FROM index_outbox")
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)?
            .into_iter()
            .collect();
    let mut indexed: HashMap<String, u32> = index.all_ids()?;
    let mut after = String::new();
    loop {
        let ids = message_ids_after(archive, &after, 10_000).await?;
        let Some(last) = ids.last() else { break };
        after = last.clone();
        for id in ids {
            report.messages += 1;
            match indexed.remove(&id) {
                None if !pending.contains(&id) => report.missing.push(id),
                Some(n) if n > 1 => report.duplicated.push((id, n)),
                _ => {}
            }
        }
    }
    tracing::debug!(elapsed = ?started.elapsed(), "verify: the index done");
    report.orphaned = indexed.into_keys().collect();
    report.orphaned.sort();
    Ok(report)
}
