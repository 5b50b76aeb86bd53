//! What changed: a message's versions with the payload each came from, and a
//! space's titles and membership over time.

use sqlx::Row;

use crate::event::decode::{decode_json, Decoded};
use crate::event::payload::Payload;
use crate::store::lookup::{message_events, MessageEvent};
use crate::store::{Archive, StoreError};

/// One stored version of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    /// Version number (arrival order).
    pub vno: i64,
    /// `create`, `update` or `remove`.
    pub change: String,
    /// The version's time (its `modified`, else when received), UTC ms.
    pub at: i64,
    /// Who made it (name, else id).
    pub editor: Option<String>,
    /// Removed in this version.
    pub removed: bool,
    /// Text.
    pub text: String,
    /// Description.
    pub description: String,
    /// Task status.
    pub task_status: Option<String>,
    /// The payload it came from.
    pub event_seq: i64,
}

/// A message and everything that happened to it.
#[derive(Debug, Clone)]
pub struct MessageHistory {
    /// Message id.
    pub id: String,
    /// Space id.
    pub space_id: Option<String>,
    /// Space title.
    pub space_title: Option<String>,
    /// chat, post, task.
    pub kind: String,
    /// Sender (name, else id).
    pub sender: Option<String>,
    /// Created, UTC ms.
    pub created: Option<i64>,
    /// Removed at.
    pub removed_at: Option<i64>,
    /// Removed by (name, else id).
    pub removed_by: Option<String>,
    /// Versions, oldest first.
    pub versions: Vec<VersionRow>,
}

/// A title a space had, from when.
#[derive(Debug, Clone, PartialEq)]
pub struct TitleChange {
    /// From this time (the payload's `modified`, else when received), UTC ms.
    pub at: i64,
    /// The title.
    pub title: String,
}

/// A join or leave.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipRow {
    /// `join` or `leave`.
    pub change: String,
    /// Who (name, else id).
    pub person: String,
    /// When, UTC ms.
    pub at: Option<i64>,
    /// Role then.
    pub role: Option<String>,
}

/// A space: its state, titles over time, members now and membership changes.
#[derive(Debug, Clone)]
pub struct SpaceAbout {
    /// Space id.
    pub id: String,
    /// Current title.
    pub title: Option<String>,
    /// group, direct, …
    pub kind: Option<String>,
    /// 0 active, 1 archived.
    pub status: Option<i64>,
    /// Messages archived.
    pub messages: i64,
    /// Titles, oldest first.
    pub titles: Vec<TitleChange>,
    /// Current members: name, role, joined at.
    pub members: Vec<(String, Option<String>, Option<i64>)>,
    /// Joins and leaves, oldest first.
    pub changes: Vec<MembershipRow>,
}

