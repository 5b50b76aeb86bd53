//! The messages around a message in its space, for `search --context N`: the N
//! before and the N after it by creation time (then id), each with its current text
//! and its sender's name. Both are range scans of the `messages_space_created
//! (space_id, created, id)` index.

use sqlx::Row;

use super::{Archive, StoreError};

/// A message shown around a hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRow {
    /// Message id.
    pub id: String,
    /// Creation time (UTC ms).
    pub created: i64,
    /// Sender id.
    pub sender_id: Option<String>,
    /// Sender display name.
    pub sender_name: Option<String>,
    /// Current body text.
    pub text: String,
    /// Whether it was removed.
    pub removed: bool,
}

/// The messages before and after one, oldest first in each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Up to N messages created before it.
    pub before: Vec<ContextRow>,
    /// Up to N messages created after it.
    pub after: Vec<ContextRow>,
}

const COLUMNS: &str = "SELECT m.id, m.created, m.sender_id, p.display_name, m.removed_at, v.text \
    FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno \
    LEFT JOIN people p ON p.id = m.sender_id";

/// The `n` messages before and the `n` after message `id` (created at `created`) in
/// space `space_id`. Messages without a creation time have no place in the order:
/// they are neither shown nor given context.
#[tracing::instrument(skip(archive))]
pub async fn around(
    archive: &Archive,
    space_id: &str,
    created: i64,
    id: &str,
    n: usize,
) -> Result<Context, StoreError> {
    if n == 0 {
        return Ok(Context::default());
    }
    let before = format!(
        "{COLUMNS} WHERE m.space_id = ? AND (m.created, m.id) < (?, ?) \
         ORDER BY m.created DESC, m.id DESC LIMIT ?"
    );
    let after = format!(
        "{COLUMNS} WHERE m.space_id = ? AND (m.created, m.id) > (?, ?) \
         ORDER BY m.created, m.id LIMIT ?"
    );
    let mut conn = archive.pool().acquire().await?;
    let limit = i64::try_from(n).unwrap_or(i64::MAX);
    let mut rows = Vec::with_capacity(2);
    for sql in [&before, &after] {
        let found = sqlx::query(sql)
            .bind(space_id)
            .bind(created)
            .bind(id)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        rows.push(
            found
                .iter()
                .map(context_row)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    let after = rows.pop().unwrap_or_default();
    let mut before = rows.pop().unwrap_or_default();
    before.reverse();
    Ok(Context { before, after })
}

fn context_row(row: &sqlx::sqlite::SqliteRow) -> Result<ContextRow, StoreError> {
    Ok(ContextRow {
        id: row.try_get("id")?,
        created: row.try_get("created")?,
        sender_id: row.try_get("sender_id")?,
        sender_name: row.try_get("display_name")?,
        text: row.try_get("text")?,
        removed: row.try_get::<Option<i64>, _>("removed_at")?.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both reads are range scans of `messages_space_created`, not scans of the
    /// space's messages.
    #[tokio::test]
    async fn reads_use_the_space_created_index() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).await.unwrap();
        for op in ["<", ">"] {
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT m.id FROM messages m \
                 WHERE m.space_id = 's' AND (m.created, m.id) {op} (1, 'x') \
                 ORDER BY m.created DESC, m.id DESC LIMIT 3"
            );
            let plan: Vec<String> = sqlx::query(&sql)
                .fetch_all(archive.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            let plan = plan.join("; ");
            assert!(
                plan.contains("messages_space_created")
                    && plan.contains("space_id=? AND")
                    && !plan.contains("TEMP B-TREE"),
                "{plan}"
            );
        }
        assert_eq!(
            around(&archive, "s", 1, "x", 3).await.unwrap(),
            Context::default()
        );
    }
}
