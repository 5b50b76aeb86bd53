//! Purging message content past its retention, except what a hold covers. A purged
//! message keeps its row (ids, space, sender, times) marked `purged_at`; its versions,
//! attachments' rows, index document and payload bytes go, and each payload leaves a
//! tombstone with its digest, so the hash chain still verifies. Stored files no other
//! message refers to go too (after the transaction commits). It runs inside the
//! writer's transaction ([`crate::store::Writer::purge`]).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::holds::HELD_SQL;
use crate::chain::sha256;
use crate::store::{decompress, id_range};

/// Messages handled per round of statements.
const CHUNK: usize = 500;

/// One rule: messages created before `before`, in `spaces` (all when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Cutoff, UTC ms: messages created before it go.
    pub before: i64,
    /// Space ids, `None` for every space.
    pub spaces: Option<Vec<String>>,
}

/// What a purge does or, dry, would do, per space.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SpaceCounts {
    /// Messages purged (or to purge).
    pub purged: u64,
    /// Messages past the cutoff kept because a hold covers them.
    pub held: u64,
    /// Payloads emptied, each leaving a tombstone.
    pub payloads: u64,
    /// Stored files no longer referred to, removed.
    pub files: u64,
}

/// What a purge did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PurgeReport {
    /// Counts per space id (`""` for messages without a space).
    pub spaces: BTreeMap<String, SpaceCounts>,
    /// The purged messages' ids (their index documents must go).
    #[serde(skip)]
    pub messages: Vec<String>,
    /// SHA-256 of stored files no longer referred to by anything: their bytes go.
    #[serde(skip)]
    pub unreferenced_files: Vec<String>,
}

impl PurgeReport {
    /// Totals over every space.
    pub fn totals(&self) -> SpaceCounts {
        let mut t = SpaceCounts::default();
        for c in self.spaces.values() {
            t.purged += c.purged;
            t.held += c.held;
            t.payloads += c.payloads;
            t.files += c.files;
        }
        t
    }
}

/// The messages past `rule`'s cutoff, not purged yet: (id, space, held).
async fn candidates(
    conn: &mut SqliteConnection,
    rule: &Rule,
) -> Result<Vec<(String, String, bool)>, sqlx::Error> {
    let mut q = QueryBuilder::<Sqlite>::new(format!(
        "SELECT m.id, coalesce(m.space_id, ''), {HELD_SQL} FROM messages m \
         WHERE m.purged_at IS NULL AND m.created < "
    ));
    q.push_bind(rule.before);
    if let Some(spaces) = &rule.spaces {
        q.push(" AND m.space_id IN (");
        let mut list = q.separated(", ");
        for id in spaces {
            list.push_bind(id.clone());
        }
        q.push(")");
    }
    q.push(" ORDER BY m.space_id, m.created, m.id");
    let rows = q.build().persistent(false).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<bool, _>(2)?)))
        .collect()
}

/// Counts what purging by `rules` would do, changing nothing (payload and file
/// counts included).
pub async fn plan(conn: &mut SqliteConnection, rules: &[Rule]) -> Result<PurgeReport, sqlx::Error> {
    let mut report = PurgeReport::default();
    let mut seen = std::collections::HashSet::new();
    for rule in rules {
        for (id, space, held) in candidates(conn, rule).await? {
            if !seen.insert(id.clone()) {
                continue;
            }
            let counts = report.spaces.entry(space).or_default();
            if held {
                counts.held += 1;
                continue;
            }
            counts.purged += 1;
            counts.payloads += payload_seqs(conn, &id).await?.len() as u64;
        }
    }
    Ok(report)
}

