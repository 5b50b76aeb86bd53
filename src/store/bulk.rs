//! Multi-row statements. Every statement is a round trip to sqlx's SQLite worker
//! thread, so the writer sends one `INSERT … VALUES (…), (…), …` per table and batch
//! rather than one per row (about 7× faster, measured on the 2-core CI machine).
//! Such statements recur (the same table, the same row count), so they stay in
//! sqlx's prepared-statement cache, which [`super::Archive::open`] keeps small: a
//! cached 2,000-row INSERT holds megabytes of compiled SQLite program.

use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

/// Bound parameters per statement: below SQLite's limit of 32,766.
const MAX_PARAMS: usize = 30_000;

/// Binds one row's values.
pub type BindRow<'r, T> = dyn FnMut(&mut Separated<'_, 'r, Sqlite, &'static str>, &'r T);

/// Runs `head VALUES (…), … tail` over `rows`, `columns` values per row, in as few
/// statements as the parameter limit allows.
pub async fn insert_many<'r, T>(
    conn: &mut SqliteConnection,
    head: &str,
    tail: &str,
    rows: &'r [T],
    columns: usize,
    bind: &mut BindRow<'r, T>,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks((MAX_PARAMS / columns).max(1)) {
        values(head, tail, chunk, bind)
            .build()
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `head VALUES (…), … tail` for one chunk of rows.
fn values<'r, T>(
    head: &str,
    tail: &str,
    chunk: &'r [T],
    bind: &mut BindRow<'r, T>,
) -> QueryBuilder<'r, Sqlite> {
    let mut query = QueryBuilder::<Sqlite>::new(head);
    query.push_values(chunk, |mut row, item| bind(&mut row, item));
    query.push(tail);
    query
}

/// `head (?, ?, …) tail` for one chunk of ids.
fn in_list<'q>(head: &str, tail: &str, ids: &[&'q str]) -> QueryBuilder<'q, Sqlite> {
    let mut query = QueryBuilder::<Sqlite>::new(head);
    query.push(" (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(") ");
    query.push(tail);
    query
}

/// Runs `head (?, ?, …) tail` for the ids, chunked, and collects the rows.
pub async fn select_in(
    conn: &mut SqliteConnection,
    head: &str,
    tail: &str,
    ids: &[&str],
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        out.extend(
            in_list(head, tail, chunk)
                .build()
                // Short lists (a page of search hits) are worth preparing once.
                .persistent(chunk.len() <= 64)
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(out)
}

/// Runs `head (?, ?, …)` (a DELETE or UPDATE) for the ids, chunked.
pub async fn execute_in(
    conn: &mut SqliteConnection,
    head: &str,
    ids: &[&str],
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(MAX_PARAMS) {
        in_list(head, "", chunk)
            .build()
            .persistent(false)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
