//! The live socket: connect, subscribe to every space, receive `MESSAGE_SENT`
//! payloads and hand them to the writer, keep the heartbeat of the protocol
//! revision (v3: the client pings; v4: the server pings and the client answers),
//! detect a dead peer, and reconnect forever with capped, jittered exponential
//! back-off. After **every** connect every space is subscribed again, and the
//! controller is told so it can backfill the gap.
//!
//! The socket task never waits on storage: payloads go to the writer's bounded
//! channel (in chunks of at most [`CHUNK`]) when it has room and queue here
//! otherwise, while the heartbeat goes on. Past [`MAX_QUEUED`] the task stops
//! reading the socket until the writer catches up: TCP then slows the server down.
//! (Should the writer stall for longer than the heartbeat timeout, the connection is
//! lost and the backfill fills the gap after the reconnect.)

use crate::chain::sha256;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};
use url::Url;

use super::engineio::{connect, preview, same_namespace, Connection, Protocol, Received};
use super::status::{LiveMarks, Status, Subscription};
use super::tokens::Tokens;
use crate::event::decode::{decode_frame, Decoded, DecodedPayload};
use crate::event::frame::{parse_event, parse_frame, EnginePacket};
use crate::event::time::now_millis;
use crate::store::{compress, Item, Rejection, Source, StoredEvent};

/// Payloads queued in the socket task before it stops reading the socket: with the
/// channel's chunks, at most about 10,000 payloads (some 50 MB) wait in memory.
pub const MAX_QUEUED: usize = 2_048;
/// Payloads per chunk handed to the writer.
pub const CHUNK: usize = 256;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Socket server base URL.
    pub server: Url,
    /// Engine.IO revision.
    pub protocol: Protocol,
    /// Socket.IO namespace.
    pub namespace: String,
    /// Limit for the websocket, handshake and namespace connect together.
    pub connect_timeout: Duration,
    /// Reconnect back-off: first and largest delay.
    pub reconnect: (Duration, Duration),
    /// Back-off for a refused subscription: first and largest delay.
    pub resubscribe: (Duration, Duration),
}

/// What the socket tells the controller.
#[derive(Debug, Clone)]
pub enum Signal {
    /// A connect succeeded and every space was asked for again: backfill the gap, up
    /// to where this connection's live stream of each space begins (the marks fill
    /// in as its first payloads arrive).
    Connected(std::sync::Arc<LiveMarks>),
    /// The connection was lost: what is archived now is where the gap starts.
    Lost,
    /// A space appeared on the socket (`app.event.topic.new`): subscribe to it (if
    /// the filters allow) and backfill it whole.
    NewSpace(String),
}

