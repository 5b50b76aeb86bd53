//! The records of `spaces-archive-export/1` read back: what the RSMF and HTML writers
//! make their files from, so that every format holds exactly the JSONL export's
//! messages, versions and removals (see [`super::records`] for the writing side).

use serde::Deserialize;
use serde_json::Value;

/// One line of a JSONL export.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first line.
    Manifest(ManifestIn),
    /// A space in scope.
    Space(SpaceIn),
    /// A message.
    Message(Box<MessageIn>),
    /// In an incremental export: a message that left the filters.
    OutOfScope(OutOfScopeIn),
    /// The last line.
    Complete(CompleteIn),
}

/// The manifest line.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestIn {
    /// When the export was made.
    pub generated_at: String,
    /// The program that made it.
    pub generator: String,
    /// The filters.
    pub filters: Value,
    /// The archive's state.
    pub archive: Value,
    /// The archive's latest signed checkpoint.
    #[serde(default)]
    pub checkpoint: Option<Value>,
}

/// A person.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PersonIn {
    /// Avaya id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// User name (often an e-mail address).
    pub username: Option<String>,
}

impl PersonIn {
    /// The name to show: the display name, else the user name, else the id.
    pub fn display(&self) -> &str {
        self.name
            .as_deref()
            .or(self.username.as_deref())
            .unwrap_or(&self.id)
    }
}

/// A space.
#[derive(Debug, Clone, Deserialize)]
pub struct SpaceIn {
    /// Avaya id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// `group`, `direct`, …
    pub space_type: Option<String>,
    /// Archive status (0 active).
    pub status: Option<i64>,
    /// Created.
    pub created: Option<String>,
    /// Current members.
    #[serde(default)]
    pub members: Vec<MemberIn>,
    /// Joins and leaves, oldest first.
    #[serde(default)]
    pub membership_changes: Vec<ChangeIn>,
}

impl SpaceIn {
    /// The title, else the id.
    pub fn display(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.id)
    }

    /// A direct (one-to-one) space.
    pub fn is_direct(&self) -> bool {
        self.space_type.as_deref() == Some("direct")
    }
}

/// A member.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberIn {
    /// Who.
    pub person: PersonIn,
    /// Role.
    pub role: Option<String>,
    /// Joined (ISO-8601).
    pub joined_at: Option<String>,
    /// Left.
    pub left_at: Option<String>,
}

/// A join or leave.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeIn {
    /// Who.
    pub person: PersonIn,
    /// `join` or `leave`.
    pub change: String,
    /// When Avaya says it happened.
    pub at: Option<String>,
    /// Role then.
    pub role: Option<String>,
    /// When the archive saw it.
    pub seen_at: Option<String>,
}

impl ChangeIn {
    /// When it happened: Avaya's time, else when the archive saw it.
    pub fn time(&self) -> Option<&str> {
        self.at.as_deref().or(self.seen_at.as_deref())
    }
}

/// An attachment as a message or version names it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AttachmentIn {
    /// Avaya's file id.
    pub file_id: Option<String>,
    /// Original name.
    pub name: Option<String>,
    /// Content type.
    pub mime: Option<String>,
    /// Size in bytes, as Avaya reports it.
    pub size: Option<i64>,
    /// SHA-256 of the stored bytes.
    pub sha256: Option<String>,
    /// Whether the bytes are stored.
    #[serde(default)]
    pub stored: bool,
    /// Fetch status.
    pub status: Option<String>,
}

impl AttachmentIn {
    /// The name to show.
    pub fn display(&self) -> &str {
        self.name
            .as_deref()
            .or(self.file_id.as_deref())
            .unwrap_or("attachment")
    }

    /// The stored content's SHA-256, when its bytes are stored.
    pub fn stored_sha256(&self) -> Option<&str> {
        self.sha256.as_deref().filter(|_| self.stored)
    }
}

/// A task's state.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TaskIn {
    /// Status.
    pub status: Option<String>,
    /// Due (ISO-8601).
    pub due: Option<String>,
}

