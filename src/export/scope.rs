//! What an export covers: the filters as given, resolved to ids, as SQL, as the
//! manifest shows them, and the cursor that lets a later export pick up from here.

use serde_json::json;
use sqlx::{QueryBuilder, Sqlite};

use super::sink::hex;
use super::ExportError;
use crate::event::time::format_millis;
use crate::store::{lookup, Archive};

/// `--removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Removed and present messages.
    Include,
    /// Only messages not removed.
    Exclude,
    /// Only removed messages.
    Only,
}

/// The filters of an export, as the user gave them.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Spaces (ids or titles); empty for all.
    pub spaces: Vec<String>,
    /// Senders (id, name or user name); empty for all.
    pub from: Vec<String>,
    /// `chat`, `post` or `task`.
    pub kind: Option<String>,
    /// At or after (UTC ms).
    pub since: Option<i64>,
    /// Before (UTC ms).
    pub until: Option<i64>,
    /// `--since`/`--until` apply to the modified time instead of the created time.
    pub by_modified: bool,
    /// Removed messages.
    pub removed: Removed,
    /// Add each message's verbatim payloads.
    pub raw: bool,
    /// Only what changed after this cursor.
    pub after_cursor: Option<String>,
    /// Bytes of lines held in memory while putting them in export order; beyond it,
    /// sorted runs are spilled to unlinked files beside the output.
    pub sort_memory: usize,
    /// Write the stored files the records name beside the export (`NAME.files/`).
    pub files: bool,
}

/// The default of [`ExportOptions::sort_memory`]: 16 MiB.
pub const SORT_MEMORY: usize = 16 << 20;

/// The filters resolved to ids.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Space ids, or `None` for every space.
    pub spaces: Option<Vec<String>>,
    senders: Option<Vec<String>>,
    kind: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    by_modified: bool,
    removed: Removed,
    /// Add verbatim payloads.
    pub raw: bool,
    /// `--space` and `--from` as given (the cursor's digest covers these, so a title
    /// that later matches one more space keeps the cursor usable).
    given: (Vec<String>, Vec<String>),
}

impl Scope {
    /// Resolves names and titles; a name that matches nothing is an error.
    pub async fn resolve(archive: &Archive, options: &ExportOptions) -> Result<Scope, ExportError> {
        let mut spaces = Vec::new();
        for given in &options.spaces {
            let ids = lookup::space_ids(archive, given).await?;
            if ids.is_empty() {
                return Err(ExportError::Filter(format!(
                    "no space matches --space {given:?}"
                )));
            }
            spaces.extend(ids);
        }
        let mut senders = Vec::new();
        for given in &options.from {
            let ids = lookup::person_ids(archive, given).await?;
            if ids.is_empty() {
                return Err(ExportError::Filter(format!(
                    "no person matches --from {given:?}"
                )));
            }
            senders.extend(ids);
        }
        for ids in [&mut spaces, &mut senders] {
            ids.sort_unstable();
            ids.dedup();
        }
        Ok(Scope {
            spaces: (!options.spaces.is_empty()).then_some(spaces),
            senders: (!options.from.is_empty()).then_some(senders),
            kind: options.kind.clone(),
            since: options.since,
            until: options.until,
            by_modified: options.by_modified,
            removed: options.removed,
            raw: options.raw,
            given: (options.spaces.clone(), options.from.clone()),
        })
    }

    /// The filters as the manifest shows them (and as the cursor's digest covers).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "space": self.spaces,
            "from": self.senders,
            "kind": self.kind,
            "since": self.since.map(format_millis),
            "until": self.until.map(format_millis),
            "time": if self.by_modified { "modified" } else { "created" },
            "removed": match self.removed {
                Removed::Include => "include",
                Removed::Exclude => "exclude",
                Removed::Only => "only",
            },
            "raw": self.raw,
        })
    }

    /// Short digest of the filters as given, carried in cursors.
    fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut filters = self.to_json();
        filters["space"] = self.given.0.clone().into();
        filters["from"] = self.given.1.clone().into();
        hex(&Sha256::digest(filters.to_string().as_bytes())[..8])
    }

    /// Filters that a message's later events cannot change: space, sender, kind.
    pub fn push_fixed(&self, q: &mut QueryBuilder<'_, Sqlite>) {
        q.push("1");
        if let Some(ids) = &self.spaces {
            push_in(q, "m.space_id", ids);
        }
        if let Some(ids) = &self.senders {
            push_in(q, "m.sender_id", ids);
        }
        if let Some(kind) = &self.kind {
            q.push(" AND m.kind = ").push_bind(kind.clone());
        }
    }

    /// Filters an edit or a removal can change: time and removal.
    pub fn push_changing(&self, q: &mut QueryBuilder<'_, Sqlite>) {
        let column = if self.by_modified {
            "m.modified"
        } else {
            "m.created"
        };
        q.push("(1");
        if let Some(since) = self.since {
            q.push(format!(" AND {column} >= ")).push_bind(since);
        }
        if let Some(until) = self.until {
            q.push(format!(" AND {column} < ")).push_bind(until);
        }
        match self.removed {
            Removed::Include => {}
            Removed::Exclude => {
                q.push(" AND m.removed_at IS NULL");
            }
            Removed::Only => {
                q.push(" AND m.removed_at IS NOT NULL");
            }
        }
        q.push(")");
    }

    /// The cursor of an export whose snapshot ends at `seq`.
    pub fn cursor(&self, seq: i64) -> String {
        format!("sa1.{seq}.{}", self.digest())
    }

    /// The sequence number a cursor resumes after, if it was made with these filters.
    pub fn resume_after(&self, cursor: &str) -> Result<i64, ExportError> {
        let bad = || ExportError::Cursor(format!("{cursor:?} is not an export cursor"));
        let mut parts = cursor.trim().split('.');
        let (Some("sa1"), Some(seq), Some(digest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        if digest != self.digest() {
            return Err(ExportError::Cursor(format!(
                "cursor {cursor:?} was made by an export with other filters; use the same \
                 --space, --from, --kind, --since, --until, --by-modified, --removed and --raw \
                 (a relative --since or --until such as 7d is another time at each run: give \
                 a date)"
            )));
        }
        Ok(seq)
    }
}

/// ` AND column IN (ids…)`.
pub(super) fn push_in(q: &mut QueryBuilder<'_, Sqlite>, column: &str, ids: &[String]) {
    q.push(format!(" AND {column} IN ("));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    q.push(")");
}
