//! The Engine.IO client over a websocket (no long-polling), v3 as Avaya's socket.io
//! 2.x server speaks it and v4: the handshake, the namespace connect carrying the
//! token, and sending and receiving text frames. The session loop (heartbeats,
//! subscriptions) is in [`super::subscriber`]; frame parsing is shared with
//! `ingest` in [`crate::event::frame`].

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::auth::Token;
use crate::event::frame::{parse_frame, EnginePacket};

/// Engine.IO protocol revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Engine.IO 3 (socket.io 2.x, Avaya Spaces): the client pings.
    V3,
    /// Engine.IO 4 (socket.io 3 and later): the server pings.
    V4,
}

impl Protocol {
    fn eio(self) -> &'static str {
        match self {
            Protocol::V3 => "3",
            Protocol::V4 => "4",
        }
    }
}

/// The server's handshake values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInfo {
    /// Session id.
    pub sid: String,
    /// Heartbeat interval.
    pub ping_interval: Duration,
    /// How long a heartbeat answer may take.
    pub ping_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenJson {
    sid: String,
    ping_interval: u64,
    ping_timeout: u64,
}

/// Why a connection could not be made. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server URL cannot carry a websocket.
    #[error("server URL {0} is not http(s):// or ws(s)://")]
    Url(String),
    /// Nothing within the connect timeout.
    #[error("no answer from {0} within {1:?}")]
    Timeout(String, Duration),
    /// The websocket failed.
    #[error("websocket to {server}: {reason}")]
    Websocket {
        /// Server base URL.
        server: String,
        /// Why (token scrubbed).
        reason: String,
    },
    /// The server did not speak Engine.IO as expected.
    #[error("bad handshake from {server}: {reason}")]
    Handshake {
        /// Server base URL.
        server: String,
        /// What was wrong.
        reason: String,
    },
    /// The namespace connect was refused (bad token, unknown namespace).
    #[error("{server} refused namespace {namespace}: {reason}")]
    Refused {
        /// Server base URL.
        server: String,
        /// The namespace.
        namespace: String,
        /// The server's reason (token scrubbed).
        reason: String,
    },
}

/// An open Engine.IO session with the namespace connected.
pub struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The handshake values.
    pub open: OpenInfo,
    /// The revision spoken.
    pub protocol: Protocol,
    /// The namespace as the server acknowledged it, e.g. `/chat` (it may hold the
    /// connect query, and so the token: never show it).
    pub namespace: String,
}

/// What a receive produced.
#[derive(Debug)]
pub enum Received {
    /// A text frame.
    Text(String),
    /// The peer closed the websocket (or the stream ended).
    Closed(String),
}

/// The websocket URL for `server` (path `/socket.io/`, the token in the query).
fn socket_url(server: &Url, protocol: Protocol, token: &Token) -> Result<Url, ConnectError> {
    let mut url = server.clone();
    let scheme = match server.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(ConnectError::Url(server.to_string())),
    };
    url.set_scheme(scheme)
        .map_err(|_| ConnectError::Url(server.to_string()))?;
    let path = format!("{}/socket.io/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(Some(&format!(
        "{}&EIO={}&transport=websocket",
        token.query(),
        protocol.eio()
    )));
    Ok(url)
}

/// Connects, reads the handshake and connects `namespace` with the token, all
/// within `limit`.
pub async fn connect(
    server: &Url,
    protocol: Protocol,
    namespace: &str,
    token: &Token,
    limit: Duration,
) -> Result<Connection, ConnectError> {
    super::install_crypto();
    let shown = server.to_string();
    match timeout(limit, connect_inner(server, protocol, namespace, token)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Timeout(shown, limit)),
    }
}

