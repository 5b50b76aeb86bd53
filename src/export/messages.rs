//! Message records: one streamed query yields a row per stored version, in export
//! order (space, created, id, then version); consecutive rows of one message become
//! one record. The HTML a version does not store is read back from its payload.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use sqlx::{QueryBuilder, Sqlite};

use super::records::{
    MessageRecord, OutOfScope, PersonRecord, RawEvent, RemovalRecord, TaskRecord, VersionRecord,
};
use super::scope::Scope;
use super::ExportError;
use crate::event::time::format_millis;
use crate::store::body::resolve_html;
use crate::store::StoreError;

/// Everyone in the archive, by id.
pub type People = Arc<HashMap<String, PersonRecord>>;

/// The keys (rowids) of the messages to export, in export order: fixed filters, then
/// either the changing filters (a full export) or "changed after the cursor" (an
/// incremental one, which also reports messages that left the filters). One row: a
/// JSON array, 8 bytes per message once parsed.
pub fn keys_query<'a>(
    scope: &Scope,
    after: Option<i64>,
    snapshot: i64,
) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::new(
        "SELECT json_group_array(k) FROM (SELECT m.rowid AS k FROM messages m WHERE ",
    );
    scope.push_fixed(&mut q);
    match after {
        None => {
            q.push(" AND ");
            scope.push_changing(&mut q);
        }
        Some(seq) => {
            q.push(" AND m.id IN (SELECT message_id FROM events WHERE seq > ")
                .push_bind(seq)
                .push(" AND seq <= ")
                .push_bind(snapshot)
                .push(" AND message_id IS NOT NULL)");
        }
    }
    q.push(" ORDER BY m.space_id, m.created, m.id)");
    q
}

/// One chunk of messages by rowid, in the order given, as one row: a JSON array with,
/// per message, its columns and a nested array of its versions (with the payload, in
/// hex, when the version's HTML is read from it). SQLite builds the JSON; the rows of
/// sqlx cost a thread hand-off each, which one row per message and version made the
/// largest cost of an export.
pub fn chunk_query<'a>(scope: &Scope, rowids: &[i64]) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::new(
        "SELECT json_group_array(json_array(m.id, m.space_id, m.kind, m.parent_id, m.sender_id, \
         m.created, m.modified, m.like_count, m.chat_count, m.removed_at, m.removed_by, \
         m.current_vno, ",
    );
    scope.push_changing(&mut q);
    q.push(
        ", (SELECT json_group_array(json_array(v.vno, v.change, v.at, v.modified, v.editor_id, \
         v.removed, v.text, v.html, v.description_text, v.description_html, v.task_status, v.due, \
         v.attachments, v.assignees, \
         CASE WHEN v.html IS NULL OR v.description_html IS NULL THEN hex(e.payload) END) \
         ORDER BY v.vno) FROM versions v LEFT JOIN events e ON e.seq = v.event_seq \
         WHERE v.message_id = m.id)) ORDER BY k.key) \
         FROM json_each(",
    );
    q.push_bind(serde_json::to_string(rowids).unwrap_or_default());
    q.push(") k JOIN messages m ON m.rowid = k.value");
    q
}

/// A message's columns as [`chunk_query`] writes them.
#[derive(Debug, serde::Deserialize)]
struct MessageColumns(
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    i64,
    Vec<VersionColumns>,
);

/// A version's columns as [`chunk_query`] writes them.
#[derive(Debug, serde::Deserialize)]
struct VersionColumns(
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);
/// A message's columns.
#[derive(Debug)]
pub struct MessageRow {
    id: String,
    space_id: Option<String>,
    kind: String,
    parent_id: Option<String>,
    sender_id: Option<String>,
    created: Option<i64>,
    modified: Option<i64>,
    like_count: Option<i64>,
    chat_count: Option<i64>,
    removed_at: Option<i64>,
    removed_by: Option<String>,
    current_vno: i64,
    /// Matches the filters now.
    pub in_scope: bool,
}

