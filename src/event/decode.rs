//! One input record (a JSON line, an array element, a socket frame) to a payload the
//! writer can archive, or the reason it cannot be archived.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use serde_json::value::RawValue;

use super::frame::{parse_frame, EnginePacket, FrameError};
use super::payload::{read_payload, Payload, PayloadError};
use super::surrogates::from_str_lenient;

/// Largest payload accepted: 64 times the 16 KB Avaya allows per event.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// A payload read from one record.
#[derive(Debug, Clone)]
pub struct DecodedPayload {
    /// The `category` as sent.
    pub category: String,
    /// What the normalizer needs.
    pub payload: Payload,
    /// Digest of the payload's canonical JSON (keys sorted, no white space): equal for
    /// the same payload however it was formatted or framed.
    pub digest: [u8; 16],
    /// Fields that were wrongly typed, coerced or ignored.
    pub warnings: Vec<String>,
    /// The space the payload belongs to, when it names one (any category).
    pub space_id: Option<String>,
}

impl DecodedPayload {
    /// The message the payload is about, for message events.
    pub fn message_id(&self) -> Option<&str> {
        match &self.payload {
            Payload::Message(m) => Some(&m.id),
            _ => None,
        }
    }
}

/// What one record turned out to be.
#[derive(Debug, Clone)]
pub enum Decoded<'a> {
    /// A payload to archive, with its text exactly as received.
    Payload {
        /// The payload's own JSON text (inside the frame, for a socket frame).
        raw: &'a str,
        /// The decoded payload.
        payload: Box<DecodedPayload>,
    },
    /// A socket frame that carries no payload (ping, connect, another event).
    Ignored(String),
}

/// Why a record cannot be archived; the text is the reason stored with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Bytes that are not UTF-8.
    #[error("not valid UTF-8 (first bad byte at offset {0})")]
    NotUtf8(usize),
    /// Over [`MAX_PAYLOAD_BYTES`].
    #[error("record is {0} bytes, over the {MAX_PAYLOAD_BYTES}-byte payload limit")]
    TooLarge(usize),
    /// Not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("JSON {0} where a payload object was expected")]
    NotObject(&'static str),
    /// A socket frame that does not parse.
    #[error("bad socket frame: {0}")]
    Frame(#[from] FrameError),
    /// An object that is not a usable payload.
    #[error("{0}")]
    Payload(#[from] PayloadError),
}

/// Decodes one line of input: a socket frame when it starts with a digit, JSON otherwise.
pub fn decode_line(bytes: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8(e.valid_up_to()))?;
    let text = text.trim();
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        decode_frame(text)
    } else {
        decode_json(text)
    }
}

/// Decodes a socket frame; only `MESSAGE_SENT` events carry payloads.
pub fn decode_frame(text: &str) -> Result<Decoded<'_>, DecodeError> {
    let EnginePacket::Message(packet) = parse_frame(text)? else {
        return Ok(Decoded::Ignored("Engine.IO control frame".into()));
    };
    if packet.kind != 2 {
        return Ok(Decoded::Ignored(format!(
            "Socket.IO packet type {}",
            packet.kind
        )));
    }
    let args = split_event(packet.data)?;
    let name: String = serde_json::from_str(args[0].get())
        .map_err(|_| FrameError::EventData("first element is not a string".into()))?;
    if name != "MESSAGE_SENT" {
        return Ok(Decoded::Ignored(format!("socket event {name}")));
    }
    let payload = args
        .get(1)
        .ok_or_else(|| FrameError::EventData("MESSAGE_SENT without a payload".into()))?;
    decode_json(payload.get())
}

/// The elements of an event's JSON array, as their raw text.
fn split_event(data: &str) -> Result<Vec<&RawValue>, FrameError> {
    let args: Vec<&RawValue> =
        serde_json::from_str(data).map_err(|e| FrameError::EventData(e.to_string()))?;
    if args.is_empty() {
        return Err(FrameError::EventData("empty array".into()));
    }
    Ok(args)
}

/// Decodes the JSON text of one payload.
pub fn decode_json(text: &str) -> Result<Decoded<'_>, DecodeError> {
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge(text.len()));
    }
    // A lone surrogate escape (`"\ud83d"`, from a string cut inside an emoji) is read
    // as U+FFFD; the raw text stays as received.
    let (value, lone): (Value, Vec<u16>) =
        from_str_lenient(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(DecodeError::NotObject(super::fields::type_name(&value)));
    };
    let mut payload = decode_object(&obj)?;
    if !lone.is_empty() {
        payload.digest = digest_with_lone_surrogates(&obj, &lone);
    }
    Ok(Decoded::Payload {
        raw: text.trim(),
        payload: Box::new(payload),
    })
}

