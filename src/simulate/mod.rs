//! `spaces-archive simulate`: a local stand-in for Avaya Spaces, for trying the
//! archiver without an account, for tests and for docker-compose. It serves the
//! socket (socket.io 2 protocol and v4, [`socket`]) and the REST endpoints the
//! archiver uses ([`http`]) from its own [`history`], plays a stream of payloads
//! (from `generate` or a JSON-lines file) at a chosen rate, and can inject faults:
//! drop every socket every N seconds (and refuse connects for a while after),
//! refuse subscriptions for chosen spaces, send garbage frames, page its REST
//! listing by offset as a naive server does, keep some messages off the socket. It
//! also serves attachments' download URLs and bytes ([`files`]), with faults of
//! their own.

pub mod accounts;
pub mod files;
pub mod history;
mod http;
pub mod socket;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep, Instant};

use history::History;

/// How the REST message listing pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Paging {
    /// After the page's last `(modified, id)`: nothing shifts between pages.
    #[default]
    Keyset,
    /// An offset into the live list ordered by modified time: a message changed
    /// while a client pages moves to the end, and the item after each shift is
    /// skipped by a client that follows `nextPageUrl`.
    Offset,
}

/// What the simulator plays and how it misbehaves.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The token clients must present.
    pub token: String,
    /// Payloads per second (0: as fast as possible).
    pub rate: f64,
    /// Wait until a client has subscribed to every listed space before playing.
    pub wait_for_subscriber: bool,
    /// Heartbeat interval announced in the handshake.
    pub ping_interval: Duration,
    /// Heartbeat timeout announced in the handshake.
    pub ping_timeout: Duration,
    /// Drop every socket this often.
    pub drop_every: Option<Duration>,
    /// After a drop, refuse connects this long (a server "restart").
    pub down_for: Duration,
    /// Spaces whose subscription is refused.
    pub refuse: Vec<String>,
    /// Send a pair of malformed events this often.
    pub garbage_every: Option<Duration>,
    /// Items per REST page.
    pub page_size: usize,
    /// How the REST message listing pages.
    pub paging: Paging,
    /// Every Nth new message (chat, post, task) is recorded in the history but
    /// never sent on the socket.
    pub skip_every: Option<u64>,
    /// Put every socket in a new space's room when its `app.event.topic.new` is
    /// sent (as if the server subscribed its members), so nothing of the new space
    /// is missed before the client subscribes. Off: the client's subscription must
    /// catch up and the backfill fill what came before it.
    pub auto_join: bool,
    /// Serve `POST /oauth2/access_token` and accept the access tokens it issues
    /// (besides `token`) until they expire.
    pub oauth: Option<accounts::OAuthSim>,
    /// Attachments' URLs and storage.
    pub files: files::FileOptions,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            token: "simulator-token".into(),
            rate: 100.0,
            wait_for_subscriber: true,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            drop_every: None,
            down_for: Duration::ZERO,
            refuse: Vec::new(),
            garbage_every: None,
            page_size: 50,
            paging: Paging::Keyset,
            skip_every: None,
            auto_join: false,
            oauth: None,
            files: files::FileOptions::default(),
        }
    }
}

/// State shared by the socket, REST and player tasks.
pub struct Shared {
    /// The options.
    pub options: SimOptions,
    /// What was sent.
    pub history: Mutex<History>,
    /// Namespace names in use (see [`socket`]).
    pub namespaces: Mutex<BTreeSet<String>>,
    /// Woken at each subscription.
    pub subscribed: Notify,
    down_until: Mutex<Option<Instant>>,
    /// Payloads played so far.
    pub played: AtomicU64,
    /// Whether the whole stream has been played.
    pub finished: AtomicBool,
    /// Requests answered by `GET /api/users/me/messages`.
    pub message_requests: AtomicU64,
    /// Ids of the new messages kept off the socket (`skip_every`).
    pub skipped: Mutex<Vec<String>>,
    /// The OAuth token endpoint, when served.
    pub accounts: Option<Arc<accounts::Accounts>>,
    /// Files the stream named, and what the storage saw.
    pub files: files::Shelf,
}

impl Shared {
    /// Whether a client presenting `token` is let in.
    pub fn accepts(&self, token: &str) -> bool {
        token == self.options.token || self.accounts.as_ref().is_some_and(|a| a.accepts(token))
    }

    /// Whether connects are refused now (after a drop).
    pub fn is_down(&self) -> bool {
        let until = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| Instant::now() < t)
    }

    fn namespaces(&self) -> BTreeSet<String> {
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether some socket is subscribed to every listed space it may subscribe to.
    fn has_subscribers(&self, io: &SocketIo) -> bool {
        let wanted: Vec<String> = {
            let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            history
                .spaces
                .keys()
                .filter(|s| !self.options.refuse.contains(s))
                .cloned()
                .collect()
        };
        self.namespaces()
            .iter()
            .filter_map(|ns| io.of(ns))
            .flat_map(|ops| ops.sockets())
            .any(|socket| {
                let rooms = socket.rooms();
                wanted
                    .iter()
                    .all(|s| rooms.iter().any(|r| r.as_ref() == s.as_str()))
            })
    }
}

/// A running simulator.
pub struct Simulator {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state.
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    io: SocketIo,
}

