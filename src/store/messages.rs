//! Message events of a batch: load what is stored about the messages they touch,
//! apply the events in arrival order with [`crate::event::normalize::apply`], then
//! write the final message rows, the new versions, and the current attachments and
//! assignees, one multi-row statement per table.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::body::{push_paragraph, resolve_html, stored_form, FORM_PARAGRAPH};
use super::bulk::{execute_in, insert_many, select_in};
use super::documents::index_work;
use super::files::{queue as queue_files, Carried};
use super::items::NewEvent;
use super::{IndexWork, StoreError};
use crate::event::normalize::{apply, Content, MessageState, NewVersion, VersionKey};
use crate::event::payload::{Action, Attachment};
use crate::event::{Kind, Payload};

/// A version with the event it came from.
struct VersionRow<'a> {
    message_id: &'a str,
    event_seq: i64,
    version: NewVersion,
}

/// Applies the batch's message events, marking their messages in the outbox with
/// the batch's `mark`; returns the index work for the messages.
pub async fn apply_messages(
    conn: &mut SqliteConnection,
    events: &[NewEvent<'_>],
    mark: i64,
) -> Result<IndexWork, StoreError> {
    let message_events: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.decoded.payload {
            Payload::Message(m) => Some((e, m)),
            _ => None,
        })
        .collect();
    if message_events.is_empty() {
        return Ok(IndexWork::default());
    }
    let mut ids: Vec<&str> = message_events.iter().map(|(_, m)| m.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut states = load_states(conn, &ids).await?;
    let preexisting: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| states.contains_key(*id))
        .collect();
    let mut versions = Vec::new();
    let mut content_changed: HashMap<&str, bool> = HashMap::new();
    for (event, message) in &message_events {
        let applied = apply(
            states.remove(message.id.as_str()),
            message,
            event.event.received_at,
        );
        if let Some(version) = applied.version {
            versions.push(VersionRow {
                message_id: &message.id,
                event_seq: event.seq,
                version,
            });
        }
        *content_changed.entry(message.id.as_str()).or_default() |= applied.current_changed;
        states.insert(message.id.clone(), applied.state);
    }
    let mut finals: Vec<&MessageState> = ids.iter().filter_map(|id| states.get(*id)).collect();
    finals.sort_by(|a, b| a.id.cmp(&b.id));
    write_messages(conn, &finals).await?;
    write_versions(conn, &versions).await?;
    let carried: Vec<Carried> = versions
        .iter()
        .flat_map(|r| {
            r.version.content.attachments.iter().map(|a| Carried {
                message_id: r.message_id,
                attachment: a,
                at: r.version.at,
            })
        })
        .collect();
    let with_text = queue_files(conn, &carried).await?;
    let changed: Vec<&MessageState> = finals
        .iter()
        .copied()
        .filter(|s| content_changed[s.id.as_str()])
        .collect();
    let stale: Vec<&str> = preexisting
        .into_iter()
        .filter(|id| content_changed.get(id).copied().unwrap_or(false))
        .collect();
    execute_in(conn, "DELETE FROM attachments WHERE message_id IN", &stale).await?;
    execute_in(
        conn,
        "DELETE FROM task_assignees WHERE message_id IN",
        &stale,
    )
    .await?;
    write_attachments(conn, &changed).await?;
    write_assignees(conn, &changed).await?;
    super::outbox::mark(conn, &ids, mark).await?;
    index_work(conn, &finals, &with_text, mark).await
}

const STATE_COLUMNS: &str = "m.id, m.kind, m.kind_known, m.space_id, m.parent_id, m.sender_id, m.created, \
    m.modified, m.like_count, m.chat_count, m.removed_at, m.removed_by, m.current_vno, \
    v.text, v.html, v.description_text, v.description_html, v.task_status, v.due, v.attachments, v.assignees, \
    v.html_form, CASE WHEN v.html_form = 1 AND (v.html IS NULL OR v.description_html IS NULL) \
    THEN e.payload END AS payload";

