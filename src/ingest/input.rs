//! Reading recorded payloads: JSON lines, raw socket frames one per line, one JSON
//! array (on one line or pretty-printed), or one pretty-printed payload object. Each
//! record becomes an [`Item`]; a record that cannot be archived becomes a rejection
//! naming its source and line, and reading goes on.

use crate::chain::sha256;
use std::io::{self, BufRead};

use serde_json::value::RawValue;

use crate::event::{decode_json, decode_line, DecodeError, Decoded};
use crate::store::{compress, Item, Rejection, Source, StoredEvent};

/// Longest line kept; the rest of a longer line is read and dropped (the rejection
/// still records its full length).
pub const MAX_LINE_KEPT: usize = 16 << 20;

/// Largest whole JSON document (array or pretty-printed object) read.
pub const MAX_DOCUMENT: usize = 1 << 30;

/// What reading one input found, besides the items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// Records read (lines, array elements, documents).
    pub read: u64,
    /// Socket frames without a payload (pings, other events).
    pub ignored: u64,
}

/// Reads one named input, passing each item to `emit` and each chunk of consumed
/// bytes to `progress`.
pub fn read_input(
    name: &str,
    mut reader: impl BufRead,
    emit: &mut dyn FnMut(Item),
    progress: &dyn Fn(u64),
) -> io::Result<ReadCounts> {
    let mut counts = ReadCounts::default();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        let Some(len) = read_line(&mut reader, &mut line)? else {
            return Ok(counts);
        };
        progress(len as u64);
        line_no += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        if counts.read == 0 && is_document(trimmed, &mut reader)? {
            return read_document(name, line_no, line, reader, emit, progress, counts);
        }
        counts.read += 1;
        let result = if len > MAX_LINE_KEPT {
            Err(DecodeError::TooLarge(len))
        } else {
            decode_line(trimmed)
        };
        record(name, Some(line_no), trimmed, len, result, emit, &mut counts);
    }
}

