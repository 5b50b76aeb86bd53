//! `export`: compliance exports as JSON lines (`spaces-archive-export/1`), streamed from
//! one read snapshot of SQLite in constant memory, with a manifest, counts, a SHA-256
//! of the records, and a cursor for incremental exports; `export verify` checks one.
//!
//! Threads: SQLite steps the query on its own thread, this task turns rows into
//! per-message groups, and a builder thread makes the JSON (reading back HTML from
//! compressed payloads), hashes and writes it.

mod messages;
mod records;
mod scope;
mod sink;
mod spaces;
pub mod verify;

use std::collections::BTreeMap;
use std::path::Path;

use indicatif::ProgressBar;
use sqlx::{Row, SqliteConnection};
use tokio::sync::mpsc;

use messages::{chunk_query, keys_query, message_line, parse_chunk, MessageRows, People};
use records::{ArchiveInfo, Complete, Manifest, RawEvent, FORMAT};
pub use scope::{ExportOptions, Removed, Scope};
pub use sink::Compression;
use sink::Sink;

use crate::event::time::{format_millis, now_millis};
use crate::store::{lookup, Archive, StoreError};

/// Messages read in one query and handed to the builder thread at a time.
const BATCH: usize = 256;

/// Why an export failed. Nothing is left at `--output` when it does.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A filter names nothing in the archive.
    #[error("{0}")]
    Filter(String),
    /// `--after-cursor` is not usable.
    #[error("{0}")]
    Cursor(String),
    /// The archive.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query.
    #[error("reading the archive: {0}")]
    Sql(#[from] sqlx::Error),
    /// Writing the export.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// A stored JSON column that does not parse.
    #[error("stored JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// Records by type, and versions (and payloads with `--raw`).
    pub counts: BTreeMap<String, u64>,
    /// Resumes an incremental export after this one.
    pub cursor: String,
    /// SHA-256 of the bytes written (the file as stored, compressed or not).
    pub file_sha256: String,
}

/// Writes an export of `archive` to `output` (stdout when `None`).
pub async fn export(
    archive: &Archive,
    options: &ExportOptions,
    output: Option<&Path>,
    compression: Option<Compression>,
    progress: ProgressBar,
) -> Result<ExportSummary, ExportError> {
    let scope = Scope::resolve(archive, options).await?;
    let after = match &options.after_cursor {
        Some(cursor) => Some(scope.resume_after(cursor)?),
        None => None,
    };
    // One read transaction: everything below sees the archive as of one instant.
    let mut snapshot = archive.pool().begin().await?;
    let info = archive_info(&mut snapshot).await?;
    let people = spaces::load_people(&mut snapshot).await?;
    let last_seq = info.last_seq;
    let mut sink = Sink::open(output, compression)?;
    let filters = {
        let mut filters = scope.to_json();
        filters["after_cursor"] = options.after_cursor.clone().into();
        filters
    };
    sink.line(&serde_json::to_vec(&Manifest {
        kind: "manifest",
        format: FORMAT,
        generated_at: format_millis(now_millis()),
        generator: format!("spaces-archive {}", env!("CARGO_PKG_VERSION")),
        filters: &filters,
        archive: info,
    })?)?;
    let mut counts = BTreeMap::new();
    let spaces = spaces::space_records(&mut snapshot, &scope, after, last_seq, &people).await?;
    counts.insert("space".to_string(), spaces.len() as u64);
    for space in &spaces {
        sink.line(&serde_json::to_vec(space)?)?;
    }
    drop(spaces);
    counts.insert("message".into(), 0);
    counts.insert("version".into(), 0);
    if after.is_some() {
        counts.insert("out_of_scope".into(), 0);
    }
    if scope.raw {
        counts.insert("event".into(), 0);
    }

    let (chunks, received) = mpsc::channel::<Chunk>(4);
    let builder = {
        let people = people.clone();
        let progress = progress.clone();
        std::thread::Builder::new()
            .name("export-build".into())
            .spawn(move || build_lines(received, sink, counts, &people, &progress))?
    };
    let read = read_messages(&mut snapshot, &scope, after, last_seq, &chunks, &progress).await;
    drop(chunks);
    let built = builder.join().map_err(|_| {
        ExportError::Io(std::io::Error::other(
            "the export's builder thread panicked",
        ))
    })?;
    read?;
    let (sink, counts) = built?;
    progress.finish_and_clear();
    let cursor = scope.cursor(last_seq);
    let complete = Complete {
        kind: "complete",
        counts: &counts,
        cursor: cursor.clone(),
        sha256: sink.records_sha256(),
    };
    let file_sha256 = sink.finish(&serde_json::to_vec(&complete)?)?;
    Ok(ExportSummary {
        counts,
        cursor,
        file_sha256,
    })
}

