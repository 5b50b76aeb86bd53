//! Attachments' bytes: `run` against the in-process simulator fetches every file
//! (no credential ever reaching the storage), stores each content once under its
//! SHA-256, marks missing and oversized ones, survives flaky downloads, expired URLs
//! and a restart; a word inside a PDF or DOCX finds its message; `files verify`,
//! `verify --files` and `export --files` catch altered and removed files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spaces_archive::simulate::files::{
    file_bytes, is_flaky, is_missing, marker, FileMeta, FileOptions,
};
use spaces_archive::simulate::{SimOptions, Simulator};
use sqlx::Row;

use crate::helpers::{rows, scalar, TestArchive};
use crate::live::{reference, simulator, snapshot, spawn_run, stream, wait_for, Stream};

const TOKEN: &str = "simulator-token";

/// Every file the stream names (attachments and thumbnails), by key.
fn named_files(stream: &Stream) -> BTreeMap<String, FileMeta> {
    let mut files = BTreeMap::new();
    for payload in &stream.payloads {
        let value: Value = serde_json::from_str(payload.get()).unwrap();
        for item in value["content"]["data"].as_array().into_iter().flatten() {
            let name = item["name"].as_str().unwrap_or("file").to_string();
            let size = item["fileSize"].as_u64().unwrap_or(1_000);
            if let Some(key) = item["fileId"].as_str().filter(|k| !k.is_empty()) {
                files.entry(key.to_string()).or_insert(FileMeta {
                    key: key.into(),
                    name,
                    size,
                });
            }
            if let Some(key) = item["thumbnailFile"].as_str().filter(|k| !k.is_empty()) {
                files.entry(key.to_string()).or_insert(FileMeta {
                    key: key.into(),
                    name: "thumbnail.png".into(),
                    size: 2_000,
                });
            }
        }
    }
    files
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Waits until the archive holds `want` files, none pending or failed.
async fn wait_for_files(archive: &TestArchive, want: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if archive.data_dir().join("archive.sqlite").exists() {
            let mut db = archive.db().await;
            let total = scalar(&mut db, "SELECT count(*) FROM files").await;
            let open = scalar(
                &mut db,
                "SELECT count(*) FROM files WHERE status IN ('pending', 'failed')",
            )
            .await;
            if total as usize >= want && open == 0 {
                return;
            }
            if Instant::now() >= deadline {
                let known: Vec<String> = rows(&mut db, "SELECT file_id FROM files")
                    .await
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                panic!("{total} of {want} files known, {open} still pending or failed; known: {known:?}");
            }
        }
        assert!(Instant::now() < deadline, "the archive never appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (file_id → (status, sha256)) as stored.
async fn file_rows(archive: &TestArchive) -> BTreeMap<String, (String, Option<String>)> {
    let mut db = archive.db().await;
    rows(&mut db, "SELECT file_id, status, sha256 FROM files")
        .await
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                (r.get::<String, _>(1), r.get::<Option<String>, _>(2)),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_fetches_every_attachment_of_a_generated_stream_over_v3() {
    let dir = tempfile::tempdir().unwrap();
    let stream = stream(dir.path(), 1_500, 11, 6);
    let files = named_files(&stream);
    assert!(files.len() > 40, "the stream names {} files", files.len());
    let options = FileOptions {
        missing_every: Some(7),
        flaky_every: Some(5),
        expired_every: Some(3),
        ..FileOptions::default()
    };
    let sim = simulator(
        SimOptions {
            rate: 0.0,
            files: options.clone(),
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let archive = TestArchive::new();
    let log = dir.path().join("run.log");
    let limit = 1 << 20;
    let run = spawn_run(
        &archive,
        &sim.url(),
        TOKEN,
        &["--max-file-size", "1MiB"],
        &log,
    );
    let want = snapshot(&reference(&stream)).await;
    wait_for(&archive, &want, Duration::from_secs(120)).await;
    wait_for_files(&archive, files.len(), Duration::from_secs(120)).await;
    assert_eq!(run.stop(), 0);
    let stored = file_rows(&archive).await;
    let stats = sim.shared.files.stats();
    let (mut flaky, mut large) = (0, 0);
    for (key, meta) in &files {
        let (status, sha) = stored
            .get(key)
            .unwrap_or_else(|| panic!("file {key} not queued"));
        let thumbnail = key.ends_with("-thumb");
        let too_large = !thumbnail && meta.size > limit;
        if too_large {
            large += 1;
            assert_eq!(status, "too_large", "{key}");
            assert_eq!(
                stats.downloads.get(key),
                None,
                "{key} was fetched though too large"
            );
        } else if is_missing(&options, key) {
            assert_eq!(status, "gone", "{key}");
        } else {
            flaky += usize::from(is_flaky(&options, key));
            assert_eq!(status, "stored", "{key}");
            let served = file_bytes(meta);
            assert_eq!(sha.as_deref(), Some(sha256_hex(&served).as_str()), "{key}");
            let path = archive.data_dir().join("files").join(sha.as_ref().unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), served, "{key}");
            assert_eq!(spaces_archive::private::mode_of(&path), Some(0o600));
        }
    }
    assert!(large > 0 && flaky > 0, "{large} too large, {flaky} flaky");
    assert!(stats.flaky_served > 0, "no flaky answer was served");
    assert!(stats.expired > 0, "no expired URL was used");
    assert_eq!(stats.credentials_seen, 0, "the storage saw a credential");
    // One copy per distinct content, nothing partial left.
    let distinct: BTreeSet<&String> = stored.values().filter_map(|(_, s)| s.as_ref()).collect();
    let on_disk = std::fs::read_dir(archive.data_dir().join("files"))
        .unwrap()
        .count();
    assert_eq!(on_disk, distinct.len());
    // `stats` counts them; `files verify` passes.
    let json = archive.stats();
    assert_eq!(json["files"]["by_status"]["too_large"], large);
    assert_eq!(json["files"]["stored_contents"], distinct.len());
    let verified = archive.run(&["files", "verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    sim.stop().await;
}

/// A small stream whose first messages carry chosen attachments.
fn crafted_stream(dir: &Path, attachments: &[Vec<Value>]) -> Stream {
    let mut stream = stream(dir, 120, 5, 2);
    let mut chats = stream
        .payloads
        .iter_mut()
        .filter(|p| serde_json::from_str::<Value>(p.get()).unwrap()["category"] == "chat");
    for data in attachments {
        let payload = chats.next().expect("enough chats");
        let mut value: Value = serde_json::from_str(payload.get()).unwrap();
        value["content"]["data"] = Value::Array(data.clone());
        *payload = serde_json::value::to_raw_value(&value).unwrap();
    }
    drop(chats);
    // Only the crafted messages carry files.
    for payload in stream.payloads.iter_mut() {
        let mut value: Value = serde_json::from_str(payload.get()).unwrap();
        let crafted = attachments
            .iter()
            .any(|a| value["content"]["data"] == Value::Array(a.clone()));
        if !crafted
            && value["content"]["data"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
        {
            value["content"]["data"] = json!([]);
            *payload = serde_json::value::to_raw_value(&value).unwrap();
        }
    }
    let text: String = stream
        .payloads
        .iter()
        .map(|p| format!("{}\n", p.get()))
        .collect();
    std::fs::write(&stream.file, text).unwrap();
    stream
}

fn attachment(key: &str, name: &str, mime: &str, size: u64) -> Value {
    json!({"fileId": key, "name": name, "providerFileType": mime, "fileSize": size,
           "fileType": "document", "provider": "native", "path": "", "thumbnailFile": ""})
}

const PDF: &str = "application/pdf";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

async fn start(stream: &Stream, files: FileOptions) -> Simulator {
    simulator(
        SimOptions {
            rate: 0.0,
            files,
            ..SimOptions::default()
        },
        stream,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_inside_a_pdf_or_docx_finds_its_message_and_shared_files_are_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = attachment("file-report", "report.pdf", PDF, 3_000);
    let docx = attachment("file-memo", "memo.docx", DOCX, 3_000);
    let stream = crafted_stream(dir.path(), &[vec![pdf.clone()], vec![docx], vec![pdf]]);
    let sim = start(&stream, FileOptions::default()).await;
    let archive = TestArchive::new();
    let run = spawn_run(
        &archive,
        &sim.url(),
        TOKEN,
        &[],
        &dir.path().join("run.log"),
    );
    wait_for_files(&archive, 2, Duration::from_secs(60)).await;
    // The shared PDF: one row, two messages, one copy.
    let listed = archive.run(&["files", "--json"]);
    let listed: Vec<Value> = listed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let report = listed
        .iter()
        .find(|f| f["file_id"] == "file-report")
        .unwrap();
    assert_eq!(report["status"], "stored");
    assert_eq!(report["messages"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(
        std::fs::read_dir(archive.data_dir().join("files"))
            .unwrap()
            .count(),
        2
    );
    for (key, messages) in [("file-report", 2), ("file-memo", 1)] {
        let word = marker(key);
        let deadline = Instant::now() + Duration::from_secs(30);
        let hits = loop {
            let found = archive.run(&["search", &word, "--json"]);
            let hits: Vec<Value> = found
                .stdout
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if hits.len() >= messages || Instant::now() > deadline {
                break hits;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(hits.len(), messages, "{word} inside {key}");
        assert!(
            hits.iter().all(|h| h["matched_in"] == "attachment"),
            "{hits:?}"
        );
        let fielded = archive.run(&["search", &format!("attachment:{word}")]);
        assert!(
            fielded.stdout.contains("[matched inside an attachment]"),
            "{}",
            fielded.stdout
        );
    }
    assert_eq!(run.stop(), 0);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_fetching_resumes_without_fetching_again() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<Value>> = (0..12)
        .map(|i| {
            vec![attachment(
                &format!("slow-{i}"),
                &format!("log-{i}.txt"),
                "text/plain",
                200_000,
            )]
        })
        .collect();
    let stream = crafted_stream(dir.path(), &files);
    let slow = FileOptions {
        slow: Some(400_000),
        ..FileOptions::default()
    };
    let sim = start(&stream, slow).await;
    let archive = TestArchive::new();
    let run = spawn_run(
        &archive,
        &sim.url(),
        TOKEN,
        &[],
        &dir.path().join("run-1.log"),
    );
    // Stop once some, not all, are stored.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if archive.data_dir().join("archive.sqlite").exists() {
            let mut db = archive.db().await;
            if scalar(
                &mut db,
                "SELECT count(*) FROM files WHERE status = 'stored'",
            )
            .await
                >= 3
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "nothing stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(run.stop(), 0);
    let before: BTreeSet<String> = file_rows(&archive)
        .await
        .into_iter()
        .filter(|(_, (status, _))| status == "stored")
        .map(|(key, _)| key)
        .collect();
    assert!(
        before.len() < 12,
        "all were stored before the restart: nothing to resume"
    );
    let run = spawn_run(
        &archive,
        &sim.url(),
        TOKEN,
        &[],
        &dir.path().join("run-2.log"),
    );
    wait_for_files(&archive, 12, Duration::from_secs(90)).await;
    assert_eq!(run.stop(), 0);
    let stats = sim.shared.files.stats();
    for key in &before {
        assert_eq!(
            stats.downloads.get(key),
            Some(&1),
            "{key} was fetched again"
        );
    }
    assert!(file_rows(&archive)
        .await
        .values()
        .all(|(s, _)| s == "stored"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_fetch_fills_an_ingested_archive_and_verify_catches_altered_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![
        attachment("note-a", "a.txt", "text/plain", 5_000),
        attachment("note-b", "b.txt", "text/plain", 7_000),
    ];
    let stream = crafted_stream(
        dir.path(),
        &[data, vec![attachment("gone-1", "c.txt", "text/plain", 100)]],
    );
    // Nobody subscribes: the simulator plays the stream (and so knows its files) at once.
    let options = SimOptions {
        rate: 0.0,
        wait_for_subscriber: false,
        ..SimOptions::default()
    };
    let sim = simulator(options, &stream).await;
    sim.finished().await;
    let archive = TestArchive::new();
    let ingested = archive.run(&["ingest", stream.file.to_str().unwrap()]);
    assert_eq!(ingested.code, 0, "{}", ingested.stderr);
    assert_eq!(archive.stats()["files"]["by_status"]["pending"], 3);
    // An export before fetching says the bytes are not stored.
    let out = dir.path().join("before.jsonl");
    assert_eq!(
        archive.run(&["export", "-o", out.to_str().unwrap()]).code,
        0
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(r#""status":"pending","stored":false"#),
        "{text}"
    );
    // `files fetch` fetches what `ingest` only queued.
    let fetched = crate::helpers::binary()
        .arg("--data-dir")
        .arg(archive.data_dir())
        .args(["files", "fetch", "--api", &format!("{}/api", sim.url())])
        .env("SPACES_ARCHIVE_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&fetched.stderr);
    assert!(fetched.status.success(), "{stderr}");
    assert!(stderr.contains("fetched 3 files: 3 stored"), "{stderr}");
    let stored = file_rows(&archive).await;
    let sha_a = stored["note-a"].1.clone().unwrap();
    let meta = FileMeta {
        key: "note-a".into(),
        name: "a.txt".into(),
        size: 5_000,
    };
    assert_eq!(sha_a, sha256_hex(&file_bytes(&meta)));
    assert_eq!(archive.run(&["verify", "--files"]).code, 0);
    // export --files writes and verifies them.
    let out = dir.path().join("export.jsonl");
    let exported = archive.run(&["export", "--files", "-o", out.to_str().unwrap()]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["files"]["count"], 3, "{last}");
    let beside = dir.path().join("export.jsonl.files");
    assert!(beside.join(&sha_a).exists());
    let checked = archive.run(&["export", "verify", out.to_str().unwrap()]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    // An altered exported file fails `export verify`.
    flip_byte(&beside.join(&sha_a));
    let checked = archive.run(&["export", "verify", out.to_str().unwrap()]);
    assert_eq!(checked.code, 1);
    assert!(
        checked.stderr.contains("altered file"),
        "{}",
        checked.stderr
    );
    // A flipped byte and a removed file in the archive fail `files verify`.
    let files_dir = archive.data_dir().join("files");
    flip_byte(&files_dir.join(&sha_a));
    let sha_b = stored["note-b"].1.clone().unwrap();
    std::fs::remove_file(files_dir.join(&sha_b)).unwrap();
    let verified = archive.run(&["files", "verify"]);
    assert_eq!(verified.code, 1);
    assert!(
        verified
            .stderr
            .contains(&format!("files/{sha_a} (file note-a): altered")),
        "{}",
        verified.stderr
    );
    assert!(
        verified
            .stderr
            .contains(&format!("files/{sha_b} (file note-b): missing")),
        "{}",
        verified.stderr
    );
    assert_eq!(archive.run(&["verify", "--files"]).code, 1);
    sim.stop().await;
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}
