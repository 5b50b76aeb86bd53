//! Tests of text extraction: the kind table, round trips through the sample
//! generators, caps, hostile input, and fixtures made by other tools.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{extract_text, kind_of, DocumentKind, ExtractError, TEXT_CAP};
use crate::files::samples;

const PDF: &str = "application/pdf";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(bytes).expect("write");
    path
}

fn text_of(path: &Path, mime: &str, cap: usize) -> String {
    extract_text(path, Some(mime), None, cap)
        .expect("extract")
        .expect("text-like")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/files")
        .join(name)
}

/// Paragraphs of words, some with characters the formats escape.
fn paragraphs(count: usize) -> Vec<String> {
    let words = [
        "ledger",
        "zebra",
        "(note)",
        "back\\slash",
        "café",
        "ünïcode",
    ];
    (0..count)
        .map(|i| {
            (0..12)
                .map(|j| format!("{}{}", words[(i + j) % words.len()], i * 12 + j))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn assert_has_every_word(text: &str, paragraphs: &[String]) {
    let found: std::collections::HashSet<&str> = text.split_whitespace().collect();
    for word in paragraphs.iter().flat_map(|p| p.split_whitespace()) {
        assert!(found.contains(word), "{word:?} missing from {text:?}");
    }
}

#[test]
fn kinds_come_from_the_mime_type_then_the_name() {
    use DocumentKind::*;
    let cases = [
        (Some("text/plain"), None, Some(Plain)),
        (
            Some("text/plain; charset=utf-8"),
            Some("a.pdf"),
            Some(Plain),
        ),
        (Some("TEXT/CSV"), None, Some(Csv)),
        (Some("text/markdown"), None, Some(Markdown)),
        (Some("text/x-markdown"), None, Some(Markdown)),
        (Some("text/html"), Some("x.txt"), Some(Html)),
        (Some(PDF), Some("x.docx"), Some(Pdf)),
        (Some(DOCX), None, Some(Docx)),
        (Some(XLSX), None, Some(Xlsx)),
        (Some("image/png"), Some("x.txt"), None),
        (
            Some("application/octet-stream"),
            Some("Report.PDF"),
            Some(Pdf),
        ),
        (None, Some("server.log"), Some(Plain)),
        (None, Some("data.csv"), Some(Csv)),
        (None, Some("README.markdown"), Some(Markdown)),
        (None, Some("page.htm"), Some(Html)),
        (None, Some("memo.docx"), Some(Docx)),
        (None, Some("sheet.xlsx"), Some(Xlsx)),
        (None, Some("photo.jpeg"), None),
        (None, Some("noextension"), None),
        (Some(""), Some("a.md"), Some(Markdown)),
        (None, None, None),
    ];
    for (mime, name, kind) in cases {
        assert_eq!(kind_of(mime, name), kind, "{mime:?} {name:?}");
    }
}

#[test]
fn not_text_like_is_none() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_temp(&dir, "x.png", b"\x89PNG");
    let text = extract_text(&path, Some("image/png"), Some("x.png"), TEXT_CAP);
    assert!(matches!(text, Ok(None)));
}

#[test]
fn plain_text_loses_its_bom_and_keeps_bad_bytes_as_replacements() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_temp(&dir, "a.txt", b"\xEF\xBB\xBFhello \xFF world");
    assert_eq!(
        text_of(&path, "text/plain", TEXT_CAP),
        "hello \u{FFFD} world"
    );
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("héllo 会議".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let path = write_temp(&dir, "b.txt", &utf16);
    assert_eq!(text_of(&path, "text/plain", TEXT_CAP), "héllo 会議");
}

#[test]
fn caps_cut_on_character_boundaries() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_temp(&dir, "a.md", "ab会議🎉".as_bytes());
    for cap in 0..12 {
        let text = text_of(&path, "text/markdown", cap);
        assert!(text.len() <= cap, "{cap}: {text:?}");
        assert!("ab会議🎉".starts_with(&text));
        assert!(cap < 3 || text.len() + 3 >= cap.min(12), "{cap}: {text:?}");
    }
    let many = paragraphs(200);
    let pdf = write_temp(&dir, "a.pdf", &samples::pdf(&many));
    let docx = write_temp(&dir, "a.docx", &samples::docx(&many));
    for cap in [0, 1, 100, 1001, 5000] {
        for (path, mime) in [(&pdf, PDF), (&docx, DOCX)] {
            let text = text_of(path, mime, cap);
            assert!(text.len() <= cap && cap - text.len() < 4, "{mime} {cap}");
        }
    }
}

#[test]
fn a_huge_plain_text_is_read_only_up_to_the_cap() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("huge.log");
    let file = std::fs::File::create(&path).expect("create");
    // 64 GiB, sparse: reading it whole would take minutes and all memory.
    file.set_len(64 << 30).expect("set_len");
    let started = std::time::Instant::now();
    let text = text_of(&path, "text/plain", 4096);
    assert_eq!(text.len(), 4096);
    assert!(started.elapsed().as_secs() < 5);
}

