//! A real full file system: a small tmpfs mounted by the test (it must run as root;
//! otherwise each test says so and passes without checking). `run` reports the
//! stall once, `/healthz` and `/metrics` say so, and once space is freed it resumes
//! by itself and ends complete; SIGTERM during a stall exits within 10 s with code 1;
//! `ingest` stops saying how far it got, and running it again continues; the batch
//! writer itself holds nothing half-written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use spaces_archive::event::decode::{decode_json, Decoded};
use spaces_archive::index::SearchIndex;
use spaces_archive::simulate::SimOptions;
use spaces_archive::store::{compress, Archive, Item, Source, StoredEvent};
use spaces_archive::writer::{ArchiveWriter, IndexCommitPolicy};

use crate::health::{free_port, get, health_becomes, metric};
use crate::helpers::{binary, scalar, TestArchive};
use crate::live::{reference, simulator, snapshot, spawn_run, stream, wait_for};

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a message) when this process may not mount.
    fn mount(size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .ok()?;
        if !status.success() {
            eprintln!("skipped: cannot mount a tmpfs here");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system until a write fails with ENOSPC; returns the filler.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 1 << 16];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        // Whatever half-block still fits, so the next page SQLite needs does not.
        let mut small = vec![0u8; 512];
        while file.write_all(&small).is_ok() {}
        small.clear();
        filler
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// An archive whose data dir is on `fs`.
fn archive_on(fs: &Tmpfs) -> TestArchive {
    let archive = TestArchive::new();
    std::os::unix::fs::symlink(fs.path(), archive.data_dir()).unwrap();
    archive
}

fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until the log holds `needle`.
async fn log_shows(path: &Path, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !log_text(path).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in:\n{}",
            log_text(path)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `run` has stored some payloads.
async fn archiving(archive: &TestArchive, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while archive.stored_events().await < 500 {
        assert!(
            Instant::now() < deadline,
            "nothing archived: {}",
            log_text(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_holds_through_a_full_disk_and_resumes_by_itself() {
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    let archive = archive_on(&fs);
    let stream = stream(archive.dir.path(), 8_000, 51, 8);
    let sim = simulator(
        SimOptions {
            rate: 400.0,
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let addr = format!("127.0.0.1:{}", free_port());
    let log = archive.dir.path().join("run.log");
    let args = ["--metrics-addr", &addr];
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &args, &log);
    archiving(&archive, &log).await;
    let filler = fs.fill();
    let body = health_becomes(&addr, 503, Duration::from_secs(60)).await;
    assert!(
        body.contains("archive storage: no space left on device"),
        "{body}"
    );
    let (_, metrics) = get(&addr, "/metrics").await.unwrap();
    assert_eq!(metric(&metrics, "spaces_archive_storage_failing"), 1);
    log_shows(&log, "no space left on device", Duration::from_secs(10)).await;
    // Several retries later there is still one line (then one a minute).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let text = log_text(&log);
    let lines = text
        .lines()
        .filter(|l| l.contains("storage failing"))
        .count();
    assert!((1..=2).contains(&lines), "{lines} lines:\n{text}");
    let path = archive.data_dir().display().to_string();
    assert!(text.contains(&path), "names the path: {text}");
    std::fs::remove_file(filler).unwrap();
    let want = snapshot(&reference(&stream)).await;
    sim.finished().await;
    wait_for(&archive, &want, Duration::from_secs(120)).await;
    health_becomes(&addr, 200, Duration::from_secs(60)).await;
    log_shows(&log, "writable again", Duration::from_secs(10)).await;
    assert_eq!(child.stop(), 0, "{}", log_text(&log));
    let verify = archive.run(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    // Attachments never took the room the archive needs: on a 64 MB disk none is
    // fetched, each waits saying why.
    let mut db = archive.db().await;
    assert_eq!(
        scalar(
            &mut db,
            "SELECT count(*) FROM files WHERE status = 'stored'"
        )
        .await,
        0
    );
    let waiting = scalar(
        &mut db,
        "SELECT count(*) FROM files WHERE status = 'failed' AND error LIKE '%leave % bytes for the archive itself'",
    )
    .await;
    assert!(waiting > 0, "no attachment says it waits for room");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_stall_exits_within_ten_seconds_and_nothing_is_lost() {
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    let archive = archive_on(&fs);
    let stream = stream(archive.dir.path(), 6_000, 52, 8);
    let sim = simulator(
        SimOptions {
            rate: 600.0,
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &[], &log);
    archiving(&archive, &log).await;
    let filler = fs.fill();
    log_shows(&log, "storage failing", Duration::from_secs(60)).await;
    let (code, took) = child.stop_timed();
    let text = log_text(&log);
    assert_eq!(code, 1, "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        text.contains("received payloads were not archived"),
        "{text}"
    );
    // Space back, started again: the backfill brings back what was not archived.
    std::fs::remove_file(filler).unwrap();
    let log2 = archive.dir.path().join("run2.log");
    let child = spawn_run(&archive, &sim.url(), "simulator-token", &[], &log2);
    let want = snapshot(&reference(&stream)).await;
    sim.finished().await;
    wait_for(&archive, &want, Duration::from_secs(120)).await;
    assert_eq!(child.stop(), 0);
    assert_eq!(archive.run(&["verify"]).code, 0);
    sim.stop().await;
}

#[test]
fn ingest_on_a_full_disk_says_how_far_it_got_and_continues_when_run_again() {
    let Some(fs) = Tmpfs::mount("6m") else { return };
    let archive = archive_on(&fs);
    let input = archive.dir.path().join("stream.jsonl");
    let generated = binary()
        .args(["generate", "--events", "20000", "--seed", "53"])
        .output()
        .unwrap();
    std::fs::write(&input, &generated.stdout).unwrap();
    let run = archive.run(&["ingest", input.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no space left on device") || run.stderr.contains("disk is full"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("read ") && run.stderr.contains(", archived "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("running the same ingest again continues"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("disk is full").count(),
        1,
        "said once: {}",
        run.stderr
    );
    fs.resize("256m");
    let again = archive.run(&["ingest", input.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let whole = TestArchive::new();
    assert_eq!(whole.run(&["ingest", input.to_str().unwrap()]).code, 0);
    let (ours, theirs) = (archive.stats(), whole.stats());
    for key in [
        "events", "messages", "versions", "removed", "spaces", "people",
    ] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    assert_eq!(archive.run(&["verify"]).code, 0);
}

fn item(text: &str) -> Item {
    let Ok(Decoded::Payload { raw, payload }) = decode_json(text) else {
        panic!("not a payload: {text}");
    };
    Item::Event(Box::new(StoredEvent {
        received_at: 1,
        source: Source::Live,
        raw: compress(raw.as_bytes()),
        sha256: spaces_archive::chain::sha256(raw.as_bytes()),
        decoded: *payload,
    }))
}

fn chat(id: &str, space: &str, title: &str, body: &str) -> String {
    serde_json::json!({
        "category": "chat", "_id": id, "topicId": space, "topicTitle": title,
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "sender": {"_id": "u1", "displayname": "Ann Lee"},
        "content": {"bodyText": format!("<p>{body}</p>")}
    })
    .to_string()
}

/// The batch writer against a temp-dir archive on a tmpfs: duplicates change
/// nothing, a rename reindexes the space's messages, and a batch written to a full
/// disk is refused whole (a storage failure) and written whole once space is back.
#[tokio::test(flavor = "multi_thread")]
async fn the_batch_writer_refuses_a_full_disk_whole_and_writes_once_space_is_back() {
    let Some(fs) = Tmpfs::mount("48m") else {
        return;
    };
    let dir = fs.path().join("data");
    let archive = Archive::open(&dir).await.unwrap();
    let index = SearchIndex::open(&dir).unwrap();
    let mut writer = ArchiveWriter::open(archive.clone(), &index, IndexCommitPolicy::default())
        .await
        .unwrap();
    let first = [
        item(&chat("m1", "s1", "Sales", "budget")),
        item(&chat("m1", "s1", "Sales", "budget")),
    ];
    let report = writer.write(&first).await.unwrap();
    assert_eq!((report.archived, report.duplicates), (1, 1));
    let rename = serde_json::json!({"category": "topic.updated",
        "content": {"_id": "s1", "title": "Sales EMEA", "modified": "2024-01-02T00:00:00.000Z"}});
    writer.write(&[item(&rename.to_string())]).await.unwrap();
    let filler = fs.fill();
    let big: Vec<Item> = (0..2_000)
        .map(|i| {
            item(&chat(
                &format!("b{i:05}"),
                "s1",
                "Sales EMEA",
                &"word ".repeat(400),
            ))
        })
        .collect();
    let error = writer.write(&big).await.unwrap_err();
    assert_eq!(
        error.storage_cause(),
        Some("no space left on device"),
        "{error}"
    );
    let mut db = crate::helpers::TestArchive::db_at(&dir).await;
    assert_eq!(
        scalar(&mut db, "SELECT count(*) FROM messages").await,
        1,
        "nothing half-written"
    );
    std::fs::remove_file(filler).unwrap();
    let report = writer.write(&big).await.unwrap();
    assert_eq!(report.archived, 2_000);
    writer.finish().await.unwrap();
    assert_eq!(
        scalar(&mut db, "SELECT count(*) FROM messages").await,
        2_001
    );
    let title: String = sqlx::query_scalar("SELECT title FROM spaces WHERE id = 's1'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(title, "Sales EMEA");
    drop(db);
    archive.close().await;
    let verify = binary()
        .arg("--data-dir")
        .arg(&dir)
        .arg("verify")
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let hits = binary()
        .arg("--data-dir")
        .arg(&dir)
        .args(["search", "space:emea", "--json"])
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&hits.stdout).lines().count();
    assert!(
        found >= 1,
        "the renamed space's messages are found by its new title"
    );
}
