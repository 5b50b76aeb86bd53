//! `export --format rsmf --output DIR`: the JSONL export's records as RSMF 2.0 (the
//! Relativity Short Message Format review platforms ingest), one `.rsmf` per space per
//! slice ([`slice`]), each an RFC 5322 message ([`mail`]) with a readable text body
//! ([`text`]) and `rsmf.zip` holding `rsmf_manifest.json` ([`manifest`]) and the
//! slice's stored files; the set's `manifest.jsonl` and sums come from
//! [`super::set`]. Made from the same record stream as the JSONL export, so the
//! filters, cursors and counts are the same.

pub mod mail;
pub mod manifest;
pub mod slice;
pub mod text;

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Seek, Write};
use std::sync::{Arc, Mutex};

use serde_json::Map;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::files::copy_checked;
use super::lines::Records;
use super::parsed::{CompleteIn, ManifestIn, MessageIn, Record};
use super::set::{finish_set, safe_name, ExportDir, SetSummary};
use crate::files::content::ContentStore;
use mail::Headers;
use slice::{MembershipFilter, Slice, SliceBy, Slicer, MAX_EVENTS};

/// The format name in the set's manifest.
pub const FORMAT: &str = "spaces-archive-rsmf/1";
/// The manifest's name inside `rsmf.zip`.
pub const ZIP_MANIFEST: &str = "rsmf_manifest.json";

/// Counts of an RSMF set.
#[derive(Debug, Default)]
struct Counts {
    files: u64,
    events: u64,
    memberships: u64,
    attachments: u64,
}

/// Writes the `.rsmf` files of an export's records.
pub struct RsmfWriter {
    set: Option<ExportDir>,
    store: ContentStore,
    slicer: Slicer,
    filter: MembershipFilter,
    manifest: Option<ManifestIn>,
    generator: String,
    counts: Counts,
    done: Arc<Mutex<Option<SetSummary>>>,
}

impl RsmfWriter {
    /// Writes into `set`, slicing by `by`, taking attachments' bytes from `store`;
    /// `done` receives the summary once the set is renamed into place.
    pub fn new(
        set: ExportDir,
        store: ContentStore,
        by: SliceBy,
        done: Arc<Mutex<Option<SetSummary>>>,
    ) -> RsmfWriter {
        RsmfWriter {
            set: Some(set),
            store,
            slicer: Slicer::new(by, MAX_EVENTS),
            filter: MembershipFilter::default(),
            manifest: None,
            generator: format!("spaces-archive {}", env!("CARGO_PKG_VERSION")),
            counts: Counts::default(),
            done,
        }
    }

    fn set(&mut self) -> io::Result<&mut ExportDir> {
        writing(&mut self.set)
    }

    fn complete(&mut self, complete: CompleteIn) -> io::Result<()> {
        let (set, store, generator, counts) = (
            &mut self.set,
            &self.store,
            &self.generator,
            &mut self.counts,
        );
        self.slicer
            .finish(&mut |slice| write_slice(writing(set)?, store, slice, generator, counts))?;
        let mut more = Map::new();
        more.insert("rsmf_file".into(), self.counts.files.into());
        more.insert("rsmf_event".into(), self.counts.events.into());
        more.insert("membership_event".into(), self.counts.memberships.into());
        more.insert("attachment_file".into(), self.counts.attachments.into());
        finish_set(
            &mut self.set,
            &self.done,
            FORMAT,
            self.manifest.as_ref(),
            &complete,
            more,
        )
    }
}

impl Records for RsmfWriter {
    fn record(&mut self, record: Record) -> io::Result<()> {
        match record {
            Record::Manifest(m) => {
                self.filter = MembershipFilter::from_filters(&m.filters);
                self.manifest = Some(m);
            }
            Record::Space(space) => {
                // A direct space has no joins or leaves in RSMF (the validator refuses them).
                let filter = if space.is_direct() {
                    MembershipFilter {
                        none: true,
                        ..MembershipFilter::default()
                    }
                } else {
                    self.filter.clone()
                };
                self.slicer.space(space, &filter);
            }
            Record::Message(m) => {
                let bytes = message_bytes(&m);
                let (set, store, generator, counts) = (
                    &mut self.set,
                    &self.store,
                    &self.generator,
                    &mut self.counts,
                );
                self.slicer.message(m, bytes, &mut |slice| {
                    write_slice(writing(set)?, store, slice, generator, counts)
                })?;
            }
            Record::OutOfScope(o) => self.set()?.out_of_scope(o),
            Record::Complete(c) => self.complete(c)?,
        }
        Ok(())
    }
}

/// The set still being written (none once the `complete` record finished it).
fn writing(set: &mut Option<ExportDir>) -> io::Result<&mut ExportDir> {
    set.as_mut()
        .ok_or_else(|| io::Error::other("a record came after the export's last"))
}

/// What a message adds to its slice's size: its texts (twice: manifest and body) and
/// its stored attachments.
fn message_bytes(m: &MessageIn) -> u64 {
    let texts: usize = m
        .versions
        .iter()
        .map(|v| v.text.len() + v.description.len())
        .sum();
    let files: i64 = m
        .attachments
        .iter()
        .filter(|a| a.stored_sha256().is_some())
        .map(|a| a.size.unwrap_or(0).max(0))
        .sum();
    (2 * texts + 512) as u64 + files as u64
}

