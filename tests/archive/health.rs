//! `run --metrics-addr`: `/healthz` follows the simulator going away and coming back,
//! and `/metrics` counts what was archived, with no token in it.

use std::time::{Duration, Instant};

use spaces_archive::simulate::{SimOptions, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{binary, TestArchive};
use crate::live::{reference, snapshot, spawn_run, stream, wait_for};

/// `GET path` over HTTP/1.0: the status code and the body.
pub async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut socket = tokio::net::TcpStream::connect(addr).await.ok()?;
    socket
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut text = String::new();
    socket.read_to_string(&mut text).await.ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// Waits until `/healthz` answers `code`; returns its body.
pub async fn health_becomes(addr: &str, code: u16, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let got = get(addr, "/healthz").await;
        if let Some((c, body)) = &got {
            if *c == code {
                return body.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never answered {code}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_follows_the_server_and_metrics_count_what_was_archived() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 600, 71, 3);
    let options = SimOptions {
        rate: 300.0,
        auto_join: true,
        ..SimOptions::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_addr = listener.local_addr().unwrap();
    let sim = Simulator::start(
        listener,
        options.clone(),
        stream.spaces.clone(),
        Box::new(stream.payloads.clone().into_iter()),
    )
    .await
    .unwrap();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(
        &archive,
        &sim.url(),
        "simulator-token",
        &["--metrics-addr", &metrics_addr],
        &log,
    );
    health_becomes(&metrics_addr, 200, Duration::from_secs(20)).await;
    let want = snapshot(&reference(&stream)).await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    sim.finished().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (code, text) = get(&metrics_addr, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    let events = archive.stats()["events"].as_u64().unwrap();
    assert_eq!(
        metric(&text, "spaces_archive_archived_total"),
        events,
        "{text}"
    );
    assert_eq!(metric(&text, "spaces_archive_rejected_total"), 0);
    assert_eq!(metric(&text, "spaces_archive_connected"), 1);
    let live_chats = text
        .lines()
        .find(|l| {
            l.starts_with("spaces_archive_events_received_total{")
                && l.contains("source=\"live\"")
                && l.contains("category=\"chat\"")
        })
        .unwrap_or_else(|| panic!("no live chat count in:\n{text}"));
    assert!(
        live_chats
            .split_whitespace()
            .last()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(metric(&text, "spaces_archive_index_commit_lag_seconds"), 0);
    assert!(!text.contains("simulator-token"));
    for name in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(name.starts_with("spaces_archive_"), "{name}");
    }

    // The container health check's command agrees.
    let healthy = binary()
        .args(["health", "--addr", &metrics_addr])
        .output()
        .unwrap();
    assert_eq!(healthy.status.code(), Some(0), "{healthy:?}");

    // The server goes away: unhealthy, with the reason.
    sim.stop().await;
    let body = health_becomes(&metrics_addr, 503, Duration::from_secs(20)).await;
    assert!(body.contains("not connected"), "{body}");
    let unhealthy = binary()
        .args(["health", "--addr", &metrics_addr])
        .output()
        .unwrap();
    assert_eq!(unhealthy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unhealthy.stderr).contains("not connected"));
    // It comes back on the same address: healthy again.
    let listener = tokio::net::TcpListener::bind(sim_addr).await.unwrap();
    let sim = Simulator::start(
        listener,
        options,
        stream.spaces.clone(),
        Box::new(std::iter::empty()),
    )
    .await
    .unwrap();
    health_becomes(&metrics_addr, 200, Duration::from_secs(30)).await;
    let (_, text) = get(&metrics_addr, "/metrics").await.unwrap();
    assert!(metric(&text, "spaces_archive_reconnects_total") >= 1);
    assert_eq!(child.stop(), 0);
    sim.stop().await;
}
