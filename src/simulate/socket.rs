//! The simulator's socket side on socketioxide (its `v4` feature speaks the socket.io
//! 2 protocol, Engine.IO v3, beside v4): the `/chat` namespace with the token
//! check, `SUBSCRIBE_CHANNEL` answered with `CHANNEL_SUBSCRIBED` or (for a refused
//! space) `SUBSCRIBE_CHANNEL_FAILED`, and `MESSAGE_SENT` to the subscribers of a
//! payload's space.
//!
//! socketioxide keeps the query of a v3 namespace connect (`/chat?token=…`) in the
//! namespace name, where socket.io 2 strips it; the namespace is therefore matched
//! dynamically and the token read from that query (or from the v4 `auth` object).

use std::collections::BTreeSet;
use std::sync::Arc;

use std::time::Duration;

use serde_json::Value;
use socketioxide::extract::{Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::{SendError, SocketError, SocketIo};

use super::Shared;

/// Connect-time refusal.
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

/// The token a connect carries: the namespace query (v3) or the `auth` object (v4).
fn token_of(ns: &str, auth: &Value) -> Option<String> {
    if let Some(token) = auth.get("token").and_then(Value::as_str) {
        return Some(token.to_string());
    }
    let (_, query) = ns.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Registers the namespaces and handlers on `io`.
pub fn install(io: &SocketIo, shared: Arc<Shared>) {
    io.ns("/", async |_: SocketRef| {});
    let check = shared.clone();
    let auth = move |socket: SocketRef, TryData(auth): TryData<Value>| {
        let shared = check.clone();
        async move {
            let ns = socket.ns().to_string();
            if ns != "/chat" && !ns.starts_with("/chat?") {
                return Err(Refused("unknown namespace"));
            }
            if shared.is_down() {
                return Err(Refused("service unavailable"));
            }
            // The namespace of a v3 connect holds the token: the log line is
            // scrubbed of it (`simulate` registers its token), like every other.
            match token_of(&ns, &auth.unwrap_or(Value::Null)) {
                Some(token) if shared.accepts(&token) => {
                    tracing::debug!(socket = %socket.id, namespace = ns, "connect accepted");
                    Ok(())
                }
                _ => {
                    tracing::debug!(socket = %socket.id, namespace = ns, "connect refused: bad token");
                    Err(Refused("Authentication error"))
                }
            }
        }
    };
    let on_connect = move |socket: SocketRef| {
        let shared = shared.clone();
        async move {
            shared
                .namespaces
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(socket.ns().to_string());
            let subscribe = shared.clone();
            socket.on(
                "SUBSCRIBE_CHANNEL",
                async move |socket: SocketRef, Data(request): Data<Value>| {
                    subscribe_channel(&subscribe, &socket, request);
                },
            );
        }
    };
    // The pattern cannot fail to insert on a fresh io.
    let _ = io.dyn_ns("/{*rest}", on_connect.with(auth));
}

fn subscribe_channel(shared: &Shared, socket: &SocketRef, request: Value) {
    let channel = request.get("channel").cloned().unwrap_or(Value::Null);
    let Some(space) = channel
        .get("_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        let _ = socket.emit(
            "SUBSCRIBE_CHANNEL_FAILED",
            &serde_json::json!({ "channel": channel, "error": { "code": "invalid.parameters", "message": "channel._id is missing" } }),
        );
        return;
    };
    if shared.options.refuse.contains(&space) {
        let _ = socket.emit(
            "SUBSCRIBE_CHANNEL_FAILED",
            &serde_json::json!({ "channel": channel, "error": { "code": "forbidden", "message": "subscription refused for this space" } }),
        );
        return;
    }
    socket.join(space.clone());
    let _ = socket.emit(
        "CHANNEL_SUBSCRIBED",
        &serde_json::json!({ "channel": { "_id": space, "type": "topic" }, "dtsid": socket.id.to_string(), "sessionId": socket.id.to_string() }),
    );
    shared.subscribed.notify_waiters();
}

/// Sends `payload` to every socket subscribed to `room`, or to every socket. A
/// socket whose send buffer is full is waited for (as a real server's socket
/// buffers), never skipped: the stream's pace adapts to the slowest reader.
pub async fn broadcast(
    io: &SocketIo,
    namespaces: &BTreeSet<String>,
    room: Option<&str>,
    value: &Value,
) {
    // A `Value`, not the raw text: socketioxide serializes through its own value
    // type, which cannot carry a `RawValue`.
    for ns in namespaces {
        let Some(ops) = io.of(ns) else { continue };
        let sockets = match room {
            Some(room) => ops.to(room.to_string()).sockets(),
            None => ops.sockets(),
        };
        for socket in sockets {
            send_waiting(&socket, value).await;
        }
    }
}

/// One `MESSAGE_SENT`, retried while the socket's buffer is full.
async fn send_waiting(socket: &SocketRef, value: &Value) {
    let mut waited = Duration::ZERO;
    let mut tries: u32 = 0;
    loop {
        match socket.emit("MESSAGE_SENT", value) {
            Err(SendError::Socket(SocketError::InternalChannelFull)) if waited < STALL_LIMIT => {
                // Yield first (the buffer drains in microseconds when the reader
                // keeps up); sleep only when it does not.
                tries += 1;
                if tries.is_multiple_of(64) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    waited += Duration::from_millis(1);
                } else {
                    tokio::task::yield_now().await;
                }
            }
            Err(e) => {
                tracing::warn!(socket = %socket.id, "cannot send a payload: {e}");
                return;
            }
            Ok(()) => return,
        }
    }
}

/// A reader this far behind is left to its fate (its server would drop it too).
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// Puts every socket in `room`.
pub fn join_all(io: &SocketIo, namespaces: &BTreeSet<String>, room: &str) {
    for ns in namespaces {
        if let Some(ops) = io.of(ns) {
            for socket in ops.sockets() {
                socket.join(room.to_string());
            }
        }
    }
}

/// Sends a frame that is not valid Socket.IO event data to every socket (fault).
pub async fn garbage(io: &SocketIo, namespaces: &BTreeSet<String>) {
    for ns in namespaces {
        // An event whose argument is not a payload, and one whose name is unknown:
        // the client must skip both and stay connected.
        if let Some(ops) = io.of(ns) {
            let _ = ops.emit("MESSAGE_SENT", &"this is not a payload").await;
        }
        if let Some(ops) = io.of(ns) {
            let _ = ops
                .emit("SOMETHING_ELSE", &serde_json::json!({"x": 1}))
                .await;
        }
    }
}

/// Disconnects every socket (fault).
pub async fn drop_all(io: &SocketIo, namespaces: &BTreeSet<String>) {
    for ns in namespaces {
        if let Some(ops) = io.of(ns) {
            let _ = ops.disconnect().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token_of;
    use serde_json::json;

    #[test]
    fn reads_the_token_from_either_place() {
        assert_eq!(
            token_of("/chat?tokenType=jwt&token=a%2Bb", &json!(null)).as_deref(),
            Some("a+b")
        );
        assert_eq!(
            token_of("/chat", &json!({"token": "t"})).as_deref(),
            Some("t")
        );
        assert_eq!(token_of("/chat", &json!(null)), None);
    }
}
