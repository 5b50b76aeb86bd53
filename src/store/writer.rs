//! The batched writer: one SQLite transaction per batch. The raw events go in first
//! (a payload already stored is recognised by its key, see [`super::dedup`], and
//! changes nothing), then the normalized rows derived from the new ones, in
//! foreign-key order.

use std::collections::HashSet;

use sqlx::{Row, SqliteConnection};

use super::bulk::insert_many;
use super::dedup::dedup_key;
use super::files::{record_outcomes, FileOutcome};
use super::items::{BatchReport, IndexWork, Item, NewEvent, Rejection, StoredEvent, Written};
use super::messages::apply_messages;
use super::people::{
    collect_people, upsert_people, upsert_preferences, upsert_read_markers, upsert_space_stubs,
};
use super::spaces::apply_spaces;
use super::{Archive, StoreError};
use crate::chain::checkpoint::{self, Checkpoint};
use crate::chain::{link, Hash};
use crate::event::Category;
use crate::retention::purge::{purge, PurgeReport, Rule};

/// Keys looked up per statement before an insert.
const STORED_KEYS_CHUNK: usize = 2_000;

/// Owns the archive's write side. Only one exists per archive at a time.
pub struct Writer {
    archive: Archive,
}

impl Writer {
    /// A writer for `archive`.
    pub fn new(archive: Archive) -> Writer {
        Writer { archive }
    }

    /// The archive written to.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Writes one batch in one transaction; on error nothing of the batch is stored.
    ///
    /// The transaction is driven by hand so that a failure at any step, COMMIT
    /// included, is rolled back before the connection goes back to the pool: SQLite
    /// leaves a transaction open when COMMIT fails on a full disk, and a connection
    /// returned with it would hold the write lock for good. A connection whose
    /// ROLLBACK fails too is closed instead of reused.
    #[tracing::instrument(skip_all, fields(items = items.len()))]
    pub async fn write(&mut self, items: &[Item]) -> Result<Written, StoreError> {
        let mut conn = self.archive.pool().acquire().await?;
        let written = async {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let written = write_batch(&mut conn, items).await?;
            if let Some(key) = self.archive.signing_key() {
                checkpoint::make(&mut conn, key, false).await?;
            }
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok::<Written, StoreError>(written)
        }
        .await;
        if written.is_err() && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
            // Usually there was no transaction left (SQLite rolled it back itself);
            // closing the connection makes sure of it.
            let _ = sqlx::Connection::close(conn.detach()).await;
        }
        written
    }

    /// Purges by `rules` (except what a hold covers) in one transaction, recording
    /// `reason`. Returns what was purged and the index work that drops the purged
    /// messages' documents.
    pub async fn purge(
        &mut self,
        rules: &[Rule],
        reason: &str,
    ) -> Result<(PurgeReport, IndexWork), StoreError> {
        let mut conn = self.archive.pool().acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let done = async {
            let mark = next_mark(&mut conn, 0).await?;
            let report = purge(
                &mut conn,
                rules,
                reason,
                crate::event::time::now_millis(),
                mark,
            )
            .await?;
            Ok::<_, sqlx::Error>((report, mark))
        }
        .await;
        let end = if done.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = sqlx::query(end).execute(&mut *conn).await;
        let (report, mark) = done?;
        ended?;
        let work = IndexWork {
            documents: Vec::new(),
            load: report.messages.clone(),
            seq: mark,
        };
        Ok((report, work))
    }

    /// Signs a checkpoint of the chains' heads now if anything was written since the
    /// last one (`due_only`: only if one is due, by count or time). Returns it.
    pub async fn checkpoint(&mut self, due_only: bool) -> Result<Option<Checkpoint>, StoreError> {
        let Some(key) = self.archive.signing_key() else {
            return Ok(None);
        };
        let mut conn = self.archive.pool().acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let made = checkpoint::make(&mut conn, key, !due_only).await;
        let end = if made.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = sqlx::query(end).execute(&mut *conn).await;
        let made = made?;
        ended?;
        Ok(made)
    }
}

async fn write_batch(conn: &mut SqliteConnection, items: &[Item]) -> Result<Written, StoreError> {
    let mut report = BatchReport::default();
    let rejections: Vec<&Rejection> = items
        .iter()
        .filter_map(|i| match i {
            Item::Rejected(r) => Some(r),
            Item::Event(_) | Item::File(_) => None,
        })
        .collect();
    insert_rejections(conn, &rejections).await?;
    report.rejected = rejections.len() as u64;

    let mut seen = HashSet::new();
    let unique: Vec<&StoredEvent> = items
        .iter()
        .filter_map(|i| match i {
            Item::Event(e) if seen.insert(e.decoded.digest) => Some(e.as_ref()),
            _ => None,
        })
        .collect();
    let outcomes: Vec<&FileOutcome> = items
        .iter()
        .filter_map(|i| match i {
            Item::File(o) => Some(o.as_ref()),
            _ => None,
        })
        .collect();
    let total_events = items.len() - rejections.len() - outcomes.len();
    let new = insert_events(conn, &unique).await?;
    report.archived = new.len() as u64;
    report.duplicates = (total_events - new.len()) as u64;
    report.unknown = new
        .iter()
        .filter(|e| !Category::parse(&e.decoded.category).is_known())
        .count() as u64;
    if report.duplicates > 0 {
        sqlx::query("UPDATE counters SET value = value + ? WHERE name = 'duplicates'")
            .bind(report.duplicates as i64)
            .execute(&mut *conn)
            .await?;
    }
    for event in &new {
        for warning in &event.decoded.warnings {
            tracing::warn!(seq = event.seq, category = %event.decoded.category, "{warning}");
        }
    }
    upsert_people(conn, &collect_people(&new)).await?;
    upsert_space_stubs(conn, &new).await?;
    let mark = if new.is_empty() && outcomes.is_empty() {
        0
    } else {
        next_mark(conn, new.last().map_or(0, |e| e.seq)).await?
    };
    let renamed = apply_spaces(conn, &new, mark).await?;
    let mut index = apply_messages(conn, &new, mark).await?;
    upsert_read_markers(conn, &new).await?;
    upsert_preferences(conn, &new).await?;
    if !renamed.is_empty() {
        let written: std::collections::HashSet<&str> =
            index.documents.iter().map(|d| d.id.as_str()).collect();
        let mut load: Vec<String> = renamed
            .into_iter()
            .filter(|id| !written.contains(id.as_str()))
            .collect();
        load.extend(std::mem::take(&mut index.load));
        load.sort_unstable();
        load.dedup();
        index.load = load;
    }
    index.seq = mark;
    if !outcomes.is_empty() {
        let gained = record_outcomes(conn, &outcomes, mark).await?;
        index.documents.retain(|d| !gained.contains(&d.id));
        index.load.extend(gained);
        index.load.sort_unstable();
        index.load.dedup();
        report.files = outcomes.len() as u64;
    }
    Ok(Written { report, index })
}