async fn load_states(
    conn: &mut SqliteConnection,
    ids: &[&str],
) -> Result<HashMap<String, MessageState>, StoreError> {
    let head = format!(
        "SELECT {STATE_COLUMNS} FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno \
         JOIN events e ON e.seq = v.event_seq WHERE m.id IN"
    );
    let mut states = HashMap::new();
    for row in select_in(conn, &head, "", ids).await? {
        let state = state_from_row(&row)?;
        states.insert(state.id.clone(), state);
    }
    if states.is_empty() {
        return Ok(states);
    }
    let known: Vec<&str> = states.keys().map(String::as_str).collect();
    let rows = select_in(
        conn,
        "SELECT message_id, vno, at, rank, digest FROM versions WHERE message_id IN",
        "",
        &known,
    )
    .await?;
    let mut keys: Vec<(String, VersionKey)> = Vec::with_capacity(rows.len());
    for row in rows {
        let digest: Vec<u8> = row.try_get("digest")?;
        let digest = digest
            .try_into()
            .map_err(|_| StoreError::Corrupt("version digest is not 16 bytes".into()))?;
        let rank: i64 = row.try_get("rank")?;
        keys.push((
            row.try_get("message_id")?,
            VersionKey {
                vno: row.try_get("vno")?,
                rank: (row.try_get("at")?, rank as u8),
                digest,
            },
        ));
    }
    keys.sort_by_key(|(_, k)| k.vno);
    for (id, key) in keys {
        if let Some(state) = states.get_mut(&id) {
            state.versions.push(key);
        }
    }
    Ok(states)
}

fn state_from_row(row: &SqliteRow) -> Result<MessageState, StoreError> {
    let kind: String = row.try_get("kind")?;
    let text: String = row.try_get("text")?;
    let description_text: String = row.try_get("description_text")?;
    let payload: Option<Vec<u8>> = row.try_get("payload")?;
    let (html, description_html) = match payload {
        Some(payload) => resolve_html(
            row.try_get("html")?,
            row.try_get("description_html")?,
            &payload,
        )?,
        None => (row.try_get("html")?, row.try_get("description_html")?),
    };
    let html = match (html, row.try_get::<i64, _>("html_form")?) {
        (None, FORM_PARAGRAPH) => {
            let mut html = String::new();
            push_paragraph(&mut html, &text);
            Some(html)
        }
        (html, _) => html,
    };
    let attachments: Option<String> = row.try_get("attachments")?;
    let assignees: Option<String> = row.try_get("assignees")?;
    let corrupt = |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("{what}: {e}"));
    Ok(MessageState {
        id: row.try_get("id")?,
        kind: Kind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("message kind {kind:?}")))?,
        kind_known: row.try_get("kind_known")?,
        space_id: row.try_get("space_id")?,
        parent_id: row.try_get("parent_id")?,
        sender_id: row.try_get("sender_id")?,
        created: row.try_get("created")?,
        modified: row.try_get("modified")?,
        like_count: row.try_get("like_count")?,
        chat_count: row.try_get("chat_count")?,
        removed_at: row.try_get("removed_at")?,
        removed_by: row.try_get("removed_by")?,
        current_vno: row.try_get("current_vno")?,
        current: Content {
            html: html.unwrap_or_else(|| text.clone()),
            text,
            description_html: description_html.unwrap_or_else(|| description_text.clone()),
            description_text,
            task_status: row.try_get("task_status")?,
            due: row.try_get("due")?,
            attachments: match attachments {
                Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("attachments", e))?,
                None => Vec::new(),
            },
            assignees: match assignees {
                Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("assignees", e))?,
                None => Vec::new(),
            },
        },
        versions: Vec::new(),
    })
}

async fn write_messages(
    conn: &mut SqliteConnection,
    states: &[&MessageState],
) -> Result<(), sqlx::Error> {
    insert_many(
        conn,
        "INSERT INTO messages (id, space_id, kind, kind_known, parent_id, sender_id, created, modified, \
         task_status, due, like_count, chat_count, removed_at, removed_by, current_vno, version_count) ",
        " ON CONFLICT (id) DO UPDATE SET space_id = excluded.space_id, kind = excluded.kind, \
           kind_known = excluded.kind_known, parent_id = excluded.parent_id, sender_id = excluded.sender_id, \
           created = excluded.created, modified = excluded.modified, task_status = excluded.task_status, \
           due = excluded.due, like_count = excluded.like_count, chat_count = excluded.chat_count, \
           removed_at = excluded.removed_at, removed_by = excluded.removed_by, \
           current_vno = excluded.current_vno, version_count = excluded.version_count",
        states,
        16,
        &mut |row, s| {
            row.push_bind(&s.id)
                .push_bind(&s.space_id)
                .push_bind(s.kind.as_str())
                .push_bind(s.kind_known)
                .push_bind(&s.parent_id)
                .push_bind(&s.sender_id)
                .push_bind(s.created)
                .push_bind(s.modified)
                .push_bind(&s.current.task_status)
                .push_bind(s.current.due)
                .push_bind(s.like_count)
                .push_bind(s.chat_count)
                .push_bind(s.removed_at)
                .push_bind(&s.removed_by)
                .push_bind(s.current_vno)
                .push_bind(s.versions.len() as i64);
        },
    )
    .await
}

