//! The text of text-like attachments, for the search index: plain text, CSV and
//! Markdown as they are, HTML rendered to text, PDF through `pdf-extract`, DOCX and
//! XLSX from their XML. Every kind stops at a cap of text (cut on a character
//! boundary) and reads a bounded amount of input, and no input makes it panic: a
//! document the parsers cannot read, or on which they panic, is an
//! [`ExtractError`].

mod capped;
mod office;
mod pdf;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use capped::cut_to;
pub use pdf::MAX_PDF_BYTES;

/// Most text kept per file, in bytes (cut on a character boundary).
pub const TEXT_CAP: usize = 1 << 20; // 1 MiB

/// Most bytes of markup read from an HTML file per byte of text wanted: HTML is
/// rendered after reading, so its input is bounded by a multiple of the cap.
const HTML_BYTES_PER_TEXT_BYTE: usize = 16;

/// What kind of document a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Plain text (`text/plain`, `.txt`, `.log`).
    Plain,
    /// Comma-separated values, indexed as they are.
    Csv,
    /// Markdown, indexed as it is.
    Markdown,
    /// HTML, rendered to text.
    Html,
    /// PDF, through `pdf-extract`.
    Pdf,
    /// Word (Office Open XML) document.
    Docx,
    /// Excel (Office Open XML) workbook.
    Xlsx,
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DocumentKind::Plain => "plain text",
            DocumentKind::Csv => "CSV",
            DocumentKind::Markdown => "Markdown",
            DocumentKind::Html => "HTML",
            DocumentKind::Pdf => "PDF",
            DocumentKind::Docx => "DOCX",
            DocumentKind::Xlsx => "XLSX",
        })
    }
}

/// Why the text of a file could not be had. Each message names the kind first.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file could not be opened or read.
    #[error("{kind}: cannot read the file: {source}")]
    Io {
        /// The kind the file was read as.
        kind: DocumentKind,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is larger than this kind is extracted from (a memory bound).
    #[error("{kind}: the file is {size} bytes, more than the {limit} extracted from")]
    TooLarge {
        /// The kind the file was read as.
        kind: DocumentKind,
        /// The file's size in bytes.
        size: u64,
        /// The largest size extracted from.
        limit: u64,
    },
    /// The parser rejected the document (not this kind, damaged, encrypted, ...).
    #[error("{kind}: cannot read the document: {reason}")]
    Document {
        /// The kind the file was read as.
        kind: DocumentKind,
        /// What the parser said.
        reason: String,
    },
    /// The parser panicked on the document; the panic was caught.
    #[error("{kind}: the parser failed on the document: {reason}")]
    Panicked {
        /// The kind the file was read as.
        kind: DocumentKind,
        /// The panic's message.
        reason: String,
    },
}

impl ExtractError {
    fn document(kind: DocumentKind, reason: impl fmt::Display) -> Self {
        ExtractError::Document {
            kind,
            reason: reason.to_string(),
        }
    }
}

/// What kind of document a file is, from its MIME type and name (extension), or
/// None when not text-like. A specific MIME type wins; a missing one or
/// `application/octet-stream` falls back to the extension.
pub fn kind_of(mime: Option<&str>, name: Option<&str>) -> Option<DocumentKind> {
    let mime = mime.map(|m| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    match mime.as_deref() {
        None | Some("" | "application/octet-stream") => kind_of_name(name?),
        Some(mime) => kind_of_mime(mime),
    }
}

fn kind_of_mime(mime: &str) -> Option<DocumentKind> {
    Some(match mime {
        "text/plain" => DocumentKind::Plain,
        "text/csv" => DocumentKind::Csv,
        "text/markdown" | "text/x-markdown" => DocumentKind::Markdown,
        "text/html" => DocumentKind::Html,
        "application/pdf" => DocumentKind::Pdf,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            DocumentKind::Docx
        }
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => DocumentKind::Xlsx,
        _ => return None,
    })
}

