//! `export`: compliance exports as JSON lines (`spaces-archive-export/1`), streamed from
//! one read snapshot of SQLite in constant memory, with a manifest, counts, a SHA-256
//! of the records, and a cursor for incremental exports; `export verify` checks one.
//!
//! Messages are read in storage order, not export order (see [`order`]): one thread per
//! core (each on its own connection, all seeing the same snapshot) steps SQLite
//! directly and writes each message's line from the columns in place, into runs that
//! are sorted by export position and spilled beyond `--sort-memory`. The runs are then
//! merged in export order; one thread hashes the lines a block at a time, and another
//! writes them.

mod attachments;
mod direct;
pub mod files;
pub mod formats;
pub mod html;
mod json;
mod lines;
mod messages;
mod order;
pub mod parsed;
mod records;
pub mod rsmf;
mod scope;
pub mod set;
mod sink;
mod spaces;
pub mod verify;
mod verify_set;
pub mod zip_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use indicatif::ProgressBar;
use sqlx::sqlite::LockedSqliteHandle;
use sqlx::{Row, SqliteConnection};

use messages::{keys_query, Line, MessageLines, PersonJson};
use order::{Merge, Runs};
use records::{ArchiveInfo, Complete, Manifest, FORMAT};
pub use scope::{ExportOptions, Removed, Scope, SORT_MEMORY};
pub use sink::Compression;
use sink::Sink;

use crate::event::time::{format_millis, now_millis};
use crate::files::content::ContentStore;
use crate::store::raw::{blocking, RawConnection};
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
    /// With `--files`: the files written beside the export.
    pub files: Option<files::FilesWritten>,
}

/// Where an export's records go.
pub enum Destination<'a> {
    /// Standard output.
    Stdout,
    /// A file (written under a temporary name, renamed when complete, with
    /// `FILE.sha256` beside it).
    File(&'a Path),
    /// Every record line, the `complete` line last, to a writer of another format
    /// (RSMF, HTML) that makes its files in `dir`, where sorted runs are spilled too.
    Records {
        /// The format's writer.
        writer: Box<dyn std::io::Write + Send>,
        /// The directory it writes.
        dir: &'a Path,
    },
}

/// Writes an export of `archive` to `output` (stdout when `None`).
pub async fn export(
    archive: &Archive,
    options: &ExportOptions,
    output: Option<&Path>,
    compression: Option<Compression>,
    progress: ProgressBar,
) -> Result<ExportSummary, ExportError> {
    let destination = match output {
        Some(path) => Destination::File(path),
        None => Destination::Stdout,
    };
    export_to(archive, options, destination, compression, progress).await
}

