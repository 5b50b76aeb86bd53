//! Deterministic documents the simulator serves as attachments, and tests and
//! benchmarks extract: a PDF written by hand (Helvetica, WinAnsi text, a correct
//! cross-reference table) and a minimal DOCX. Generators, not parsers.

use std::fmt::Write as _;
use std::io::{Cursor, Write as _};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Characters per line of PDF text (Helvetica 11 pt fits about 85 in 468 pt).
const PDF_LINE_CHARS: usize = 80;
/// Lines per PDF page (648 pt of text height at 14 pt leading).
const PDF_PAGE_LINES: usize = 46;

/// A valid one-page-per-paragraph-group PDF whose text is `paragraphs` (Helvetica,
/// WinAnsi text; escape ( ) \ ), correct xref offsets.
///
/// Paragraphs are wrapped into lines at word boundaries, with a blank line between
/// paragraphs, and the lines are laid out on as many pages as they need (always at
/// least one). Characters WinAnsi cannot show are written as `?`.
pub fn pdf(paragraphs: &[String]) -> Vec<u8> {
    let pages = paginate(paragraphs);
    // Objects: 1 catalog, 2 page tree, 3 font, then per page its page and content.
    let page_ids: Vec<usize> = (0..pages.len()).map(|i| 4 + 2 * i).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            page_ids
                .iter()
                .map(|id| format!("{id} 0 R"))
                .collect::<Vec<_>>()
                .join(" "),
            pages.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
    ];
    for (page, id) in pages.iter().zip(&page_ids) {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            id + 1
        ));
        let content = page_content(page);
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    pdf_of_objects(&objects)
}

/// A PDF file of `objects` (object `i + 1` is `objects[i]`, object 1 the catalog):
/// header, numbered objects, cross-reference table, trailer. Tests build
/// hand-made structures with it.
pub(crate) fn pdf_of_objects(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        // Each entry is 20 bytes: the offset, the generation, `n`, a space and `\n`.
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

/// One page's content stream: the lines from the top margin down, 14 pt apart.
fn page_content(lines: &[String]) -> String {
    let mut content = String::from("BT\n/F1 11 Tf\n14 TL\n72 720 Td\n");
    for line in lines {
        let _ = writeln!(content, "({}) Tj T*", pdf_string(line));
    }
    content.push_str("ET");
    content
}

/// The paragraphs wrapped into lines and grouped into pages.
fn paginate(paragraphs: &[String]) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        wrap(paragraph, PDF_LINE_CHARS, &mut lines);
    }
    let mut pages: Vec<Vec<String>> = lines
        .chunks(PDF_PAGE_LINES)
        .map(|page| page.to_vec())
        .collect();
    if pages.is_empty() {
        pages.push(Vec::new());
    }
    pages
}

/// Wraps `text` at word boundaries into lines of about `width` characters (a longer
/// word is split).
fn wrap(text: &str, width: usize, lines: &mut Vec<String>) {
    let mut line = String::new();
    let mut line_chars = 0;
    for word in text.split_whitespace() {
        let mut word = word;
        loop {
            let word_chars = word.chars().count();
            if line_chars > 0 && line_chars + 1 + word_chars > width {
                lines.push(std::mem::take(&mut line));
                line_chars = 0;
            }
            if word_chars <= width {
                if line_chars > 0 {
                    line.push(' ');
                    line_chars += 1;
                }
                line.push_str(word);
                line_chars += word_chars;
                break;
            }
            let split = word
                .char_indices()
                .nth(width)
                .map_or(word.len(), |(i, _)| i);
            lines.push(word[..split].to_string());
            word = &word[split..];
        }
    }
    if line_chars > 0 {
        lines.push(line);
    }
}

/// `text` as the inside of a PDF literal string in WinAnsi: `(`, `)` and `\`
/// escaped, Latin-1 letters as octal escapes, anything else as `?`.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{A0}'..='\u{FF}' => {
                let _ = write!(out, "\\{:03o}", u32::from(c));
            }
            _ => out.push('?'),
        }
    }
    out
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

const PACKAGE_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;

/// A minimal valid DOCX (zip with [Content_Types].xml, _rels/.rels,
/// word/document.xml) with one paragraph per item; XML-escaped.
pub fn docx(paragraphs: &[String]) -> Vec<u8> {
    let mut document = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>",
    );
    for paragraph in paragraphs {
        let _ = write!(
            document,
            "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
            xml_escape(paragraph)
        );
    }
    document.push_str("<w:sectPr/></w:body></w:document>");
    // Writing into memory fails only past the zip format's limits, which
    // `large_file` lifts; an empty result would then say so to any reader.
    zip_parts(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", PACKAGE_RELS),
        ("word/document.xml", &document),
    ])
    .unwrap_or_default()
}

/// A zip archive of the named parts, deflated.
fn zip_parts(parts: &[(&str, &str)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in parts {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(body.len() >= u32::MAX as usize);
        zip.start_file(*name, options)?;
        zip.write_all(body.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

/// `text` escaped for XML character data, without the characters XML 1.0 forbids.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{docx, pdf};

    /// Every cross-reference entry points at the start of its object.
    #[test]
    fn pdf_xref_offsets_point_at_their_objects() {
        let paragraphs: Vec<String> = (0..200).map(|i| format!("paragraph {i} café")).collect();
        let file = pdf(&paragraphs);
        // The header's binary comment is not UTF-8: offsets are counted past it, in
        // a text of the same length.
        let text: String = file
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '?' })
            .collect();
        let xref = text.rfind("\nxref\n").expect("xref") + 1;
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert_eq!(startxref, xref);
        let entries: Vec<&str> = text[xref..]
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .collect();
        assert!(entries.len() > 5);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(entry.len() + 1, 20);
            let offset: usize = entry[..10].parse().expect("offset");
            assert!(text[offset..].starts_with(&format!("{} 0 obj\n", i + 1)));
        }
    }

    #[test]
    fn long_text_spreads_over_pages_and_short_text_keeps_one() {
        let long: Vec<String> = (0..100)
            .map(|i| "word ".repeat(40) + &i.to_string())
            .collect();
        let count = |file: Vec<u8>| {
            String::from_utf8_lossy(&file)
                .matches("/Type /Page ")
                .count()
        };
        assert!(count(pdf(&long)) > 5);
        assert_eq!(count(pdf(&[])), 1);
        assert!(docx(&[]).starts_with(b"PK"));
    }
}
