//! PDF text through `pdf-extract` (over `lopdf`). Its panics on malformed input are
//! caught by the caller; what a panic cannot cover is endless recursion, which
//! overflows the stack and aborts the process, so the document is checked first
//! for the two loops `pdf-extract` would follow forever: a page whose `Parent`
//! chain loops (inherited `Resources`/`MediaBox`), and a form XObject that draws
//! itself through `Do`, directly or not.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use pdf_extract::content::Content;
use pdf_extract::{Dictionary, Document, Object, ObjectId, PlainTextOutput};

use super::capped::CappedWriter;
use super::{DocumentKind, ExtractError};

/// Largest PDF text is extracted from, in bytes: `lopdf` holds the whole file and
/// its parsed objects in memory.
pub const MAX_PDF_BYTES: u64 = 256 << 20;

/// Deepest `Parent` chain, and deepest nesting of forms, a PDF may have.
const MAX_NESTING: usize = 64;

const KIND: DocumentKind = DocumentKind::Pdf;

/// The text of the PDF at `path`, at most `cap` bytes. May panic (in `pdf-extract`):
/// call it under `catch_unwind`.
pub(super) fn pdf_text(path: &Path, cap: usize) -> Result<String, ExtractError> {
    let bytes = read_bounded(path)?;
    let mut doc = Document::load_mem(&bytes)
        .map_err(|e| ExtractError::document(KIND, format_args!("not a readable PDF: {e}")))?;
    drop(bytes);
    if doc.is_encrypted() {
        // Documents with an owner password only open with an empty user password.
        doc.decrypt("").map_err(|e| {
            ExtractError::document(KIND, format_args!("encrypted with a password: {e}"))
        })?;
    }
    check_loops(&doc).map_err(|reason| ExtractError::document(KIND, reason))?;
    let mut sink = CappedWriter::new(cap);
    let result = {
        let mut output = PlainTextOutput::<&mut dyn std::io::Write>::new(&mut sink);
        pdf_extract::output_doc(&doc, &mut output)
    };
    match result {
        Ok(()) => Ok(sink.into_string()),
        // The writer refused text past the cap: the text is complete up to it.
        Err(_) if sink.is_full() => Ok(sink.into_string()),
        Err(e) => Err(ExtractError::document(KIND, e)),
    }
}

/// The file's bytes, refused past [`MAX_PDF_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>, ExtractError> {
    let io_error = |source| ExtractError::Io { kind: KIND, source };
    let file = File::open(path).map_err(io_error)?;
    let too_large = |size| ExtractError::TooLarge {
        kind: KIND,
        size,
        limit: MAX_PDF_BYTES,
    };
    let size = file.metadata().map_err(io_error)?.len();
    if size > MAX_PDF_BYTES {
        return Err(too_large(size));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PDF_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_PDF_BYTES {
        // The file grew while it was read.
        return Err(too_large(read));
    }
    Ok(bytes)
}

/// The object `object` is, one reference followed (as `pdf-extract` does).
fn deref<'a>(doc: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => doc.get_object(*id).ok(),
        other => Some(other),
    }
}

/// The dictionary under `key`, one reference followed.
fn dict_at<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    deref(doc, dict.get(key).ok()?)?.as_dict().ok()
}

/// Refuses a document on which `pdf-extract` would recurse without end.
fn check_loops(doc: &Document) -> Result<(), String> {
    let mut checked = HashSet::new();
    for (number, page_id) in doc.get_pages() {
        let Ok(page) = doc.get_dictionary(page_id) else {
            continue;
        };
        let resources = inherited_resources(doc, page)
            .map_err(|problem| format!("page {number}: {problem}"))?;
        if let Some(resources) = resources {
            let mut path = Vec::new();
            check_xobjects(doc, resources, &mut path, &mut checked)
                .map_err(|problem| format!("page {number}: {problem}"))?;
        }
    }
    Ok(())
}

/// The page's `Resources`, looked up its `Parent` chain like `pdf-extract` does;
/// an error when that chain loops or is absurdly deep.
fn inherited_resources<'a>(
    doc: &'a Document,
    page: &'a Dictionary,
) -> Result<Option<&'a Dictionary>, String> {
    let mut seen = HashSet::new();
    let mut dict = page;
    let mut resources = None;
    for _ in 0..MAX_NESTING {
        if resources.is_none() {
            resources = dict_at(doc, dict, b"Resources");
        }
        let Some(parent) = dict.get(b"Parent").ok().and_then(|p| p.as_reference().ok()) else {
            return Ok(resources);
        };
        if !seen.insert(parent) {
            return Err("its page tree loops through its Parent entries".to_string());
        }
        let Ok(next) = doc.get_dictionary(parent) else {
            return Ok(resources);
        };
        dict = next;
    }
    Err(format!("its page tree is deeper than {MAX_NESTING}"))
}

/// Follows every form XObject of `resources` that can be drawn, and the forms those
/// draw with `Do`; an error when a form is reached again from itself.
fn check_xobjects<'a>(
    doc: &'a Document,
    resources: &'a Dictionary,
    path: &mut Vec<ObjectId>,
    checked: &mut HashSet<(ObjectId, usize)>,
) -> Result<(), String> {
    let Some(xobjects) = dict_at(doc, resources, b"XObject") else {
        return Ok(());
    };
    for (_, entry) in xobjects.iter() {
        if let Ok(id) = entry.as_reference() {
            check_form(doc, id, resources, path, checked)?;
        }
    }
    Ok(())
}

/// Checks the form `id` drawn with `resources` in scope (a form without its own
/// `Resources` uses its caller's, so the pair is what is checked once).
fn check_form<'a>(
    doc: &'a Document,
    id: ObjectId,
    caller_resources: &'a Dictionary,
    path: &mut Vec<ObjectId>,
    checked: &mut HashSet<(ObjectId, usize)>,
) -> Result<(), String> {
    if path.contains(&id) {
        return Err(format!("form XObject {} {} draws itself", id.0, id.1));
    }
    if path.len() >= MAX_NESTING {
        return Err(format!("form XObjects nest deeper than {MAX_NESTING}"));
    }
    let Some(stream) = doc.get_object(id).ok().and_then(|o| o.as_stream().ok()) else {
        return Ok(());
    };
    let resources = dict_at(doc, &stream.dict, b"Resources").unwrap_or(caller_resources);
    let key = (id, std::ptr::from_ref(resources) as usize);
    if !checked.insert(key) {
        return Ok(());
    }
    let content = if stream.filters().is_ok() {
        stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone())
    } else {
        stream.content.clone()
    };
    let Ok(content) = Content::decode(&content) else {
        return Ok(());
    };
    let Some(xobjects) = dict_at(doc, resources, b"XObject") else {
        return Ok(());
    };
    path.push(id);
    for operation in content.operations.iter().filter(|o| o.operator == "Do") {
        let drawn = operation
            .operands
            .first()
            .and_then(|name| name.as_name().ok())
            .and_then(|name| xobjects.get(name).ok())
            .and_then(|entry| entry.as_reference().ok());
        if let Some(drawn) = drawn {
            check_form(doc, drawn, resources, path, checked)?;
        }
    }
    path.pop();
    Ok(())
}
