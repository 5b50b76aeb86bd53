//! `export`: compliance exports as JSON lines (`spaces-archive-export/1`), streamed from
//! one read snapshot of SQLite in constant memory, with a manifest, counts, a SHA-256
//! of the records, and a cursor for incremental exports; `export verify` checks one.
//!
//! Threads: this task steps SQLite directly and writes each message's line from the
//! columns in place (reading back HTML from compressed payloads where a version does
//! not store it); a writer thread hashes and writes the lines a block at a time.

mod direct;
mod json;
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

use messages::{keys_query, Line, MessageLines};
use records::{ArchiveInfo, Complete, Manifest, FORMAT};
pub use scope::{ExportOptions, Removed, Scope};
pub use sink::Compression;
use sink::Sink;

use crate::event::time::{format_millis, now_millis};
use crate::store::raw::RawConnection;
use crate::store::{Archive, StoreError};

/// Bytes of lines handed to the writer thread at a time.
const BLOCK: usize = 1 << 20;

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

    let keys: String = keys_query(&scope, after, last_seq)
        .build()
        .fetch_one(&mut *snapshot)
        .await?
        .try_get(0)?;
    let keys: Vec<i64> = serde_json::from_str(&keys)?;
    progress.set_length(keys.len() as u64);
    let (blocks, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let (spent, free) = std::sync::mpsc::channel::<Vec<u8>>();
    let writer = std::thread::Builder::new()
        .name("export-write".into())
        .spawn(move || -> std::io::Result<Sink> {
            let mut sink = sink;
            for block in to_write {
                sink.block(&block)?;
                let _ = spent.send(block);
            }
            Ok(sink)
        })?;
    let streamed = {
        let mut handle = snapshot.lock_handle().await?;
        let raw_until = scope.raw.then_some(last_seq);
        blocking(|| {
            let conn = RawConnection::new(&mut handle);
            let mut lines = MessageLines::new(&conn, &people, raw_until)?;
            stream_lines(&mut lines, &keys, &blocks, &free, &mut counts, &progress)
        })
    };
    drop(blocks);
    let sink = writer
        .join()
        .map_err(|_| std::io::Error::other("the export's writer thread panicked"))??;
    streamed?;
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

/// Runs `f`, which blocks, off the runtime's other tasks when the runtime allows it.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Writes the line of every key in blocks of about [`BLOCK`] bytes, handed to the
/// writer thread (which hashes and writes them while the next block is made) and
/// handed back to be filled again.
fn stream_lines(
    lines: &mut MessageLines<'_>,
    keys: &[i64],
    blocks: &std::sync::mpsc::SyncSender<Vec<u8>>,
    free: &std::sync::mpsc::Receiver<Vec<u8>>,
    counts: &mut BTreeMap<String, u64>,
    progress: &ProgressBar,
) -> Result<(), ExportError> {
    let mut add = |key: &str, n: u64| {
        if let Some(c) = counts.get_mut(key) {
            *c += n;
        }
    };
    let mut block = Vec::with_capacity(BLOCK + BLOCK / 4);
    let mut in_block = 0;
    for &key in keys {
        match lines.line(key, &mut block)? {
            Line::Message { versions, events } => {
                add("message", 1);
                add("version", versions);
                add("event", events);
            }
            Line::OutOfScope => add("out_of_scope", 1),
        }
        in_block += 1;
        if block.len() >= BLOCK {
            let next = free
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BLOCK + BLOCK / 4));
            if blocks.send(std::mem::replace(&mut block, next)).is_err() {
                return Ok(()); // the writer failed; its error is reported
            }
            block.clear();
            progress.inc(in_block);
            in_block = 0;
        }
    }
    if !block.is_empty() && blocks.send(block).is_err() {
        return Ok(());
    }
    progress.inc(in_block);
    Ok(())
}