/// Writes an export of `archive` to `destination`.
pub async fn export_to(
    archive: &Archive,
    options: &ExportOptions,
    destination: Destination<'_>,
    compression: Option<Compression>,
    progress: ProgressBar,
) -> Result<ExportSummary, ExportError> {
    let output = match &destination {
        Destination::File(path) => Some(*path),
        _ => None,
    };
    let scope = Scope::resolve(archive, options).await?;
    let after = match &options.after_cursor {
        Some(cursor) => Some(scope.resume_after(cursor)?),
        None => None,
    };
    // One read transaction: everything below sees the archive as of one instant.
    let mut snapshot = archive.pool().begin().await?;
    let info = archive_info(&mut snapshot).await?;
    let people = spaces::load_people(&mut snapshot).await?;
    let files = attachments::load_states(&mut snapshot).await?;
    let last_seq = info.last_seq;
    let checkpoint = crate::chain::checkpoint::latest(&mut snapshot)
        .await?
        .map(|c| c.to_json());
    let spill_dir = match (&destination, output.and_then(Path::parent)) {
        (Destination::Records { dir, .. }, _) => dir.to_path_buf(),
        (_, Some(dir)) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        (_, Some(_)) => PathBuf::from("."),
        (_, None) => archive
            .path()
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let mut sink = match destination {
        Destination::Records { writer, .. } => Sink::records(writer),
        _ => Sink::open(output, compression)?,
    };
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
        checkpoint: checkpoint.clone(),
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

    let keys: Vec<i64> = {
        let json: String = keys_query(&scope, after, last_seq)
            .build()
            .fetch_one(&mut *snapshot)
            .await?
            .try_get(0)?;
        serde_json::from_str(&json)?
    };
    progress.set_length(2 * keys.len() as u64);
    let order = storage_order(&keys)?;
    let (blocks, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let (spent, free) = std::sync::mpsc::channel::<Vec<u8>>();
    let writer = write_blocks(sink, to_write, spent)?;
    let streamed = {
        let mut others = same_snapshots(archive, last_seq, reading_threads() - 1).await?;
        let mut handles = vec![snapshot.lock_handle().await?];
        for other in &mut others {
            handles.push(other.lock_handle().await?);
        }
        let people = PersonJson::new(&people);
        let reading = Reading {
            people: &people,
            files: &files,
            raw_until: scope.raw.then_some(last_seq),
            spill_dir: &spill_dir,
            budget: options.sort_memory / handles.len(),
            progress: &progress,
            failed: AtomicBool::new(false),
        };
        blocking(|| {
            let runs = reading.read_all(&mut handles, &keys, &order, &mut counts)?;
            drop((keys, order));
            let mut merge = Merge::new(runs)?;
            stream_lines(&mut merge, &blocks, &free, &progress)
        })
    };
    drop(blocks);
    let sink = writer
        .join()
        .map_err(|_| std::io::Error::other("the export's writer thread panicked"))??;
    streamed?;
    progress.finish_and_clear();
    let copied = match (options.files, output) {
        (false, _) => None,
        (true, Some(output)) => {
            let data_dir = archive.path().parent().unwrap_or(Path::new("."));
            let store = ContentStore::open(data_dir)?;
            let used = files.used();
            Some(blocking(|| files::copy_files(&store, output, &used))?)
        }
        (true, None) => {
            return Err(ExportError::Filter(
                "--files needs --output FILE: the files are written beside it".into(),
            ))
        }
    };
    let cursor = scope.cursor(last_seq);
    let complete = Complete {
        kind: "complete",
        counts: &counts,
        cursor: cursor.clone(),
        files: copied,
        checkpoint,
        sha256: sink.records_sha256(),
    };
    let file_sha256 = sink.finish(&serde_json::to_vec(&complete)?)?;
    Ok(ExportSummary {
        counts,
        cursor,
        file_sha256,
        files: copied,
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

/// Starts the threads that take the blocks of lines: one hashes each block and hands
/// it to the other, which writes it (compressing it, or into `O_DIRECT` buffers) and
/// hands it back to be filled again. The sink comes back when the blocks end.
fn write_blocks(
    mut sink: Sink,
    blocks: std::sync::mpsc::Receiver<Vec<u8>>,
    spent: std::sync::mpsc::Sender<Vec<u8>>,
) -> std::io::Result<std::thread::JoinHandle<std::io::Result<Sink>>> {
    let (hashed, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    let mut records = sink.take_records();
    let write = std::thread::Builder::new()
        .name("export-write".into())
        .spawn(move || -> std::io::Result<Sink> {
            for block in to_write {
                sink.write_hashed(&block)?;
                let _ = spent.send(block);
            }
            Ok(sink)
        })?;
    std::thread::Builder::new()
        .name("export-hash".into())
        .spawn(move || {
            use sha2::Digest;
            for block in blocks {
                records.update(&block);
                if hashed.send(block).is_err() {
                    break; // the writer failed; its error is reported
                }
            }
            drop(hashed);
            let mut sink = write
                .join()
                .map_err(|_| std::io::Error::other("the export's writer thread panicked"))??;
            sink.put_records(records);
            Ok(sink)
        })
}

/// The export positions of `keys` (`rowid * 2 + in_scope`, in export order), in
/// storage order: 4 bytes per message beside the keys' 8.
fn storage_order(keys: &[i64]) -> Result<Vec<u32>, ExportError> {
    let n = u32::try_from(keys.len()).map_err(|_| {
        ExportError::Filter(format!(
            "{} messages in one export; at most {} are supported",
            keys.len(),
            u32::MAX
        ))
    })?;
    let mut order: Vec<u32> = (0..n).collect();
    order.sort_unstable_by_key(|&position| keys[position as usize]);
    Ok(order)
}

/// Threads that read the archive at once: one per core, at most three (each holds
/// one of the pool's connections, and a fourth stays free).
fn reading_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(3))
}

/// Up to `n` more read transactions that see exactly what the export's snapshot sees.
/// Every write to messages and versions commits with the events it came from, so a
/// transaction whose last event is `last_seq` sees the same messages; one that sees
/// a later write is dropped and tried again a few times, and the export reads with
/// fewer threads if it keeps missing.
async fn same_snapshots(
    archive: &Archive,
    last_seq: i64,
    n: usize,
) -> Result<Vec<sqlx::Transaction<'static, sqlx::Sqlite>>, ExportError> {
    let mut snapshots = Vec::with_capacity(n);
    let mut misses = 0;
    while snapshots.len() < n && misses < 5 {
        let mut tx = archive.pool().begin().await?;
        let seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        if seq == last_seq {
            snapshots.push(tx);
        } else {
            misses += 1;
        }
    }
    Ok(snapshots)
}

/// What every reading thread shares.
struct Reading<'a> {
    people: &'a PersonJson,
    files: &'a Arc<attachments::FileStates>,
    raw_until: Option<i64>,
    spill_dir: &'a Path,
    budget: usize,
    progress: &'a ProgressBar,
    /// Set by a thread that failed, so that the others stop early.
    failed: AtomicBool,
}

impl Reading<'_> {
    /// Reads the messages of `keys` in storage order (`order`, from [`storage_order`])
    /// on one thread per handle, each taking the next [`CHUNK`] messages until none are
    /// left, into runs for [`Merge`]; adds what was read to `counts`.
    fn read_all(
        &self,
        handles: &mut [LockedSqliteHandle<'_>],
        keys: &[i64],
        order: &[u32],
        counts: &mut BTreeMap<String, u64>,
    ) -> Result<Vec<Runs>, ExportError> {
        let next = AtomicUsize::new(0);
        let read = |handle: &mut LockedSqliteHandle<'_>| {
            self.read_chunks(handle, keys, order, &next)
                .inspect_err(|_| self.failed.store(true, Ordering::Relaxed))
        };
        let results: Vec<Result<(Runs, LineCounts), ExportError>> = std::thread::scope(|s| {
            let (first, others) = match handles.split_first_mut() {
                Some(split) => split,
                None => return Vec::new(),
            };
            let others: Vec<_> = others
                .iter_mut()
                .map(|handle| {
                    std::thread::Builder::new()
                        .name("export-read".into())
                        .spawn_scoped(s, move || read(handle))
                })
                .collect();
            let mut results = vec![read(first)];
            for other in others {
                results.push(match other {
                    Ok(thread) => thread.join().unwrap_or_else(|_| {
                        Err(std::io::Error::other("an export reading thread panicked").into())
                    }),
                    Err(e) => Err(e.into()),
                });
            }
            results
        });
        let mut runs = Vec::with_capacity(results.len());
        for result in results {
            let (run, read) = result?;
            runs.push(run);
            read.add_to(counts);
        }
        Ok(runs)
    }

    /// One thread's part: chunks of `order` (positions in `keys`) taken in turn.
    fn read_chunks(
        &self,
        handle: &mut LockedSqliteHandle<'_>,
        keys: &[i64],
        order: &[u32],
        next: &AtomicUsize,
    ) -> Result<(Runs, LineCounts), ExportError> {
        let conn = RawConnection::new(handle);
        // Pages are read in storage order, each about once: a small page cache does
        // (SQLite's page caches share one budget, and it counts in the export's memory).
        let cache = conn.pragma("cache_size", None)?;
        conn.pragma("cache_size", Some(READING_CACHE))?;
        let result = self.read_with(&conn, keys, order, next);
        // A failed read is the error to report, not a failed restore after it.
        let restored = conn.pragma("cache_size", Some(cache));
        let read = result?;
        restored?;
        Ok(read)
    }

    fn read_with(
        &self,
        conn: &RawConnection<'_>,
        keys: &[i64],
        order: &[u32],
        next: &AtomicUsize,
    ) -> Result<(Runs, LineCounts), ExportError> {
        let mut lines = MessageLines::new(conn, self.people, self.files, self.raw_until)?;
        let mut runs = Runs::new(self.spill_dir, self.budget);
        let mut read = LineCounts::default();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            let Some(chunk) = order.get(start..order.len().min(start + CHUNK)) else {
                break;
            };
            if chunk.is_empty() || self.failed.load(Ordering::Relaxed) {
                break;
            }
            // Rowids ascend through a chunk; where they are dense, one scan reads them.
            let rowid = |position: u32| keys[position as usize] >> 1;
            let (first, last) = (rowid(chunk[0]), rowid(chunk[chunk.len() - 1]));
            if last - first < 2 * chunk.len() as i64 {
                lines.scan(first, last)?;
            } else {
                lines.stop_scan();
            }
            for &position in chunk {
                let start = runs.buffer().len();
                read.add(lines.line(keys[position as usize], runs.buffer())?);
                runs.commit(u64::from(position), start)?;
            }
            self.progress.inc(chunk.len() as u64);
        }
        if self.failed.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("another reading thread failed").into());
        }
        Ok((runs, read))
    }
}

