//! The index outbox: which messages the search index must (re)write, recorded in
//! the same transaction as the messages themselves, so that a crash at any instant
//! leaves nothing unindexed and nothing half-indexed.

use sqlx::SqliteConnection;

use super::bulk::insert_many;
use super::{Archive, StoreError};

/// Records that these messages changed in the transaction whose last event is `seq`.
pub async fn mark(conn: &mut SqliteConnection, ids: &[&str], seq: i64) -> Result<(), sqlx::Error> {
    insert_many(
        conn,
        "INSERT INTO index_outbox (message_id, seq) ",
        " ON CONFLICT (message_id) DO UPDATE SET seq = excluded.seq",
        ids,
        2,
        &mut move |row, id| {
            row.push_bind(*id).push_bind(seq);
        },
    )
    .await
}

/// Records that every message of a space changed (its title did); returns their ids.
pub async fn mark_space(
    conn: &mut SqliteConnection,
    space_id: &str,
    seq: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO index_outbox (message_id, seq) SELECT id, ? FROM messages WHERE space_id = ? \
         ON CONFLICT (message_id) DO UPDATE SET seq = excluded.seq RETURNING message_id",
    )
    .bind(seq)
    .bind(space_id)
    .fetch_all(conn)
    .await
}

/// Messages marked after `seq`, with the highest mark seen.
pub async fn pending_after(archive: &Archive, seq: i64) -> Result<(Vec<String>, i64), StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT message_id, seq FROM index_outbox WHERE seq > ? ORDER BY seq, message_id",
    )
    .bind(seq)
    .fetch_all(archive.pool())
    .await?;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(seq);
    Ok((rows.into_iter().map(|r| r.0).collect(), max))
}

/// Forgets the marks up to `seq`: their documents are committed to the index.
pub async fn clear_through(archive: &Archive, seq: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM index_outbox WHERE seq <= ?")
        .bind(seq)
        .execute(archive.pool())
        .await?;
    Ok(())
}

/// Number of messages waiting for the index.
pub async fn backlog(archive: &Archive) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM index_outbox")
        .fetch_one(archive.pool())
        .await?)
}
