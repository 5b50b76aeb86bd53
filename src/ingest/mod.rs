//! `ingest`: recorded payloads from files or stdin into the archive. A reader thread
//! decodes (JSON, HTML to text, compression: the CPU-heavy part) while the writer
//! task stores batches, so both cores work.

pub mod input;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

use indicatif::ProgressBar;
use tokio::sync::mpsc;

use crate::index::SearchIndex;
use crate::store::{Archive, BatchReport, Item};
use crate::writer::{drain, ArchiveWriter, BatchPolicy, IndexCommitPolicy, OnStall, WriteError};

pub use input::{read_input, ReadCounts};

/// Items handed to the writer per channel message.
const CHUNK: usize = 256;

/// One input to read.
pub struct Input {
    /// Name used in rejections and messages: the path, or `-` for stdin.
    pub name: String,
    /// The open reader.
    pub reader: Box<dyn BufRead + Send>,
    /// Size in bytes, when known (for the progress bar).
    pub size: Option<u64>,
}

impl Input {
    /// Opens a path, or stdin for `-`.
    pub fn open(path: &str) -> io::Result<Input> {
        if path == "-" {
            return Ok(Input {
                name: "-".into(),
                reader: Box::new(BufReader::new(io::stdin())),
                size: None,
            });
        }
        let file = File::open(PathBuf::from(path))?;
        let size = file.metadata().ok().map(|m| m.len());
        Ok(Input {
            name: path.into(),
            reader: Box::new(BufReader::with_capacity(1 << 16, file)),
            size,
        })
    }
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Records read.
    pub read: u64,
    /// New payloads archived.
    pub archived: u64,
    /// Payloads already in the archive.
    pub duplicates: u64,
    /// Archived payloads of an unknown category.
    pub unknown: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Socket frames without a payload.
    pub ignored: u64,
}

/// Why an ingest failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The archive could not be opened or finished.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The archive could not be written part way; batches before the failure are
    /// stored, and an ingest of the same input again skips them as duplicates.
    #[error("{error}; read {read}, archived {archived} before it stopped: running the same ingest again continues (what is archived is recognised and skipped)")]
    Stopped {
        /// The failure.
        error: WriteError,
        /// Records read so far.
        read: u64,
        /// New payloads archived before it.
        archived: u64,
    },
    /// An input could not be read; the other inputs were ingested.
    #[error("cannot read {name}: {source}")]
    Read {
        /// The input.
        name: String,
        /// Why.
        source: io::Error,
    },
}

/// Ingests every input into `archive`. An unreadable input is reported after the
/// others are done.
pub async fn ingest(
    archive: Archive,
    index: &SearchIndex,
    inputs: Vec<Input>,
    progress: ProgressBar,
) -> Result<Summary, IngestError> {
    let mut writer = ArchiveWriter::open(archive, index, IndexCommitPolicy::default()).await?;
    let (tx, mut rx) = mpsc::channel::<Vec<Item>>(16);
    let reader_progress = progress.clone();
    let reader = std::thread::spawn(move || read_all(inputs, tx, &reader_progress));
    let mut written = drain(
        &mut writer,
        &mut rx,
        BatchPolicy::default(),
        OnStall::Stop,
        |_| {},
    )
    .await
    .map_err(|e| (e.error, e.totals));
    drop(rx);
    if let Ok(totals) = &written {
        if let Err(e) = writer.finish().await {
            written = Err((e, *totals));
        }
    }
    let (counts, read_error) = reader
        .join()
        .unwrap_or_else(|_| (ReadCounts::default(), None));
    progress.finish_and_clear();
    let report: BatchReport = written.map_err(|(error, totals)| IngestError::Stopped {
        error,
        read: counts.read,
        archived: totals.archived,
    })?;
    if let Some(error) = read_error {
        return Err(error);
    }
    Ok(Summary {
        read: counts.read,
        archived: report.archived,
        duplicates: report.duplicates,
        unknown: report.unknown,
        rejected: report.rejected,
        ignored: counts.ignored,
    })
}

fn read_all(
    inputs: Vec<Input>,
    tx: mpsc::Sender<Vec<Item>>,
    progress: &ProgressBar,
) -> (ReadCounts, Option<IngestError>) {
    let mut totals = ReadCounts::default();
    let mut first_error = None;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut closed = false;
    for input in inputs {
        let mut emit = |item: Item| {
            chunk.push(item);
            if chunk.len() >= CHUNK && !closed {
                closed = tx
                    .blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                    .is_err();
            }
        };
        match read_input(&input.name, input.reader, &mut emit, &|n| progress.inc(n)) {
            Ok(counts) => {
                totals.read += counts.read;
                totals.ignored += counts.ignored;
            }
            Err(source) => {
                tracing::error!(input = %input.name, "cannot read input: {source}");
                first_error.get_or_insert(IngestError::Read {
                    name: input.name,
                    source,
                });
            }
        }
        if closed {
            break;
        }
    }
    if !chunk.is_empty() && !closed {
        let _ = tx.blocking_send(chunk);
    }
    (totals, first_error)
}
