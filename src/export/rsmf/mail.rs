//! The `.rsmf` container: an RFC 5322 message (CRLF lines, MIME 1.0) whose headers
//! carry the `X-RSMF-*` fields, with a `text/plain` part holding the slice as
//! readable text and exactly one attachment, `rsmf.zip` (base64), holding
//! `rsmf_manifest.json` at its root and the slice's stored files.
//!
//! Written by hand rather than through a mail-building crate because the zip can be
//! large (a slice's attachments, up to [`super::slice::MAX_BYTES`]): it is built in an
//! unlinked temporary file and streamed into the message in base64 in constant memory.
//! Non-ASCII header text is RFC 2047 encoded; the tests parse every file back with a
//! mail parser.

use std::io::{self, Read, Seek, Write};

use base64::Engine as _;

/// The boundary between the parts (cannot occur in base64 or in the headers' text).
const BOUNDARY: &str = "=_spaces-archive-rsmf_=";
/// Bytes of input per base64 line (76 characters).
const LINE: usize = 57;

/// The message's headers, in order.
#[derive(Debug, Default)]
pub struct Headers(Vec<(&'static str, String)>);

impl Headers {
    /// Adds a header whose value is text (encoded if not ASCII, folded if long).
    pub fn text(&mut self, name: &'static str, value: impl Into<String>) {
        self.0.push((name, value.into()));
    }

    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for (name, value) in &self.0 {
            out.write_all(name.as_bytes())?;
            out.write_all(b":")?;
            write_value(out, name.len() + 1, value)?;
            out.write_all(b"\r\n")?;
        }
        Ok(())
    }
}

/// A header value: ASCII text folded at spaces (lines under 78 characters where the
/// words allow), anything else as RFC 2047 encoded words of UTF-8.
fn write_value(out: &mut impl Write, mut column: usize, value: &str) -> io::Result<()> {
    let clean: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<String> = if clean.is_ascii() {
        clean.split(' ').map(String::from).collect()
    } else {
        encoded_words(&clean)
    };
    for (n, word) in words.into_iter().enumerate() {
        if n > 0 && column + 1 + word.len() > 76 {
            out.write_all(b"\r\n")?;
            column = 0;
        }
        out.write_all(b" ")?;
        out.write_all(word.as_bytes())?;
        column += 1 + word.len();
    }
    Ok(())
}

/// `text` as `=?UTF-8?B?…?=` words of whole characters, each at most 64 characters.
fn encoded_words(text: &str) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 39 {
            words.push(format!("=?UTF-8?B?{}?=", engine.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", engine.encode(&chunk)));
    }
    words
}

/// Writes the message: `headers`, the text part, and `zip` (read from its start) as
/// the `rsmf.zip` attachment.
pub fn write_message(
    out: &mut impl Write,
    headers: &Headers,
    text: &str,
    zip: &mut (impl Read + Seek),
) -> io::Result<()> {
    headers.write(out)?;
    write!(
        out,
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n\r\n\
         This is an RSMF file (Relativity Short Message Format 2.0): a message in MIME \
         format.\r\n\r\n--{BOUNDARY}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )?;
    write_base64(out, &mut text.as_bytes())?;
    write!(
        out,
        "--{BOUNDARY}\r\nContent-Type: application/zip; name=\"rsmf.zip\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"rsmf.zip\"\r\n\r\n"
    )?;
    zip.rewind()?;
    write_base64(out, zip)?;
    write!(out, "--{BOUNDARY}--\r\n")
}

/// `input` in base64, 76 characters a line, each ending in CRLF.
fn write_base64(out: &mut impl Write, input: &mut impl Read) -> io::Result<()> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut buf = vec![0u8; LINE * 1024];
    let mut encoded = Vec::with_capacity(buf.len() / 3 * 4 + buf.len() / LINE * 2 + 8);
    loop {
        let n = read_full(input, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        encoded.clear();
        for line in buf[..n].chunks(LINE) {
            let start = encoded.len();
            encoded.resize(start + line.len().div_ceil(3) * 4, 0);
            engine
                .encode_slice(line, &mut encoded[start..])
                .map_err(io::Error::other)?;
            encoded.extend_from_slice(b"\r\n");
        }
        out.write_all(&encoded)?;
        if n < buf.len() {
            return Ok(());
        }
    }
}

/// Reads until `buf` is full or the input ends; the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lines_are_76_characters_and_decode_back() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        write_base64(&mut out, &mut data.as_slice()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.split("\r\n").all(|l| l.len() <= 76));
        let joined: String = text.split("\r\n").collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .unwrap();
        assert_eq!(decoded, data);
    }

    #[test]
    fn headers_fold_and_encode() {
        let mut h = Headers::default();
        h.text(
            "Subject",
            "Ünïcode title — with a dash and a long tail of words to fold",
        );
        h.text("X-Plain", "word ".repeat(40));
        let mut out = Vec::new();
        h.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Subject: =?UTF-8?B?"), "{text}");
        for line in text.split("\r\n") {
            // A SHOULD of RFC 5322 (78), which every line here keeps.
            assert!(line.len() <= 78, "{line:?}");
        }
        assert!(!text.contains('Ü'));
    }
}
