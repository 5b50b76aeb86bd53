//! Read queries behind `search`: names to ids for the filters, and the rows shown
//! for each hit.

use std::collections::HashMap;

use sqlx::Row;

use super::bulk::select_in;
use super::{Archive, StoreError};

/// Spaces whose id is `given`, else whose title is `given` (ignoring case), else
/// whose title contains it.
pub async fn space_ids(archive: &Archive, given: &str) -> Result<Vec<String>, StoreError> {
    let exact: Vec<String> =
        sqlx::query_scalar("SELECT id FROM spaces WHERE id = ?1 OR lower(title) = lower(?1)")
            .bind(given)
            .fetch_all(archive.pool())
            .await?;
    if !exact.is_empty() {
        return Ok(exact);
    }
    Ok(
        sqlx::query_scalar("SELECT id FROM spaces WHERE instr(lower(title), lower(?1)) > 0")
            .bind(given)
            .fetch_all(archive.pool())
            .await?,
    )
}

/// People whose id, display name or user name is `given` (ignoring case).
pub async fn person_ids(archive: &Archive, given: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM people WHERE id = ?1 OR lower(display_name) = lower(?1) OR lower(username) = lower(?1)",
    )
    .bind(given)
    .fetch_all(archive.pool())
    .await?)
}

/// What a search result shows about a message.
#[derive(Debug, Clone, PartialEq)]
pub struct HitRow {
    /// Message id.
    pub id: String,
    /// Space id.
    pub space_id: Option<String>,
    /// Space title.
    pub space_title: Option<String>,
    /// chat, post, task.
    pub kind: String,
    /// Sender id.
    pub sender_id: Option<String>,
    /// Sender display name.
    pub sender_name: Option<String>,
    /// Creation time.
    pub created: Option<i64>,
    /// Modification time.
    pub modified: Option<i64>,
    /// Removal time.
    pub removed_at: Option<i64>,
    /// Versions stored (more than one: edited).
    pub versions: i64,
    /// Current body text.
    pub text: String,
    /// Current description text.
    pub description: String,
}

/// The rows of these messages, by id.
pub async fn hit_rows(
    archive: &Archive,
    ids: &[&str],
) -> Result<HashMap<String, HitRow>, StoreError> {
    let sql = "SELECT m.id, m.space_id, s.title, m.kind, m.sender_id, p.display_name, m.created, m.modified, \
        m.removed_at, m.version_count, v.text, v.description_text \
        FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno \
        LEFT JOIN spaces s ON s.id = m.space_id LEFT JOIN people p ON p.id = m.sender_id WHERE m.id IN";
    let mut conn = archive.pool().acquire().await?;
    let mut out = HashMap::with_capacity(ids.len());
    for row in select_in(&mut conn, sql, "", ids).await? {
        let hit = HitRow {
            id: row.try_get("id")?,
            space_id: row.try_get("space_id")?,
            space_title: row.try_get("title")?,
            kind: row.try_get("kind")?,
            sender_id: row.try_get("sender_id")?,
            sender_name: row.try_get("display_name")?,
            created: row.try_get("created")?,
            modified: row.try_get("modified")?,
            removed_at: row.try_get("removed_at")?,
            versions: row.try_get("version_count")?,
            text: row.try_get("text")?,
            description: row.try_get("description_text")?,
        };
        out.insert(hit.id.clone(), hit);
    }
    Ok(out)
}

/// The text of every earlier version of the messages, oldest first, by message id.
pub async fn earlier_texts(
    archive: &Archive,
    ids: &[&str],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let sql = "SELECT v.message_id, v.text FROM versions v JOIN messages m ON m.id = v.message_id \
        WHERE v.vno != m.current_vno AND v.message_id IN";
    let mut conn = archive.pool().acquire().await?;
    let mut out: HashMap<String, Vec<String>> = HashMap::with_capacity(ids.len());
    for row in select_in(&mut conn, sql, "ORDER BY v.message_id, v.vno", ids).await? {
        out.entry(row.try_get("message_id")?)
            .or_default()
            .push(row.try_get("text")?);
    }
    Ok(out)
}

/// The text extracted from the attachments of these messages (any version's
/// files), one string per message.
pub async fn attachment_texts(
    archive: &Archive,
    ids: &[&str],
) -> Result<HashMap<String, String>, StoreError> {
    let texts = "SELECT fm.message_id, t.text FROM file_messages fm JOIN files f ON f.file_id = fm.file_id \
        JOIN file_texts t ON t.sha256 = f.sha256 WHERE t.text IS NOT NULL AND f.role = 'attachment' \
        AND fm.message_id IN";
    let mut conn = archive.pool().acquire().await?;
    let mut out: HashMap<String, String> = HashMap::with_capacity(ids.len());
    for row in select_in(&mut conn, texts, "", ids).await? {
        let text = out.entry(row.try_get("message_id")?).or_default();
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(row.try_get("text")?);
    }
    Ok(out)
}

/// A stored payload of a message, for `export --raw`.
pub struct MessageEvent {
    /// Sequence number.
    pub seq: i64,
    /// When it arrived (UTC ms).
    pub received_at: i64,
    /// `live`, `backfill` or `import`.
    pub source: String,
    /// Its category.
    pub category: String,
    /// The payload text exactly as received.
    pub payload: String,
}

/// The payloads about message `id` up to `last_seq`, in arrival order. Found through
/// the payload keys, which begin with the message id (see `dedup`).
pub async fn message_events(
    conn: &mut sqlx::SqliteConnection,
    id: &str,
    last_seq: i64,
) -> Result<Vec<MessageEvent>, StoreError> {
    let (start, end) = super::dedup::id_range(id);
    let rows = sqlx::query(
        "SELECT seq, received_at, source, category, payload FROM events \
         WHERE dedup_key >= ? AND dedup_key < ? AND message_id = ? AND seq <= ? ORDER BY seq",
    )
    .bind(start)
    .bind(end)
    .bind(id)
    .bind(last_seq)
    .fetch_all(conn)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let payload = super::codec::decompress(row.try_get(4)?)
            .map_err(|e| StoreError::Corrupt(format!("payload does not decompress: {e}")))?;
        events.push(MessageEvent {
            seq: row.try_get(0)?,
            received_at: row.try_get(1)?,
            source: row.try_get(2)?,
            category: row.try_get(3)?,
            payload: String::from_utf8(payload)
                .map_err(|e| StoreError::Corrupt(format!("payload is not UTF-8: {e}")))?,
        });
    }
    Ok(events)
}
