//! `ingest -` killed with SIGKILL part-way through a stream, then the whole stream
//! ingested again: what the first run stored is recognised and skipped, and the
//! archive ends equal to one ingest of the whole stream.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{binary, scalar, TestArchive};
use crate::live::{reference, snapshot, stream};

/// Events in the stream, and how many of them the killed run is given.
const EVENTS: u64 = 20_000;
const FED: usize = 12_000;
/// The killed run is killed once this many payloads are stored.
const KILL_AT: i64 = 3_000;

/// `stats --json` without the count that depends on how often input was given.
fn counts(archive: &TestArchive) -> (Value, i64) {
    let mut stats = archive.stats();
    let duplicates = stats["duplicates"].as_i64().expect("duplicates");
    stats.as_object_mut().unwrap().remove("duplicates");
    (stats, duplicates)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_ingest_then_the_whole_stream_equals_one_ingest() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), EVENTS, 5, 8);
    let text = std::fs::read_to_string(&stream.file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut child = binary()
        .arg("--data-dir")
        .arg(archive.data_dir())
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ingest");
    // Part of the stream, written as fast as the pipe takes it; stdin stays open, so
    // the run is still reading when it is killed, and never sees the rest.
    let mut stdin = child.stdin.take().unwrap();
    let part: String = lines[..FED].iter().map(|l| format!("{l}\n")).collect();
    let feeder = std::thread::spawn(move || {
        // The pipe breaks when the run is killed.
        let _ = stdin.write_all(part.as_bytes());
        stdin
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while archive.stored_events().await < KILL_AT {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest exited before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "fewer than {KILL_AT} payloads stored within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(feeder.join().unwrap());
    let before = archive.stored_events().await;
    let duplicates_before = {
        let mut db = archive.db().await;
        scalar(
            &mut db,
            "SELECT value FROM counters WHERE name = 'duplicates'",
        )
        .await
    };
    assert!(
        (KILL_AT..EVENTS as i64).contains(&before),
        "{before} payloads stored by the killed run"
    );

    let run = archive.run(&["ingest", stream.file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reference = reference(&stream);
    assert_eq!(snapshot(&archive).await, snapshot(&reference).await);
    let (got, duplicates) = counts(&archive);
    let (want, stream_duplicates) = counts(&reference);
    assert_eq!(got, want);
    assert_eq!(
        duplicates,
        stream_duplicates + before + duplicates_before,
        "what the killed run stored is counted as received again"
    );
    let verify = archive.run(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}