#[test]
fn html_is_rendered_to_text() {
    let dir = tempfile::tempdir().expect("dir");
    let html = "<html><head><style>p{}</style><script>var x;</script></head>\
                <body><h1>Title</h1><p>fish &amp; chips &#x263A;</p></body></html>";
    let path = write_temp(&dir, "a.html", html.as_bytes());
    assert_eq!(
        text_of(&path, "text/html", TEXT_CAP),
        "Title\nfish & chips ☺"
    );
}

#[test]
fn sample_pdf_and_docx_round_trip() {
    let dir = tempfile::tempdir().expect("dir");
    for count in [0, 1, 3, 300] {
        let paragraphs = paragraphs(count);
        let pdf = write_temp(&dir, "a.pdf", &samples::pdf(&paragraphs));
        assert_has_every_word(&text_of(&pdf, PDF, TEXT_CAP), &paragraphs);
        let docx = write_temp(&dir, "a.docx", &samples::docx(&paragraphs));
        let text = text_of(&docx, DOCX, TEXT_CAP);
        assert_eq!(
            text,
            paragraphs
                .iter()
                .map(|p| format!("{p}\n"))
                .collect::<String>()
        );
    }
}

#[test]
fn samples_are_deterministic_and_escape_markup() {
    let tricky = vec!["a <b> & \"c\" 'd' \u{1} (e) \\f".to_string()];
    assert_eq!(samples::pdf(&tricky), samples::pdf(&tricky));
    assert_eq!(samples::docx(&tricky), samples::docx(&tricky));
    let dir = tempfile::tempdir().expect("dir");
    let docx = write_temp(&dir, "a.docx", &samples::docx(&tricky));
    assert_eq!(
        text_of(&docx, DOCX, TEXT_CAP),
        "a <b> & \"c\" 'd'  (e) \\f\n"
    );
    let pdf = write_temp(&dir, "a.pdf", &samples::pdf(&tricky));
    let text = text_of(&pdf, PDF, TEXT_CAP);
    assert!(text.contains("(e) \\f"), "{text:?}");
}

#[test]
fn garbage_is_an_error_for_every_document_kind() {
    let dir = tempfile::tempdir().expect("dir");
    let valid_pdf = samples::pdf(&paragraphs(50));
    let valid_docx = samples::docx(&paragraphs(50));
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"garbage, not a document at all".to_vec(),
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect(),
        valid_pdf[..valid_pdf.len() / 2].to_vec(),
        valid_docx[..valid_docx.len() / 2].to_vec(),
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF".to_vec(),
    ];
    for (i, bytes) in inputs.iter().enumerate() {
        let path = write_temp(&dir, &format!("g{i}"), bytes);
        for mime in [DOCX, XLSX] {
            let result = extract_text(&path, Some(mime), None, TEXT_CAP);
            assert!(result.is_err(), "{mime} input {i}: {result:?}");
        }
        // A damaged PDF may still give the text of what is left: no panic is the point.
        let result = extract_text(&path, Some(PDF), None, TEXT_CAP);
        if i < 3 {
            let error = result.expect_err("garbage PDF").to_string();
            assert!(error.starts_with("PDF: "), "{error}");
        }
    }
    let missing = dir.path().join("missing.pdf");
    let error = extract_text(&missing, Some(PDF), None, TEXT_CAP).expect_err("missing");
    assert!(matches!(error, ExtractError::Io { .. }), "{error}");
}

#[test]
fn a_zip_without_a_document_part_is_an_error() {
    let dir = tempfile::tempdir().expect("dir");
    let xlsx_as_docx = std::fs::read(fixture("sheet.xlsx")).expect("fixture");
    let path = write_temp(&dir, "a.docx", &xlsx_as_docx);
    let error = extract_text(&path, Some(DOCX), None, TEXT_CAP).expect_err("no document");
    assert!(error.to_string().contains("word/document.xml"), "{error}");
    let docx_as_xlsx = write_temp(&dir, "b.xlsx", &samples::docx(&paragraphs(2)));
    assert!(extract_text(&docx_as_xlsx, Some(XLSX), None, TEXT_CAP).is_err());
}