/// A version's columns.
#[derive(Debug)]
pub struct VersionRow {
    vno: i64,
    change: String,
    at: i64,
    modified: Option<i64>,
    editor_id: Option<String>,
    removed: bool,
    text: String,
    html: Option<String>,
    description_text: String,
    description_html: Option<String>,
    task_status: Option<String>,
    due: Option<i64>,
    attachments: Option<String>,
    assignees: Option<String>,
    payload: Option<Vec<u8>>,
}

/// A message and its versions, as read.
#[derive(Debug)]
pub struct MessageRows {
    /// The message.
    pub message: MessageRow,
    /// Its versions, oldest first.
    pub versions: Vec<VersionRow>,
    /// With `--raw`: its payloads.
    pub events: Option<Vec<RawEvent>>,
}

impl MessageRows {
    /// The message's id.
    pub fn message_id(&self) -> &str {
        &self.message.id
    }
}

/// The messages of one [`chunk_query`] row.
pub fn parse_chunk(json: &str) -> Result<Vec<MessageRows>, ExportError> {
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt(format!("an export chunk does not parse: {e}"));
    let columns: Vec<MessageColumns> = serde_json::from_str(json).map_err(corrupt)?;
    let mut messages = Vec::with_capacity(columns.len());
    for c in columns {
        let versions =
            c.13.into_iter()
                .map(version_from)
                .collect::<Result<Vec<_>, ExportError>>()?;
        messages.push(MessageRows {
            message: MessageRow {
                id: c.0,
                space_id: c.1,
                kind: c.2,
                parent_id: c.3,
                sender_id: c.4,
                created: c.5,
                modified: c.6,
                like_count: c.7,
                chat_count: c.8,
                removed_at: c.9,
                removed_by: c.10,
                current_vno: c.11,
                in_scope: c.12 != 0,
            },
            versions,
            events: None,
        });
    }
    Ok(messages)
}

fn version_from(v: VersionColumns) -> Result<VersionRow, ExportError> {
    let payload = match v.14 {
        Some(hex) => Some(
            crate::store::unhex(&hex)
                .ok_or_else(|| StoreError::Corrupt("a payload's hex does not decode".into()))?,
        ),
        None => None,
    };
    Ok(VersionRow {
        vno: v.0,
        change: v.1,
        at: v.2,
        modified: v.3,
        editor_id: v.4,
        removed: v.5 != 0,
        text: v.6,
        html: v.7,
        description_text: v.8,
        description_html: v.9,
        task_status: v.10,
        due: v.11,
        attachments: v.12,
        assignees: v.13,
        payload,
    })
}

/// The line of one message: a message record, or `out_of_scope` when it left the
/// filters. Returns the JSON and the number of versions written.
pub fn message_line(
    rows: MessageRows,
    people: &People,
) -> Result<(Vec<u8>, u64, bool), ExportError> {
    let m = rows.message;
    if !m.in_scope {
        let record = OutOfScope {
            kind: "out_of_scope",
            id: m.id,
            space_id: m.space_id,
        };
        return Ok((serde_json::to_vec(&record)?, 0, false));
    }
    let is_task = m.kind == "task";
    let mut versions: Vec<VersionRecord> = Vec::with_capacity(rows.versions.len());
    let mut current = None;
    for v in rows.versions {
        let record = version_record(v, is_task, people, versions.last())?;
        if record.vno == m.current_vno {
            current = Some(versions.len());
        }
        versions.push(record);
    }
    let current = current
        .or(versions.len().checked_sub(1))
        .map(|i| &versions[i]);
    let empty = || RawValue::from_string("[]".into());
    let record = MessageRecord {
        kind_tag: "message",
        space_id: m.space_id,
        kind: m.kind,
        parent_id: m.parent_id,
        sender: m.sender_id.map(|id| person(people, id)),
        created: m.created.map(format_millis),
        modified: m.modified.map(format_millis),
        text: current.map(|v| v.text.clone()).unwrap_or_default(),
        html: current.map(|v| v.html.clone()).unwrap_or_default(),
        description: current.map(|v| v.description.clone()).unwrap_or_default(),
        description_html: current
            .map(|v| v.description_html.clone())
            .unwrap_or_default(),
        attachments: match current {
            Some(v) => v.attachments.clone(),
            None => empty()?,
        },
        assignees: current.map(|v| v.assignees.clone()).unwrap_or_default(),
        task: current.and_then(|v| {
            v.task.as_ref().map(|t| TaskRecord {
                status: t.status.clone(),
                due: t.due.clone(),
            })
        }),
        like_count: m.like_count,
        chat_count: m.chat_count,
        removed: m.removed_at.map(|at| RemovalRecord {
            at: format_millis(at),
            by: m.removed_by.map(|id| person(people, id)),
        }),
        id: m.id,
        versions,
        events: rows.events,
    };
    let count = record.versions.len() as u64;
    Ok((serde_json::to_vec(&record)?, count, true))
}

