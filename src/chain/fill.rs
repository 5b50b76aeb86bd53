//! Chaining rows stored before the chain existed (the second half of migration 0007,
//! which SQL alone cannot do: SQLite has no SHA-256). Runs when the archive is opened
//! for writing, before any writer, in transactions of [`BATCH`] rows that record their
//! progress, so an interrupted fill resumes where it stopped.

use sqlx::{Row, SqliteConnection, SqlitePool};

use super::link::{hash_of, link, sha256, Hash, GENESIS};
use crate::store::decompress;

/// Rows chained per transaction.
const BATCH: i64 = 5_000;

/// The two chained tables: (table, key column, progress counter).
const TABLES: [(&str, &str, &str); 2] = [
    ("events", "seq", "chain_filled_events"),
    ("rejected", "id", "chain_filled_rejected"),
];

/// Chains every row that has no chain yet; returns how many it chained.
pub async fn fill(pool: &SqlitePool) -> Result<u64, sqlx::Error> {
    let mut done = 0;
    let mut conn = pool.acquire().await?;
    for (table, key, counter) in TABLES {
        done += fill_table(&mut conn, table, key, counter).await?;
    }
    Ok(done)
}

async fn fill_table(
    conn: &mut SqliteConnection,
    table: &str,
    key: &str,
    counter: &str,
) -> Result<u64, sqlx::Error> {
    let filled: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = ?")
        .bind(counter)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0);
    let last: i64 = sqlx::query_scalar(&format!("SELECT coalesce(max({key}), 0) FROM {table}"))
        .fetch_one(&mut *conn)
        .await?;
    if filled >= last {
        return Ok(0);
    }
    let next_unchained: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {key} FROM {table} WHERE {key} > ? AND chain IS NULL ORDER BY {key} LIMIT 1"
    ))
    .bind(filled)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(start) = next_unchained else {
        // Everything after the fill was chained by the writer.
        set_counter(conn, counter, last).await?;
        return Ok(0);
    };
    tracing::info!(
        table,
        from = start,
        to = last,
        "chaining rows stored before the chain existed"
    );
    let mut previous: Hash = match sqlx::query_scalar::<_, Vec<u8>>(&format!(
        "SELECT chain FROM {table} WHERE {key} < ? ORDER BY {key} DESC LIMIT 1"
    ))
    .bind(start)
    .fetch_optional(&mut *conn)
    .await?
    {
        Some(chain) => hash_of(&chain).unwrap_or(GENESIS),
        None => GENESIS,
    };
    let payload = if table == "events" { "payload" } else { "raw" };
    let mut done = 0u64;
    let mut after = start - 1;
    loop {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let step = async {
            let rows = sqlx::query(&format!(
                "SELECT {key} AS n, received_at, source, {payload} AS bytes FROM {table} \
                 WHERE {key} > ? ORDER BY {key} LIMIT ?"
            ))
            .bind(after)
            .bind(BATCH)
            .fetch_all(&mut *conn)
            .await?;
            let mut count = 0;
            for row in &rows {
                let n: i64 = row.try_get("n")?;
                let bytes: Vec<u8> = row.try_get("bytes")?;
                // A payload that no longer decompresses is chained over its stored
                // bytes' digest: `verify` then names it.
                let digest = decompress(&bytes).map_or_else(|_| sha256(&bytes), |b| sha256(&b));
                let source: String = row.try_get("source")?;
                previous = link(&previous, n, row.try_get("received_at")?, &source, &digest);
                sqlx::query(&format!("UPDATE {table} SET chain = ? WHERE {key} = ?"))
                    .bind(&previous[..])
                    .bind(n)
                    .execute(&mut *conn)
                    .await?;
                after = n;
                count += 1;
            }
            set_counter(conn, counter, after).await?;
            Ok::<u64, sqlx::Error>(count)
        }
        .await;
        match step {
            Ok(count) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                done += count;
                if count == 0 || after >= last {
                    break;
                }
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(e);
            }
        }
    }
    Ok(done)
}

async fn set_counter(
    conn: &mut SqliteConnection,
    name: &str,
    value: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO counters (name, value) VALUES (?, ?) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}
