//! The bridge from the JSONL export to the writers of other formats: a
//! [`std::io::Write`] that takes the export's bytes as they stream, cuts them into
//! record lines and hands each, parsed, to a [`Records`] writer; the `complete` line
//! comes last, and the writer finishes its files on it.

use std::io::{self, Write};

use super::parsed::{parse, Record};

/// A writer of another format, fed the export's records in order.
pub trait Records {
    /// One record; an error stops the export (and nothing is left at `--output`).
    fn record(&mut self, record: Record) -> io::Result<()>;
}

/// Cuts the bytes written into lines and feeds them to `R`.
pub struct RecordLines<R> {
    records: R,
    partial: Vec<u8>,
}

impl<R: Records> RecordLines<R> {
    /// Feeds `records`.
    pub fn new(records: R) -> RecordLines<R> {
        RecordLines {
            records,
            partial: Vec::new(),
        }
    }

    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        if line.is_empty() {
            return Ok(());
        }
        self.records.record(parse(line)?)
    }
}

impl<R: Records> Write for RecordLines<R> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = memchr(b'\n', rest) {
            let (line, after) = rest.split_at(end);
            if self.partial.is_empty() {
                self.line(line)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole)?;
                whole.clear();
                self.partial = whole;
            }
            rest = &after[1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn memchr(byte: u8, bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Ids(Vec<String>);

    impl Records for &mut Ids {
        fn record(&mut self, record: Record) -> io::Result<()> {
            self.0.push(match record {
                Record::Message(m) => m.id,
                Record::OutOfScope(o) => o.id,
                Record::Complete(c) => c.cursor,
                Record::Space(s) => s.id,
                Record::Manifest(m) => m.generator,
            });
            Ok(())
        }
    }

    #[test]
    fn lines_cut_anywhere_arrive_whole_and_in_order() {
        let text = concat!(
            r#"{"type":"out_of_scope","id":"a","space_id":"s"}"#,
            "\n",
            r#"{"type":"out_of_scope","id":"b","space_id":"s"}"#,
            "\n",
            r#"{"type":"complete","counts":{},"cursor":"c","sha256":"x"}"#,
            "\n"
        );
        for cut in 1..text.len() {
            let mut ids = Ids::default();
            let mut lines = RecordLines::new(&mut ids);
            lines.write_all(&text.as_bytes()[..cut]).unwrap();
            lines.write_all(&text.as_bytes()[cut..]).unwrap();
            drop(lines);
            assert_eq!(ids.0, ["a", "b", "c"], "cut at {cut}");
        }
    }

    #[test]
    fn a_line_that_is_not_a_record_is_an_error_naming_it() {
        let mut ids = Ids::default();
        let mut lines = RecordLines::new(&mut ids);
        let e = lines.write_all(b"{\"type\":\"nonsense\"}\n").unwrap_err();
        assert!(e.to_string().contains("nonsense"), "{e}");
    }
}
