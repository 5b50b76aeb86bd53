//! Read queries for `stats` and `spaces`. They run on their own connections, so they
//! work while another process is writing (WAL).

use serde::Serialize;
use sqlx::Row;

use super::{Archive, StoreError};

/// Messages by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Chat messages.
    pub chat: i64,
    /// Posts.
    pub post: i64,
    /// Tasks.
    pub task: i64,
}

/// Totals of the archive (`spaces-archive stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Payloads stored in the event log.
    pub events: i64,
    /// Payloads received again.
    pub duplicates: i64,
    /// Stored payloads of an unknown category.
    pub unknown: i64,
    /// Rejected inputs.
    pub rejected: i64,
    /// Spaces.
    pub spaces: i64,
    /// People.
    pub people: i64,
    /// Current messages by kind (removed ones included).
    pub messages: KindCounts,
    /// Removed messages.
    pub removed: i64,
    /// Stored message versions.
    pub versions: i64,
    /// Attachments of current message versions.
    pub attachments: i64,
    /// Payloads by category.
    pub categories: Vec<(String, i64)>,
    /// Space membership changes (joins and leaves) seen.
    pub membership_changes: i64,
    /// Read markers.
    pub read_markers: i64,
    /// Space preferences.
    pub preferences: i64,
    /// Oldest and newest message creation time, UTC ms.
    pub first_message: Option<i64>,
    /// Newest message creation time, UTC ms.
    pub last_message: Option<i64>,
}

async fn count(archive: &Archive, sql: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(sql).fetch_one(archive.pool()).await?)
}

/// Computes the archive's totals.
#[tracing::instrument(skip_all)]
pub async fn stats(archive: &Archive) -> Result<Stats, StoreError> {
    let mut messages = KindCounts::default();
    for row in sqlx::query("SELECT kind, count(*) AS n FROM messages GROUP BY kind")
        .fetch_all(archive.pool())
        .await?
    {
        let n: i64 = row.try_get("n")?;
        match row.try_get::<String, _>("kind")?.as_str() {
            "chat" => messages.chat = n,
            "post" => messages.post = n,
            "task" => messages.task = n,
            _ => {}
        }
    }
    let categories = sqlx::query(
        "SELECT category, count(*) AS n FROM events GROUP BY category ORDER BY n DESC, category",
    )
    .fetch_all(archive.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("category")?, r.try_get("n")?)))
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let range = sqlx::query("SELECT min(created) AS first, max(created) AS last FROM messages")
        .fetch_one(archive.pool())
        .await?;
    Ok(Stats {
        events: count(archive, "SELECT count(*) FROM events").await?,
        duplicates: count(
            archive,
            "SELECT value FROM counters WHERE name = 'duplicates'",
        )
        .await?,
        unknown: count(archive, "SELECT count(*) FROM events WHERE known = 0").await?,
        rejected: count(archive, "SELECT count(*) FROM rejected").await?,
        spaces: count(archive, "SELECT count(*) FROM spaces").await?,
        people: count(archive, "SELECT count(*) FROM people").await?,
        messages,
        removed: count(
            archive,
            "SELECT count(*) FROM messages WHERE removed_at IS NOT NULL",
        )
        .await?,
        versions: count(archive, "SELECT count(*) FROM versions").await?,
        attachments: count(archive, "SELECT count(*) FROM attachments").await?,
        categories,
        membership_changes: count(archive, "SELECT count(*) FROM membership_changes").await?,
        read_markers: count(archive, "SELECT count(*) FROM read_markers").await?,
        preferences: count(archive, "SELECT count(*) FROM preferences").await?,
        first_message: range.try_get("first")?,
        last_message: range.try_get("last")?,
    })
}

/// One space as `spaces-archive spaces` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpaceSummary {
    /// Space id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Whether the space is archived (status 1).
    pub archived: bool,
    /// Messages (removed ones included).
    pub messages: i64,
    /// Latest activity: the newest message creation or modification, UTC ms.
    pub last_activity: Option<i64>,
    /// Current members.
    pub members: i64,
}

/// Every space with its message count and last activity, most recent activity first.
#[tracing::instrument(skip_all)]
pub async fn spaces(archive: &Archive) -> Result<Vec<SpaceSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.id, s.title, s.type, s.status, \
           (SELECT count(*) FROM messages m WHERE m.space_id = s.id) AS messages, \
           (SELECT max(coalesce(m.modified, m.created)) FROM messages m WHERE m.space_id = s.id) AS last_activity, \
           (SELECT count(*) FROM space_members sm WHERE sm.space_id = s.id AND sm.left_at IS NULL) AS members \
         FROM spaces s ORDER BY last_activity DESC NULLS LAST, s.title, s.id",
    )
    .fetch_all(archive.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SpaceSummary {
                id: r.try_get("id")?,
                title: r.try_get("title")?,
                kind: r.try_get("type")?,
                archived: r.try_get::<Option<i64>, _>("status")? == Some(1),
                messages: r.try_get("messages")?,
                last_activity: r.try_get("last_activity")?,
                members: r.try_get("members")?,
            })
        })
        .collect()
}

/// The latest `modified` time archived per space (UTC ms), for the spaces that have
/// messages: where a backfill resumes.
pub async fn latest_modified(
    archive: &Archive,
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT space_id, max(coalesce(modified, created)) AS latest FROM messages \
         WHERE space_id IS NOT NULL GROUP BY space_id",
    )
    .fetch_all(archive.pool())
    .await?;
    let mut out = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let latest: Option<i64> = row.try_get("latest")?;
        out.insert(row.try_get("space_id")?, latest.unwrap_or(0));
    }
    Ok(out)
}
