//! Interop: `run` against the reference Node `socket.io` servers, 2.x (Engine.IO v3,
//! as Avaya runs) and 4.x (Engine.IO v4), sending the seed payloads (and two
//! malformed events first). Each is archived completely, as `ingest` of the same
//! files archives them. The npm packages are installed on first use from
//! `tests/interop/package-lock.json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{fixture, npm_ci, TestArchive};
use crate::live::spawn_run;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Starts the reference server; returns it and its port.
fn node_server(version: &str, token: &str) -> (Child, u16) {
    npm_ci(&interop_dir(), "sio4");
    let mut child = Command::new("node")
        .arg(interop_dir().join("server.js"))
        .args([version, token])
        .arg(fixture("seed-payloads"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is needed for the interop tests");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the Node server: {line:?}"));
    (child, port)
}

async fn archived_by(version: &str, protocol: &str) {
    let token = "interop-token";
    let (mut server, port) = node_server(version, token);
    let archive = TestArchive::new();
    let reference = TestArchive::new();
    let files: Vec<String> = std::fs::read_dir(fixture("seed-payloads"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    let expected = reference.run(&args);
    assert_eq!(
        expected.code, 3,
        "two seeds have no id: {}",
        expected.stderr
    );
    let want = reference.stats();

    let url = format!("http://127.0.0.1:{port}");
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(&archive, &url, token, &["--protocol", protocol], &log);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if archive.data_dir().join("archive.sqlite").exists() {
            let mut db = archive.db().await;
            // The file exists (empty, private) a moment before it is migrated.
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&mut db)
                .await
                .unwrap_or(0);
            if stored >= want["events"].as_i64().unwrap() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not archived in 30 s: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let three 1 s heartbeats pass on the same connection.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(child.stop(), 0);
    let _ = server.kill();
    let _ = server.wait();
    let got = archive.stats();
    for key in [
        "events",
        "messages",
        "versions",
        "removed",
        "spaces",
        "people",
        "preferences",
    ] {
        assert_eq!(got[key], want[key], "{key}: {got} vs {want}");
    }
    // The seeds without an id, plus the two malformed events, are kept as rejected.
    assert_eq!(
        got["rejected"].as_i64().unwrap(),
        want["rejected"].as_i64().unwrap() + 1
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("1 connects"), "{text}");
    assert!(!text.contains(token));
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_io_2_over_engine_io_v3() {
    archived_by("2", "v3").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_io_4_over_engine_io_v4() {
    archived_by("4", "v4").await;
}
