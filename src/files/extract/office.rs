//! Office Open XML documents, which are zip archives of XML: DOCX text from
//! `word/document.xml` (read with `quick-xml`), XLSX cells through `calamine`.
//! Both read a bounded amount of decompressed XML, against zip bombs.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

use super::capped::CappedText;
use super::{DocumentKind, ExtractError};

/// Most decompressed XML read from one part of an Office document, in bytes.
pub(super) const MAX_XML_BYTES: u64 = 64 << 20;

/// The parts of a workbook `calamine` reads whole before any cell.
const WORKBOOK_PARTS: [&str; 3] = ["xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml"];

fn open_zip(path: &Path, kind: DocumentKind) -> Result<ZipArchive<BufReader<File>>, ExtractError> {
    let file = File::open(path).map_err(|source| ExtractError::Io { kind, source })?;
    ZipArchive::new(BufReader::new(file))
        .map_err(|e| ExtractError::document(kind, format_args!("not a zip archive: {e}")))
}

/// The text of the DOCX at `path`: the runs of text of `word/document.xml`, a
/// newline after each paragraph and at each break, a tab at each tab.
pub(super) fn docx_text(path: &Path, cap: usize) -> Result<String, ExtractError> {
    const KIND: DocumentKind = DocumentKind::Docx;
    let mut zip = open_zip(path, KIND)?;
    let part = zip
        .by_name("word/document.xml")
        .map_err(|e| ExtractError::document(KIND, format_args!("no word/document.xml: {e}")))?;
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(part.take(MAX_XML_BYTES)));
    let mut text = CappedText::new(cap);
    let mut buf = Vec::new();
    let mut in_text = false;
    while !text.is_full() {
        buf.clear();
        let event = match xml.read_event_into(&mut buf) {
            Ok(event) => event,
            // Cut by the read limit: the text up to there is kept.
            Err(_) if xml.get_ref().get_ref().limit() == 0 => break,
            Err(e) => {
                let reason = format!("word/document.xml is not well-formed: {e}");
                return Err(ExtractError::document(KIND, reason));
            }
        };
        match event {
            Event::Start(tag) if is(&tag, "t") => in_text = true,
            Event::End(tag) => match tag.local_name().as_ref() {
                "t" => in_text = false,
                "p" => text.push('\n'),
                _ => {}
            },
            Event::Start(tag) | Event::Empty(tag) => push_break(&mut text, &tag),
            Event::Text(run) if in_text => text.push_str(&run.xml10_content()),
            Event::GeneralRef(reference) if in_text => match reference.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                _ => {
                    if let Some(s) = resolve_predefined_entity(&reference.xml10_content()) {
                        text.push_str(s);
                    }
                }
            },
            Event::CData(data) if in_text => {
                text.push_str(&data.into_inner());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(text.into_string())
}

fn is(tag: &BytesStart<'_>, local_name: &str) -> bool {
    tag.local_name().as_ref() == local_name
}

/// The white space a break element stands for.
fn push_break(text: &mut CappedText, tag: &BytesStart<'_>) {
    match tag.local_name().as_ref() {
        "tab" => text.push('\t'),
        "br" | "cr" => text.push('\n'),
        _ => {}
    }
}

/// The text of the XLSX at `path`: for each sheet, its name on a line, then one line
/// per row, the row's cells joined by tabs.
pub(super) fn xlsx_text(path: &Path, cap: usize) -> Result<String, ExtractError> {
    const KIND: DocumentKind = DocumentKind::Xlsx;
    check_workbook_parts(path)?;
    let file = File::open(path).map_err(|source| ExtractError::Io { kind: KIND, source })?;
    let mut workbook: Xlsx<_> = Xlsx::new(BufReader::new(file))
        .map_err(|e| ExtractError::document(KIND, format_args!("not a workbook: {e}")))?;
    let mut text = CappedText::new(cap);
    for sheet in workbook.sheet_names() {
        if text.is_full() {
            break;
        }
        let mut cells = workbook
            .worksheet_cells_reader(&sheet)
            .map_err(|e| ExtractError::document(KIND, format_args!("sheet {sheet:?}: {e}")))?;
        text.push_str(&sheet);
        let mut row = None;
        while !text.is_full() {
            let cell = cells
                .next_cell()
                .map_err(|e| ExtractError::document(KIND, format_args!("sheet {sheet:?}: {e}")))?;
            let Some(cell) = cell else { break };
            let value = Data::from(cell.get_value().clone());
            if value == Data::Empty {
                continue;
            }
            let (cell_row, _) = cell.get_position();
            text.push(if row == Some(cell_row) { '\t' } else { '\n' });
            row = Some(cell_row);
            text.push_str(&value.to_string());
        }
        text.push('\n');
    }
    Ok(text.into_string())
}

/// Refuses a workbook whose parts that `calamine` reads whole are said to be larger
/// than [`MAX_XML_BYTES`] decompressed (sheets are read cell by cell, up to the cap).
fn check_workbook_parts(path: &Path) -> Result<(), ExtractError> {
    const KIND: DocumentKind = DocumentKind::Xlsx;
    let mut zip = open_zip(path, KIND)?;
    for name in WORKBOOK_PARTS {
        let Ok(part) = zip.by_name(name) else {
            continue;
        };
        if part.size() > MAX_XML_BYTES {
            let reason = format!(
                "{name} is {} bytes decompressed, more than the {MAX_XML_BYTES} read",
                part.size()
            );
            return Err(ExtractError::document(KIND, reason));
        }
    }
    Ok(())
}