async fn connect_inner(
    server: &Url,
    protocol: Protocol,
    namespace: &str,
    token: &Token,
) -> Result<Connection, ConnectError> {
    let shown = server.to_string();
    let url = socket_url(server, protocol, token)?;
    let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| ConnectError::Websocket {
            server: shown.clone(),
            reason: token.scrub(&e.to_string()),
        })?;
    let mut conn = Connection {
        ws,
        open: OpenInfo {
            sid: String::new(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
        },
        protocol,
        namespace: namespace.to_string(),
    };
    let handshake = |reason: String| ConnectError::Handshake {
        server: shown.clone(),
        reason: token.scrub(&reason),
    };
    let first = match conn.recv().await {
        Received::Text(text) => text,
        Received::Closed(why) => {
            return Err(handshake(format!("closed before the handshake: {why}")))
        }
    };
    let Ok(EnginePacket::Open(json)) = parse_frame(&first) else {
        return Err(handshake(format!(
            "expected an open packet, got {}",
            preview(&first)
        )));
    };
    let open: OpenJson =
        serde_json::from_str(json).map_err(|e| handshake(format!("open packet: {e}")))?;
    conn.open = OpenInfo {
        sid: open.sid,
        ping_interval: Duration::from_millis(open.ping_interval.max(100)),
        ping_timeout: Duration::from_millis(open.ping_timeout.max(100)),
    };
    let connect_packet = match protocol {
        Protocol::V3 => format!("40{namespace}?{},", token.query()),
        Protocol::V4 => format!("40{namespace},{}", token.auth_json()),
    };
    conn.send(connect_packet)
        .await
        .map_err(|e| ConnectError::Websocket {
            server: shown.clone(),
            reason: token.scrub(&e),
        })?;
    loop {
        let text = match conn.recv().await {
            Received::Text(text) => text,
            Received::Closed(why) => {
                return Err(handshake(format!("closed during namespace connect: {why}")))
            }
        };
        match parse_frame(&text) {
            Ok(EnginePacket::Message(p)) if same_namespace(p.namespace, namespace) => {
                match p.kind {
                    0 => {
                        // Speak to the namespace as the server named it: socket.io 2 strips
                        // the connect query ("/chat"), some servers keep it.
                        conn.namespace = p.namespace.to_string();
                        return Ok(conn);
                    }
                    4 => {
                        return Err(ConnectError::Refused {
                            server: shown,
                            namespace: namespace.into(),
                            reason: token.scrub(p.data),
                        })
                    }
                    _ => {}
                }
            }
            Ok(EnginePacket::Ping(data)) => {
                let _ = conn.send(format!("3{data}")).await;
            }
            // The root namespace's connect (v3), a noop: wait on.
            Ok(_) => {}
            Err(e) => return Err(handshake(format!("during namespace connect: {e}"))),
        }
    }
}

/// Whether a packet's namespace is `ours` (some servers echo the connect query).
pub fn same_namespace(theirs: &str, ours: &str) -> bool {
    theirs == ours || theirs.split_once('?').is_some_and(|(ns, _)| ns == ours)
}

/// The first characters of a frame, for messages.
pub fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(60).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

impl Connection {
    /// Sends one text frame.
    pub async fn send(&mut self, text: String) -> Result<(), String> {
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| e.to_string())
    }

    /// Receives the next text frame (binary frames are passed on as lossy text,
    /// websocket pings are answered by tungstenite).
    pub async fn recv(&mut self) -> Received {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Received::Text(text.as_str().to_owned()),
                Some(Ok(Message::Binary(bytes))) => {
                    return Received::Text(String::from_utf8_lossy(&bytes).into_owned())
                }
                Some(Ok(Message::Close(frame))) => {
                    return Received::Closed(
                        frame.map_or("closed".into(), |f| format!("closed ({})", f.code)),
                    )
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Received::Closed(e.to_string()),
                None => return Received::Closed("stream ended".into()),
            }
        }
    }

    /// Closes the namespace and the websocket politely.
    pub async fn close(mut self) {
        let goodbye = format!("41{},", self.namespace);
        let _ = self.send(goodbye).await;
        let _ = self.send("1".into()).await;
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spaces::auth::TokenType;

    #[test]
    fn builds_the_socket_url_with_the_token() {
        let token = Token::new(TokenType::Jwt, "abc", "test").unwrap();
        let server = Url::parse("https://spacesapis-socket.avayacloud.com").unwrap();
        let url = socket_url(&server, Protocol::V3, &token).unwrap();
        assert_eq!(
            url.as_str(),
            "wss://spacesapis-socket.avayacloud.com/socket.io/?tokenType=jwt&token=abc&EIO=3&transport=websocket"
        );
        let local = Url::parse("http://127.0.0.1:9000/base/").unwrap();
        let url = socket_url(&local, Protocol::V4, &token).unwrap();
        assert!(url
            .as_str()
            .starts_with("ws://127.0.0.1:9000/base/socket.io/?"));
        assert!(url.as_str().ends_with("EIO=4&transport=websocket"));
        assert!(socket_url(&Url::parse("ftp://x").unwrap(), Protocol::V3, &token).is_err());
    }

    #[test]
    fn matches_namespaces_with_an_echoed_query() {
        assert!(same_namespace("/chat", "/chat"));
        assert!(same_namespace("/chat?token=x", "/chat"));
        assert!(!same_namespace("/chatter", "/chat"));
        assert!(!same_namespace("/", "/chat"));
    }
}
