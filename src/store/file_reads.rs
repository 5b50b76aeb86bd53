//! Reading the `files` table: the listing behind `spaces-archive files`, the counts
//! behind `stats`, the stored files `files verify` checks and exports copy, and each
//! attachment's state for the export.

use std::collections::HashMap;

use sqlx::Row;

use super::bulk::select_in;
use super::files::FileStatus;
use super::{Archive, StoreError};

/// One file as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// The file key.
    pub file_id: String,
    /// Whether it is a thumbnail.
    pub thumbnail: bool,
    /// For a thumbnail: the file it shows.
    pub thumbnail_of: Option<String>,
    /// Original name.
    pub name: Option<String>,
    /// MIME type.
    pub mime: Option<String>,
    /// Size: of the bytes stored, else as the message states it.
    pub size: Option<i64>,
    /// Status.
    pub status: FileStatus,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: Option<String>,
    /// Attempts so far.
    pub attempts: i64,
    /// Last error.
    pub error: Option<String>,
    /// When it was stored, UTC ms.
    pub fetched_at: Option<i64>,
    /// Messages carrying it.
    pub messages: Vec<String>,
}

fn status_of(text: &str) -> Result<FileStatus, StoreError> {
    FileStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("file status {text:?}")))
}

/// Every file (with `status`, only those), by first appearance.
pub async fn list_files(
    archive: &Archive,
    status: Option<FileStatus>,
) -> Result<Vec<FileRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT f.file_id, f.role, f.thumbnail_of, f.name, f.mime, coalesce(f.size, f.declared_size) AS size, \
         f.status, f.sha256, f.attempts, f.error, f.fetched_at, \
         (SELECT group_concat(message_id, ' ') FROM file_messages fm WHERE fm.file_id = f.file_id) AS messages \
         FROM files f WHERE ?1 IS NULL OR f.status = ?1 ORDER BY f.first_seen, f.file_id",
    )
    .bind(status.map(FileStatus::as_str))
    .fetch_all(archive.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let messages: Option<String> = r.try_get("messages")?;
            Ok(FileRow {
                file_id: r.try_get("file_id")?,
                thumbnail: r.try_get::<String, _>("role")? == "thumbnail",
                thumbnail_of: r.try_get("thumbnail_of")?,
                name: r.try_get("name")?,
                mime: r.try_get("mime")?,
                size: r.try_get("size")?,
                status: status_of(&r.try_get::<String, _>("status")?)?,
                sha256: r.try_get("sha256")?,
                attempts: r.try_get("attempts")?,
                error: r.try_get("error")?,
                fetched_at: r.try_get("fetched_at")?,
                messages: messages
                    .unwrap_or_default()
                    .split(' ')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// Files by status, and the bytes stored (each distinct content once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Files per status, every status present.
    pub by_status: Vec<(FileStatus, i64)>,
    /// Distinct contents stored.
    pub contents: i64,
    /// Their bytes.
    pub bytes: i64,
}

/// The counts `stats` shows.
pub async fn file_counts(archive: &Archive) -> Result<FileCounts, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM files GROUP BY status")
            .fetch_all(archive.pool())
            .await?;
    let mut found: HashMap<String, i64> = rows.into_iter().collect();
    let by_status = FileStatus::ALL
        .iter()
        .map(|s| (*s, found.remove(s.as_str()).unwrap_or(0)))
        .collect();
    let (contents, bytes): (i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(size), 0) FROM \
         (SELECT sha256, max(size) AS size FROM files WHERE status = 'stored' GROUP BY sha256)",
    )
    .fetch_one(archive.pool())
    .await?;
    Ok(FileCounts {
        by_status,
        contents,
        bytes,
    })
}

/// Every distinct stored content: SHA-256 and size, with one file key naming it.
pub async fn stored_contents(archive: &Archive) -> Result<Vec<(String, i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT sha256, max(size), min(file_id) FROM files WHERE status = 'stored' \
         GROUP BY sha256 ORDER BY sha256",
    )
    .fetch_all(archive.pool())
    .await?)
}

/// What an export says of an attachment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentState {
    /// Status.
    pub status: FileStatus,
    /// SHA-256, when stored.
    pub sha256: Option<String>,
    /// Bytes stored.
    pub size: Option<i64>,
}

/// The state of these file keys (keys not queued are left out).
pub async fn attachment_states(
    conn: &mut sqlx::SqliteConnection,
    keys: &[&str],
) -> Result<HashMap<String, AttachmentState>, StoreError> {
    let rows = select_in(
        conn,
        "SELECT file_id, status, sha256, size FROM files WHERE file_id IN",
        "",
        keys,
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("file_id")?,
                AttachmentState {
                    status: status_of(&r.try_get::<String, _>("status")?)?,
                    sha256: r.try_get("sha256")?,
                    size: r.try_get("size")?,
                },
            ))
        })
        .collect()
}