async fn archive_info(conn: &mut SqliteConnection) -> Result<ArchiveInfo, ExportError> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM events), (SELECT coalesce(max(seq), 0) FROM events), \
         (SELECT count(*) FROM messages), (SELECT count(*) FROM spaces)",
    )
    .fetch_one(conn)
    .await?;
    Ok(ArchiveInfo {
        events: row.try_get(0)?,
        last_seq: row.try_get(1)?,
        messages: row.try_get(2)?,
        spaces: row.try_get(3)?,
    })
}

/// A chunk of messages for the builder: as SQLite wrote it, or already read (with
/// `--raw`, whose payloads are added here).
enum Chunk {
    Json(String),
    Rows(Vec<MessageRows>),
}

/// Reads the messages in scope, a chunk at a time, and hands them to the builder.
async fn read_messages(
    conn: &mut SqliteConnection,
    scope: &Scope,
    after: Option<i64>,
    last_seq: i64,
    chunks: &mpsc::Sender<Chunk>,
    progress: &ProgressBar,
) -> Result<(), ExportError> {
    let keys: String = keys_query(scope, after, last_seq)
        .build()
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let keys: Vec<i64> = serde_json::from_str(&keys)?;
    progress.set_length(keys.len() as u64);
    for rowids in keys.chunks(BATCH) {
        let json: String = chunk_query(scope, rowids)
            .build()
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let chunk = if scope.raw {
            let mut rows = parse_chunk(&json)?;
            for message in rows.iter_mut().filter(|m| m.message.in_scope) {
                message.events = Some(raw_events(conn, message.message_id(), last_seq).await?);
            }
            Chunk::Rows(rows)
        } else {
            Chunk::Json(json)
        };
        if chunks.send(chunk).await.is_err() {
            return Ok(()); // the builder stopped; its error is reported
        }
    }
    Ok(())
}

async fn raw_events(
    conn: &mut SqliteConnection,
    id: &str,
    last_seq: i64,
) -> Result<Vec<RawEvent>, ExportError> {
    Ok(lookup::message_events(conn, id, last_seq)
        .await?
        .into_iter()
        .map(|e| RawEvent {
            seq: e.seq,
            received_at: format_millis(e.received_at),
            source: e.source,
            category: e.category,
            payload: e.payload,
        })
        .collect())
}

/// The builder thread: the JSON lines of each chunk, handed as one block to a writer
/// thread that hashes and writes them in order (so building goes on while a write
/// waits for the disk).
fn build_lines(
    mut received: mpsc::Receiver<Chunk>,
    sink: Sink,
    mut counts: BTreeMap<String, u64>,
    people: &People,
    progress: &ProgressBar,
) -> Result<(Sink, BTreeMap<String, u64>), ExportError> {
    let (blocks, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let writer = std::thread::Builder::new()
        .name("export-write".into())
        .spawn(move || -> std::io::Result<Sink> {
            let mut sink = sink;
            for block in to_write {
                sink.block(&block)?;
            }
            Ok(sink)
        })?;
    let built = build_blocks(&mut received, &blocks, &mut counts, people, progress);
    drop(blocks);
    let sink = writer
        .join()
        .map_err(|_| std::io::Error::other("the export's writer thread panicked"))??;
    built?;
    Ok((sink, counts))
}

fn build_blocks(
    received: &mut mpsc::Receiver<Chunk>,
    blocks: &std::sync::mpsc::SyncSender<Vec<u8>>,
    counts: &mut BTreeMap<String, u64>,
    people: &People,
    progress: &ProgressBar,
) -> Result<(), ExportError> {
    let mut add = |key: &str, n: u64| {
        if let Some(c) = counts.get_mut(key) {
            *c += n;
        }
    };
    while let Some(chunk) = received.blocking_recv() {
        let batch = match chunk {
            Chunk::Json(json) => parse_chunk(&json)?,
            Chunk::Rows(rows) => rows,
        };
        let n = batch.len() as u64;
        let mut block = Vec::with_capacity(batch.len() * 4096);
        for rows in batch {
            let events = rows.events.as_ref().map_or(0, |e| e.len() as u64);
            let (line, versions, in_scope) = message_line(rows, people)?;
            block.extend_from_slice(&line);
            block.push(b'\n');
            if in_scope {
                add("message", 1);
                add("version", versions);
                add("event", events);
            } else {
                add("out_of_scope", 1);
            }
        }
        if blocks.send(block).is_err() {
            return Ok(()); // the writer failed; its error is reported
        }
        progress.inc(n);
    }
    Ok(())
}