fn change_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Remove => "remove",
    }
}

/// The description HTML to store: none when it equals the plain text.
fn stored_description<'a>(html: &'a str, text: &str) -> Option<&'a str> {
    (html != text).then_some(html)
}

async fn write_versions(
    conn: &mut SqliteConnection,
    rows: &[VersionRow<'_>],
) -> Result<(), sqlx::Error> {
    let json: Vec<(Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| {
            let c = &r.version.content;
            let attachments = (!c.attachments.is_empty())
                .then(|| serde_json::to_string(&c.attachments).unwrap_or_default());
            let assignees = (!c.assignees.is_empty())
                .then(|| serde_json::to_string(&c.assignees).unwrap_or_default());
            (attachments, assignees)
        })
        .collect();
    let rows: Vec<_> = rows.iter().zip(&json).collect();
    insert_many(
        conn,
        "INSERT INTO versions (message_id, vno, event_seq, change, at, rank, modified, editor_id, removed, \
         text, html, description_text, description_html, task_status, due, attachments, assignees, digest, \
         html_form) ",
        "",
        &rows,
        19,
        &mut |row, (r, (attachments, assignees))| {
            let v = &r.version;
            let c = &v.content;
            let (form, html) = stored_form(&c.html, &c.text);
            row.push_bind(r.message_id)
                .push_bind(v.vno)
                .push_bind(r.event_seq)
                .push_bind(change_name(v.action))
                .push_bind(v.at)
                .push_bind(i64::from(crate::event::normalize::action_rank(v.action)))
                .push_bind(v.modified)
                .push_bind(&v.editor_id)
                .push_bind(v.removed)
                .push_bind(&c.text)
                .push_bind(html)
                .push_bind(&c.description_text)
                .push_bind(stored_description(&c.description_html, &c.description_text))
                .push_bind(&c.task_status)
                .push_bind(c.due)
                .push_bind(attachments)
                .push_bind(assignees)
                .push_bind(&v.digest[..])
                .push_bind(form);
        },
    )
    .await
}

async fn write_attachments(
    conn: &mut SqliteConnection,
    states: &[&MessageState],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&str, i64, &Attachment)> = states
        .iter()
        .flat_map(|s| {
            s.current
                .attachments
                .iter()
                .enumerate()
                .map(|(i, a)| (s.id.as_str(), i as i64, a))
        })
        .collect();
    insert_many(
        conn,
        "INSERT INTO attachments (message_id, position, file_id, name, file_type, mime, size, provider, path, \
         thumbnail_file) ",
        "",
        &rows,
        10,
        &mut |row, (id, position, a)| {
            row.push_bind(*id)
                .push_bind(*position)
                .push_bind(&a.file_id)
                .push_bind(&a.name)
                .push_bind(&a.file_type)
                .push_bind(&a.mime)
                .push_bind(a.size)
                .push_bind(&a.provider)
                .push_bind(&a.path)
                .push_bind(&a.thumbnail_file);
        },
    )
    .await
}

async fn write_assignees(
    conn: &mut SqliteConnection,
    states: &[&MessageState],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&str, &str)> = states
        .iter()
        .flat_map(|s| {
            s.current
                .assignees
                .iter()
                .map(|a| (s.id.as_str(), a.as_str()))
        })
        .collect();
    insert_many(
        conn,
        "INSERT INTO task_assignees (message_id, person_id) ",
        " ON CONFLICT DO NOTHING",
        &rows,
        2,
        &mut |row, (id, person)| {
            row.push_bind(*id).push_bind(*person);
        },
    )
    .await
}
