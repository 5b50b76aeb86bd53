//! `run` against the in-process simulator (a real socketioxide server on loopback):
//! complete archives over v3 and v4, heartbeats, drops and restarts, SIGKILL,
//! refused subscriptions and garbage frames (token redaction: `redaction.rs`). Every
//! archive is compared with an `ingest` of the same stream.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use spaces_archive::generate::{GenerateOptions, Generator};
use spaces_archive::simulate::{SimOptions, Simulator};
use sqlx::Row;

use crate::helpers::{binary, scalar, TestArchive};

/// A generated stream: its payloads, its first spaces, and the same as JSON lines.
pub struct Stream {
    pub payloads: Vec<Box<RawValue>>,
    pub spaces: Vec<(String, String)>,
    pub file: PathBuf,
}

pub fn stream(dir: &Path, events: u64, seed: u64, spaces: usize) -> Stream {
    let generator = Generator::new(GenerateOptions {
        events,
        seed,
        spaces,
    });
    let first_spaces = generator.spaces();
    let payloads: Vec<Box<RawValue>> = generator
        .map(|v| serde_json::value::to_raw_value(&v).unwrap())
        .collect();
    let file = dir.join(format!("stream-{seed}.jsonl"));
    let text: String = payloads.iter().map(|p| format!("{}\n", p.get())).collect();
    std::fs::write(&file, text).unwrap();
    Stream {
        payloads,
        spaces: first_spaces,
        file,
    }
}

pub async fn simulator(options: SimOptions, stream: &Stream) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(
        listener,
        options,
        stream.spaces.clone(),
        Box::new(stream.payloads.clone().into_iter()),
    )
    .await
    .unwrap()
}

/// A `run` process, killed if a test panics before stopping it.
pub struct Running(pub Option<Child>);

impl Running {
    /// SIGTERM, then the exit code.
    pub fn stop(mut self) -> i32 {
        stop(self.0.take().expect("running"))
    }