/// Decodes a payload object.
pub fn decode_object(obj: &Map<String, Value>) -> Result<DecodedPayload, DecodeError> {
    let mut warnings = Vec::new();
    let (category, payload) = read_payload(obj, &mut warnings)?;
    let space_id = match &payload {
        Payload::Message(m) => m.space.as_ref().map(|s| s.id.clone()),
        Payload::Space(s) => Some(s.id.clone()),
        Payload::ReadMarker(r) => Some(r.space_id.clone()),
        Payload::Preference(p) => Some(p.space_id.clone()),
        Payload::Unknown => obj
            .get("topicId")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    Ok(DecodedPayload {
        space_id,
        category,
        payload,
        digest: canonical_digest(obj),
        warnings,
    })
}

/// The first 16 bytes of the SHA-256 of the object's canonical JSON.
pub fn canonical_digest(obj: &Map<String, Value>) -> [u8; 16] {
    // serde_json's Map is ordered by key (no `preserve_order`), so this is canonical.
    let canonical = serde_json::to_vec(obj).unwrap_or_default();
    truncate(Sha256::digest(&canonical).as_slice())
}

/// The digest of a payload whose lone surrogates were read as U+FFFD: its canonical
/// JSON and the surrogates replaced (sorted, so it does not depend on the key
/// order), so that two payloads differing only in those are not taken for the same.
fn digest_with_lone_surrogates(obj: &Map<String, Value>, lone: &[u16]) -> [u8; 16] {
    let mut units = lone.to_vec();
    units.sort_unstable();
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(obj).unwrap_or_default());
    hash.update(b"\0lone surrogates:");
    for unit in units {
        hash.update(unit.to_be_bytes());
    }
    truncate(hash.finalize().as_slice())
}

fn truncate(hash: &[u8]) -> [u8; 16] {
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&hash[..16]);
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &[u8]) -> String {
        decode_line(line).unwrap_err().to_string()
    }

    #[test]
    fn same_payload_same_digest_whatever_the_formatting() {
        let a = br#"{"category":"chat","_id":"m1","content":{"bodyText":"x"}}"#;
        let b =
            b"{ \"_id\": \"m1\",\n \"content\": {\"bodyText\": \"x\"}, \"category\": \"chat\" }";
        let c = br#"42/chat,["MESSAGE_SENT",{"_id":"m1","category":"chat","content":{"bodyText":"x"}}]"#;
        let digest = |line: &[u8]| match decode_line(line).unwrap() {
            Decoded::Payload { payload, .. } => payload.digest,
            Decoded::Ignored(why) => panic!("ignored: {why}"),
        };
        assert_eq!(digest(a), digest(b));
        assert_eq!(digest(a), digest(c));
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(reason(b"not json").starts_with("not JSON"));
        assert_eq!(
            reason(b"[1,2]"),
            "JSON an array where a payload object was expected"
        );
        assert_eq!(reason(br#"{"x":1}"#), "payload has no \"category\" field");
        assert!(reason(br#"{"category":"chat"}"#).contains("no message id"));
        assert!(reason(b"{\"a\":\"\xff\"}").contains("UTF-8"));
        assert!(reason(&vec![b' '; MAX_PAYLOAD_BYTES + 1]).contains("limit"));
        assert!(reason(br#"42/chat,["MESSAGE_SENT"]"#).contains("without a payload"));
    }

    /// What `JSON.stringify` writes for a string cut inside an emoji is archived:
    /// the raw text as received, U+FFFD in the text.
    #[test]
    fn a_lone_surrogate_is_read_as_the_replacement_character() {
        let line = r#"{"category":"chat","_id":"m1","content":{"bodyText":"cut \ud83d"}}"#;
        let (raw, payload) = match decode_line(line.as_bytes()).unwrap() {
            Decoded::Payload { raw, payload } => (raw, payload),
            Decoded::Ignored(why) => panic!("ignored: {why}"),
        };
        assert_eq!(raw, line);
        let Payload::Message(message) = &payload.payload else {
            panic!("not a message");
        };
        assert_eq!(message.content.text.as_deref(), Some("cut \u{FFFD}"));
        let frame = format!("42/chat,[\"MESSAGE_SENT\",{line}]");
        assert!(matches!(
            decode_line(frame.as_bytes()),
            Ok(Decoded::Payload { raw, .. }) if raw == line
        ));
        // Another lone surrogate, another payload; the same one reformatted, the same.
        let digest = |line: &str| match decode_line(line.as_bytes()).unwrap() {
            Decoded::Payload { payload, .. } => payload.digest,
            Decoded::Ignored(why) => panic!("ignored: {why}"),
        };
        let other = line.replace("ud83d", "ud83e");
        assert_ne!(digest(line), digest(&other));
        let replaced = line.replace("\\ud83d", "\u{FFFD}");
        assert_ne!(digest(line), digest(&replaced));
        let spaced = line.replace(',', ", ");
        assert_eq!(digest(line), digest(&spaced));
    }

    #[test]
    fn control_frames_and_other_events_are_ignored() {
        for line in [
            &b"2"[..],
            b"40/chat",
            br#"42/chat,["CHANNEL_SUBSCRIBED",{}]"#,
        ] {
            assert!(
                matches!(decode_line(line), Ok(Decoded::Ignored(_))),
                "{line:?}"
            );
        }
    }
}