/// The batch's outbox mark: above every earlier batch's, and at least its last
/// event's sequence number. Marks must rise strictly from batch to batch: the index
/// stage forgets every mark up to the last one it committed, so a later batch
/// sharing an earlier one's mark (a batch of fetch outcomes, which stores no event)
/// could lose its marks before its documents are committed.
async fn next_mark(conn: &mut SqliteConnection, last_event: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE counters SET value = max(value + 1, ?) WHERE name = 'outbox_mark' RETURNING value",
    )
    .bind(last_event)
    .fetch_one(conn)
    .await
}

async fn insert_rejections(
    conn: &mut SqliteConnection,
    rows: &[&Rejection],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let (mut id, mut previous) = checkpoint::head_of(conn, checkpoint::REJECTED_HEAD).await?;
    let chained: Vec<(&Rejection, i64, Hash)> = rows
        .iter()
        .map(|r| {
            id += 1;
            previous = link(&previous, id, r.received_at, r.source.as_str(), &r.sha256);
            (*r, id, previous)
        })
        .collect();
    insert_many(
        conn,
        "INSERT INTO rejected (id, received_at, source, source_name, line, reason, raw_len, raw, chain) ",
        "",
        &chained,
        9,
        &mut |row, (r, id, chain)| {
            row.push_bind(*id)
                .push_bind(r.received_at)
                .push_bind(r.source.as_str())
                .push_bind(&r.source_name)
                .push_bind(r.line.map(|l| l as i64))
                .push_bind(&r.reason)
                .push_bind(r.raw_len as i64)
                .push_bind(&r.raw)
                .push_bind(&chain[..]);
        },
    )
    .await
}

/// Inserts the events that are new, each with its sequence number and chain value
/// (the writer is the only one, inside its transaction, so the keys already stored
/// are known before the insert and the numbers it assigns are the next ones);
/// returns them in arrival order.
async fn insert_events<'a>(
    conn: &mut SqliteConnection,
    events: &[&'a StoredEvent],
) -> Result<Vec<NewEvent<'a>>, sqlx::Error> {
    let mut keys = HashSet::with_capacity(events.len());
    let keyed: Vec<(&'a StoredEvent, Vec<u8>)> = events
        .iter()
        .map(|e| (*e, dedup_key(&e.decoded)))
        .filter(|(_, key)| keys.insert(key.clone()))
        .collect();
    let stored = stored_keys(conn, &keyed).await?;
    let (mut seq, mut previous) = checkpoint::head_of(conn, checkpoint::EVENTS_HEAD).await?;
    let new: Vec<(&'a StoredEvent, Vec<u8>, i64, Hash)> = keyed
        .into_iter()
        .filter(|(_, key)| !stored.contains(key))
        .map(|(e, key)| {
            seq += 1;
            previous = link(&previous, seq, e.received_at, e.source.as_str(), &e.sha256);
            (e, key, seq, previous)
        })
        .collect();
    insert_many(
        conn,
        "INSERT INTO events (seq, received_at, source, category, known, space_id, message_id, dedup_key, payload, chain) ",
        "",
        &new,
        10,
        &mut |row, (e, key, seq, chain)| {
            let d = &e.decoded;
            row.push_bind(*seq)
                .push_bind(e.received_at)
                .push_bind(e.source.as_str())
                .push_bind(&d.category)
                .push_bind(Category::parse(&d.category).is_known())
                .push_bind(&d.space_id)
                .push_bind(d.message_id())
                .push_bind(&key[..])
                .push_bind(&e.raw)
                .push_bind(&chain[..]);
        },
    )
    .await?;
    Ok(new
        .iter()
        .map(|(e, _, seq, _)| NewEvent {
            seq: *seq,
            event: e,
            decoded: &e.decoded,
        })
        .collect())
}

/// Which of these keys are stored already.
async fn stored_keys(
    conn: &mut SqliteConnection,
    keyed: &[(&StoredEvent, Vec<u8>)],
) -> Result<HashSet<Vec<u8>>, sqlx::Error> {
    let mut stored = HashSet::new();
    for chunk in keyed.chunks(STORED_KEYS_CHUNK) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT dedup_key FROM events WHERE dedup_key IN (",
        );
        let mut list = q.separated(", ");
        for (_, key) in chunk {
            list.push_bind(&key[..]);
        }
        q.push(")");
        for row in q.build().persistent(false).fetch_all(&mut *conn).await? {
            stored.insert(row.try_get::<Vec<u8>, _>(0)?);
        }
    }
    Ok(stored)
}
