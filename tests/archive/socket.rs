//! The socket client against a raw websocket peer that misbehaves on purpose:
//! frames that do not parse are kept as rejected without dropping the connection,
//! and a peer that stops answering heartbeats (v3: no pongs; v4: no pings) is
//! declared dead and reconnected to with back-off, never in a busy loop.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use spaces_archive::spaces::auth::{Token, TokenType};
use spaces_archive::spaces::engineio::Protocol;
use spaces_archive::spaces::status::Status;
use spaces_archive::spaces::subscriber::{SocketConfig, Subscriber};
use spaces_archive::spaces::tokens::Tokens;
use spaces_archive::store::Item;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// A peer that completes the handshake, sends malformed frames and then ignores
/// everything. Returns its address and its connection counter.
async fn silent_peer(protocol: Protocol) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let open = r#"0{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":300}"#;
                let _ = ws.send(Message::text(open)).await;
                if protocol == Protocol::V3 {
                    let _ = ws.send(Message::text("40")).await;
                }
                // The namespace connect, answered.
                let _ = ws.next().await;
                let _ = ws.send(Message::text("40/chat,")).await;
                for garbage in [
                    "9nonsense",
                    "42/chat,[not json",
                    r#"42/chat,["MESSAGE_SENT",{"category":"chat"}]"#,
                ] {
                    let _ = ws.send(Message::text(garbage)).await;
                }
                // Never a pong (v3), never a ping (v4).
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    (format!("http://{addr}"), count)
}

async fn dead_peer_is_left(protocol: Protocol) {
    let (server, connections) = silent_peer(protocol).await;
    let token = Token::new(TokenType::Jwt, "socket-test-token", "test").unwrap();
    let config = SocketConfig {
        server: url::Url::parse(&server).unwrap(),
        protocol,
        namespace: "/chat".into(),
        connect_timeout: Duration::from_secs(2),
        reconnect: (Duration::from_millis(100), Duration::from_millis(200)),
        resubscribe: (Duration::from_secs(1), Duration::from_secs(1)),
    };
    let (out, mut items) = mpsc::channel(64);
    let (signals, _signal_rx) = mpsc::unbounded_channel();
    let (_added_tx, added) = mpsc::unbounded_channel();
    let (stop, stopped) = watch::channel(false);
    let status = Arc::new(Status::default());
    let spaces: BTreeSet<String> = ["space-1".to_string()].into();
    let task = tokio::spawn(
        Subscriber::new(
            config,
            Tokens::fixed(token),
            status.clone(),
            spaces,
            out,
            signals,
            added,
            stopped,
        )
        .run(),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let n = connections.load(Ordering::SeqCst);
    // Dead after 0.6 s without a heartbeat, then 0.1–0.4 s of back-off: 2 to 5
    // connections in 2.5 s; a busy loop would make hundreds, no detection one.
    assert!(
        (2..=6).contains(&n),
        "{n} connections in {:?}",
        started.elapsed()
    );
    let mut rejected = 0;
    while let Ok(batch) = items.try_recv() {
        rejected += batch
            .iter()
            .filter(|i| matches!(i, Item::Rejected(_)))
            .count();
    }
    // Three malformed frames per connection, each kept; none ended a connection early.
    assert!(
        rejected >= 3 * (n - 1),
        "{rejected} rejected over {n} connections"
    );
    assert_eq!(Status::get(&status.bad_frames) as usize, rejected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v3_peer_without_pongs_is_dead() {
    dead_peer_is_left(Protocol::V3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v4_peer_without_pings_is_dead() {
    dead_peer_is_left(Protocol::V4).await;
}
