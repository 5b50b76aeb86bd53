//! The `files` table: the queue of attachments' bytes to fetch and what each fetch
//! found. The writer queues every attachment (and thumbnail) of every version it
//! stores, in the same transaction, and applies each fetch's outcome as it applies
//! payloads; the fetcher ([`crate::files`]) reads the queue through the pool.

use std::collections::HashSet;

use sqlx::{Row, SqliteConnection};

use super::bulk::{insert_many, select_in};
use super::outbox;
use super::{Archive, StoreError};
use crate::event::payload::Attachment;

/// A file's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileStatus {
    /// Not fetched yet.
    Pending,
    /// The bytes are in `files/<sha256>`.
    Stored,
    /// The last attempt failed in a way that may pass; retried later.
    Failed,
    /// The storage says it is not there.
    Gone,
    /// Bigger than the size limit: not fetched.
    TooLarge,
}

impl FileStatus {
    /// Every status, in the order `stats` lists them.
    pub const ALL: [FileStatus; 5] = [
        FileStatus::Pending,
        FileStatus::Stored,
        FileStatus::Failed,
        FileStatus::Gone,
        FileStatus::TooLarge,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Pending => "pending",
            FileStatus::Stored => "stored",
            FileStatus::Failed => "failed",
            FileStatus::Gone => "gone",
            FileStatus::TooLarge => "too_large",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<FileStatus> {
        FileStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The text extracted from a stored file, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileText {
    /// The text (at most the extraction cap).
    pub text: Option<String>,
    /// Whether the text was cut at the cap.
    pub truncated: bool,
    /// Why extraction failed.
    pub error: Option<String>,
}

/// What one fetch attempt found, for the writer to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// The file key.
    pub file_id: String,
    /// The new status.
    pub status: FileStatus,
    /// SHA-256 of the bytes, hex (stored files).
    pub sha256: Option<String>,
    /// Bytes stored (or found too large).
    pub size: Option<i64>,
    /// MIME type the storage gave, used when the message named none.
    pub mime: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// When to try again, UTC ms (failed files).
    pub next_attempt: i64,
    /// When the attempt ended, UTC ms.
    pub at: i64,
    /// The file's text, for text-like stored files.
    pub text: Option<FileText>,
}

/// A queued file, as the fetcher needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedFile {
    /// The file key.
    pub file_id: String,
    /// Whether it is a thumbnail.
    pub thumbnail: bool,
    /// Original name.
    pub name: Option<String>,
    /// MIME type named by the message.
    pub mime: Option<String>,
    /// Size the message states.
    pub declared_size: Option<i64>,
    /// Fallback URLs (`path`, `previewUrl`), empty ones left out.
    pub urls: Vec<String>,
    /// Attempts so far.
    pub attempts: i64,
}

/// One attachment of one version to queue.
pub struct Carried<'a> {
    /// The message carrying it.
    pub message_id: &'a str,
    /// The attachment.
    pub attachment: &'a Attachment,
    /// When the version was stored, UTC ms.
    pub at: i64,
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// Queues every file the attachments name (new keys as `pending`; known ones gain
/// what they lacked) and links them to their messages. Returns the messages that
/// carry a file whose text is already stored: their documents must be read from
/// SQLite to include it.
pub async fn queue(
    conn: &mut SqliteConnection,
    carried: &[Carried<'_>],
) -> Result<HashSet<String>, sqlx::Error> {
    type Row<'a> = (&'a str, Option<&'a str>, &'a Attachment, i64);
    let mut rows: Vec<Row> = Vec::new();
    let mut links: Vec<(&str, &str)> = Vec::new();
    for c in carried {
        let a = c.attachment;
        if let Some(key) = present(&a.file_id) {
            rows.push((key, None, a, c.at));
            links.push((key, c.message_id));
            if let Some(thumb) = present(&a.thumbnail_file).filter(|t| *t != key) {
                rows.push((thumb, Some(key), a, c.at));
                links.push((thumb, c.message_id));
            }
        }
    }
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    rows.sort_by_key(|r| r.0);
    rows.dedup_by_key(|r| r.0);
    insert_many(
        conn,
        "INSERT INTO files (file_id, role, thumbnail_of, name, mime, declared_size, path, preview_url, first_seen) ",
        " ON CONFLICT (file_id) DO UPDATE SET name = coalesce(files.name, excluded.name), \
         mime = coalesce(files.mime, excluded.mime), \
         declared_size = coalesce(files.declared_size, excluded.declared_size), \
         path = coalesce(files.path, excluded.path), \
         preview_url = coalesce(files.preview_url, excluded.preview_url)",
        &rows,
        9,
        &mut |row, (key, thumbnail_of, a, at)| {
            let (name, mime, size, path, preview) = match thumbnail_of {
                None => (present(&a.name), present(&a.mime), a.size, present(&a.path), present(&a.preview_url)),
                Some(_) => (None, None, None, present(&a.thumbnail_url), None),
            };
            row.push_bind(*key)
                .push_bind(if thumbnail_of.is_some() { "thumbnail" } else { "attachment" })
                .push_bind(*thumbnail_of)
                .push_bind(name)
                .push_bind(mime)
                .push_bind(size)
                .push_bind(path)
                .push_bind(preview)
                .push_bind(*at);
        },
    )
    .await?;
    links.sort_unstable();
    links.dedup();
    insert_many(
        conn,
        "INSERT INTO file_messages (file_id, message_id) ",
        " ON CONFLICT DO NOTHING",
        &links,
        2,
        &mut |row, (file, message)| {
            row.push_bind(*file).push_bind(*message);
        },
    )
    .await?;
    let keys: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let texted = select_in(
        conn,
        "SELECT f.file_id FROM files f JOIN file_texts t ON t.sha256 = f.sha256 \
         WHERE t.text IS NOT NULL AND f.file_id IN",
        "",
        &keys,
    )
    .await?;
    let texted: HashSet<String> = texted
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    Ok(links
        .iter()
        .filter(|(file, _)| texted.contains(*file))
        .map(|(_, message)| message.to_string())
        .collect())
}

/// Records fetch outcomes; returns the messages whose documents gained a file's
/// text (marked in the outbox as of `seq`).
pub async fn record_outcomes(
    conn: &mut SqliteConnection,
    outcomes: &[&FileOutcome],
    seq: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let mut reindex = Vec::new();
    for o in outcomes {
        sqlx::query(
            "UPDATE files SET status = ?, sha256 = coalesce(?, sha256), size = coalesce(?, size), \
             mime = coalesce(mime, ?), error = ?, next_attempt = ?, attempts = attempts + 1, \
             fetched_at = CASE WHEN ? = 'stored' THEN ? ELSE fetched_at END WHERE file_id = ?",
        )
        .bind(o.status.as_str())
        .bind(&o.sha256)
        .bind(o.size)
        .bind(&o.mime)
        .bind(&o.error)
        .bind(o.next_attempt)
        .bind(o.status.as_str())
        .bind(o.at)
        .bind(&o.file_id)
        .execute(&mut *conn)
        .await?;
        let (Some(sha256), Some(text)) = (&o.sha256, &o.text) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO file_texts (sha256, text, truncated, error) VALUES (?, ?, ?, ?) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(&text.text)
        .bind(text.truncated)
        .bind(&text.error)
        .execute(&mut *conn)
        .await?;
        if text.text.as_deref().is_some_and(|t| !t.is_empty()) {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT fm.message_id FROM file_messages fm JOIN files f ON f.file_id = fm.file_id \
                 WHERE fm.file_id = ? AND f.role = 'attachment'",
            )
            .bind(&o.file_id)
            .fetch_all(&mut *conn)
            .await?;
            reindex.extend(ids);
        }
    }
    reindex.sort_unstable();
    reindex.dedup();
    let ids: Vec<&str> = reindex.iter().map(String::as_str).collect();
    outbox::mark(conn, &ids, seq).await?;
    Ok(reindex)
}

