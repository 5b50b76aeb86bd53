//! Legal holds: what must be kept whatever the retention policy says. A hold names
//! spaces, senders and a time range of messages' creation (each optional, all given
//! must match), resolved to ids when it is placed; it is never deleted: releasing it
//! records who released it and when, and it stops covering anything.

use serde::Serialize;
use serde_json::json;

use super::RetentionError;
use crate::event::time::now_millis;
use crate::store::{lookup, Archive};

/// A hold as stored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Hold {
    /// Its name.
    pub name: String,
    /// Why it was placed.
    pub reason: String,
    /// Space ids covered (`None`: every space).
    pub spaces: Option<Vec<String>>,
    /// Sender ids covered (`None`: everyone).
    pub senders: Option<Vec<String>>,
    /// Messages created at or after (UTC ms).
    pub since: Option<i64>,
    /// Messages created before (UTC ms).
    pub until: Option<i64>,
    /// The filters as given.
    pub criteria: serde_json::Value,
    /// When it was placed.
    pub created_at: i64,
    /// Who placed it.
    pub created_by: String,
    /// When it was released.
    pub released_at: Option<i64>,
    /// Who released it.
    pub released_by: Option<String>,
}

/// A hold to place, as given.
#[derive(Debug, Clone, Default)]
pub struct NewHold {
    /// Its name.
    pub name: String,
    /// Spaces (ids or titles).
    pub spaces: Vec<String>,
    /// Senders (ids, names or user names).
    pub from: Vec<String>,
    /// Created at or after (UTC ms).
    pub since: Option<i64>,
    /// Created before (UTC ms).
    pub until: Option<i64>,
    /// Why.
    pub reason: String,
    /// Who places it.
    pub by: String,
}

/// SQL that is true when an active hold covers the message `m` (a `messages` row).
pub const HELD_SQL: &str = "EXISTS (SELECT 1 FROM holds h WHERE h.released_at IS NULL \
     AND (h.spaces IS NULL OR m.space_id IN (SELECT value FROM json_each(h.spaces))) \
     AND (h.senders IS NULL OR m.sender_id IN (SELECT value FROM json_each(h.senders))) \
     AND (h.since IS NULL OR m.created >= h.since) \
     AND (h.until IS NULL OR m.created < h.until))";

/// Places a hold. Its name must be new (a released hold keeps its name for good).
pub async fn add(archive: &Archive, hold: &NewHold) -> Result<Hold, RetentionError> {
    let name = hold.name.trim();
    if name.is_empty() {
        return Err(RetentionError::Usage("a hold needs a name".into()));
    }
    if hold.reason.trim().is_empty() {
        return Err(RetentionError::Usage(format!(
            "hold {name:?}: --reason must say why it is placed"
        )));
    }
    if let (Some(since), Some(until)) = (hold.since, hold.until) {
        if since >= until {
            return Err(RetentionError::Usage(format!(
                "hold {name:?}: --since must be before --until"
            )));
        }
    }
    let mut spaces = Vec::new();
    for given in &hold.spaces {
        let ids = lookup::space_ids(archive, given).await?;
        if ids.is_empty() {
            return Err(RetentionError::Usage(format!(
                "no space matches --space {given:?}"
            )));
        }
        spaces.extend(ids);
    }
    let mut senders = Vec::new();
    for given in &hold.from {
        let ids = lookup::person_ids(archive, given).await?;
        if ids.is_empty() {
            return Err(RetentionError::Usage(format!(
                "no person matches --from {given:?}"
            )));
        }
        senders.extend(ids);
    }
    for ids in [&mut spaces, &mut senders] {
        ids.sort_unstable();
        ids.dedup();
    }
    let stored = Hold {
        name: name.to_string(),
        reason: hold.reason.trim().to_string(),
        spaces: (!hold.spaces.is_empty()).then_some(spaces),
        senders: (!hold.from.is_empty()).then_some(senders),
        since: hold.since,
        until: hold.until,
        criteria: json!({
            "space": hold.spaces,
            "from": hold.from,
            "since": hold.since.map(crate::event::time::format_millis),
            "until": hold.until.map(crate::event::time::format_millis),
        }),
        created_at: now_millis(),
        created_by: hold.by.clone(),
        released_at: None,
        released_by: None,
    };
    let list = |ids: &Option<Vec<String>>| ids.as_ref().map(|ids| json!(ids).to_string());
    let inserted = sqlx::query(
        "INSERT INTO holds (name, reason, spaces, senders, since, until, criteria, created_at, created_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&stored.name)
    .bind(&stored.reason)
    .bind(list(&stored.spaces))
    .bind(list(&stored.senders))
    .bind(stored.since)
    .bind(stored.until)
    .bind(stored.criteria.to_string())
    .bind(stored.created_at)
    .bind(&stored.created_by)
    .execute(archive.pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    if inserted.rows_affected() == 0 {
        return Err(RetentionError::Usage(format!(
            "a hold named {name:?} exists already (holds are never deleted, released ones \
             included): choose another name"
        )));
    }
    Ok(stored)
}

/// Every hold, active and released, oldest first.
pub async fn list(archive: &Archive) -> Result<Vec<Hold>, RetentionError> {
    let rows: Vec<HoldRow> = sqlx::query_as(
        "SELECT name, reason, spaces, senders, since, until, criteria, created_at, created_by, \
         released_at, released_by FROM holds ORDER BY created_at, name",
    )
    .fetch_all(archive.pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    Ok(rows.into_iter().map(HoldRow::into_hold).collect())
}

/// Releases the active hold `name`; returns it as released.
pub async fn release(archive: &Archive, name: &str, by: &str) -> Result<Hold, RetentionError> {
    let updated = sqlx::query(
        "UPDATE holds SET released_at = ?, released_by = ? WHERE name = ? AND released_at IS NULL",
    )
    .bind(now_millis())
    .bind(by)
    .bind(name)
    .execute(archive.pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    let hold = list(archive).await?.into_iter().find(|h| h.name == name);
    match hold {
        Some(hold) if updated.rows_affected() == 1 => Ok(hold),
        Some(hold) => Err(RetentionError::Usage(format!(
            "hold {name:?} was released already (by {} at {})",
            hold.released_by.as_deref().unwrap_or("?"),
            hold.released_at
                .map(crate::event::time::format_millis)
                .unwrap_or_default()
        ))),
        None => Err(RetentionError::Usage(format!(
            "there is no hold named {name:?}"
        ))),
    }
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    name: String,
    reason: String,
    spaces: Option<String>,
    senders: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    criteria: String,
    created_at: i64,
    created_by: String,
    released_at: Option<i64>,
    released_by: Option<String>,
}

impl HoldRow {
    fn into_hold(self) -> Hold {
        let ids = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Hold {
            name: self.name,
            reason: self.reason,
            spaces: ids(self.spaces),
            senders: ids(self.senders),
            since: self.since,
            until: self.until,
            criteria: serde_json::from_str(&self.criteria).unwrap_or_default(),
            created_at: self.created_at,
            created_by: self.created_by,
            released_at: self.released_at,
            released_by: self.released_by,
        }
    }
}