impl Simulator {
    /// Starts serving on `listener` and playing `payloads`; spaces in `spaces`
    /// (id, title) are listed from the start.
    pub async fn start(
        listener: TcpListener,
        options: SimOptions,
        spaces: Vec<(String, String)>,
        payloads: Box<dyn Iterator<Item = Box<RawValue>> + Send>,
    ) -> std::io::Result<Simulator> {
        let addr = listener.local_addr()?;
        let mut history = History::default();
        for (id, title) in &spaces {
            history.add_space(id, title);
        }
        let shared = Arc::new(Shared {
            options: options.clone(),
            history: Mutex::new(history),
            namespaces: Mutex::new(BTreeSet::new()),
            subscribed: Notify::new(),
            down_until: Mutex::new(None),
            played: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            message_requests: AtomicU64::new(0),
            skipped: Mutex::new(Vec::new()),
            accounts: options
                .oauth
                .clone()
                .map(|o| Arc::new(accounts::Accounts::new(o))),
            files: files::Shelf::new(),
        });
        let (layer, io) = SocketIo::builder()
            .ping_interval(options.ping_interval)
            .ping_timeout(options.ping_timeout)
            .max_payload(1 << 20)
            .max_buffer_size(4_096)
            .build_layer();
        socket::install(&io, shared.clone());
        let mut app = http::router(shared.clone(), addr);
        if let Some(accounts) = &shared.accounts {
            app = app.merge(accounts::router(accounts.clone()));
        }
        let app = app.layer(layer);
        let (stop, stopped) = watch::channel(false);
        let mut server_stop = stopped.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.changed().await;
                })
                .await;
        });
        let player = tokio::spawn(play(io.clone(), shared.clone(), payloads, stopped.clone()));
        let faults = tokio::spawn(faults(io.clone(), shared.clone(), stopped));
        Ok(Simulator {
            addr,
            shared,
            stop,
            tasks: vec![server, player, faults],
            io,
        })
    }

    /// The OAuth token endpoint's state, when it is served.
    pub fn accounts(&self) -> Option<&accounts::Accounts> {
        self.shared.accounts.as_deref()
    }

    /// The base URL (socket and `…/api` REST).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the whole stream has been played.
    pub async fn finished(&self) {
        while !self.shared.finished.load(Ordering::Relaxed) {
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops serving and playing.
    pub async fn stop(self) {
        // Connections outlive the listener: close them, as a server going away does.
        self.io.close().await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Plays the stream: records each payload, then sends it to its space's subscribers.
async fn play(
    io: SocketIo,
    shared: Arc<Shared>,
    payloads: Box<dyn Iterator<Item = Box<RawValue>> + Send>,
    mut stop: watch::Receiver<bool>,
) {
    if shared.options.wait_for_subscriber {
        while !shared.has_subscribers(&io) {
            tokio::select! {
                _ = shared.subscribed.notified() => {}
                _ = sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => return,
            }
        }
    }
    let started = Instant::now();
    let rate = shared.options.rate;
    let mut played: u64 = 0;
    let mut created: u64 = 0;
    let mut namespaces = shared.namespaces();
    for payload in payloads {
        if rate > 0.0 {
            let due = started + Duration::from_secs_f64(played as f64 / rate);
            if due > Instant::now() {
                namespaces = shared.namespaces();
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = stop.changed() => return,
                }
            }
        } else if played.is_multiple_of(1_000) {
            namespaces = shared.namespaces();
            tokio::task::yield_now().await;
        }
        // Parsed once: the history, the routing and the send all read the value.
        // (A lone surrogate escape, as Node.js writes one, is read as U+FFFD: the
        // REST history keeps the message, and the socket sends it so.)
        let value: Value = crate::event::surrogates::from_str_lenient(payload.get())
            .map_or(Value::Null, |(value, _)| value);
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        let (space, category) = (text("topicId"), text("category"));
        shared.files.record(&value);
        shared
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&value);
        // Events about the user (a space joined, a preference) reach every socket
        // of the user; the others only the subscribers of their space.
        let to_user = matches!(
            category.as_deref(),
            Some("app.event.topic.new" | "app.event.user.topic.preference.updated")
        );
        let room = if to_user { None } else { space.as_deref() };
        if shared.options.auto_join && category.as_deref() == Some("app.event.topic.new") {
            if let Some(space) = &space {
                socket::join_all(&io, &namespaces, space);
            }
        }
        let new_message = matches!(category.as_deref(), Some("chat" | "idea" | "task"));
        created += u64::from(new_message);
        let skip = new_message
            && shared
                .options
                .skip_every
                .is_some_and(|n| created.is_multiple_of(n));
        if skip {
            let id = text("_id").unwrap_or_default();
            tracing::debug!(id, "fault: a new message kept off the socket");
            shared
                .skipped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(id);
        } else if to_user || room.is_some() {
            socket::broadcast(&io, &namespaces, room, &value).await;
        }
        played += 1;
        shared.played.store(played, Ordering::Relaxed);
    }
    shared.finished.store(true, Ordering::Relaxed);
}

/// Drops and garbage on their schedules.
async fn faults(io: SocketIo, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let far = Duration::from_secs(86_400 * 365);
    let mut next_drop = Instant::now() + shared.options.drop_every.unwrap_or(far);
    let mut next_garbage = Instant::now() + shared.options.garbage_every.unwrap_or(far);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_drop) => {
                next_drop = Instant::now() + shared.options.drop_every.unwrap_or(far);
                *shared.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + shared.options.down_for);
                tracing::info!("fault: dropping every socket");
                socket::drop_all(&io, &shared.namespaces()).await;
            }
            _ = tokio::time::sleep_until(next_garbage) => {
                next_garbage = Instant::now() + shared.options.garbage_every.unwrap_or(far);
                socket::garbage(&io, &shared.namespaces()).await;
            }
            _ = stop.changed() => return,
        }
    }
}
