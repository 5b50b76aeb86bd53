//! `export --format rsmf|html --output DIR`: the JSONL export's record stream fed to
//! the writer of another format ([`super::rsmf`], [`super::html`]), which builds its
//! directory under a temporary name ([`super::set`]); the directory appears at `DIR`
//! only when whole.

use std::path::Path;
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;

use super::html::HtmlWriter;
use super::lines::RecordLines;
use super::rsmf::slice::SliceBy;
use super::rsmf::RsmfWriter;
use super::set::{ExportDir, SetSummary};
use super::{export_to, Destination, ExportError, ExportOptions, ExportSummary};
use crate::files::content::ContentStore;
use crate::store::Archive;

/// A format written as a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetFormat {
    /// RSMF 2.0, one `.rsmf` per space per slice.
    Rsmf(SliceBy),
    /// The offline HTML transcript.
    Html,
}

impl SetFormat {
    /// Its name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            SetFormat::Rsmf(_) => "rsmf",
            SetFormat::Html => "html",
        }
    }
}

/// Writes an export of `archive` in `format` to the directory `dir` (which must not
/// exist or be empty). Returns the records' summary and the set's.
pub async fn export_set(
    archive: &Archive,
    options: &ExportOptions,
    format: SetFormat,
    dir: &Path,
    progress: ProgressBar,
) -> Result<(ExportSummary, SetSummary), ExportError> {
    if options.files {
        return Err(ExportError::Filter(format!(
            "--files is for JSON lines: the {} format always holds the stored files",
            format.name()
        )));
    }
    let set = ExportDir::create(dir)?;
    let data_dir = archive.path().parent().unwrap_or(Path::new("."));
    let store = ContentStore::open(data_dir)?;
    let spill = set.dir().to_path_buf();
    let done = Arc::new(Mutex::new(None));
    let writer: Box<dyn std::io::Write + Send> = match format {
        SetFormat::Rsmf(by) => Box::new(RecordLines::new(RsmfWriter::new(
            set,
            store,
            by,
            done.clone(),
        ))),
        SetFormat::Html => Box::new(RecordLines::new(HtmlWriter::new(set, store, done.clone()))),
    };
    let destination = Destination::Records {
        writer,
        dir: &spill,
    };
    let summary = export_to(archive, options, destination, None, progress).await?;
    let set = done
        .lock()
        .ok()
        .and_then(|mut d| d.take())
        .ok_or_else(|| std::io::Error::other("the export ended before its last record"))?;
    Ok((summary, set))
}
