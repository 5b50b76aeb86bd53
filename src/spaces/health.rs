//! `run --metrics-addr`: `/healthz` (200 when the socket is up, every space is
//! subscribed or being retried, and the writer keeps up; 503 with a JSON reason
//! otherwise) and `/metrics` in the Prometheus text format (prometheus-client), every
//! name prefixed `spaces_archive_`, read at each scrape from the archiver's status and,
//! for the index lag, from SQLite's outbox.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::rest::{Priority, RestClient};
use super::status::Status;
use crate::event::time::now_millis;
use crate::store::{Archive, Item};
use crate::writer::storage::StorageStatus;

/// Payloads queued in the socket task at which the writer counts as not keeping up
/// (the socket task stops reading at 2,048).
pub const BEHIND_AT: u64 = 1_024;

/// What the endpoints read.
#[derive(Clone)]
pub struct Health {
    /// The archiver's status.
    pub status: Arc<Status>,
    /// The writer's channel (weak: it must not keep the writer from finishing).
    pub channel: mpsc::WeakSender<Vec<Item>>,
    /// The archive, for the index lag.
    pub archive: Archive,
    /// Whether the writer's storage is failing.
    pub storage: Arc<StorageStatus>,
    /// The REST client, for its request counts.
    pub rest: Arc<RestClient>,
}

impl Health {
    fn writer_chunks(&self) -> u64 {
        self.channel
            .upgrade()
            .map_or(0, |tx| (tx.max_capacity() - tx.capacity()) as u64)
    }

    /// `None` when healthy, else why not.
    pub fn problem(&self) -> Option<String> {
        if let Some(storage) = self.storage.problem() {
            return Some(storage);
        }
        let s = &self.status;
        if !s.connected() {
            return Some("the socket is not connected".into());
        }
        let counts = s.counts();
        if counts.pending > 0 {
            return Some(format!(
                "{} spaces are waiting for their subscription to be answered",
                counts.pending
            ));
        }
        let queued = Status::get(&s.socket_backlog);
        if queued >= BEHIND_AT {
            return Some(format!("the writer is behind: {queued} payloads queued"));
        }
        None
    }

    /// Seconds since the oldest message not yet committed to the index arrived.
    async fn index_lag(&self) -> f64 {
        let oldest: Option<i64> = sqlx::query_scalar(
            "SELECT min(e.received_at) FROM index_outbox o JOIN events e ON e.seq = o.seq",
        )
        .fetch_one(self.archive.pool())
        .await
        .unwrap_or(None);
        oldest.map_or(0.0, |t| (now_millis() - t).max(0) as f64 / 1000.0)
    }
}

/// Serves the endpoints on `addr` until `stop`.
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(health);
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await;
    }))
}

async fn healthz(State(health): State<Health>) -> Response {
    match health.problem() {
        None => (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unhealthy", "reason": reason })),
        )
            .into_response(),
    }
}

async fn metrics(State(health): State<Health>) -> Response {
    let snapshot = Snapshot {
        index_lag: health.index_lag().await,
        writer_chunks: health.writer_chunks(),
        status: health.status.clone(),
        storage_failing: health.storage.problem().is_some(),
        rest_requests: [
            health.rest.requests(Priority::Backfill),
            health.rest.requests(Priority::Files),
            health.rest.requests(Priority::Sweep),
        ],
    };
    let mut registry = Registry::with_prefix("spaces_archive");
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The values of one scrape.
#[derive(Debug)]
struct Snapshot {
    status: Arc<Status>,
    writer_chunks: u64,
    index_lag: f64,
    storage_failing: bool,
    rest_requests: [u64; 3],
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let s = &self.status;
        let e = &mut encoder;
        {
            let mut family = e.encode_descriptor(
                "events_received",
                "Payloads received, by source (live, backfill) and category.",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for ((source, category), n) in s.events() {
                let labels = [("source", source.to_string()), ("category", category)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        counter(
            e,
            "archived",
            "New payloads stored.",
            Status::get(&s.archived),
        )?;
        counter(
            e,
            "duplicates",
            "Payloads received again (stored before).",
            Status::get(&s.duplicates),
        )?;
        counter(
            e,
            "rejected",
            "Inputs that could not be archived (kept in the rejected table).",
            Status::get(&s.rejected),
        )?;
        counter(
            e,
            "reconnects",
            "Connects after the first.",
            Status::get(&s.connects).saturating_sub(1),
        )?;
        counter(
            e,
            "subscriptions_failed",
            "Subscriptions the server refused (each is retried).",
            Status::get(&s.subscriptions_failed),
        )?;
        counter(
            e,
            "backfill_items",
            "Messages fetched over REST to fill gaps.",
            Status::get(&s.backfill_items),
        )?;
        counter(
            e,
            "sweep_recovered",
            "Messages the reconciliation sweep found missing or stale and archived.",
            Status::get(&s.sweep_recovered),
        )?;
        {
            let mut family = e.encode_descriptor(
                "rest_requests",
                "REST requests sent (retries included), by purpose (backfill: listings and gaps; files: download URLs; sweep).",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (purpose, n) in [
                ("backfill", self.rest_requests[0]),
                ("files", self.rest_requests[1]),
                ("sweep", self.rest_requests[2]),
            ] {
                ConstCounter::new(n).encode(family.encode_family(&[("purpose", purpose)])?)?;
            }
        }
        gauge(
            e,
            "storage_failing",
            "1 while the archive's storage fails (disk full, I/O error, read-only) and the writer retries.",
            if self.storage_failing { 1.0 } else { 0.0 },
        )?;
        gauge(
            e,
            "writer_backlog_chunks",
            "Chunks of payloads waiting in the writer's channel.",
            self.writer_chunks as f64,
        )?;
        gauge(
            e,
            "socket_backlog_payloads",
            "Payloads queued in the socket task because the writer is behind.",
            Status::get(&s.socket_backlog) as f64,
        )?;
        let last = s.last_event_ms.load(std::sync::atomic::Ordering::Relaxed);
        let since = if last == 0 {
            -1.0
        } else {
            (now_millis() - last).max(0) as f64 / 1000.0
        };
        gauge(
            e,
            "seconds_since_last_event",
            "Seconds since the last payload arrived (-1 before the first).",
            since,
        )?;
        gauge(
            e,
            "index_commit_lag_seconds",
            "Seconds since the oldest message not yet searchable arrived (0 when all are).",
            self.index_lag,
        )?;
        gauge(
            e,
            "connected",
            "1 when the socket is connected.",
            if s.connected() { 1.0 } else { 0.0 },
        )?;
        let counts = s.counts();
        {
            let mut family = e.encode_descriptor(
                "spaces",
                "Spaces by subscription state.",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (state, n) in [
                ("subscribed", counts.subscribed),
                ("pending", counts.pending),
                ("failed", counts.failed),
            ] {
                ConstGauge::new(n as i64).encode(family.encode_family(&[("state", state)])?)?;
            }
        }
        Ok(())
    }
}
