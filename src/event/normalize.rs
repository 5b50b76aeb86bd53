//! The pure core of normalization: applying one message event to what the archive
//! knows of that message. Out-of-order delivery is the normal case, so the rules are:
//! every distinct state is a version; the current state is the version with the
//! latest time (ties go to update over create, removal over update, then to the
//! greater digest, so never to the later arrival); a removal is permanent and keeps
//! the content (a removal that carries none is a version of its own but never
//! replaces the content); fields an event does not carry are inherited.

use sha2::{Digest, Sha256};

use super::category::Kind;
use super::payload::{Action, Attachment, ContentFields, MessageEvent};

/// The content of one message version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Content {
    /// Body HTML.
    pub html: String,
    /// Body plain text.
    pub text: String,
    /// Description HTML (posts and tasks).
    pub description_html: String,
    /// Description plain text.
    pub description_text: String,
    /// Task status.
    pub task_status: Option<String>,
    /// Task due date, UTC ms.
    pub due: Option<i64>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Task assignee ids.
    pub assignees: Vec<String>,
}

/// A stored version, as far as ordering and de-duplication need it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionKey {
    /// Version number within the message, from 1.
    pub vno: i64,
    /// Ordering key: effective time and change rank.
    pub rank: (i64, u8),
    /// Digest of the state.
    pub digest: [u8; 16],
}

/// What the archive holds about one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageState {
    /// Message id.
    pub id: String,
    /// Chat, post or task.
    pub kind: Kind,
    /// Whether `kind` was stated by a category (otherwise inferred).
    pub kind_known: bool,
    /// Space.
    pub space_id: Option<String>,
    /// Post or task this message replies in.
    pub parent_id: Option<String>,
    /// Author.
    pub sender_id: Option<String>,
    /// Creation time.
    pub created: Option<i64>,
    /// Latest modification time seen.
    pub modified: Option<i64>,
    /// Likes.
    pub like_count: Option<i64>,
    /// Replies.
    pub chat_count: Option<i64>,
    /// Removal time.
    pub removed_at: Option<i64>,
    /// Who removed it.
    pub removed_by: Option<String>,
    /// Current version number.
    pub current_vno: i64,
    /// Current content.
    pub current: Content,
    /// Every stored version.
    pub versions: Vec<VersionKey>,
}

/// A version to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVersion {
    /// Version number.
    pub vno: i64,
    /// What made it.
    pub action: Action,
    /// Effective time of the state.
    pub at: i64,
    /// `modified` as sent.
    pub modified: Option<i64>,
    /// Who made the change.
    pub editor_id: Option<String>,
    /// Whether this is the removal.
    pub removed: bool,
    /// The content in this state.
    pub content: Content,
    /// Digest of the state.
    pub digest: [u8; 16],
}

/// The outcome of applying an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The message after the event.
    pub state: MessageState,
    /// A new distinct state, if the event brought one.
    pub version: Option<NewVersion>,
    /// Whether the current content changed (attachments and assignees need rewriting).
    pub current_changed: bool,
}

/// Rank of a change at equal times.
pub fn action_rank(action: Action) -> u8 {
    match action {
        Action::Create => 0,
        Action::Update => 1,
        Action::Remove => 2,
    }
}

/// Applies one message event to the stored state (`None` for a message not seen yet).
pub fn apply(state: Option<MessageState>, event: &MessageEvent, received_at: i64) -> Applied {
    let mut state = state.unwrap_or_else(|| new_state(event));
    fill_metadata(&mut state, event);
    let at = match event.action {
        Action::Remove => event.modified.unwrap_or(received_at),
        _ => event.modified.or(event.created).unwrap_or(received_at),
    };
    let rank = (at, action_rank(event.action));
    let removed = event.action == Action::Remove;
    // A removal that carries no content inherits none: what it would inherit is
    // whatever happened to arrive before it, which a late edit or create changes.
    let bare = removed && event.content == ContentFields::default();
    let content = if bare {
        Content::default()
    } else {
        merge(&state.current, event)
    };
    let digest = version_digest(&content, removed, if removed { None } else { Some(at) });
    if removed && state.removed_at.is_none() {
        state.removed_at = Some(at);
        state.removed_by = event.sender.as_ref().map(|s| s.id.clone());
    }
    if state.versions.iter().any(|v| v.digest == digest) {
        return Applied {
            state,
            version: None,
            current_changed: false,
        };
    }
    let vno = state.versions.len() as i64 + 1;
    let current = state
        .versions
        .iter()
        .find(|v| v.vno == state.current_vno)
        .map(|v| (v.rank, v.digest));
    let becomes_current = outranks((rank, digest), current);
    state.versions.push(VersionKey { vno, rank, digest });
    if becomes_current {
        state.current_vno = vno;
        state.current = content.clone();
        state.like_count = event.like_count.or(state.like_count);
        state.chat_count = event.chat_count.or(state.chat_count);
    } else {
        // An older state arriving late still gives the counts when nothing newer did
        // (edits do not carry them, creates do): otherwise an edit that came before
        // its create would leave them empty for good.
        state.like_count = state.like_count.or(event.like_count);
        state.chat_count = state.chat_count.or(event.chat_count);
    }
    let version = NewVersion {
        vno,
        action: event.action,
        at,
        modified: event.modified,
        editor_id: event.sender.as_ref().map(|s| s.id.clone()),
        removed,
        content,
        digest,
    };
    Applied {
        state,
        version: Some(version),
        current_changed: becomes_current,
    }
}