/// Capped exponential back-off with jitter, never ending.
pub fn backoff(first: Duration, largest: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(largest)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Why a session ended.
enum End {
    Shutdown,
    Lost(String),
}

/// A refused space's retry schedule.
struct Retry {
    at: Instant,
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    attempts: u32,
}

/// The socket task.
pub struct Subscriber {
    config: SocketConfig,
    tokens: Tokens,
    status: std::sync::Arc<Status>,
    out: mpsc::Sender<Vec<Item>>,
    signals: mpsc::UnboundedSender<Signal>,
    added: mpsc::UnboundedReceiver<String>,
    shutdown: watch::Receiver<bool>,
    spaces: BTreeSet<String>,
    queued: Vec<Item>,
    retries: HashMap<String, Retry>,
    /// This connection's live marks, and the spaces marked in them.
    marks: std::sync::Arc<LiveMarks>,
    marked: std::collections::HashSet<String>,
}

impl Subscriber {
    /// A socket task for `spaces`; more arrive on `added`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: SocketConfig,
        tokens: Tokens,
        status: std::sync::Arc<Status>,
        spaces: BTreeSet<String>,
        out: mpsc::Sender<Vec<Item>>,
        signals: mpsc::UnboundedSender<Signal>,
        added: mpsc::UnboundedReceiver<String>,
        shutdown: watch::Receiver<bool>,
    ) -> Subscriber {
        for space in &spaces {
            status.set_space(space, Subscription::Pending);
        }
        Subscriber {
            config,
            tokens,
            status,
            out,
            signals,
            added,
            shutdown,
            spaces,
            queued: Vec::new(),
            retries: HashMap::new(),
            marks: Default::default(),
            marked: Default::default(),
        }
    }

    /// Runs until shutdown; whatever is queued is handed to the writer before it
    /// returns.
    pub async fn run(mut self) {
        let (first, largest) = self.config.reconnect;
        let mut delays = backoff(first, largest);
        while !*self.shutdown.borrow() {
            // Avaya checks the token at the handshake only: refresh it first when it
            // is near expiry. A refused refresh is retried like a failed connect.
            let token = match self.tokens.fresh().await {
                Ok(token) => token,
                Err(e) => {
                    tracing::error!("cannot connect without a fresh token: {e}");
                    let delay = delays.next().unwrap_or(largest);
                    self.wait(Instant::now() + delay).await;
                    continue;
                }
            };
            let c = &self.config;
            let attempt = connect(
                &c.server,
                c.protocol,
                &c.namespace,
                &token,
                c.connect_timeout,
            );
            let connected = tokio::select! {
                connected = attempt => connected,
                _ = self.shutdown.changed() => break,
            };
            match connected {
                Ok(conn) => {
                    delays = backoff(first, largest);
                    self.status.set_connected(true);
                    tracing::info!(server = %self.config.server, protocol = ?conn.protocol,
                        ping_interval = ?conn.open.ping_interval, "connected");
                    let end = self.session(conn).await;
                    self.status.set_connected(false);
                    let _ = self.signals.send(Signal::Lost);
                    match end {
                        End::Shutdown => break,
                        End::Lost(why) => tracing::warn!("connection lost: {why}"),
                    }
                }
                Err(e) => tracing::warn!("cannot connect: {e}"),
            }
            let delay = delays.next().unwrap_or(largest);
            tracing::info!("reconnecting in {:.1} s", delay.as_secs_f64());
            self.wait(Instant::now() + delay).await;
        }
        self.flush_all().await;
    }

    /// Waits until `deadline` (or shutdown), handing queued payloads on meanwhile.
    async fn wait(&mut self, deadline: Instant) {
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => return,
                _ = self.shutdown.changed() => return,
                permit = self.out.reserve(), if !self.queued.is_empty() => {
                    if let Ok(permit) = permit {
                        permit.send(take_chunk(&mut self.queued));
                        self.note_backlog();
                    }
                }
            }
        }
    }

    /// Hands everything queued to the writer; what it no longer takes (it gave up on
    /// failing storage) stays counted in the socket backlog.
    async fn flush_all(&mut self) {
        while !self.queued.is_empty() {
            let chunk = take_chunk(&mut self.queued);
            if let Err(unsent) = self.out.send(chunk).await {
                let left = unsent.0.len() + self.queued.len();
                self.status
                    .socket_backlog
                    .store(left as u64, std::sync::atomic::Ordering::Relaxed);
                return;
            }
        }
        self.note_backlog();
    }

    fn note_backlog(&self) {
        self.status.socket_backlog.store(
            self.queued.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    async fn session(&mut self, mut conn: Connection) -> End {
        self.retries.clear();
        self.marks = Default::default();
        self.marked.clear();
        let spaces: Vec<String> = self.spaces.iter().cloned().collect();
        for space in &spaces {
            if let Err(e) = self.subscribe(&mut conn, space).await {
                return End::Lost(e);
            }
        }
        let _ = self.signals.send(Signal::Connected(self.marks.clone()));
        let v3 = conn.protocol == Protocol::V3;
        let (interval, grace) = (conn.open.ping_interval, conn.open.ping_timeout);
        let mut next_ping = Instant::now() + interval;
        let mut pong_due: Option<Instant> = None;
        let mut server_ping_due = Instant::now() + interval + grace;
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let retry_at = self.retries.values().map(|r| r.at).min();
            let reading = self.queued.len() < MAX_QUEUED;
            let wake = tokio::select! {
                _ = self.shutdown.changed() => Wake::Shutdown,
                received = conn.recv(), if reading => Wake::Frame(received),
                _ = sleep_until(next_ping), if v3 => Wake::PingDue,
                _ = sleep_until(pong_due.unwrap_or(far)), if v3 && pong_due.is_some() => {
                    Wake::Dead(format!("no pong within {grace:?}: the peer is gone"))
                }
                _ = sleep_until(server_ping_due), if !v3 => Wake::Dead(format!(
                    "no ping from the server within {:?}: the peer is gone",
                    interval + grace
                )),
                Some(space) = self.added.recv() => Wake::Added(space),
                _ = sleep_until(retry_at.unwrap_or(far)), if retry_at.is_some() => Wake::RetryDue,
                permit = self.out.reserve(), if !self.queued.is_empty() => {
                    if let Ok(permit) = permit {
                        permit.send(take_chunk(&mut self.queued));
                    }
                    Wake::Flushed
                }
            };
            let result = match wake {
                Wake::Shutdown => {
                    conn.close().await;
                    return End::Shutdown;
                }
                Wake::Frame(Received::Closed(why)) | Wake::Dead(why) => return End::Lost(why),
                Wake::Frame(Received::Text(text)) => {
                    let beat = self.on_frame(&mut conn, &text).await;
                    match beat {
                        Ok(Some(Heartbeat::Pong)) => pong_due = None,
                        Ok(Some(Heartbeat::Ping)) => {
                            server_ping_due = Instant::now() + interval + grace
                        }
                        Ok(None) => {}
                        Err(why) => return End::Lost(why),
                    }
                    self.try_flush();
                    Ok(())
                }
                Wake::PingDue => {
                    next_ping = Instant::now() + interval;
                    pong_due.get_or_insert(Instant::now() + grace);
                    conn.send("2".into()).await
                }
                Wake::Added(space) => self.add_space(&mut conn, space).await,
                Wake::RetryDue => self.retry_due(&mut conn).await,
                Wake::Flushed => {
                    self.note_backlog();
                    Ok(())
                }
            };
            if let Err(why) = result {
                return End::Lost(why);
            }
        }
    }

    async fn add_space(&mut self, conn: &mut Connection, space: String) -> Result<(), String> {
        if !self.spaces.insert(space.clone()) {
            return Ok(());
        }
        self.status.set_space(&space, Subscription::Pending);
        self.marks.note_late(&space);
        self.subscribe(conn, &space).await
    }

    /// Hands the queue to the writer if its channel has room now.
    fn try_flush(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        while !self.queued.is_empty() {
            let Ok(permit) = self.out.try_reserve() else {
                break;
            };
            permit.send(take_chunk(&mut self.queued));
        }
        self.note_backlog();
    }

    async fn subscribe(&mut self, conn: &mut Connection, space: &str) -> Result<(), String> {
        let request = serde_json::json!([
            "SUBSCRIBE_CHANNEL",
            { "channel": { "type": "topic", "_id": space } }
        ]);
        tracing::debug!(space, "subscribing");
        conn.send(format!("42{},{request}", conn.namespace)).await
    }

    async fn retry_due(&mut self, conn: &mut Connection) -> Result<(), String> {
        let now = Instant::now();
        let due: Vec<String> = self
            .retries
            .iter()
            .filter(|(_, r)| r.at <= now)
            .map(|(s, _)| s.clone())
            .collect();
        for space in due {
            if let Some(retry) = self.retries.get_mut(&space) {
                retry.at = far_future();
            }
            self.marks.note_late(&space);
            self.subscribe(conn, &space).await?;
        }
        Ok(())
    }

    /// Handles one frame; `Err` ends the session.
    async fn on_frame(
        &mut self,
        conn: &mut Connection,
        text: &str,
    ) -> Result<Option<Heartbeat>, String> {
        let packet = match parse_frame(text) {
            Ok(packet) => packet,
            Err(e) => {
                self.reject(text, &e.to_string());
                return Ok(None);
            }
        };
        match packet {
            EnginePacket::Ping(data) => {
                conn.send(format!("3{data}")).await?;
                Ok(Some(Heartbeat::Ping))
            }
            EnginePacket::Pong(_) => Ok(Some(Heartbeat::Pong)),
            EnginePacket::Close => Err("the server closed the session".into()),
            EnginePacket::Message(p) if same_namespace(p.namespace, &conn.namespace) => {
                match p.kind {
                    2 => self.on_event(text, p.data).await.map(|_| None),
                    1 => Err("the server disconnected the namespace".into()),
                    4 => Err(format!("namespace error: {}", crate::redact::scrub(p.data))),
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    async fn on_event(&mut self, frame: &str, data: &str) -> Result<(), String> {
        if data.starts_with("[\"MESSAGE_SENT\"") {
            self.on_message_sent(frame).await?;
            return Ok(());
        }
        let (name, args) = match parse_event(data) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.reject(frame, &e.to_string());
                return Ok(());
            }
        };
        let arg = args.first().unwrap_or(&Value::Null);
        let space = arg["channel"]["_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match name.as_str() {
            "CHANNEL_SUBSCRIBED" if !space.is_empty() => {
                self.retries.remove(&space);
                self.status.set_space(&space, Subscription::Subscribed);
                tracing::debug!(space, "subscribed");
            }
            "SUBSCRIBE_CHANNEL_FAILED" if !space.is_empty() => {
                let error = arg["error"]["message"]
                    .as_str()
                    .or(arg["error"]["code"].as_str())
                    .unwrap_or("no reason given")
                    .to_string();
                self.schedule_retry(&space, error);
            }
            other => tracing::debug!(event = other, "socket event ignored"),
        }
        Ok(())
    }

    fn schedule_retry(&mut self, space: &str, error: String) {
        let (first, largest) = self.config.resubscribe;
        let retry = self
            .retries
            .entry(space.to_string())
            .or_insert_with(|| Retry {
                at: Instant::now(),
                delays: Box::new(backoff(first, largest)),
                attempts: 0,
            });
        retry.attempts += 1;
        Status::add(&self.status.subscriptions_failed, 1);
        let delay = retry.delays.next().unwrap_or(largest);
        retry.at = Instant::now() + delay;
        tracing::warn!(
            space,
            attempts = retry.attempts,
            "subscription refused: {error}; retrying in {:.1} s",
            delay.as_secs_f64()
        );
        self.status.set_space(
            space,
            Subscription::Failed {
                error,
                attempts: retry.attempts,
            },
        );
    }

    async fn on_message_sent(&mut self, frame: &str) -> Result<(), String> {
        let received_at = now_millis();
        match decode_frame(frame) {
            Ok(Decoded::Payload { raw, payload }) => {
                Status::add(&self.status.live_events, 1);
                self.status.count_event("live", &payload.category);
                self.mark(&payload);
                if payload.category == "app.event.topic.new" {
                    // The controller applies the space filters and sends it back on
                    // `added` to be subscribed.
                    if let Some(space) = payload
                        .space_id
                        .clone()
                        .filter(|s| !self.spaces.contains(s))
                    {
                        let _ = self.signals.send(Signal::NewSpace(space));
                    }
                }
                self.queued.push(Item::Event(Box::new(StoredEvent {
                    received_at,
                    source: Source::Live,
                    raw: compress(raw.as_bytes()),
                    sha256: sha256(raw.as_bytes()),
                    decoded: *payload,
                })));
            }
            Ok(Decoded::Ignored(_)) => {}
            Err(e) => self.reject(frame, &e.to_string()),
        }
        Ok(())
    }

    /// Notes where this connection's live stream of a space begins: the change time
    /// of its first message payload (a removal carries no time of its own).
    fn mark(&mut self, payload: &DecodedPayload) {
        let crate::event::Payload::Message(m) = &payload.payload else {
            return;
        };
        let Some(space) = &payload.space_id else {
            return;
        };
        if self.marked.contains(space) {
            return;
        }
        let time = match m.action {
            crate::event::payload::Action::Create => m.modified.or(m.created),
            crate::event::payload::Action::Update | crate::event::payload::Action::Remove => {
                m.modified
            }
        };
        if let Some(time) = time {
            self.marks.note(space, time);
            self.marked.insert(space.clone());
        }
    }

    /// Counts, logs and keeps a frame that cannot be archived; the session goes on.
    fn reject(&mut self, frame: &str, reason: &str) {
        Status::add(&self.status.bad_frames, 1);
        let frame = crate::redact::scrub(frame);
        tracing::warn!(
            "skipping a socket frame ({} bytes): {reason}: {}",
            frame.len(),
            preview(&frame)
        );
        self.queued.push(Item::Rejected(Rejection {
            received_at: now_millis(),
            source: Source::Live,
            source_name: "socket".into(),
            line: None,
            reason: reason.to_string(),
            raw_len: frame.len() as u64,
            raw: compress(frame.as_bytes()),
            sha256: sha256(frame.as_bytes()),
        }));
    }
}

/// What woke the session loop.
enum Wake {
    Shutdown,
    Frame(Received),
    PingDue,
    Dead(String),
    Added(String),
    RetryDue,
    Flushed,
}

/// A heartbeat frame.
enum Heartbeat {
    /// v3: the server answered our ping.
    Pong,
    /// v4: the server pinged (and was answered).
    Ping,
}

/// The oldest queued payloads, at most [`CHUNK`].
fn take_chunk(queued: &mut Vec<Item>) -> Vec<Item> {
    if queued.len() <= CHUNK {
        return std::mem::take(queued);
    }
    let rest = queued.split_off(CHUNK);
    std::mem::replace(queued, rest)
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
