//! What the writer receives: decoded payloads ready to store, and rejected input.

use crate::event::document::MessageDocument;
use crate::event::DecodedPayload;

/// Where a payload came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The live socket.
    Live,
    /// REST backfill.
    Backfill,
    /// `ingest` of recorded payloads.
    Import,
    /// The reconciliation sweep: what the REST API holds and the socket never
    /// delivered.
    Sweep,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Live => "live",
            Source::Backfill => "backfill",
            Source::Import => "import",
            Source::Sweep => "sweep",
        }
    }
}

/// A payload to archive.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// When it was received, UTC ms.
    pub received_at: i64,
    /// Where from.
    pub source: Source,
    /// The payload text exactly as received, compressed with [`super::compress`].
    pub raw: Vec<u8>,
    /// SHA-256 of the payload text (what the hash chain covers).
    pub sha256: crate::chain::Hash,
    /// The decoded payload.
    pub decoded: DecodedPayload,
}

/// A payload stored by the batch being written, with its sequence number: what the
/// normalizing writes of [`super::messages`], [`super::spaces`] and [`super::people`]
/// read.
pub struct NewEvent<'a> {
    /// Sequence number in `events`.
    pub seq: i64,
    /// The stored event.
    pub event: &'a StoredEvent,
    /// Its decoded payload.
    pub decoded: &'a DecodedPayload,
}

/// Input that cannot be archived.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// When it was received, UTC ms.
    pub received_at: i64,
    /// Where from.
    pub source: Source,
    /// File name, `-` for stdin, or the socket URL.
    pub source_name: String,
    /// Line (or array element) number, from 1.
    pub line: Option<u64>,
    /// Why it was rejected.
    pub reason: String,
    /// Length of the raw input in bytes.
    pub raw_len: u64,
    /// The raw input, compressed with [`super::compress`].
    pub raw: Vec<u8>,
    /// SHA-256 of the raw input kept (before compression).
    pub sha256: crate::chain::Hash,
}

/// One item for the writer.
#[derive(Debug, Clone)]
pub enum Item {
    /// A payload.
    Event(Box<StoredEvent>),
    /// Rejected input.
    Rejected(Rejection),
    /// What fetching an attachment's bytes found.
    File(Box<super::files::FileOutcome>),
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// New payloads stored.
    pub archived: u64,
    /// Payloads received again (already stored).
    pub duplicates: u64,
    /// New payloads of an unknown category.
    pub unknown: u64,
    /// Rejected inputs stored.
    pub rejected: u64,
    /// Fetch outcomes recorded.
    pub files: u64,
}

impl std::ops::AddAssign for BatchReport {
    fn add_assign(&mut self, other: BatchReport) {
        self.archived += other.archived;
        self.duplicates += other.duplicates;
        self.unknown += other.unknown;
        self.rejected += other.rejected;
        self.files += other.files;
    }
}

/// What the search index must do after a batch: write these documents (built from
/// the batch itself) and load these messages' documents from SQLite (edited messages,
/// whose history is stored, and messages of renamed spaces).
#[derive(Debug, Clone, Default)]
pub struct IndexWork {
    /// Documents ready to index.
    pub documents: Vec<MessageDocument>,
    /// Messages whose documents must be read from SQLite.
    pub load: Vec<String>,
    /// Highest outbox mark of the batch: once this work is committed to the index,
    /// outbox rows up to it can go.
    pub seq: i64,
}

/// What writing a batch did.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Counts.
    pub report: BatchReport,
    /// Work for the index.
    pub index: IndexWork,
}