    /// SIGTERM, then the exit code and how long it took to exit.
    pub fn stop_timed(mut self) -> (i32, Duration) {
        let started = Instant::now();
        let code = stop(self.0.take().expect("running"));
        (code, started.elapsed())
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        let mut child = self.0.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `run` against `sim`, its stderr in `log`.
pub fn spawn_run(
    archive: &TestArchive,
    url: &str,
    token: &str,
    extra: &[&str],
    log: &Path,
) -> Running {
    spawn_run_with(archive, url, &[("SPACES_ARCHIVE_TOKEN", token)], extra, log)
}

/// Starts `run` against `sim` with these environment variables, its stderr in `log`
/// (with quick reconnects, a short backfill safety window and no REST limits).
pub fn spawn_run_with(
    archive: &TestArchive,
    url: &str,
    env: &[(&str, &str)],
    extra: &[&str],
    log: &Path,
) -> Running {
    let mut args = vec!["--max-reconnect-delay", "1", "--backfill-safety", "5"];
    args.extend([
        "--rest-per-minute",
        "100000",
        "--rest-per-5-minutes",
        "100000",
    ]);
    args.extend(extra);
    spawn_run_plain(archive, url, env, &args, log)
}

/// Starts `run` against `sim` with only `--server`, `--api`, a status line every
/// second and `extra`: otherwise its defaults, as a new user runs it.
pub fn spawn_run_plain(
    archive: &TestArchive,
    url: &str,
    env: &[(&str, &str)],
    extra: &[&str],
    log: &Path,
) -> Running {
    let log = std::fs::File::create(log).unwrap();
    binary()
        .arg("--data-dir")
        .arg(archive.data_dir())
        .args([
            "run",
            "--server",
            url,
            "--api",
            &format!("{url}/api"),
            "--status-interval",
            "1",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(|child| Running(Some(child)))
        .unwrap()
}

/// SIGTERM, then the exit code.
fn stop(mut child: Child) -> i32 {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "run did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every message's id, removal and current text, in id order.
pub async fn snapshot(archive: &TestArchive) -> Vec<(String, bool, String)> {
    let mut db = archive.db().await;
    sqlx::query(
        "SELECT m.id, m.removed_at IS NOT NULL AS removed, coalesce(v.text, '') AS text FROM messages m \
         JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno ORDER BY m.id",
    )
    .fetch_all(&mut db)
    .await
    // Empty until migrated: the file exists (private) a moment before its tables.
    .unwrap_or_default()
    .into_iter()
    .map(|r| (r.get("id"), r.get::<bool, _>("removed"), r.get("text")))
    .collect()
}

/// The reference: the same stream ingested.
pub fn reference(stream: &Stream) -> TestArchive {
    let reference = TestArchive::new();
    let run = reference.run(&["ingest", stream.file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    reference
}

/// Waits until the archive's message snapshot equals `want` (or fails after `limit`).
pub async fn wait_for(archive: &TestArchive, want: &[(String, bool, String)], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if archive.data_dir().join("archive.sqlite").exists() && snapshot(archive).await == want {
            return;
        }
        if Instant::now() > deadline {
            let got = snapshot(archive).await;
            let missing: Vec<_> = want.iter().filter(|m| !got.contains(m)).collect();
            let extra: Vec<_> = got.iter().filter(|m| !want.contains(m)).collect();
            let cut = |v: &[&(String, bool, String)]| -> Vec<String> {
                v.iter()
                    .take(5)
                    .map(|(id, r, t)| {
                        format!(
                            "{id} removed={r} {:?}",
                            t.chars().take(40).collect::<String>()
                        )
                    })
                    .collect()
            };
            panic!(
                "archive differs after {limit:?}: {} messages missing or different {:?}, {} unexpected {:?}",
                missing.len(),
                cut(&missing),
                extra.len(),
                cut(&extra)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Payloads the reference stored (by their `dedup_key`) that `archive` lacks.
pub async fn missing_payloads(archive: &TestArchive, reference: &TestArchive) -> usize {
    let digests = |db: &TestArchive| {
        let path = db.data_dir();
        async move {
            let mut conn = TestArchive::db_at(&path).await;
            let rows: Vec<(Vec<u8>, String, Option<String>)> =
                sqlx::query_as("SELECT dedup_key, category, space_id FROM events")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            rows.into_iter()
                .map(|(d, c, s)| (d, format!("{c} in {s:?}")))
                .collect::<std::collections::HashMap<_, _>>()
        }
    };
    let ours = digests(archive).await;
    let missing: Vec<String> = digests(reference)
        .await
        .into_iter()
        .filter(|(d, _)| !ours.contains_key(d))
        .map(|(_, what)| what)
        .collect();
    if !missing.is_empty() {
        eprintln!("payloads missing: {missing:?}");
    }
    missing.len()
}

pub fn connects(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("stopped:"))
        .unwrap_or_else(|| panic!("no final line in:\n{text}"));
    line.split(", ")
        .find_map(|part| part.strip_suffix(" connects"))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

async fn complete_archive(protocol: &str) {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 5_000, 41, 8);
    let sim = simulator(
        SimOptions {
            rate: 5_000.0,
            auto_join: true,
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(
        &archive,
        &sim.url(),
        "simulator-token",
        &["--protocol", protocol],
        &log,
    );
    let reference = reference(&stream);
    let want = snapshot(&reference).await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    sim.finished().await;
    assert_eq!(
        child.stop(),
        0,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    // Exact counts: every payload of the stream stored (backfill adds the REST form
    // of messages it fetched, which changes no version), every version once,
    // nothing rejected.
    assert_eq!(missing_payloads(&archive, &reference).await, 0);
    let (ours, theirs) = (archive.stats(), reference.stats());
    for key in [
        "unknown", "rejected", "versions", "removed", "spaces", "messages", "people",
    ] {
        assert_eq!(ours[key], theirs[key], "{key}: {ours} vs {theirs}");
    }
    assert_eq!(connects(&log), 1);
    assert_eq!(archive.run(&["verify"]).code, 0);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_archives_a_whole_stream_over_v3() {
    complete_archive("v3").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_archives_a_whole_stream_over_v4() {
    complete_archive("v4").await;
}

/// With a 1 s heartbeat, one connection lasts 10 s in both revisions.
#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_keep_one_connection_up() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 400, 42, 4);
    let options = SimOptions {
        rate: 40.0,
        ping_interval: Duration::from_secs(1),
        ping_timeout: Duration::from_millis(500),
        ..SimOptions::default()
    };
    let sim = simulator(options, &stream).await;
    let mut children = Vec::new();
    for protocol in ["v3", "v4"] {
        let dir = TestArchive::new();
        let log = dir.dir.path().join("run.log");
        let child = spawn_run(
            &dir,
            &sim.url(),
            "simulator-token",
            &["--protocol", protocol],
            &log,
        );
        children.push((dir, log, child));
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    for (dir, log, child) in children {
        assert_eq!(child.stop(), 0);
        assert_eq!(
            connects(&log),
            1,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(dir.stats()["events"].as_i64().unwrap() > 200);
    }
    sim.stop().await;
}

/// `run` killed with SIGKILL mid-stream and started again: nothing lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_loses_nothing_once_restarted() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 4_000, 44, 8);
    let sim = simulator(
        SimOptions {
            rate: 1_000.0,
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &[], &log);
    // Killed mid-stream: once some payloads are stored (a fixed wait was too short
    // on a loaded machine, where `run` had not connected yet).
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored = || archive.stored_events();
    while stored().await < 200 {
        assert!(Instant::now() < deadline, "nothing archived within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill();
    let events_before = stored().await;
    assert!(
        events_before > 0 && events_before < 3_900,
        "{events_before}"
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let log2 = archive.dir.path().join("run2.log");
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &[], &log2);
    let want = snapshot(&reference(&stream)).await;
    sim.finished().await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    assert_eq!(child.stop(), 0);
    assert_eq!(archive.run(&["verify"]).code, 0);
    sim.stop().await;
}

/// One space's subscription refused, malformed events mixed in: the other spaces
/// are archived live, the refusal is shown, nothing drops the socket.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_space_and_garbage_do_not_stop_the_rest() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 2_000, 45, 5);
    let refused = stream.spaces[0].0.clone();
    let options = SimOptions {
        rate: 1_000.0,
        refuse: vec![refused.clone()],
        garbage_every: Some(Duration::from_millis(300)),
        ..SimOptions::default()
    };
    let sim = simulator(options, &stream).await;
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &[], &log);
    sim.finished().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(child.stop(), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("subscription to {refused} refused")),
        "{text}"
    );
    assert_eq!(connects(&log), 1, "{text}");
    // Every message of the other spaces, as the reference has it.
    let reference = reference(&stream);
    assert_eq!(
        others(&archive, &refused).await,
        others(&reference, &refused).await
    );
    let mut db = archive.db().await;
    let rejected = scalar(
        &mut db,
        "SELECT count(*) FROM rejected WHERE source = 'live'",
    )
    .await;
    assert!(
        rejected >= 2,
        "garbage frames are kept as rejected: {rejected}"
    );
    sim.stop().await;
}

/// Messages outside `refused`.
async fn others(archive: &TestArchive, refused: &str) -> i64 {
    let mut db = archive.db().await;
    sqlx::query_scalar("SELECT count(*) FROM messages WHERE space_id != ?")
        .bind(refused)
        .fetch_one(&mut db)
        .await
        .unwrap()
}