fn kind_of_name(name: &str) -> Option<DocumentKind> {
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "txt" | "log" => DocumentKind::Plain,
        "csv" => DocumentKind::Csv,
        "md" | "markdown" => DocumentKind::Markdown,
        "html" | "htm" => DocumentKind::Html,
        "pdf" => DocumentKind::Pdf,
        "docx" => DocumentKind::Docx,
        "xlsx" => DocumentKind::Xlsx,
        _ => return None,
    })
}

/// The text of the file at `path`, at most `cap` bytes; Ok(None) when the kind is
/// not text-like.
pub fn extract_text(
    path: &Path,
    mime: Option<&str>,
    name: Option<&str>,
    cap: usize,
) -> Result<Option<String>, ExtractError> {
    let Some(kind) = kind_of(mime, name) else {
        return Ok(None);
    };
    let mut text = match kind {
        DocumentKind::Plain | DocumentKind::Csv | DocumentKind::Markdown => {
            read_text(path, kind, cap)?
        }
        DocumentKind::Html => html_text(path, cap)?,
        DocumentKind::Pdf => guarded(kind, || pdf::pdf_text(path, cap))?,
        DocumentKind::Docx => guarded(kind, || office::docx_text(path, cap))?,
        DocumentKind::Xlsx => guarded(kind, || office::xlsx_text(path, cap))?,
    };
    cut_to(&mut text, cap);
    Ok(Some(text))
}

/// Runs a parser that may panic on hostile input, turning a panic into an error.
/// The global panic hook is left alone, so the default message still goes to
/// stderr once per panic.
fn guarded(
    kind: DocumentKind,
    parse: impl FnOnce() -> Result<String, ExtractError>,
) -> Result<String, ExtractError> {
    panic::catch_unwind(AssertUnwindSafe(parse)).unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        Err(ExtractError::Panicked { kind, reason })
    })
}

/// Reads at most `limit` bytes of the file.
fn read_prefix(path: &Path, kind: DocumentKind, limit: usize) -> Result<Vec<u8>, ExtractError> {
    let io_error = |source| ExtractError::Io { kind, source };
    let file = File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    Ok(bytes)
}

/// Plain text, CSV or Markdown: at most `cap` bytes of text from a bounded read,
/// UTF-8 decoded lossily, a byte order mark stripped (UTF-16 with a BOM decoded).
fn read_text(path: &Path, kind: DocumentKind, cap: usize) -> Result<String, ExtractError> {
    // A character cut by the cap is read whole (4 bytes), after a BOM (3 bytes).
    let head = read_prefix(path, kind, cap.saturating_add(7))?;
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        // UTF-16 takes up to twice the bytes of the UTF-8 it decodes to.
        let bytes = read_prefix(path, kind, cap.saturating_mul(2).saturating_add(6))?;
        return Ok(decode_utf16(&bytes));
    }
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&head);
    Ok(String::from_utf8_lossy(body).into_owned())
}

/// Decodes UTF-16 after its byte order mark (the first two bytes say which).
fn decode_utf16(bytes: &[u8]) -> String {
    let little_endian = bytes.starts_with(&[0xFF, 0xFE]);
    let units: Vec<u16> = bytes
        .get(2..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|pair| {
            let pair = [pair[0], pair[1]];
            if little_endian {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        })
        .collect();
    String::from_utf16_lossy(&units)
}

/// HTML: a bounded prefix of the markup rendered to text by the renderer that
/// message bodies use (tags stripped, entities decoded, script and style dropped).
fn html_text(path: &Path, cap: usize) -> Result<String, ExtractError> {
    let limit = cap
        .saturating_mul(HTML_BYTES_PER_TEXT_BYTE)
        .saturating_add(4);
    let bytes = read_prefix(path, DocumentKind::Html, limit)?;
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&bytes);
    Ok(crate::event::html::html_to_text(&String::from_utf8_lossy(
        body,
    )))
}
