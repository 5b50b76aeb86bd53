//! What the archive holds of messages and spaces, in the terms the REST API lists
//! them: for the sweep (is a listed message missing, or newer than what is stored?)
//! and for re-listing spaces (does a listed space differ from what is stored?).

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use super::bulk::select_in;
use super::{Archive, StoreError};

/// A stored message's latest change, as the REST API would date it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageState {
    /// `modified`, else `created` (UTC ms).
    pub time: Option<i64>,
    /// Marked removed.
    pub removed: bool,
}

/// The stored state of these messages (those the archive holds).
pub async fn message_states(
    archive: &Archive,
    ids: &[&str],
) -> Result<HashMap<String, MessageState>, StoreError> {
    let mut conn = archive.pool().acquire().await?;
    let rows = select_in(
        &mut conn,
        "SELECT id, coalesce(modified, created) AS time, removed_at IS NOT NULL AS removed \
         FROM messages WHERE id IN",
        "",
        ids,
    )
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let state = MessageState {
            time: row.try_get("time")?,
            removed: row.try_get("removed")?,
        };
        out.insert(row.try_get("id")?, state);
    }
    Ok(out)
}

/// A stored space's listed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceState {
    /// Title.
    pub title: Option<String>,
    /// Type (group, direct, …).
    pub kind: Option<String>,
    /// Archive status.
    pub status: Option<i64>,
    /// Present members' person ids.
    pub members: BTreeSet<String>,
}

/// The stored state of these spaces (those the archive holds).
pub async fn space_states(
    archive: &Archive,
    ids: &[&str],
) -> Result<HashMap<String, SpaceState>, StoreError> {
    let mut conn = archive.pool().acquire().await?;
    let mut out: HashMap<String, SpaceState> = HashMap::new();
    let spaces = "SELECT id, title, type, status FROM spaces WHERE id IN";
    for row in select_in(&mut conn, spaces, "", ids).await? {
        let state = SpaceState {
            title: row.try_get("title")?,
            kind: row.try_get("type")?,
            status: row.try_get("status")?,
            members: BTreeSet::new(),
        };
        out.insert(row.try_get("id")?, state);
    }
    let members =
        "SELECT space_id, person_id FROM space_members WHERE left_at IS NULL AND space_id IN";
    for row in select_in(&mut conn, members, "", ids).await? {
        let space: String = row.try_get("space_id")?;
        if let Some(state) = out.get_mut(&space) {
            state.members.insert(row.try_get("person_id")?);
        }
    }
    Ok(out)
}
