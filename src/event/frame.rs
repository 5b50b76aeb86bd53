//! Engine.IO (v3 and v4) and Socket.IO packet text, as it crosses the websocket:
//! `0{…}` open, `2`/`3` ping/pong, `42/chat,["MESSAGE_SENT",{…}]` an event. Parsing
//! only; the socket client and `ingest` of recorded frames share it.

use serde_json::Value;

/// An Engine.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub enum EnginePacket<'a> {
    /// `0` and the handshake JSON.
    Open(&'a str),
    /// `1`.
    Close,
    /// `2` with optional data.
    Ping(&'a str),
    /// `3` with optional data.
    Pong(&'a str),
    /// `4`: a Socket.IO packet.
    Message(SocketPacket<'a>),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

/// A Socket.IO packet inside an Engine.IO message.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketPacket<'a> {
    /// 0 connect, 1 disconnect, 2 event, 3 ack, 4 error, 5 binary event, 6 binary ack.
    pub kind: u8,
    /// Namespace, `/` when absent.
    pub namespace: &'a str,
    /// Acknowledgement id.
    pub ack: Option<u64>,
    /// The JSON data that follows, possibly empty.
    pub data: &'a str,
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Empty text.
    #[error("empty frame")]
    Empty,
    /// First character is not an Engine.IO packet type.
    #[error("unknown Engine.IO packet type {0:?}")]
    EngineType(char),
    /// Socket.IO packet type missing or unknown.
    #[error("unknown Socket.IO packet type in {0:?}")]
    SocketType(String),
    /// An event packet whose data is not a JSON array starting with a name.
    #[error("event data is not a JSON array starting with an event name: {0}")]
    EventData(String),
}

/// Parses one websocket text frame.
pub fn parse_frame(text: &str) -> Result<EnginePacket<'_>, FrameError> {
    let mut chars = text.chars();
    let first = chars.next().ok_or(FrameError::Empty)?;
    let rest = &text[first.len_utf8()..];
    Ok(match first {
        '0' => EnginePacket::Open(rest),
        '1' => EnginePacket::Close,
        '2' => EnginePacket::Ping(rest),
        '3' => EnginePacket::Pong(rest),
        '4' => EnginePacket::Message(parse_socket_packet(rest)?),
        '5' => EnginePacket::Upgrade,
        '6' => EnginePacket::Noop,
        other => return Err(FrameError::EngineType(other)),
    })
}

fn parse_socket_packet(text: &str) -> Result<SocketPacket<'_>, FrameError> {
    let kind =
        text.chars()
            .next()
            .and_then(|c| c.to_digit(10))
            .filter(|d| *d <= 6)
            .ok_or_else(|| FrameError::SocketType(text.chars().take(20).collect()))? as u8;
    let mut rest = &text[1..];
    if kind == 5 || kind == 6 {
        // Binary packets carry an attachment count and '-' before the namespace.
        if let Some(dash) = rest.find('-') {
            rest = &rest[dash + 1..];
        }
    }
    let mut namespace = "/";
    if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        namespace = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack = rest[..digits].parse().ok();
    Ok(SocketPacket {
        kind,
        namespace,
        ack,
        data: &rest[digits..],
    })
}

/// Splits event data `["NAME", arg…]` into the name and its arguments.
pub fn parse_event(data: &str) -> Result<(String, Vec<Value>), FrameError> {
    let bad = |why: &str| FrameError::EventData(why.to_string());
    let (value, _): (Value, _) =
        super::surrogates::from_str_lenient(data).map_err(|e| bad(&e.to_string()))?;
    let Value::Array(mut items) = value else {
        return Err(bad("not an array"));
    };
    if items.is_empty() {
        return Err(bad("empty array"));
    }
    match items.remove(0) {
        Value::String(name) => Ok((name, items)),
        _ => Err(bad("first element is not a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_avaya_frames() {
        let frame = r#"42/chat,["MESSAGE_SENT",{"category":"chat"}]"#;
        let EnginePacket::Message(p) = parse_frame(frame).unwrap() else {
            panic!("not a message")
        };
        assert_eq!((p.kind, p.namespace, p.ack), (2, "/chat", None));
        let (name, args) = parse_event(p.data).unwrap();
        assert_eq!(name, "MESSAGE_SENT");
        assert_eq!(args[0]["category"], "chat");
    }

    #[test]
    fn reads_control_frames() {
        assert_eq!(parse_frame("2").unwrap(), EnginePacket::Ping(""));
        assert_eq!(parse_frame("3probe").unwrap(), EnginePacket::Pong("probe"));
        assert!(matches!(
            parse_frame(r#"0{"sid":"x"}"#).unwrap(),
            EnginePacket::Open(_)
        ));
        let EnginePacket::Message(p) = parse_frame("40/chat").unwrap() else {
            panic!()
        };
        assert_eq!((p.kind, p.namespace, p.data), (0, "/chat", ""));
        let EnginePacket::Message(p) = parse_frame(r#"4212["x"]"#).unwrap() else {
            panic!()
        };
        assert_eq!((p.namespace, p.ack, p.data), ("/", Some(12), r#"["x"]"#));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert_eq!(parse_frame(""), Err(FrameError::Empty));
        assert!(parse_frame("9").is_err());
        assert!(parse_frame("4").is_err());
        assert!(parse_frame("4x").is_err());
        assert!(parse_event("{}").is_err());
        assert!(parse_event("[1]").is_err());
        assert!(parse_event("[").is_err());
        assert!(parse_frame("4é").is_err());
        let _ = parse_frame("42/chat");
    }
}