/// A removal.
#[derive(Debug, Clone, Deserialize)]
pub struct RemovedIn {
    /// When.
    pub at: Option<String>,
    /// By whom.
    pub by: Option<PersonIn>,
}

/// A message with its versions.
#[derive(Debug, Deserialize)]
pub struct MessageIn {
    /// Avaya id.
    pub id: String,
    /// Space.
    pub space_id: String,
    /// `chat`, `post` or `task`.
    pub kind: String,
    /// The post or task a reply belongs to.
    pub parent_id: Option<String>,
    /// Sender.
    pub sender: Option<PersonIn>,
    /// Created.
    pub created: Option<String>,
    /// Last modified.
    pub modified: Option<String>,
    /// Current text.
    #[serde(default)]
    pub text: String,
    /// Current description (posts and tasks).
    #[serde(default)]
    pub description: String,
    /// Current attachments.
    #[serde(default)]
    pub attachments: Vec<AttachmentIn>,
    /// Task assignees.
    #[serde(default)]
    pub assignees: Vec<PersonIn>,
    /// Task state.
    pub task: Option<TaskIn>,
    /// The removal.
    pub removed: Option<RemovedIn>,
    /// When retention purged its content, and why (only on purged messages).
    #[serde(default)]
    pub purged: Option<PurgedIn>,
    /// Versions, oldest first.
    #[serde(default)]
    pub versions: Vec<VersionIn>,
}

/// A purge of a message's content.
#[derive(Debug, Clone, Deserialize)]
pub struct PurgedIn {
    /// When.
    pub at: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

impl MessageIn {
    /// When it was sent: created, else its first version's time, else modified.
    pub fn time(&self) -> Option<&str> {
        self.created
            .as_deref()
            .or_else(|| self.versions.first().and_then(|v| v.at.as_deref()))
            .or(self.modified.as_deref())
    }

    /// Its text as one body: the text, and a post's or task's description after it.
    pub fn body(&self) -> String {
        match &self.purged {
            // The placeholder every format shows instead of the content.
            Some(p) => format!(
                "[content purged {} ({})]",
                p.at.as_deref().unwrap_or("at an unknown time"),
                p.reason.as_deref().unwrap_or("retention")
            ),
            None => joined(&self.text, &self.description),
        }
    }
}

/// One version.
#[derive(Debug, Deserialize)]
pub struct VersionIn {
    /// 1, 2, …
    pub vno: i64,
    /// `create`, `update`, `remove`, …
    pub change: String,
    /// What changed from the version before.
    #[serde(default)]
    pub changed: Vec<String>,
    /// When.
    pub at: Option<String>,
    /// Who.
    pub editor: Option<PersonIn>,
    /// Text then.
    #[serde(default)]
    pub text: String,
    /// Description then.
    #[serde(default)]
    pub description: String,
    /// Task state then.
    pub task: Option<TaskIn>,
    /// Removed in this version.
    #[serde(default)]
    pub removed: bool,
}

impl VersionIn {
    /// Its text as one body (see [`MessageIn::body`]).
    pub fn body(&self) -> String {
        joined(&self.text, &self.description)
    }
}

fn joined(text: &str, description: &str) -> String {
    match (text.is_empty(), description.is_empty()) {
        (_, true) => text.to_string(),
        (true, false) => description.to_string(),
        (false, false) => format!("{text}\n\n{description}"),
    }
}

/// A message that left the filters.
#[derive(Debug, Deserialize)]
pub struct OutOfScopeIn {
    /// Its id.
    pub id: String,
    /// Its space.
    pub space_id: Option<String>,
}

/// The last line.
#[derive(Debug, Clone, Deserialize)]
pub struct CompleteIn {
    /// Records by type.
    pub counts: Value,
    /// The cursor for the next incremental export.
    pub cursor: String,
    /// SHA-256 of the record lines.
    pub sha256: String,
}

/// Parses one line; a line that is not a record is an error naming it.
pub fn parse(line: &[u8]) -> std::io::Result<Record> {
    serde_json::from_slice(line).map_err(|e| {
        let start = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
        std::io::Error::other(format!("an export record does not parse ({e}): {start}"))
    })
}
