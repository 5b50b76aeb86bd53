//! The audit log: one row per action (a login, a search, a view, a download, an
//! export, an account change), chained. Each row's `hash` is the SHA-256 of the
//! previous row's hash and of its own fields, each length-prefixed, and
//! `audit_head` holds the last row's number and hash, updated in the same
//! transaction: a row altered, removed (the last one too) or put out of order
//! breaks the chain at that row.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{immediate, AuditDb, AuditError};

/// The chain's start: the "previous hash" of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Who: the account name, an OS user as `os:NAME`, or what a failed login gave.
    pub user: String,
    /// From where: the client's address, or `cli`.
    pub address: String,
    /// What: `login`, `login_failed`, `search`, `export`, …
    pub action: String,
    /// The particulars, as a JSON object.
    pub detail: serde_json::Value,
}

/// A recorded row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, UTC ms.
    pub at: i64,
    /// Who.
    pub user: String,
    /// From where.
    pub address: String,
    /// What.
    pub action: String,
    /// The particulars.
    pub detail: serde_json::Value,
    /// SHA-256 of the row before (hex).
    pub prev: String,
    /// SHA-256 of this row (hex).
    pub hash: String,
}

/// Which rows to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this user.
    pub user: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// At or after, UTC ms.
    pub since: Option<i64>,
    /// Before, UTC ms.
    pub until: Option<i64>,
    /// Newest first, at most this many.
    pub limit: Option<i64>,
    /// Skip this many (with `limit`).
    pub offset: i64,
}

/// Appends `entries` (each with its time) to the chain in one transaction taken
/// at once (`BEGIN IMMEDIATE`, so another process appending never reads the same
/// head); returns their numbers.
pub(super) async fn append_rows(
    pool: &sqlx::SqlitePool,
    entries: &[(&AuditEntry, i64)],
) -> Result<Vec<i64>, AuditError> {
    immediate(pool, async |conn| {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *conn)
                .await?;
        let (mut seq, mut prev) = head.unwrap_or((0, GENESIS.to_string()));
        let mut seqs = Vec::with_capacity(entries.len());
        for (entry, at) in entries {
            seq += 1;
            let detail = entry.detail.to_string();
            let fields = AuditEntryRef {
                user: &entry.user,
                address: &entry.address,
                action: &entry.action,
                detail: &detail,
            };
            let hash = chain_hash(&prev, seq, *at, &fields);
            sqlx::query(
                "INSERT INTO audit (seq, at, user, address, action, detail, prev, hash) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(at)
            .bind(&entry.user)
            .bind(&entry.address)
            .bind(&entry.action)
            .bind(&detail)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
            prev = hash;
            seqs.push(seq);
        }
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2",
        )
        .bind(seq)
        .bind(&prev)
        .execute(&mut *conn)
        .await?;
        Ok(seqs)
    })
    .await
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first row that does not follow (or the head's number when rows are gone
    /// from the end).
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

fn chain_hash(prev: &str, seq: i64, at: i64, row: &AuditEntryRef<'_>) -> String {
    let mut hasher = Sha256::new();
    for part in [
        prev.as_bytes(),
        seq.to_string().as_bytes(),
        at.to_string().as_bytes(),
        row.user.as_bytes(),
        row.address.as_bytes(),
        row.action.as_bytes(),
        row.detail.as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    crate::files::content::hex(&hasher.finalize())
}

struct AuditEntryRef<'a> {
    user: &'a str,
    address: &'a str,
    action: &'a str,
    detail: &'a str,
}

impl AuditDb {
    /// Appends a row to the chain; returns its number once it is committed (with
    /// the rows of other requests that arrived meanwhile: [`super::writer`]).
    pub async fn record(&self, entry: &AuditEntry) -> Result<i64, AuditError> {
        let at = crate::event::time::now_millis();
        self.writer.append(entry, at).await
    }

    /// Rows matching `filter`, newest first.
    pub async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, AuditError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT seq, at, user, address, action, detail, prev, hash FROM audit WHERE 1",
        );
        if let Some(user) = &filter.user {
            q.push(" AND user = ").push_bind(user.clone());
        }
        if let Some(action) = &filter.action {
            q.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(since) = filter.since {
            q.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            q.push(" AND at < ").push_bind(until);
        }
        q.push(" ORDER BY seq DESC");
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(limit);
            q.push(" OFFSET ").push_bind(filter.offset);
        }
        let mut rows = Vec::new();
        for row in q.build().fetch_all(&self.pool).await? {
            let detail: String = row.try_get(5)?;
            rows.push(AuditRow {
                seq: row.try_get(0)?,
                at: row.try_get(1)?,
                user: row.try_get(2)?,
                address: row.try_get(3)?,
                action: row.try_get(4)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                prev: row.try_get(6)?,
                hash: row.try_get(7)?,
            });
        }
        Ok(rows)
    }

    /// Recomputes the chain: the number of rows when it holds, else the first row
    /// where it breaks.
    pub async fn verify(&self) -> Result<Result<i64, Broken>, AuditError> {
        let mut conn = self.pool.acquire().await?;
        // One snapshot for the rows and the head.
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let result = verify_rows(&mut conn).await;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        result
    }
}

async fn verify_rows(conn: &mut sqlx::SqliteConnection) -> Result<Result<i64, Broken>, AuditError> {
    use futures_util::TryStreamExt;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_string();
    let mut broken = None;
    {
        let mut rows = sqlx::query(
            "SELECT seq, at, user, address, action, detail, prev, hash FROM audit ORDER BY seq",
        )
        .fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let seq: i64 = row.try_get(0)?;
            let stored_prev: String = row.try_get(6)?;
            let stored_hash: String = row.try_get(7)?;
            let fields = AuditEntryRef {
                user: row.try_get(2)?,
                address: row.try_get(3)?,
                action: row.try_get(4)?,
                detail: row.try_get(5)?,
            };
            let reason = if seq != expected_seq {
                Some(format!(
                    "row {expected_seq} is missing (the next row is {seq})"
                ))
            } else if stored_prev != prev {
                Some(format!(
                    "row {seq} does not follow row {}: its previous hash differs",
                    seq - 1
                ))
            } else if chain_hash(&prev, seq, row.try_get(1)?, &fields) != stored_hash {
                Some(format!(
                    "row {seq} was altered: its hash does not match its content"
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                broken = Some(Broken {
                    seq: expected_seq.min(seq),
                    reason,
                });
                break;
            }
            prev = stored_hash;
            expected_seq += 1;
        }
    }
    if let Some(broken) = broken {
        return Ok(Err(broken));
    }
    let rows = expected_seq - 1;
    match head {
        None if rows == 0 => Ok(Ok(0)),
        None => Ok(Err(Broken {
            seq: rows,
            reason: "the chain's head record is missing".into(),
        })),
        Some((seq, hash)) if seq == rows && hash == prev => Ok(Ok(rows)),
        Some((seq, _)) if seq > rows => Ok(Err(Broken {
            seq: rows + 1,
            reason: format!(
                "rows {} to {seq} are missing from the end of the log",
                rows + 1
            ),
        })),
        Some((seq, _)) => Ok(Err(Broken {
            seq,
            reason: format!("the chain's head (row {seq}) does not match the last row"),
        })),
    }
}