const QUEUED_COLUMNS: &str =
    "file_id, role, name, mime, declared_size, path, preview_url, attempts";

fn queued_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<QueuedFile, sqlx::Error> {
    let urls = ["path", "preview_url"]
        .iter()
        .filter_map(|c| row.try_get::<Option<String>, _>(*c).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(QueuedFile {
        file_id: row.try_get("file_id")?,
        thumbnail: row.try_get::<String, _>("role")? == "thumbnail",
        name: row.try_get("name")?,
        mime: row.try_get("mime")?,
        declared_size: row.try_get("declared_size")?,
        urls: urls.into_iter().filter(|u| !u.trim().is_empty()).collect(),
        attempts: row.try_get("attempts")?,
    })
}

/// Files to fetch: pending or failed ones whose next attempt is due at `now` (every
/// one of them when `now` is `i64::MAX`), oldest first, at most `limit`.
pub async fn due(archive: &Archive, now: i64, limit: i64) -> Result<Vec<QueuedFile>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {QUEUED_COLUMNS} FROM files WHERE status IN ('pending', 'failed') AND next_attempt <= ? \
         ORDER BY next_attempt, first_seen, file_id LIMIT ?"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(archive.pool())
    .await?;
    Ok(rows.iter().map(queued_from_row).collect::<Result<_, _>>()?)
}

/// When the next failed file is due, UTC ms, if any is waiting.
pub async fn next_due(archive: &Archive) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT min(next_attempt) FROM files WHERE status IN ('pending', 'failed')",
    )
    .fetch_one(archive.pool())
    .await?)
}

/// Attempts recorded for these files (to tell which outcomes are committed).
pub async fn attempts(archive: &Archive, ids: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
    let mut conn = archive.pool().acquire().await?;
    let rows = select_in(
        &mut conn,
        "SELECT file_id, attempts FROM files WHERE file_id IN",
        "",
        ids,
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}
