//! Message records. The keys of the messages in scope come first, in export order
//! (space, created, id); then each message and its versions are read by one prepared
//! statement stepped directly on SQLite, and its line is written from the columns in
//! place: no value is built per field, and nothing but the line being written is held.
//! The HTML a version does not store is read back from its payload.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{QueryBuilder, Sqlite};

use super::attachments::{with_states, FileStates};
use super::json;
use super::records::PersonRecord;
use super::scope::Scope;
use super::ExportError;
use crate::store::body::{push_paragraph, resolve_html, FORM_PARAGRAPH, FORM_PAYLOAD};
use crate::store::raw::{RawConnection, RawStatement};
use crate::store::{decompress, id_range, StoreError};

/// Everyone in the archive, by id.
pub type People = Arc<HashMap<String, PersonRecord>>;

/// The keys of the messages to export, in export order: fixed filters, then either
/// the changing filters (a full export) or "changed after the cursor" (an incremental
/// one, which also reports messages that left the filters). One row: a JSON array of
/// `rowid * 2 + in_scope`, 8 bytes per message once parsed.
pub fn keys_query<'a>(
    scope: &Scope,
    after: Option<i64>,
    snapshot: i64,
) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::new("SELECT json_group_array(k) FROM (SELECT m.rowid * 2 + ");
    match after {
        None => {
            q.push("1 AS k FROM messages m WHERE ");
            scope.push_fixed(&mut q);
            q.push(" AND ");
            scope.push_changing(&mut q);
        }
        Some(seq) => {
            scope.push_changing(&mut q);
            q.push(" AS k FROM messages m WHERE ");
            scope.push_fixed(&mut q);
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

/// A message and its versions (columns 0 to 28, the last the message's rowid), with
/// the `WHERE` and `ORDER BY` given.
macro_rules! message_rows {
    ($tail:literal) => {
        concat!(
            "SELECT m.id, m.space_id, m.kind, m.parent_id, m.sender_id, m.created, \
             m.modified, m.like_count, m.chat_count, m.removed_at, m.removed_by, \
             m.current_vno, v.vno, v.change, v.at, v.modified, v.editor_id, v.removed, \
             v.text, v.html, v.description_text, v.description_html, v.task_status, v.due, \
             v.attachments, v.assignees, v.event_seq, v.html_form, m.rowid, m.purged_at, \
             m.purge_reason FROM messages m LEFT JOIN versions v ON v.message_id = m.id ",
            $tail
        )
    };
}

/// A message and its versions, oldest first; one row with NULL versions when it has
/// none. Column 27 says where the HTML is (`versions.html_form`).
const MESSAGE_SQL: &str = message_rows!("WHERE m.rowid = ?1 ORDER BY v.vno");

/// The same for every message with a rowid in a range, in rowid order (one scan of
/// `messages`; the versions of each through their index, as above).
const RANGE_SQL: &str = message_rows!("WHERE m.rowid BETWEEN ?1 AND ?2 ORDER BY m.rowid, v.vno");

/// The column of [`MESSAGE_SQL`] and [`RANGE_SQL`] with the message's rowid.
const ROWID: std::ffi::c_int = 28;

/// The payload a version's HTML is read from.
const PAYLOAD_SQL: &str = "SELECT payload FROM events WHERE seq = ?1";

/// A message's payloads (for `--raw`), through the event key index.
const EVENTS_SQL: &str = "SELECT seq, received_at, source, category, payload FROM events \
    WHERE dedup_key >= ?1 AND dedup_key < ?2 AND message_id = ?3 AND seq <= ?4 ORDER BY seq";

/// What one message's line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A message record, with this many versions and payloads.
    Message {
        /// Versions written.
        versions: u64,
        /// Payloads written (`--raw`).
        events: u64,
    },
    /// An `out_of_scope` record.
    OutOfScope,
}

/// Writes message lines from a locked connection.
pub struct MessageLines<'c, 'p> {
    message: RawStatement<'c>,
    range: RawStatement<'c>,
    payload: RawStatement<'c>,
    events: Option<(RawStatement<'c>, i64)>,
    people: &'p PersonJson,
    files: &'p Arc<FileStates>,
    head: Head,
    versions: Vec<u8>,
    previous: Fields,
    next: Fields,
    current: Fields,
    /// The rowid of the row `range` is on (`None` when it has no more).
    at: Option<i64>,
    /// Whether lines come from `range`.
    scanning: bool,
}

impl<'c, 'p> MessageLines<'c, 'p> {
    /// Prepares the statements; with `raw_until`, lines carry the payloads up to that
    /// sequence number.
    pub fn new(
        conn: &'c RawConnection<'_>,
        people: &'p PersonJson,
        files: &'p Arc<FileStates>,
        raw_until: Option<i64>,
    ) -> Result<MessageLines<'c, 'p>, StoreError> {
        Ok(MessageLines {
            message: conn.prepare(MESSAGE_SQL)?,
            range: conn.prepare(RANGE_SQL)?,
            payload: conn.prepare(PAYLOAD_SQL)?,
            events: match raw_until {
                Some(seq) => Some((conn.prepare(EVENTS_SQL)?, seq)),
                None => None,
            },
            people,
            files,
            head: Head::default(),
            versions: Vec::new(),
            previous: Fields::default(),
            next: Fields::default(),
            current: Fields::default(),
            at: None,
            scanning: false,
        })
    }

    /// Reads the messages with rowids from `first` to `last` (the keys of the lines
    /// that follow, in rowid order) by one scan instead of one lookup each; the rows
    /// in between that no line asks for are skipped.
    pub fn scan(&mut self, first: i64, last: i64) -> Result<(), ExportError> {
        self.range.reset();
        self.range.bind_i64(1, first)?;
        self.range.bind_i64(2, last)?;
        self.at = match self.range.step()? {
            true => Some(self.range.i64(ROWID)),
            false => None,
        };
        self.scanning = true;
        Ok(())
    }

    /// Goes back to one lookup per line.
    pub fn stop_scan(&mut self) {
        self.scanning = false;
        self.at = None;
    }

    /// Appends the line (with its newline) of the message whose key [`keys_query`]
    /// gave.
    pub fn line(&mut self, key: i64, out: &mut Vec<u8>) -> Result<Line, ExportError> {
        let (rowid, in_scope) = (key >> 1, key & 1 == 1);
        let vanished = || -> ExportError {
            StoreError::Corrupt(format!("message row {rowid} vanished during the export")).into()
        };
        let MessageLines {
            message,
            range,
            payload,
            events,
            people,
            files,
            head,
            versions: written,
            previous,
            next,
            current: current_fields,
            at,
            scanning,
        } = self;
        let stmt = if *scanning {
            while at.is_some_and(|at| at < rowid) {
                *at = match range.step()? {
                    true => Some(range.i64(ROWID)),
                    false => None,
                };
            }
            if *at != Some(rowid) {
                return Err(vanished());
            }
            range
        } else {
            message.reset();
            message.bind_i64(1, rowid)?;
            if !message.step()? {
                return Err(vanished());
            }
            message
        };
        head.read(stmt)?;
        let mut more = |stmt: &mut RawStatement<'_>| -> Result<bool, ExportError> {
            if !stmt.step()? {
                *at = None;
                return Ok(false);
            }
            if *scanning {
                let next = stmt.i64(ROWID);
                if next != rowid {
                    *at = Some(next);
                    return Ok(false);
                }
            }
            Ok(true)
        };
        if !in_scope {
            while more(stmt)? {}
            out.extend_from_slice(b"{\"type\":\"out_of_scope\",\"id\":");
            json::string(out, &head.id);
            out.extend_from_slice(b",\"space_id\":");
            json::opt_string(out, head.space_id.as_deref());
            out.extend_from_slice(b"}\n");
            return Ok(Line::OutOfScope);
        }
        written.clear();
        let mut versions = 0u64;
        let mut current = None;
        loop {
            if !stmt.is_null(12) {
                next.read(stmt, payload, &head.id, files)?;
                next.read_assignees(stmt, people)?;
                let vno = stmt.i64(12);
                if versions > 0 {
                    written.push(b',');
                }
                write_version(
                    written,
                    stmt,
                    next,
                    (versions > 0).then_some(&*previous),
                    head.is_task,
                    people,
                )?;
                std::mem::swap(previous, next);
                if vno == head.current_vno {
                    current_fields.copy_from(previous);
                    current = Some(true);
                }
                versions += 1;
            }
            if !more(stmt)? {
                break;
            }
        }
        let current = match (current, versions) {
            (Some(_), _) => Some(&*current_fields),
            (None, 0) => None,
            (None, _) => Some(&*previous),
        };
        head.write(out, current, people);
        out.extend_from_slice(b",\"versions\":[");
        out.extend_from_slice(written);
        out.push(b']');
        let mut n_events = 0;
        if let Some((stmt, until)) = events {
            n_events = write_events(out, stmt, &head.id, *until)?;
        }
        out.extend_from_slice(b"}\n");
        Ok(Line::Message {
            versions,
            events: n_events,
        })
    }
}

/// Each person's record as JSON, written once (and shared by every reading thread).
pub struct PersonJson(HashMap<String, Vec<u8>>);

impl PersonJson {
    /// The records of `people`.
    pub fn new(people: &People) -> PersonJson {
        PersonJson(
            people
                .iter()
                .map(|(id, p)| (id.clone(), serde_json::to_vec(p).unwrap_or_default()))
                .collect(),
        )
    }

    fn write(&self, out: &mut Vec<u8>, id: &str) {
        match self.0.get(id) {
            Some(json) => out.extend_from_slice(json),
            None => {
                out.extend_from_slice(b"{\"id\":");
                json::string(out, id);
                out.extend_from_slice(b",\"name\":null,\"username\":null}");
            }
        }
    }

    fn write_opt(&self, out: &mut Vec<u8>, id: Option<&str>) {
        match id {
            Some(id) => self.write(out, id),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// A message's own columns, copied out of the first row.
#[derive(Default)]
struct Head {
    id: String,
    space_id: Option<String>,
    kind: String,
    is_task: bool,
    parent_id: Option<String>,
    sender_id: Option<String>,
    created: Option<i64>,
    modified: Option<i64>,
    like_count: Option<i64>,
    chat_count: Option<i64>,
    removed_at: Option<i64>,
    removed_by: Option<String>,
    current_vno: i64,
    purged_at: Option<i64>,
    purge_reason: Option<String>,
}

impl Head {
    fn read(&mut self, row: &RawStatement<'_>) -> Result<(), StoreError> {
        let text = |i, what| row.text(i, what).map(|t| t.map(str::to_owned));
        self.id.clear();
        self.id
            .push_str(row.text(0, "message id")?.unwrap_or_default());
        self.space_id = text(1, "space id")?;
        self.kind.clear();
        self.kind
            .push_str(row.text(2, "message kind")?.unwrap_or_default());
        self.is_task = self.kind == "task";
        self.parent_id = text(3, "parent id")?;
        self.sender_id = text(4, "sender id")?;
        self.created = row.opt_i64(5);
        self.modified = row.opt_i64(6);
        self.like_count = row.opt_i64(7);
        self.chat_count = row.opt_i64(8);
        self.removed_at = row.opt_i64(9);
        self.removed_by = text(10, "remover id")?;
        self.current_vno = row.i64(11);
        self.purged_at = row.opt_i64(29);
        self.purge_reason = text(30, "purge reason")?;
        Ok(())
    }

    /// Everything up to the versions, the current state's fields included.
    fn write(&self, out: &mut Vec<u8>, current: Option<&Fields>, people: &PersonJson) {
        out.extend_from_slice(b"{\"type\":\"message\",\"id\":");
        json::string(out, &self.id);
        out.extend_from_slice(b",\"space_id\":");
        json::opt_string(out, self.space_id.as_deref());
        out.extend_from_slice(b",\"kind\":");
        json::string(out, &self.kind);
        out.extend_from_slice(b",\"parent_id\":");
        json::opt_string(out, self.parent_id.as_deref());
        out.extend_from_slice(b",\"sender\":");
        people.write_opt(out, self.sender_id.as_deref());
        out.extend_from_slice(b",\"created\":");
        json::opt_time(out, self.created);
        out.extend_from_slice(b",\"modified\":");
        json::opt_time(out, self.modified);
        let empty = Fields::default();
        let fields = current.unwrap_or(&empty);
        fields.write_content(out);
        out.extend_from_slice(b",\"attachments\":");
        match current {
            Some(fields) => out.extend_from_slice(fields.attachments.as_bytes()),
            None => out.extend_from_slice(b"[]"),
        }
        out.extend_from_slice(b",\"assignees\":[");
        out.extend_from_slice(&fields.assignees);
        out.extend_from_slice(b"],\"task\":");
        match current {
            Some(fields) if self.is_task => fields.write_task(out),
            _ => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"like_count\":");
        json::opt_int(out, self.like_count);
        out.extend_from_slice(b",\"chat_count\":");
        json::opt_int(out, self.chat_count);
        out.extend_from_slice(b",\"removed\":");
        match self.removed_at {
            Some(at) => {
                out.extend_from_slice(b"{\"at\":");
                json::time(out, at);
                out.extend_from_slice(b",\"by\":");
                people.write_opt(out, self.removed_by.as_deref());
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        // Only on purged messages (so exports of archives without purges are as
        // before): a placeholder for the content that retention removed.
        if let Some(at) = self.purged_at {
            out.extend_from_slice(b",\"purged\":{\"at\":");
            json::time(out, at);
            out.extend_from_slice(b",\"reason\":");
            json::opt_string(out, self.purge_reason.as_deref());
            out.push(b'}');
        }
    }
}

/// The content of one version, as exported (HTML resolved), kept to compare with the
/// next and to write the message's current state.
#[derive(Default)]
struct Fields {
    text: String,
    html: String,
    description: String,
    description_html: String,
    status: Option<String>,
    due: Option<i64>,
    /// JSON array, as stored.
    attachments: String,
    /// The person records, comma-separated, without the brackets.
    assignees: Vec<u8>,
    removed: bool,
}

impl Fields {
    /// Reads the version columns of `row`, resolving HTML from the payload when the
    /// version does not store it.
    fn read(
        &mut self,
        row: &RawStatement<'_>,
        payload: &mut RawStatement<'_>,
        message_id: &str,
        files: &FileStates,
    ) -> Result<(), ExportError> {
        let text = row.text(18, "version text")?.unwrap_or_default();
        let description = row.text(20, "version description")?.unwrap_or_default();
        let html = row.text(19, "version HTML")?;
        let description_html = row.text(21, "version description HTML")?;
        set(&mut self.text, text);
        set(&mut self.description, description);
        let form = row.i64(27);
        if form == FORM_PAYLOAD && (html.is_none() || description_html.is_none()) {
            let seq = row.i64(26);
            payload.reset();
            payload.bind_i64(1, seq)?;
            if !payload.step()? {
                return Err(StoreError::Corrupt(format!(
                    "message {message_id}: payload {seq} of a version is missing"
                ))
                .into());
            }
            let (html, description_html) = resolve_html(
                html.map(str::to_owned),
                description_html.map(str::to_owned),
                payload.bytes(0).unwrap_or_default(),
            )?;
            set(&mut self.html, html.as_deref().unwrap_or(text));
            set(
                &mut self.description_html,
                description_html.as_deref().unwrap_or(description),
            );
        } else if form == FORM_PARAGRAPH && html.is_none() {
            self.html.clear();
            push_paragraph(&mut self.html, text);
            set(
                &mut self.description_html,
                description_html.unwrap_or(description),
            );
        } else {
            set(&mut self.html, html.unwrap_or(text));
            set(
                &mut self.description_html,
                description_html.unwrap_or(description),
            );
        }
        self.status = row.text(22, "task status")?.map(str::to_owned);
        self.due = row.opt_i64(23);
        match row.text(24, "attachments")? {
            Some(attachments) => {
                let attachments = with_states(attachments, files).map_err(|e| {
                    StoreError::Corrupt(format!("message {message_id}: attachments: {e}"))
                })?;
                self.attachments = attachments;
            }
            None => set(&mut self.attachments, "[]"),
        }
        self.removed = row.i64(17) != 0;
        Ok(())
    }

    /// The assignees of `row` as person records.
    fn read_assignees(
        &mut self,
        row: &RawStatement<'_>,
        people: &PersonJson,
    ) -> Result<(), ExportError> {
        self.assignees.clear();
        if let Some(json) = row.text(25, "assignees")? {
            let ids: Vec<std::borrow::Cow<'_, str>> = serde_json::from_str(json).map_err(|e| {
                StoreError::Corrupt(format!("version assignees are not a list of ids: {e}"))
            })?;
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    self.assignees.push(b',');
                }
                people.write(&mut self.assignees, id);
            }
        }
        Ok(())
    }

    fn copy_from(&mut self, other: &Fields) {
        self.text.clone_from(&other.text);
        self.html.clone_from(&other.html);
        self.description.clone_from(&other.description);
        self.description_html.clone_from(&other.description_html);
        self.status.clone_from(&other.status);
        self.due = other.due;
        self.attachments.clone_from(&other.attachments);
        self.assignees.clone_from(&other.assignees);
        self.removed = other.removed;
    }

    /// `,"text":…,"html":…,"description":…,"description_html":…`
    fn write_content(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"text\":");
        json::string(out, &self.text);
        out.extend_from_slice(b",\"html\":");
        json::string(out, &self.html);
        out.extend_from_slice(b",\"description\":");
        json::string(out, &self.description);
        out.extend_from_slice(b",\"description_html\":");
        json::string(out, &self.description_html);
    }

    fn write_task(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"status\":");
        json::opt_string(out, self.status.as_deref());
        out.extend_from_slice(b",\"due\":");
        json::opt_time(out, self.due);
        out.push(b'}');
    }

    /// The fields that differ from `before`, in the format's order.
    fn changes(&self, before: &Fields, is_task: bool) -> impl Iterator<Item = &'static str> {
        let task = is_task.then_some(());
        [
            ("text", before.text != self.text),
            ("html", before.html != self.html),
            ("description", before.description != self.description),
            (
                "description_html",
                before.description_html != self.description_html,
            ),
            (
                "task.status",
                task.is_some() && before.status != self.status,
            ),
            ("task.due", task.is_some() && before.due != self.due),
            ("attachments", before.attachments != self.attachments),
            ("assignees", before.assignees != self.assignees),
            ("removed", before.removed != self.removed),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
    }
}