/// Purges by `rules` in the caller's transaction, recording `reason`; the outbox
/// mark `mark` makes the index drop the purged messages' documents.
pub async fn purge(
    conn: &mut SqliteConnection,
    rules: &[Rule],
    reason: &str,
    now: i64,
    mark: i64,
) -> Result<PurgeReport, sqlx::Error> {
    let mut report = PurgeReport::default();
    let mut seen = std::collections::HashSet::new();
    let mut chosen: Vec<(String, String)> = Vec::new();
    for rule in rules {
        for (id, space, held) in candidates(conn, rule).await? {
            if !seen.insert(id.clone()) {
                continue;
            }
            let counts = report.spaces.entry(space.clone()).or_default();
            if held {
                counts.held += 1;
            } else {
                counts.purged += 1;
                chosen.push((id, space));
            }
        }
    }
    let mut files = Vec::new();
    for chunk in chosen.chunks(CHUNK) {
        for (id, space) in chunk {
            let tombstoned = tombstone_payloads(conn, id, reason, now).await?;
            report.spaces.entry(space.clone()).or_default().payloads += tombstoned;
            let ids: Vec<String> =
                sqlx::query_scalar("SELECT file_id FROM file_messages WHERE message_id = ?")
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
            files.extend(ids.into_iter().map(|f| (f, space.clone())));
        }
        for sql in [
            "DELETE FROM versions WHERE message_id = ?",
            "DELETE FROM attachments WHERE message_id = ?",
            "DELETE FROM task_assignees WHERE message_id = ?",
            "DELETE FROM file_messages WHERE message_id = ?",
        ] {
            for (id, _) in chunk {
                sqlx::query(sql).bind(id).execute(&mut *conn).await?;
            }
        }
        for (id, _) in chunk {
            sqlx::query(
                "UPDATE messages SET purged_at = ?, purge_reason = ?, task_status = NULL, due = NULL \
                 WHERE id = ?",
            )
            .bind(now)
            .bind(reason)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO index_outbox (message_id, seq) VALUES (?, ?) \
                 ON CONFLICT (message_id) DO UPDATE SET seq = excluded.seq",
            )
            .bind(id)
            .bind(mark)
            .execute(&mut *conn)
            .await?;
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    for (file_id, space) in files {
        if let Some(sha) = drop_file(conn, &file_id, reason, now).await? {
            report.spaces.entry(space).or_default().files += 1;
            report.unreferenced_files.push(sha);
        }
    }
    report.unreferenced_files.sort();
    report.unreferenced_files.dedup();
    report.messages = chosen.into_iter().map(|(id, _)| id).collect();
    Ok(report)
}

/// The payloads about message `id` that still hold bytes.
async fn payload_seqs(conn: &mut SqliteConnection, id: &str) -> Result<Vec<i64>, sqlx::Error> {
    let (start, end) = id_range(id);
    sqlx::query_scalar(
        "SELECT seq FROM events WHERE dedup_key >= ? AND dedup_key < ? AND message_id = ? \
         AND length(payload) > 0",
    )
    .bind(start)
    .bind(end)
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Empties the payloads of message `id`, each leaving its tombstone.
async fn tombstone_payloads(
    conn: &mut SqliteConnection,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let (start, end) = id_range(id);
    let rows = sqlx::query(
        "SELECT seq, space_id, received_at, payload FROM events \
         WHERE dedup_key >= ? AND dedup_key < ? AND message_id = ? AND length(payload) > 0",
    )
    .bind(start)
    .bind(end)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        let payload: Vec<u8> = row.try_get("payload")?;
        // The digest the chain holds: of the payload as received.
        let digest = decompress(&payload).map_or_else(|_| sha256(&payload), |b| sha256(&b));
        sqlx::query(
            "INSERT INTO tombstones (seq, message_id, space_id, received_at, payload_sha256, purged_at, reason) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(id)
        .bind(row.try_get::<Option<String>, _>("space_id")?)
        .bind(row.try_get::<i64, _>("received_at")?)
        .bind(&digest[..])
        .bind(now)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE events SET payload = x'' WHERE seq = ?")
            .bind(seq)
            .execute(&mut *conn)
            .await?;
    }
    Ok(rows.len() as u64)
}

/// Marks file `file_id` purged when no message refers to it any more; returns its
/// content's SHA-256 when no other stored file has the same bytes (they can go).
async fn drop_file(
    conn: &mut SqliteConnection,
    file_id: &str,
    reason: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let referred: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM file_messages WHERE file_id = ?)")
            .bind(file_id)
            .fetch_one(&mut *conn)
            .await?;
    if referred {
        return Ok(None);
    }
    let sha: Option<String> = sqlx::query_scalar(
        "UPDATE files SET status = 'gone', error = ?, next_attempt = 0, fetched_at = ? \
         WHERE file_id = ? AND status <> 'gone' RETURNING sha256",
    )
    .bind(format!("purged: {reason}"))
    .bind(now)
    .bind(file_id)
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    let Some(sha) = sha else { return Ok(None) };
    let shared: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = ? AND status = 'stored')",
    )
    .bind(&sha)
    .fetch_one(&mut *conn)
    .await?;
    if shared {
        return Ok(None);
    }
    sqlx::query("DELETE FROM file_texts WHERE sha256 = ?")
        .bind(&sha)
        .execute(&mut *conn)
        .await?;
    Ok(Some(sha))
}