/// Message `id` with its versions; `None` when the archive does not hold it.
pub async fn message_history(
    archive: &Archive,
    id: &str,
) -> Result<Option<MessageHistory>, StoreError> {
    let row = sqlx::query(
        "SELECT m.id, m.space_id, s.title, m.kind, coalesce(p.display_name, m.sender_id), m.created, \
         m.removed_at, coalesce(r.display_name, m.removed_by) FROM messages m \
         LEFT JOIN spaces s ON s.id = m.space_id LEFT JOIN people p ON p.id = m.sender_id \
         LEFT JOIN people r ON r.id = m.removed_by WHERE m.id = ?",
    )
    .bind(id)
    .fetch_optional(archive.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let versions = sqlx::query(
        "SELECT v.vno, v.change, v.at, coalesce(p.display_name, v.editor_id), v.removed, v.text, \
         v.description_text, v.task_status, v.event_seq FROM versions v \
         LEFT JOIN people p ON p.id = v.editor_id WHERE v.message_id = ? ORDER BY v.at, v.rank, v.vno",
    )
    .bind(id)
    .fetch_all(archive.pool())
    .await?
    .iter()
    .map(|v| {
        Ok(VersionRow {
            vno: v.try_get(0)?,
            change: v.try_get(1)?,
            at: v.try_get(2)?,
            editor: v.try_get(3)?,
            removed: v.try_get::<i64, _>(4)? != 0,
            text: v.try_get(5)?,
            description: v.try_get(6)?,
            task_status: v.try_get(7)?,
            event_seq: v.try_get(8)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(MessageHistory {
        id: row.try_get(0)?,
        space_id: row.try_get(1)?,
        space_title: row.try_get(2)?,
        kind: row.try_get(3)?,
        sender: row.try_get(4)?,
        created: row.try_get(5)?,
        removed_at: row.try_get(6)?,
        removed_by: row.try_get(7)?,
        versions,
    }))
}

/// The payloads stored for message `id`, as received, in arrival order.
pub async fn message_payloads(
    archive: &Archive,
    id: &str,
) -> Result<Vec<MessageEvent>, StoreError> {
    let mut conn = archive.pool().acquire().await?;
    message_events(&mut conn, id, i64::MAX).await
}

/// Space `id`'s state and history; `None` when the archive does not hold it.
pub async fn space_about(archive: &Archive, id: &str) -> Result<Option<SpaceAbout>, StoreError> {
    let row = sqlx::query("SELECT id, title, type, status FROM spaces WHERE id = ?")
        .bind(id)
        .fetch_optional(archive.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (id, title, kind, status): (String, Option<String>, Option<String>, Option<i64>) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE space_id = ?")
        .bind(&id)
        .fetch_one(archive.pool())
        .await?;
    let members = sqlx::query_as(
        "SELECT coalesce(p.display_name, p.username, m.person_id), m.role, m.joined_at \
         FROM space_members m LEFT JOIN people p ON p.id = m.person_id \
         WHERE m.space_id = ? AND m.left_at IS NULL ORDER BY 1",
    )
    .bind(&id)
    .fetch_all(archive.pool())
    .await?;
    let changes = sqlx::query(
        "SELECT c.change, coalesce(p.display_name, p.username, c.person_id), c.at, c.role \
         FROM membership_changes c LEFT JOIN people p ON p.id = c.person_id \
         WHERE c.space_id = ? ORDER BY c.at, c.id",
    )
    .bind(&id)
    .fetch_all(archive.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(MembershipRow {
            change: r.try_get(0)?,
            person: r.try_get(1)?,
            at: r.try_get(2)?,
            role: r.try_get(3)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let titles = title_history(archive, &id).await?;
    Ok(Some(SpaceAbout {
        id,
        title,
        kind,
        status,
        messages,
        titles,
        members,
        changes,
    }))
}

/// The titles space `id` had, read from its own payloads (`topic.updated`, new
/// spaces, listings), oldest first, each title from the first time it was seen.
async fn title_history(archive: &Archive, id: &str) -> Result<Vec<TitleChange>, StoreError> {
    let (start, end) = crate::store::id_range(id);
    let rows = sqlx::query(
        "SELECT received_at, payload FROM events \
         WHERE dedup_key >= ? AND dedup_key < ? AND message_id IS NULL AND space_id = ? ORDER BY seq",
    )
    .bind(start)
    .bind(end)
    .bind(id)
    .fetch_all(archive.pool())
    .await?;
    let mut seen: Vec<TitleChange> = Vec::new();
    for row in rows {
        let bytes = crate::store::decompress(row.try_get(1)?)
            .map_err(|e| StoreError::Corrupt(format!("payload does not decompress: {e}")))?;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let Ok(Decoded::Payload { payload, .. }) = decode_json(text) else {
            continue;
        };
        if let Payload::Space(space) = payload.payload {
            if let Some(title) = space.title {
                let at = space.modified.unwrap_or(row.try_get(0)?);
                seen.push(TitleChange { at, title });
            }
        }
    }
    seen.sort_by_key(|t| t.at);
    seen.dedup_by(|later, earlier| later.title == earlier.title);
    Ok(seen)
}