/// The digest of a removal that carried no content.
fn bare_removal_digest() -> [u8; 16] {
    version_digest(&Content::default(), true, None)
}

/// Whether a new version becomes the current one instead of `current`. A removal
/// that carried no content is current only while nothing else is known: the message
/// keeps the content of its latest other state. Otherwise the latest time wins, ties
/// go to update over create and removal over update, and then to the greater digest
/// (two edits stamped with the same `modified`), so never to the later arrival.
fn outranks(new: ((i64, u8), [u8; 16]), current: Option<((i64, u8), [u8; 16])>) -> bool {
    let bare = bare_removal_digest();
    match current {
        None => true,
        Some(_) if new.1 == bare => false,
        Some((_, digest)) if digest == bare => true,
        Some(current) => new > current,
    }
}

fn new_state(event: &MessageEvent) -> MessageState {
    let inferred = if event.content.task_status.is_some() || event.content.assignees.is_some() {
        Kind::Task
    } else {
        Kind::Chat
    };
    MessageState {
        id: event.id.clone(),
        kind: event.kind.unwrap_or(inferred),
        kind_known: event.kind.is_some(),
        space_id: None,
        parent_id: None,
        sender_id: None,
        created: None,
        modified: None,
        like_count: None,
        chat_count: None,
        removed_at: None,
        removed_by: None,
        current_vno: 0,
        current: Content::default(),
        versions: Vec::new(),
    }
}

fn fill_metadata(state: &mut MessageState, event: &MessageEvent) {
    let authoritative = event.action == Action::Create;
    if let Some(kind) = event.kind {
        if authoritative || !state.kind_known {
            state.kind = kind;
            state.kind_known = true;
        }
    }
    let sender_id = event.sender.as_ref().map(|s| s.id.clone());
    let space_id = event.space.as_ref().map(|s| s.id.clone());
    fill(&mut state.space_id, space_id, false);
    fill(&mut state.parent_id, event.parent_id.clone(), authoritative);
    fill(&mut state.sender_id, sender_id, authoritative);
    fill(&mut state.created, event.created, authoritative);
    state.modified = state.modified.max(event.modified);
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>, overwrite: bool) {
    if value.is_some() && (overwrite || slot.is_none()) {
        *slot = value;
    }
}

fn merge(current: &Content, event: &MessageEvent) -> Content {
    let c = &event.content;
    let pick = |new: &Option<String>, old: &String| new.clone().unwrap_or_else(|| old.clone());
    Content {
        html: pick(&c.html, &current.html),
        text: pick(&c.text, &current.text),
        description_html: pick(&c.description_html, &current.description_html),
        description_text: pick(&c.description_text, &current.description_text),
        task_status: c
            .task_status
            .clone()
            .or_else(|| current.task_status.clone()),
        due: c.due.or(current.due),
        attachments: c
            .attachments
            .clone()
            .unwrap_or_else(|| current.attachments.clone()),
        assignees: c
            .assignees
            .clone()
            .unwrap_or_else(|| current.assignees.clone()),
    }
}

/// Digest of a state: its content, whether it is the removal, and (except for the
/// removal, which happens once) its time.
pub fn version_digest(content: &Content, removed: bool, at: Option<i64>) -> [u8; 16] {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(&[u8::from(removed)]);
    field(&at.unwrap_or(i64::MIN).to_le_bytes());
    field(content.html.as_bytes());
    field(content.description_html.as_bytes());
    field(content.task_status.as_deref().unwrap_or("\u{0}").as_bytes());
    field(&content.due.unwrap_or(i64::MIN).to_le_bytes());
    field(
        serde_json::to_string(&content.attachments)
            .unwrap_or_default()
            .as_bytes(),
    );
    field(content.assignees.join("\u{1f}").as_bytes());
    let hash = hasher.finalize();
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&hash[..16]);
    digest
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
