//! The searchable view of a message: what the full-text index holds about it.
//! Built by the store from its rows, consumed by the index.

/// One message as indexed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageDocument {
    /// Message id.
    pub id: String,
    /// Space id.
    pub space_id: Option<String>,
    /// Space title.
    pub space_title: Option<String>,
    /// Sender id.
    pub sender_id: Option<String>,
    /// Sender display name and user name.
    pub sender_name: Option<String>,
    /// chat, post or task.
    pub kind: String,
    /// Creation time, UTC ms (0 when unknown).
    pub created: i64,
    /// Modification time, UTC ms (0 when unknown).
    pub modified: i64,
    /// Whether the message was removed.
    pub removed: bool,
    /// Plain text of the current body.
    pub text: String,
    /// Plain text of the current description.
    pub description: String,
    /// Attachment names.
    pub attachments: String,
    /// Text found inside the attachments' stored files (of any version).
    pub file_text: String,
    /// Plain text of each earlier version that differs from the current one, oldest
    /// first.
    pub history: Vec<String>,
}

impl MessageDocument {
    /// The earlier texts a search of the current text cannot find: those not
    /// contained in the current body or description. (An edit that only added to a
    /// message, `…` then `… edit: the link`, leaves nothing here: every word and
    /// phrase of the earlier text is still shown.)
    pub fn unshown_history(&self) -> impl Iterator<Item = &str> {
        self.history
            .iter()
            .map(String::as_str)
            .filter(|t| !self.text.contains(t) && !self.description.contains(t))
    }
}