/// Whether the first non-empty line starts a whole-input JSON document: a value spread
/// over lines (a pretty-printed array or object), or an array alone on the only line.
fn is_document(first: &[u8], reader: &mut impl BufRead) -> io::Result<bool> {
    if !first.starts_with(b"[") && !first.starts_with(b"{") {
        return Ok(false);
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(first).is_err() {
        return Ok(true);
    }
    Ok(first.starts_with(b"[") && reader.fill_buf()?.iter().all(u8::is_ascii_whitespace))
}

#[allow(clippy::too_many_arguments)]
fn read_document(
    name: &str,
    first_line: u64,
    mut text: Vec<u8>,
    mut reader: impl BufRead,
    emit: &mut dyn FnMut(Item),
    progress: &dyn Fn(u64),
    mut counts: ReadCounts,
) -> io::Result<ReadCounts> {
    text.push(b'\n');
    let before = text.len();
    io::Read::read_to_end(
        &mut io::Read::take(&mut reader, MAX_DOCUMENT as u64),
        &mut text,
    )?;
    progress((text.len() - before) as u64);
    let doc = match std::str::from_utf8(&text) {
        Ok(doc) => doc,
        Err(e) => {
            counts.read += 1;
            record(
                name,
                Some(first_line),
                &text,
                text.len(),
                Err(DecodeError::NotUtf8(e.valid_up_to())),
                emit,
                &mut counts,
            );
            return Ok(counts);
        }
    };
    let trimmed = doc.trim_start();
    if trimmed.starts_with('{') {
        counts.read += 1;
        record(
            name,
            Some(first_line),
            doc.trim().as_bytes(),
            doc.len(),
            decode_json(doc),
            emit,
            &mut counts,
        );
        return Ok(counts);
    }
    match serde_json::from_str::<Vec<&RawValue>>(doc) {
        Ok(elements) => {
            for element in elements {
                counts.read += 1;
                let offset = element.get().as_ptr() as usize - doc.as_ptr() as usize;
                let line =
                    first_line + doc[..offset].bytes().filter(|b| *b == b'\n').count() as u64;
                let raw = element.get();
                record(
                    name,
                    Some(line),
                    raw.as_bytes(),
                    raw.len(),
                    decode_json(raw),
                    emit,
                    &mut counts,
                );
            }
        }
        Err(e) => {
            counts.read += 1;
            let line = first_line + e.line().saturating_sub(1) as u64;
            let reason = DecodeError::NotJson(format!("JSON array document: {e}"));
            record(
                name,
                Some(line),
                doc.trim().as_bytes(),
                doc.len(),
                Err(reason),
                emit,
                &mut counts,
            );
        }
    }
    Ok(counts)
}

fn record(
    name: &str,
    line: Option<u64>,
    raw: &[u8],
    raw_len: usize,
    result: Result<Decoded<'_>, DecodeError>,
    emit: &mut dyn FnMut(Item),
    counts: &mut ReadCounts,
) {
    let received_at = crate::event::time::now_millis();
    match result {
        Ok(Decoded::Payload { raw, payload }) => emit(Item::Event(Box::new(StoredEvent {
            received_at,
            source: Source::Import,
            raw: compress(raw.as_bytes()),
            sha256: sha256(raw.as_bytes()),
            decoded: *payload,
        }))),
        Ok(Decoded::Ignored(_)) => counts.ignored += 1,
        Err(reason) => emit(Item::Rejected(Rejection {
            received_at,
            source: Source::Import,
            source_name: name.to_string(),
            line,
            reason: reason.to_string(),
            raw_len: raw_len as u64,
            raw: compress(&raw[..raw.len().min(MAX_LINE_KEPT)]),
            sha256: sha256(&raw[..raw.len().min(MAX_LINE_KEPT)]),
        })),
    }
}

/// Reads one line into `buf` (without the newline), keeping at most
/// [`MAX_LINE_KEPT`] bytes. Returns the line's full length, `None` at the end.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0usize;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(total));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], i + 1),
            None => (chunk, chunk.len()),
        };
        let room = MAX_LINE_KEPT.saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        total += part.len();
        let found_newline = done > part.len();
        reader.consume(done);
        if found_newline {
            return Ok(Some(total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (ReadCounts, Vec<Item>) {
        let mut items = Vec::new();
        let counts = read_input("t", text.as_bytes(), &mut |i| items.push(i), &|_| {}).unwrap();
        (counts, items)
    }

    fn rejections(items: &[Item]) -> Vec<(Option<u64>, String)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Rejected(r) => Some((r.line, r.reason.clone())),
                Item::Event(_) | Item::File(_) => None,
            })
            .collect()
    }

    const CHAT: &str =
        r#"{"category":"chat","_id":"m1","topicId":"s1","content":{"bodyText":"hi"}}"#;

    #[test]
    fn json_lines_with_bad_lines() {
        let text = format!("{CHAT}\nnot json\n\n[1]\n{}\n", CHAT.replace("m1", "m2"));
        let (counts, items) = read(&text);
        assert_eq!(counts.read, 4);
        assert_eq!(items.len(), 4);
        let rejected = rejections(&items);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].0, Some(2));
        assert_eq!(
            rejected[1],
            (
                Some(4),
                "JSON an array where a payload object was expected".into()
            )
        );
    }

    #[test]
    fn arrays_on_one_line_and_pretty_printed() {
        let (counts, items) = read(&format!("[{CHAT},{CHAT}]\n"));
        assert_eq!((counts.read, items.len()), (2, 2));
        let pretty = format!("[\n  {CHAT},\n  42\n]\n");
        let (counts, items) = read(&pretty);
        assert_eq!(counts.read, 2);
        assert_eq!(
            rejections(&items),
            vec![(
                Some(3),
                "JSON a number where a payload object was expected".into()
            )]
        );
        let (counts, items) = read("{\n \"category\": \"chat\",\n \"_id\": \"x\"\n}\n");
        assert_eq!((counts.read, rejections(&items).len()), (1, 0));
    }

    #[test]
    fn frames_and_control_frames() {
        let text = format!("0{{\"sid\":\"a\"}}\n40/chat\n42/chat,[\"MESSAGE_SENT\",{CHAT}]\n2\n");
        let (counts, items) = read(&text);
        assert_eq!((counts.read, counts.ignored, items.len()), (4, 3, 1));
        let Item::Event(e) = &items[0] else {
            panic!("not an event")
        };
        assert_eq!(crate::store::decompress(&e.raw).unwrap(), CHAT.as_bytes());
    }

    #[test]
    fn an_overlong_line_is_rejected_with_its_length() {
        let long = format!(
            "{{\"category\":\"chat\",\"_id\":\"x\",\"pad\":\"{}\"}}",
            "a".repeat(2 << 20)
        );
        let (counts, items) = read(&format!("{CHAT}\n{long}\n{CHAT}\n"));
        assert_eq!(counts.read, 3);
        let rejected = rejections(&items);
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].1.contains("payload limit"), "{rejected:?}");
    }
}