fn version_record(
    v: VersionRow,
    is_task: bool,
    people: &People,
    previous: Option<&VersionRecord>,
) -> Result<VersionRecord, ExportError> {
    let (html, description_html) = match (&v.html, &v.description_html, &v.payload) {
        (Some(_), Some(_), _) | (_, _, None) => (v.html, v.description_html),
        (_, _, Some(payload)) => resolve_html(v.html, v.description_html, payload)?,
    };
    let assignees: Vec<String> = match v.assignees.as_deref() {
        Some(json) => serde_json::from_str(json).map_err(|e| {
            StoreError::Corrupt(format!("version assignees are not a list of ids: {e}"))
        })?,
        None => Vec::new(),
    };
    let record = VersionRecord {
        vno: v.vno,
        change: v.change,
        changed: Vec::new(),
        at: format_millis(v.at),
        modified: v.modified.map(format_millis),
        editor: v.editor_id.map(|id| person(people, id)),
        removed: v.removed,
        html: html.unwrap_or_else(|| v.text.clone()),
        text: v.text,
        description_html: description_html.unwrap_or_else(|| v.description_text.clone()),
        description: v.description_text,
        task: is_task.then(|| TaskRecord {
            status: v.task_status,
            due: v.due.map(format_millis),
        }),
        attachments: RawValue::from_string(v.attachments.unwrap_or_else(|| "[]".into()))?,
        assignees: assignees.into_iter().map(|id| person(people, id)).collect(),
    };
    Ok(VersionRecord {
        changed: previous.map(|p| changes(p, &record)).unwrap_or_default(),
        ..record
    })
}

/// The fields of `now` that differ from `before`.
fn changes(before: &VersionRecord, now: &VersionRecord) -> Vec<&'static str> {
    let task = |v: &VersionRecord| {
        v.task
            .as_ref()
            .map(|t| (t.status.clone(), t.due.clone()))
            .unwrap_or_default()
    };
    let (status_before, due_before) = task(before);
    let (status_now, due_now) = task(now);
    [
        ("text", before.text != now.text),
        ("html", before.html != now.html),
        ("description", before.description != now.description),
        (
            "description_html",
            before.description_html != now.description_html,
        ),
        ("task.status", status_before != status_now),
        ("task.due", due_before != due_now),
        (
            "attachments",
            before.attachments.get() != now.attachments.get(),
        ),
        ("assignees", before.assignees != now.assignees),
        ("removed", before.removed != now.removed),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

/// A person by id, with what the archive knows of them.
pub fn person(people: &People, id: String) -> PersonRecord {
    match people.get(&id) {
        Some(p) => p.clone(),
        None => PersonRecord {
            id,
            name: None,
            username: None,
        },
    }
}
