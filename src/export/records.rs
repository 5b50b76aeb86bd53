//! The records of `spaces-archive-export/1`, one JSON object per line, each with a
//! `type`: a manifest first, then spaces, then messages (and, in an incremental export,
//! messages that left the filters), and a `complete` record last.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;

/// The format name written in the manifest.
pub const FORMAT: &str = "spaces-archive-export/1";

/// A person as an export names them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersonRecord {
    /// Avaya id.
    pub id: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// User name (e-mail), when known.
    pub username: Option<String>,
}

/// First line.
#[derive(Debug, Serialize)]
pub struct Manifest<'a> {
    /// Always `manifest`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`FORMAT`].
    pub format: &'static str,
    /// When the export was made (ISO-8601 UTC).
    pub generated_at: String,
    /// The program and version that made it.
    pub generator: String,
    /// The filters, as resolved (ids, times in ISO-8601).
    pub filters: &'a serde_json::Value,
    /// What the archive held when the export began.
    pub archive: ArchiveInfo,
    /// The archive's latest signed checkpoint of its hash chain at the export's
    /// snapshot (`export verify --key` checks its signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<serde_json::Value>,
}

/// The archive's state at the export's snapshot.
#[derive(Debug, Serialize)]
pub struct ArchiveInfo {
    /// Payloads stored.
    pub events: i64,
    /// Sequence number of the last payload the snapshot holds.
    pub last_seq: i64,
    /// Messages stored (in or out of scope).
    pub messages: i64,
    /// Spaces stored.
    pub spaces: i64,
}

/// A space in scope.
#[derive(Debug, Serialize)]
pub struct SpaceRecord {
    /// Always `space`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Avaya id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// `group`, `direct`, …
    pub space_type: Option<String>,
    /// Archive status as Avaya sends it (0 active).
    pub status: Option<i64>,
    /// Description, HTML.
    pub description_html: Option<String>,
    /// Retention policy, as sent.
    pub retention: Option<Box<RawValue>>,
    /// Settings, as sent.
    pub settings: Option<Box<RawValue>>,
    /// Created (ISO-8601 UTC).
    pub created: Option<String>,
    /// Last modified.
    pub modified: Option<String>,
    /// Members as of the latest membership snapshot.
    pub members: Vec<MemberRecord>,
    /// Joins and leaves, as successive snapshots showed them, oldest first.
    pub membership_changes: Vec<MembershipChange>,
}

/// A current member.
#[derive(Debug, Serialize)]
pub struct MemberRecord {
    /// Who.
    pub person: PersonRecord,
    /// Role in the space.
    pub role: Option<String>,
    /// When they joined, as Avaya reports it.
    pub joined_at: Option<String>,
    /// When they left, when they have.
    pub left_at: Option<String>,
}

/// A join or leave.
#[derive(Debug, Serialize)]
pub struct MembershipChange {
    /// Who.
    pub person: PersonRecord,
    /// `join` or `leave`.
    pub change: String,
    /// When it happened, when Avaya says.
    pub at: Option<String>,
    /// Role at that time.
    pub role: Option<String>,
    /// When the archive saw it (the snapshot payload's arrival).
    pub seen_at: Option<String>,
}

/// Last line.
#[derive(Debug, Serialize)]
pub struct Complete<'a> {
    /// Always `complete`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Records by type (the manifest and this record not counted), and versions.
    pub counts: &'a BTreeMap<String, u64>,
    /// Pass to `--after-cursor` for what changes after this export.
    pub cursor: String,
    /// With `--files`: the stored files written beside the export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<super::files::FilesWritten>,
    /// The same checkpoint as the manifest's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<serde_json::Value>,
    /// SHA-256 (hex) of every byte before this line.
    pub sha256: String,
}