fn set(target: &mut String, value: &str) {
    target.clear();
    target.push_str(value);
}

/// One element of `versions`.
fn write_version(
    out: &mut Vec<u8>,
    row: &RawStatement<'_>,
    fields: &Fields,
    previous: Option<&Fields>,
    is_task: bool,
    people: &PersonJson,
) -> Result<(), ExportError> {
    out.extend_from_slice(b"{\"vno\":");
    json::int(out, row.i64(12));
    out.extend_from_slice(b",\"change\":");
    json::string(out, row.text(13, "version change")?.unwrap_or_default());
    out.extend_from_slice(b",\"changed\":[");
    if let Some(previous) = previous {
        for (i, name) in fields.changes(previous, is_task).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::string(out, name);
        }
    }
    out.extend_from_slice(b"],\"at\":");
    json::time(out, row.i64(14));
    out.extend_from_slice(b",\"modified\":");
    json::opt_time(out, row.opt_i64(15));
    out.extend_from_slice(b",\"editor\":");
    people.write_opt(out, row.text(16, "editor id")?);
    out.extend_from_slice(b",\"removed\":");
    json::boolean(out, fields.removed);
    fields.write_content(out);
    out.extend_from_slice(b",\"task\":");
    if is_task {
        fields.write_task(out);
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"attachments\":");
    out.extend_from_slice(fields.attachments.as_bytes());
    out.extend_from_slice(b",\"assignees\":[");
    out.extend_from_slice(&fields.assignees);
    out.extend_from_slice(b"]}");
    Ok(())
}