/// A one-page PDF whose page draws the form XObject 5, which is `form`.
fn pdf_with_form(form: &str, page_parent: &str) -> Vec<u8> {
    let content = "BT /F1 11 Tf 72 720 Td (visible) Tj ET /X1 Do";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [4 0 R] /Count 1 /MediaBox [0 0 612 792] >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        format!(
            "<< /Type /Page /Parent {page_parent} /Contents 6 0 R /Resources \
             << /Font << /F1 3 0 R >> /XObject << /X1 5 0 R >> >> >>"
        ),
        form.to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
    ];
    samples::pdf_of_objects(&objects)
}

fn form(content: &str, resources: &str) -> String {
    format!(
        "<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] {resources} /Length {} >>\n\
         stream\n{content}\nendstream",
        content.len()
    )
}

#[test]
fn pdf_loops_that_would_overflow_the_stack_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let innocent = form("BT /F1 9 Tf (inner) Tj ET", "");
    let path = write_temp(&dir, "ok.pdf", &pdf_with_form(&innocent, "2 0 R"));
    let text = text_of(&path, PDF, TEXT_CAP);
    assert!(text.contains("visible"), "{text:?}");

    // The form draws itself through the page's resources, which it inherits.
    let itself = form("/X1 Do", "");
    let path = write_temp(&dir, "self.pdf", &pdf_with_form(&itself, "2 0 R"));
    let error = extract_text(&path, Some(PDF), None, TEXT_CAP).expect_err("loop");
    assert!(error.to_string().contains("draws itself"), "{error}");

    // The form draws itself through its own resources.
    let own = form("/Y Do", "/Resources << /XObject << /Y 5 0 R >> >>");
    let path = write_temp(&dir, "own.pdf", &pdf_with_form(&own, "2 0 R"));
    assert!(extract_text(&path, Some(PDF), None, TEXT_CAP).is_err());

    // The page is its own parent.
    let path = write_temp(&dir, "parent.pdf", &pdf_with_form(&innocent, "4 0 R"));
    let result = extract_text(&path, Some(PDF), None, TEXT_CAP);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn fixtures_made_by_other_tools_give_their_words() {
    let report = text_of(&fixture("report.pdf"), PDF, TEXT_CAP);
    for words in [
        "quarterly zebracorn forecast",
        "Revenue (net) grew",
        "marmoset",
    ] {
        assert!(report.contains(words), "{words:?} in {report:?}");
    }
    let memo = text_of(&fixture("memo.docx"), DOCX, TEXT_CAP);
    for words in [
        "Memo\n",
        "confidential narwhal memo",
        "Tabbed:\tvalue & <markup> kept",
        "Line one\nline two of the café note",
        "cell aardvark",
        "cell quokka",
    ] {
        assert!(memo.contains(words), "{words:?} in {memo:?}");
    }
    let sheet = extract_text(&fixture("sheet.xlsx"), None, Some("sheet.xlsx"), TEXT_CAP)
        .expect("extract")
        .expect("text-like");
    assert_eq!(
        sheet,
        "Ledger\naccount\tamount\tnote\nledger okapi\t1250\tpaid\nledger tapir\t3.5\ttrue\n\
         Notes\npangolin remarks\n"
    );
}

#[test]
fn a_panic_in_the_pdf_parser_is_an_error() {
    // No MediaBox anywhere up the page tree: `pdf-extract` expects one and panics.
    let content = "BT /F1 11 Tf 72 720 Td (text) Tj ET";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>".to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
    ];
    let dir = tempfile::tempdir().expect("dir");
    let path = write_temp(&dir, "a.pdf", &samples::pdf_of_objects(&objects));
    let error = extract_text(&path, Some(PDF), None, TEXT_CAP).expect_err("panic");
    assert!(matches!(error, ExtractError::Panicked { .. }), "{error}");
    assert!(error.to_string().starts_with("PDF: "), "{error}");
}

#[test]
fn the_capped_writer_joins_characters_split_across_writes() {
    use std::io::Write as _;
    let mut writer = super::capped::CappedWriter::new(7);
    let bytes = "a会é🎉".as_bytes();
    for byte in bytes {
        let _ = writer.write(std::slice::from_ref(byte));
    }
    assert!(writer.is_full());
    assert_eq!(writer.into_string(), "a会é");
    let mut writer = super::capped::CappedWriter::new(100);
    writer.write_all(b"ok \xFF!").expect("write");
    assert_eq!(writer.into_string(), "ok \u{FFFD}!");
}
