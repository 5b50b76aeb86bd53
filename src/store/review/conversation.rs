//! A space's messages in time order: a page of top-level messages (posts, tasks,
//! chats that answer nothing archived), each with its replies, around a message or
//! before or after one.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::store::bulk::select_in;
use crate::store::{Archive, StoreError};

/// What to show.
#[derive(Debug, Clone)]
pub enum Page {
    /// The newest messages.
    Latest,
    /// Centred on this message (its post when it is a reply).
    Around(String),
    /// Those before this message.
    Before(String),
    /// Those after this message.
    After(String),
}

/// An attachment as a conversation shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentView {
    /// The file's key (`fileId`), when it has one.
    pub file_id: Option<String>,
    /// Original name.
    pub name: String,
    /// MIME type (the stored file's when known).
    pub mime: Option<String>,
    /// Size in bytes (stored, else declared).
    pub size: Option<i64>,
    /// `stored`, `pending`, `failed`, `gone`, `too_large`, or `none` when not queued.
    pub status: String,
}

/// A message as a conversation shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationMessage {
    /// Message id.
    pub id: String,
    /// chat, post, task.
    pub kind: String,
    /// The post or task it answers.
    pub parent_id: Option<String>,
    /// Sender's display name (else id).
    pub sender: Option<String>,
    /// Created, UTC ms.
    pub created: Option<i64>,
    /// Last modified, UTC ms.
    pub modified: Option<i64>,
    /// Removed at, UTC ms.
    pub removed_at: Option<i64>,
    /// Who removed it (name, else id).
    pub removed_by: Option<String>,
    /// Versions stored (more than one: edited).
    pub versions: i64,
    /// Current text.
    pub text: String,
    /// Current description (posts, tasks).
    pub description: String,
    /// Task status.
    pub task_status: Option<String>,
    /// Attachments of the current version.
    pub attachments: Vec<AttachmentView>,
    /// Replies, oldest first (top-level messages only).
    pub replies: Vec<ConversationMessage>,
}

/// A page of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Top-level messages, oldest first.
    pub messages: Vec<ConversationMessage>,
    /// Older messages exist.
    pub more_before: bool,
    /// Newer messages exist.
    pub more_after: bool,
}

const COLUMNS: &str =
    "m.id, m.kind, m.parent_id, coalesce(p.display_name, m.sender_id), m.created, \
    m.modified, m.removed_at, coalesce(r.display_name, m.removed_by), m.version_count, v.text, \
    v.description_text, m.task_status";
const FROM: &str =
    "FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno \
    LEFT JOIN people p ON p.id = m.sender_id LEFT JOIN people r ON r.id = m.removed_by";
/// Top-level: answers no message the archive holds.
const TOP: &str =
    "(m.parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages q WHERE q.id = m.parent_id))";

fn message_from(row: &SqliteRow) -> Result<ConversationMessage, sqlx::Error> {
    Ok(ConversationMessage {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        parent_id: row.try_get(2)?,
        sender: row.try_get(3)?,
        created: row.try_get(4)?,
        modified: row.try_get(5)?,
        removed_at: row.try_get(6)?,
        removed_by: row.try_get(7)?,
        versions: row.try_get(8)?,
        text: row.try_get(9)?,
        description: row.try_get(10)?,
        task_status: row.try_get(11)?,
        attachments: Vec::new(),
        replies: Vec::new(),
    })
}

/// The space and created time of message `id`, and the post it answers.
pub async fn message_place(
    archive: &Archive,
    id: &str,
) -> Result<Option<(Option<String>, Option<i64>, Option<String>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT space_id, created, parent_id FROM messages WHERE id = ?")
            .bind(id)
            .fetch_optional(archive.pool())
            .await?,
    )
}

/// `n` top-level messages of `space` on one side of (`created`, `id`), nearest first.
async fn side(
    conn: &mut sqlx::SqliteConnection,
    space: &str,
    anchor: Option<(i64, &str)>,
    newer: bool,
    inclusive: bool,
    n: i64,
) -> Result<Vec<ConversationMessage>, StoreError> {
    let (cmp, order) = match (newer, inclusive) {
        (true, true) => (">=", "ASC"),
        (true, false) => (">", "ASC"),
        (false, _) => ("<", "DESC"),
    };
    let bound = if anchor.is_some() {
        format!(" AND (m.created, m.id) {cmp} (?, ?)")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {COLUMNS} {FROM} WHERE m.space_id = ?{bound} AND {TOP} \
         ORDER BY m.created {order}, m.id {order} LIMIT ?"
    );
    let mut q = sqlx::query(&sql).bind(space);
    if let Some((created, id)) = anchor {
        q = q.bind(created).bind(id);
    }
    let rows = q.bind(n).fetch_all(&mut *conn).await?;
    Ok(rows.iter().map(message_from).collect::<Result<_, _>>()?)
}

