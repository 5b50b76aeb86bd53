//! Nothing lost, whatever the server does: drops with a server that pages its REST
//! listing by offset (as a naive server does) and by keyset, the same under Avaya's
//! default REST limits, and messages the socket never delivers, found by the sweep.

use std::time::{Duration, Instant};

use serde_json::Value;
use spaces_archive::simulate::{Paging, SimOptions};

use crate::health::{free_port, get, metric};
use crate::helpers::TestArchive;
use crate::live::{
    reference, simulator, snapshot, spawn_run, spawn_run_plain, stream, wait_for, Stream,
};

/// Three drops (connects refused for a while after each) during a stream: every
/// message ends as the simulator's history has it, once.
async fn drops_lose_nothing(paging: Paging) {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 4_000, 43, 8);
    let options = SimOptions {
        rate: 800.0,
        drop_every: Some(Duration::from_millis(1_500)),
        down_for: Duration::from_millis(400),
        paging,
        page_size: 20,
        ..SimOptions::default()
    };
    let sim = simulator(options, &stream).await;
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &[], &log);
    let reference = reference(&stream);
    let want = snapshot(&reference).await;
    sim.finished().await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    // Space changes sent while the socket was down come from the listings after
    // each reconnect: every space ends with its title, type, status and members.
    let want_spaces = spaces(&reference).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while spaces(&archive).await != want_spaces {
        let got = spaces(&archive).await;
        let ours: Vec<_> = got.iter().filter(|s| !want_spaces.contains(s)).collect();
        let theirs: Vec<_> = want_spaces.iter().filter(|s| !got.contains(s)).collect();
        assert!(
            Instant::now() < deadline,
            "spaces differ: ours {ours:?}, the stream's {theirs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(child.stop(), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(crate::live::connects(&log) >= 4, "{text}");
    assert_eq!(archive.run(&["verify"]).code, 0);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drops_lose_nothing_when_the_server_pages_by_offset() {
    drops_lose_nothing(Paging::Offset).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drops_lose_nothing_when_the_server_pages_by_keyset() {
    drops_lose_nothing(Paging::Keyset).await;
}

/// Every space's title, type, status and present members.
async fn spaces(
    archive: &TestArchive,
) -> Vec<(String, Option<String>, Option<String>, Option<i64>, String)> {
    let mut db = archive.db().await;
    sqlx::query_as(
        "SELECT s.id, s.title, s.type, s.status, \
         coalesce((SELECT group_concat(person_id) FROM (SELECT person_id FROM space_members m \
           WHERE m.space_id = s.id AND m.left_at IS NULL ORDER BY person_id)), '') \
         FROM spaces s ORDER BY s.id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap_or_default()
}

/// Under Avaya's default REST limits (60 a minute per resource, 600 per 5 minutes),
/// three drops during a 20,000-event stream at 500 events/s: complete within 60 s of
/// the stream's end, because each backfill stops where the live stream began.
#[tokio::test(flavor = "multi_thread")]
async fn drops_under_the_default_rest_limits_complete_within_a_minute() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 20_000, 47, 8);
    let options = SimOptions {
        rate: 500.0,
        drop_every: Some(Duration::from_secs(12)),
        down_for: Duration::from_secs(1),
        paging: Paging::Offset,
        ..SimOptions::default()
    };
    let sim = simulator(options, &stream).await;
    let log = archive.dir.path().join("run.log");
    let env = [("SPACES_ARCHIVE_TOKEN", "simulator-token")];
    let child = spawn_run_plain(&archive, &sim.url(), &env, &["--log", "info"], &log);
    let want = snapshot(&reference(&stream)).await;
    sim.finished().await;
    let ended = Instant::now();
    let requests_at_end = sim
        .shared
        .message_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    let caught_up = ended.elapsed();
    let requests = sim
        .shared
        .message_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(child.stop(), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let connects = crate::live::connects(&log);
    assert!(connects >= 4, "three drops expected: {text}");
    // Each gap holds about (1 s down + reconnect) × 500 events, some 20 pages of 50;
    // a backfill that fetched the live stream too would need hundreds (the stream
    // is 400 pages long).
    let backfills = connects;
    assert!(
        requests <= 30 * backfills,
        "{requests} message requests for {backfills} backfills"
    );
    eprintln!(
        "default limits: {requests} message requests ({requests_at_end} at the stream's end) for {backfills} backfills; complete {:.1} s after the stream ended",
        caught_up.as_secs_f64()
    );
    for line in text.lines().filter(|l| l.contains("backfill done")) {
        eprintln!("{line}");
    }
    assert_eq!(archive.run(&["verify"]).code, 0);
    sim.stop().await;
}

/// Ids of the skipped new messages that no later payload of the stream names: those
/// only the sweep can bring (a later update or removal creates the others live), or a
/// backfill (of a new space, fetched whole once it is announced, or after a drop).
fn untouched(stream: &Stream, skipped: &[String]) -> Vec<String> {
    let named = |v: &Value, id: &str| {
        v["messageId"].as_str() == Some(id)
            || (v["_id"].as_str() == Some(id)
                && !matches!(v["category"].as_str(), Some("chat" | "idea" | "task")))
    };
    let payloads: Vec<Value> = stream
        .payloads
        .iter()
        .map(|p| serde_json::from_str(p.get()).unwrap())
        .collect();
    skipped
        .iter()
        .filter(|id| !payloads.iter().any(|p| named(p, id)))
        .cloned()
        .collect()
}

/// The sources of the payloads stored about a message.
async fn sources(archive: &TestArchive, id: &str) -> Vec<String> {
    let mut db = archive.db().await;
    sqlx::query_scalar("SELECT DISTINCT source FROM events WHERE message_id = ?")
        .bind(id)
        .fetch_all(&mut db)
        .await
        .unwrap()
}

/// Every 97th new message never sent on the socket, no drops: the sweep finds them
/// all, counts them, and names their spaces.
#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_finds_what_the_socket_never_delivered() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 3_000, 48, 6);
    let options = SimOptions {
        rate: 1_000.0,
        skip_every: Some(97),
        auto_join: true,
        ..SimOptions::default()
    };
    let sim = simulator(options, &stream).await;
    let log = archive.dir.path().join("run.log");
    let addr = format!("127.0.0.1:{}", free_port());
    let args = [
        "--sweep-interval",
        "2",
        "--sweep-window",
        "30d",
        "--metrics-addr",
        &addr,
        "--log",
        "info",
    ];
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &args, &log);
    let want = snapshot(&reference(&stream)).await;
    sim.finished().await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    let skipped = sim.shared.skipped.lock().unwrap().clone();
    assert!(skipped.len() >= 10, "{} skipped", skipped.len());
    let lost = untouched(&stream, &skipped);
    assert!(!lost.is_empty());
    // Each came back by the sweep or by a backfill (a new space's, or after a drop
    // on a loaded machine), never live.
    let mut expected = 0;
    for id in &lost {
        let from = sources(&archive, id).await;
        assert!(
            !from.iter().any(|s| s == "live"),
            "{id} came live: {from:?}"
        );
        expected += u64::from(from.iter().any(|s| s == "sweep"));
        assert!(
            from.iter().any(|s| s == "sweep" || s == "backfill"),
            "{id}: {from:?}"
        );
    }
    assert!(
        expected > 0,
        "the sweep found none of {} skipped",
        lost.len()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let recovered = loop {
        let metrics = get(&addr, "/metrics").await.map(|(_, body)| body);
        let n = metrics.map_or(0, |m| metric(&m, "spaces_archive_sweep_recovered_total"));
        if n >= expected || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        recovered, expected,
        "recovered vs skipped and never named again"
    );
    assert_eq!(child.stop(), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("messages the socket never delivered"),
        "{text}"
    );
    let mut db = archive.db().await;
    let swept = crate::helpers::scalar(
        &mut db,
        "SELECT count(*) FROM events WHERE source = 'sweep'",
    )
    .await;
    assert_eq!(swept as u64, expected);
    sim.stop().await;
}
