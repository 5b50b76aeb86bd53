//! Message documents for the search index, built from the stored rows: the current
//! version's text and the distinct text of earlier versions.

use std::collections::{HashMap, HashSet};

use sqlx::{Row, SqliteConnection};

use super::bulk::select_in;
use super::{Archive, IndexWork, StoreError};
use crate::event::document::MessageDocument;
use crate::event::normalize::MessageState;

const DOCUMENT_SQL: &str = "SELECT m.id, m.space_id, s.title AS space_title, m.sender_id, \
    p.display_name, p.username, m.kind, m.created, m.modified, m.removed_at, m.version_count, \
    v.text, v.description_text, \
    (SELECT group_concat(a.name, ' ') FROM attachments a WHERE a.message_id = m.id) AS attachments, \
    (SELECT group_concat(t.text, char(10)) FROM file_messages fm JOIN files f ON f.file_id = fm.file_id \
     JOIN file_texts t ON t.sha256 = f.sha256 WHERE fm.message_id = m.id AND f.role = 'attachment' \
     AND t.text IS NOT NULL) AS file_text \
    FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno \
    LEFT JOIN spaces s ON s.id = m.space_id LEFT JOIN people p ON p.id = m.sender_id WHERE m.id IN";

/// The documents of these messages (ids not in the archive are skipped).
pub async fn load_documents(
    archive: &Archive,
    ids: &[&str],
) -> Result<Vec<MessageDocument>, StoreError> {
    let mut conn = archive.pool().acquire().await?;
    let rows = select_in(&mut conn, DOCUMENT_SQL, "", ids).await?;
    let mut docs = Vec::with_capacity(rows.len());
    let mut edited: Vec<String> = Vec::new();
    for row in &rows {
        let sender_name = sender_name(row.try_get("display_name")?, row.try_get("username")?);
        let doc = MessageDocument {
            id: row.try_get("id")?,
            space_id: row.try_get("space_id")?,
            space_title: row.try_get("space_title")?,
            sender_id: row.try_get("sender_id")?,
            sender_name,
            kind: row.try_get("kind")?,
            created: row.try_get::<Option<i64>, _>("created")?.unwrap_or(0),
            modified: row.try_get::<Option<i64>, _>("modified")?.unwrap_or(0),
            removed: row.try_get::<Option<i64>, _>("removed_at")?.is_some(),
            text: row.try_get("text")?,
            description: row.try_get("description_text")?,
            attachments: row
                .try_get::<Option<String>, _>("attachments")?
                .unwrap_or_default(),
            file_text: row
                .try_get::<Option<String>, _>("file_text")?
                .unwrap_or_default(),
            history: Vec::new(),
        };
        if row.try_get::<i64, _>("version_count")? > 1 {
            edited.push(doc.id.clone());
        }
        docs.push(doc);
    }
    if !edited.is_empty() {
        let edited: Vec<&str> = edited.iter().map(String::as_str).collect();
        let history = load_history(&mut conn, &edited).await?;
        for doc in &mut docs {
            if let Some(texts) = history.get(&doc.id) {
                doc.history = texts
                    .iter()
                    .filter(|t| !t.is_empty() && **t != doc.text && **t != doc.description)
                    .cloned()
                    .collect();
            }
        }
    }
    Ok(docs)
}

/// Distinct body and description texts of every version, by message.
async fn load_history(
    conn: &mut sqlx::SqliteConnection,
    ids: &[&str],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let sql = "SELECT message_id, text, description_text FROM versions WHERE message_id IN";
    let mut history: HashMap<String, Vec<String>> = HashMap::new();
    for row in select_in(conn, sql, "ORDER BY message_id, vno", ids).await? {
        let texts = history.entry(row.try_get("message_id")?).or_default();
        for column in ["text", "description_text"] {
            let text: String = row.try_get(column)?;
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
    }
    Ok(history)
}

/// Ids of messages not purged after `after` in id order, at most `limit` (for a full
/// rebuild and `verify`).
pub async fn message_ids_after(
    archive: &Archive,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM messages WHERE id > ? AND purged_at IS NULL ORDER BY id LIMIT ?",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(archive.pool())
    .await?)
}

/// What the index shows as a sender's name: display name and user name.
fn sender_name(display: Option<String>, username: Option<String>) -> Option<String> {
    match (display, username) {
        (Some(d), Some(u)) => Some(format!("{d} {u}")),
        (d, u) => d.or(u),
    }
}

/// The index work for messages a batch wrote: documents built from their final
/// state when they have a single version (no history to read) and no stored file
/// text (`with_text`), ids to load otherwise. Runs inside the batch's transaction, so
/// it sees the batch's own spaces and people.
pub async fn index_work(
    conn: &mut SqliteConnection,
    states: &[&MessageState],
    with_text: &HashSet<String>,
    seq: i64,
) -> Result<IndexWork, StoreError> {
    let mut spaces: Vec<&str> = states
        .iter()
        .filter_map(|s| s.space_id.as_deref())
        .collect();
    spaces.sort_unstable();
    spaces.dedup();
    let mut titles: HashMap<String, Option<String>> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT id, title FROM spaces WHERE id IN",
        "",
        &spaces,
    )
    .await?
    {
        titles.insert(row.try_get("id")?, row.try_get("title")?);
    }
    let mut senders: Vec<&str> = states
        .iter()
        .filter_map(|s| s.sender_id.as_deref())
        .collect();
    senders.sort_unstable();
    senders.dedup();
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT id, display_name, username FROM people WHERE id IN",
        "",
        &senders,
    )
    .await?
    {
        names.insert(
            row.try_get("id")?,
            sender_name(row.try_get("display_name")?, row.try_get("username")?),
        );
    }
    let mut work = IndexWork {
        seq,
        ..IndexWork::default()
    };
    for state in states {
        if state.versions.len() > 1 || with_text.contains(&state.id) {
            work.load.push(state.id.clone());
            continue;
        }
        let lookup = |map: &HashMap<String, Option<String>>, key: &Option<String>| {
            key.as_ref().and_then(|k| map.get(k).cloned().flatten())
        };
        let files: Vec<&str> = state
            .current
            .attachments
            .iter()
            .filter_map(|a| a.name.as_deref())
            .collect();
        work.documents.push(MessageDocument {
            id: state.id.clone(),
            space_id: state.space_id.clone(),
            space_title: lookup(&titles, &state.space_id),
            sender_id: state.sender_id.clone(),
            sender_name: lookup(&names, &state.sender_id),
            kind: state.kind.as_str().to_string(),
            created: state.created.unwrap_or(0),
            modified: state.modified.unwrap_or(0),
            removed: state.removed_at.is_some(),
            text: state.current.text.clone(),
            description: state.current.description_text.clone(),
            attachments: files.join(" "),
            file_text: String::new(),
            history: Vec::new(),
        });
    }
    Ok(work)
}