/// A page of space `space`'s conversation, `size` top-level messages at most;
/// `None` when the anchor message is not in that space.
pub async fn conversation(
    archive: &Archive,
    space: &str,
    page: &Page,
    size: i64,
) -> Result<Option<Conversation>, StoreError> {
    let anchor = match page {
        Page::Latest => None,
        Page::Around(id) | Page::Before(id) | Page::After(id) => {
            let Some((in_space, created, parent)) = message_place(archive, id).await? else {
                return Ok(None);
            };
            if in_space.as_deref() != Some(space) {
                return Ok(None);
            }
            // A reply is shown under its post: centre on the post.
            let (created, id) = match (page, parent) {
                (Page::Around(_), Some(parent)) => match message_place(archive, &parent).await? {
                    Some((Some(s), c, _)) if s == space => (c, parent),
                    _ => (created, id.clone()),
                },
                _ => (created, id.clone()),
            };
            Some((created.unwrap_or(0), id))
        }
    };
    let mut conn = archive.pool().acquire().await?;
    let anchor_ref = anchor.as_ref().map(|(c, id)| (*c, id.as_str()));
    let (mut before, mut after) = match page {
        Page::Latest => (
            side(&mut conn, space, None, false, false, size + 1).await?,
            Vec::new(),
        ),
        Page::Around(_) => {
            let half = size / 2;
            (
                side(&mut conn, space, anchor_ref, false, false, half + 1).await?,
                side(&mut conn, space, anchor_ref, true, true, size - half + 1).await?,
            )
        }
        Page::Before(_) => (
            side(&mut conn, space, anchor_ref, false, false, size + 1).await?,
            Vec::new(),
        ),
        Page::After(_) => (
            Vec::new(),
            side(&mut conn, space, anchor_ref, true, false, size + 1).await?,
        ),
    };
    let (before_cap, after_cap) = match page {
        Page::Latest | Page::Before(_) => (size as usize, 0),
        Page::After(_) => (0, size as usize),
        Page::Around(_) => ((size / 2) as usize, (size - size / 2) as usize),
    };
    let more_before = before.len() > before_cap || matches!(page, Page::After(_));
    let more_after = after.len() > after_cap || matches!(page, Page::Before(_));
    before.truncate(before_cap);
    after.truncate(after_cap);
    before.reverse();
    before.append(&mut after);
    let mut messages = before;
    attach_replies(&mut conn, &mut messages).await?;
    Ok(Some(Conversation {
        messages,
        more_before,
        more_after,
    }))
}

/// Fills in each message's replies and everyone's attachments.
async fn attach_replies(
    conn: &mut sqlx::SqliteConnection,
    messages: &mut [ConversationMessage],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let head = format!("SELECT {COLUMNS} {FROM} WHERE m.parent_id IN");
    let rows = select_in(conn, &head, "ORDER BY coalesce(m.created, 0), m.id", &ids).await?;
    let mut replies: HashMap<String, Vec<ConversationMessage>> = HashMap::new();
    for row in &rows {
        let reply = message_from(row)?;
        if let Some(parent) = reply.parent_id.clone() {
            replies.entry(parent).or_default().push(reply);
        }
    }
    for message in messages.iter_mut() {
        message.replies = replies.remove(&message.id).unwrap_or_default();
    }
    let all: Vec<&str> = messages
        .iter()
        .flat_map(|m| std::iter::once(m).chain(m.replies.iter()))
        .map(|m| m.id.as_str())
        .collect();
    let mut found = attachments(conn, &all).await?;
    for message in messages.iter_mut() {
        message.attachments = found.remove(&message.id).unwrap_or_default();
        for reply in &mut message.replies {
            reply.attachments = found.remove(&reply.id).unwrap_or_default();
        }
    }
    Ok(())
}

/// The current attachments of these messages, by message, in order.
pub async fn attachments(
    conn: &mut sqlx::SqliteConnection,
    ids: &[&str],
) -> Result<HashMap<String, Vec<AttachmentView>>, StoreError> {
    let head = "SELECT a.message_id, a.file_id, coalesce(a.name, f.name, a.file_id, ''), \
        coalesce(f.mime, a.mime), coalesce(f.size, a.size), coalesce(f.status, 'none') \
        FROM attachments a LEFT JOIN files f ON f.file_id = a.file_id WHERE a.message_id IN";
    let mut out: HashMap<String, Vec<AttachmentView>> = HashMap::new();
    for row in select_in(conn, head, "ORDER BY a.message_id, a.position", ids).await? {
        out.entry(row.try_get(0)?)
            .or_default()
            .push(AttachmentView {
                file_id: row.try_get(1)?,
                name: row.try_get(2)?,
                mime: row.try_get(3)?,
                size: row.try_get(4)?,
                status: row.try_get(5)?,
            });
    }
    Ok(out)
}

/// A stored attachment file and the spaces of the messages that carry it (a file
/// is shown only to who may see one of them).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    /// SHA-256 of its bytes (its name under `files/`).
    pub sha256: String,
    /// Original name.
    pub name: String,
    /// MIME type.
    pub mime: Option<String>,
    /// Spaces of the messages carrying it.
    pub spaces: Vec<String>,
}

/// The stored file `file_id`, if its bytes are stored.
pub async fn stored_file(
    archive: &Archive,
    file_id: &str,
) -> Result<Option<StoredFile>, StoreError> {
    let row =
        sqlx::query("SELECT sha256, name, mime FROM files WHERE file_id = ? AND status = 'stored'")
            .bind(file_id)
            .fetch_optional(archive.pool())
            .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(sha256) = row.try_get::<Option<String>, _>(0)? else {
        return Ok(None);
    };
    let spaces: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT m.space_id FROM file_messages fm JOIN messages m ON m.id = fm.message_id \
         WHERE fm.file_id = ? AND m.space_id IS NOT NULL",
    )
    .bind(file_id)
    .fetch_all(archive.pool())
    .await?;
    Ok(Some(StoredFile {
        sha256,
        name: row
            .try_get::<Option<String>, _>(1)?
            .unwrap_or_else(|| file_id.to_string()),
        mime: row.try_get(2)?,
        spaces,
    }))
}