/// `,"events":[…]`: the message's payloads, verbatim, up to `until`.
fn write_events(
    out: &mut Vec<u8>,
    stmt: &mut RawStatement<'_>,
    id: &str,
    until: i64,
) -> Result<u64, ExportError> {
    let (start, end) = id_range(id);
    stmt.reset();
    stmt.bind_blob(1, &start)?;
    stmt.bind_blob(2, &end)?;
    stmt.bind_text(3, id)?;
    stmt.bind_i64(4, until)?;
    out.extend_from_slice(b",\"events\":[");
    let mut n = 0;
    while stmt.step()? {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"seq\":");
        json::int(out, stmt.i64(0));
        out.extend_from_slice(b",\"received_at\":");
        json::time(out, stmt.i64(1));
        out.extend_from_slice(b",\"source\":");
        json::string(out, stmt.text(2, "event source")?.unwrap_or_default());
        out.extend_from_slice(b",\"category\":");
        json::string(out, stmt.text(3, "event category")?.unwrap_or_default());
        out.extend_from_slice(b",\"payload\":");
        let stored = stmt.bytes(4).unwrap_or_default();
        if stored.is_empty() {
            // Purged: its tombstone keeps the digest; the export says so.
            out.extend_from_slice(b"null,\"purged\":true}");
            n += 1;
            continue;
        }
        let payload = decompress(stored)
            .map_err(|e| StoreError::Corrupt(format!("payload does not decompress: {e}")))?;
        let payload = std::str::from_utf8(&payload)
            .map_err(|e| StoreError::Corrupt(format!("payload is not UTF-8: {e}")))?;
        json::string(out, payload);
        out.push(b'}');
        n += 1;
    }
    out.push(b']');
    Ok(n)
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