/// `cache_size` of a reading connection while it reads: 4 MiB.
const READING_CACHE: i64 = -4096;

/// Messages a reading thread takes at a time (in storage order).
const CHUNK: usize = 4096;

/// What one reading thread wrote.
#[derive(Default)]
struct LineCounts {
    message: u64,
    version: u64,
    event: u64,
    out_of_scope: u64,
}

impl LineCounts {
    fn add(&mut self, line: Line) {
        match line {
            Line::Message { versions, events } => {
                self.message += 1;
                self.version += versions;
                self.event += events;
            }
            Line::OutOfScope => self.out_of_scope += 1,
        }
    }

    /// Adds these to the counts the export reports (those it reports).
    fn add_to(&self, counts: &mut BTreeMap<String, u64>) {
        for (key, n) in [
            ("message", self.message),
            ("version", self.version),
            ("event", self.event),
            ("out_of_scope", self.out_of_scope),
        ] {
            if let Some(c) = counts.get_mut(key) {
                *c += n;
            }
        }
    }
}

/// Writes the merged lines in blocks of about [`BLOCK`] bytes, handed to the threads of
/// [`write_blocks`] (which hash and write them while the next block is made) and handed
/// back to be filled again.
fn stream_lines(
    merge: &mut Merge,
    blocks: &std::sync::mpsc::SyncSender<Vec<u8>>,
    free: &std::sync::mpsc::Receiver<Vec<u8>>,
    progress: &ProgressBar,
) -> Result<(), ExportError> {
    let mut block = Vec::with_capacity(BLOCK + BLOCK / 4);
    let mut in_block = 0;
    while merge.next_line(&mut block)? {
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