/// The name of a stored content in `rsmf.zip`: its SHA-256, with the original
/// name's extension when that is a plain one.
fn zip_name(sha256: &str, name: &str) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    match ext {
        Some(ext) => format!("{sha256}.{}", ext.to_ascii_lowercase()),
        None => sha256.to_string(),
    }
}

/// Writes one slice's `.rsmf` into the set, its events in time order (messages
/// without a created time among them by their first version's).
fn write_slice(
    set: &mut ExportDir,
    store: &ContentStore,
    mut slice: Slice,
    generator: &str,
    counts: &mut Counts,
) -> io::Result<()> {
    slice.events.sort_by(|a, b| a.time().cmp(&b.time()));
    let slice = &slice;
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for m in slice.messages() {
        for a in &m.attachments {
            if let Some(sha256) = a.stored_sha256() {
                files
                    .entry(sha256.to_string())
                    .or_insert_with(|| zip_name(sha256, a.display()));
            }
        }
    }
    let rsmf = manifest::manifest(slice, |sha256| {
        files
            .get(sha256)
            .cloned()
            .unwrap_or_else(|| sha256.to_string())
    });
    let manifest_json = serde_json::to_vec(&rsmf)?;
    let mut zip = ZipWriter::new(tempfile::tempfile_in(set.dir())?);
    zip.start_file(
        ZIP_MANIFEST,
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1)),
    )
    .map_err(io::Error::other)?;
    zip.write_all(&manifest_json)?;
    for (sha256, name) in &files {
        zip.start_file(
            name.as_str(),
            SimpleFileOptions::default()
                .compression_method(CompressionMethod::Stored)
                .large_file(true),
        )
        .map_err(io::Error::other)?;
        let mut to = BufWriter::with_capacity(1 << 16, &mut zip);
        copy_checked(store, sha256, &mut to)?;
        to.flush()?;
    }
    let mut zip = zip.finish().map_err(io::Error::other)?;
    zip.rewind()?;

    let (begin, end) = rsmf.period();
    let title = slice.space.display();
    let period = slice.key.as_deref().unwrap_or("undated");
    let mut headers = Headers::default();
    let first = slice.messages().find_map(|m| m.sender.as_ref());
    headers.text(
        "From",
        match first {
            Some(p) => {
                let address = match p.username.as_deref().filter(|u| manifest::is_email(u)) {
                    Some(email) => email.to_string(),
                    None => format!("{}@avaya-spaces.invalid", safe_name(&p.id)),
                };
                format!("{} <{address}>", quoted(p.display()))
            }
            None => "spaces-archive <spaces-archive@avaya-spaces.invalid>".to_string(),
        },
    );
    headers.text(
        "Subject",
        match slice.part {
            1 => format!("{title} ({period})"),
            n => format!("{title} ({period}, part {n})"),
        },
    );
    if let Some(date) = end
        .or(begin)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        headers.text("Date", date.to_rfc2822());
    }
    headers.text(
        "Message-ID",
        format!(
            "<{}.{}@spaces-archive.invalid>",
            slice.name(),
            &super::sink::hex(&Sha256::digest(&manifest_json))[..16]
        ),
    );
    headers.text("X-RSMF-Version", manifest::VERSION);
    headers.text("X-RSMF-Generator", generator);
    headers.text("X-RSMF-Application", manifest::PLATFORM);
    if let Some(begin) = begin {
        headers.text("X-RSMF-BeginDate", begin);
    }
    if let Some(end) = end {
        headers.text("X-RSMF-EndDate", end);
    }
    headers.text("X-RSMF-EventCount", rsmf.event_count().to_string());
    headers.text("X-RSMF-AttachmentCount", files.len().to_string());
    headers.text("X-RSMF-Participants", rsmf.participants_header());
    headers.text("X-RSMF-EventCollectionID", slice.space.id.clone());

    let name = format!("{}.rsmf", slice.name());
    let mut out = set.create_file(&name)?;
    mail::write_message(&mut out, &headers, &text::body(slice), &mut zip)?;
    let messages = slice.messages().count();
    let mut about = Map::new();
    about.insert("space_id".into(), slice.space.id.clone().into());
    about.insert("slice".into(), period.into());
    about.insert("part".into(), slice.part.into());
    about.insert("begin".into(), begin.into());
    about.insert("end".into(), end.into());
    about.insert("events".into(), rsmf.event_count().into());
    about.insert("messages".into(), messages.into());
    about.insert("attachments".into(), files.len().into());
    let file = out.finish(about)?;
    set.add(file);
    counts.files += 1;
    counts.events += rsmf.event_count() as u64;
    counts.memberships += (rsmf.event_count() - messages) as u64;
    counts.attachments += files.len() as u64;
    Ok(())
}

/// A display name as an address's phrase: quoted when it holds specials.
fn quoted(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '.' || !c.is_ascii())
        && !name.contains('.')
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}
