//! Text gathered up to a cap of bytes, always cut on a character boundary, so an
//! extractor can stop reading as soon as it has all the text it may keep.

use std::io;

/// Shortens `text` to at most `cap` bytes, on a character boundary.
pub(super) fn cut_to(text: &mut String, cap: usize) {
    if text.len() > cap {
        let end = text.floor_char_boundary(cap);
        text.truncate(end);
    }
}

/// A string that takes text until it holds `cap` bytes.
#[derive(Debug)]
pub(super) struct CappedText {
    text: String,
    cap: usize,
    full: bool,
}

impl CappedText {
    /// An empty text that will hold at most `cap` bytes.
    pub(super) fn new(cap: usize) -> Self {
        CappedText {
            text: String::new(),
            cap,
            full: false,
        }
    }

    /// Appends what fits of `s`; once something did not fit, the text is full.
    pub(super) fn push_str(&mut self, s: &str) {
        if self.full {
            return;
        }
        let room = self.cap - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            self.text.push_str(&s[..s.floor_char_boundary(room)]);
            self.full = true;
        }
    }

    /// Appends one character, if it fits.
    pub(super) fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// Whether text was refused: nothing more will be kept.
    pub(super) fn is_full(&self) -> bool {
        self.full
    }

    /// The text gathered.
    pub(super) fn into_string(self) -> String {
        self.text
    }
}

/// An [`io::Write`] of UTF-8 text into a [`CappedText`] that fails once the text is
/// full, which stops a writer-driven extractor (`pdf-extract`) early.
#[derive(Debug)]
pub(super) struct CappedWriter {
    text: CappedText,
    /// Bytes of a character split across two writes.
    partial: Vec<u8>,
}

impl CappedWriter {
    /// A writer that keeps at most `cap` bytes.
    pub(super) fn new(cap: usize) -> Self {
        CappedWriter {
            text: CappedText::new(cap),
            partial: Vec::new(),
        }
    }

    /// Whether the cap was reached.
    pub(super) fn is_full(&self) -> bool {
        self.text.is_full()
    }

    /// The text written.
    pub(super) fn into_string(self) -> String {
        self.text.into_string()
    }
}

impl io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.text.is_full() {
            return Err(io::Error::other("the text cap is reached"));
        }
        if self.partial.is_empty() {
            // The usual case: one whole character or string per write.
            if let Ok(s) = std::str::from_utf8(buf) {
                self.text.push_str(s);
                return Ok(buf.len());
            }
        }
        self.partial.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.partial) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Not UTF-8: keep what decodes, replace the rest.
            Err(_) => {
                let lossy = String::from_utf8_lossy(&self.partial).into_owned();
                self.text.push_str(&lossy);
                self.partial.clear();
                return Ok(buf.len());
            }
        };
        let rest = self.partial.split_off(valid);
        if let Ok(s) = std::str::from_utf8(&self.partial) {
            self.text.push_str(s);
        }
        self.partial = rest;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
