//! The index agrees with SQLite after crashes, `verify` notices when it does not, and
//! `reindex` repairs it.

use std::process::Stdio;
use std::time::Duration;

use spaces_archive::generate::{write_stream, GenerateOptions};

use crate::helpers::{binary, TestArchive};

/// Starts `ingest` of `path` in the background.
fn spawn_ingest(archive: &TestArchive, path: &std::path::Path) -> std::process::Child {
    binary()
        .arg("--data-dir")
        .arg(archive.data_dir())
        .args(["ingest", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn generated(
    archive: &TestArchive,
    events: u64,
    seed: u64,
) -> (std::path::PathBuf, spaces_archive::generate::Expected) {
    let path = archive.dir.path().join(format!("gen-{seed}.jsonl"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let expected = write_stream(
        GenerateOptions {
            events,
            seed,
            spaces: 6,
        },
        &mut file,
    )
    .unwrap();
    (path, expected)
}

#[test]
fn killed_ingests_leave_a_consistent_archive() {
    let archive = TestArchive::new();
    let (path, expected) = generated(&archive, 50_000, 11);
    for delay_ms in [150, 500, 900, 1_400, 2_000] {
        let mut child = spawn_ingest(&archive, &path);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let run = archive.run(&["ingest", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let verify = archive.run(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(
        verify.stderr.contains("every message indexed exactly once"),
        "{}",
        verify.stderr
    );
    let stats = archive.stats();
    let messages = expected.chat + expected.post + expected.task;
    assert_eq!(
        stats["messages"]["chat"].as_u64().unwrap()
            + stats["messages"]["post"].as_u64().unwrap()
            + stats["messages"]["task"].as_u64().unwrap(),
        messages
    );
    assert_eq!(stats["versions"], expected.versions);
    assert_eq!(stats["events"], expected.events - expected.duplicates);
    assert!(
        verify.stderr.contains(&format!("ok: {messages} messages")),
        "{}",
        verify.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_a_missing_document_and_reindex_repairs_it() {
    let archive = TestArchive::new();
    let (path, _) = generated(&archive, 2_000, 3);
    assert_eq!(archive.run(&["ingest", path.to_str().unwrap()]).code, 0);
    assert_eq!(archive.run(&["verify"]).code, 0);
    let victim: String = {
        let mut db = archive.db().await;
        sqlx::query_scalar("SELECT id FROM messages ORDER BY id LIMIT 1")
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    let index = spaces_archive::index::SearchIndex::open(&archive.data_dir()).unwrap();
    let mut writer = index.writer().unwrap();
    writer.delete(&victim);
    writer.commit().unwrap();
    writer.finish().unwrap();

    let run = archive.run(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("messages missing from the index: 1") && run.stderr.contains(&victim),
        "{}",
        run.stderr
    );
    assert!(archive
        .run(&["search", &format!("id:{victim}")])
        .stdout
        .is_empty());

    let run = archive.run(&["reindex"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(archive.run(&["verify"]).code, 0);
    let found = archive
        .run(&["search", "--json", &format!("id:{victim}")])
        .stdout;
    assert_eq!(found.lines().count(), 1);
}

/// An index written by an older version (another schema) is refused with the way
/// out, and `reindex` replaces it with a complete one.
#[test]
fn an_index_from_another_version_is_rebuilt_by_reindex() {
    let archive = TestArchive::new();
    let (path, _) = generated(&archive, 2_000, 5);
    assert_eq!(archive.run(&["ingest", path.to_str().unwrap()]).code, 0);
    let index_dir = archive.data_dir().join("index");
    std::fs::remove_dir_all(&index_dir).unwrap();
    std::fs::create_dir_all(&index_dir).unwrap();
    let mut old = tantivy::schema::Schema::builder();
    old.add_text_field("id", tantivy::schema::STRING);
    tantivy::Index::create_in_dir(&index_dir, old.build()).unwrap();

    let run = archive.run(&["search", "budget"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("another version") && run.stderr.contains("reindex"),
        "{}",
        run.stderr
    );
    let run = archive.run(&["reindex"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(archive.run(&["verify"]).code, 0);
    assert!(!archive
        .run(&["search", "--limit", "1", "budget"])
        .stdout
        .is_empty());
}

#[test]
fn a_search_during_an_ingest_sees_what_was_committed_before() {
    let archive = TestArchive::new();
    let marker = r#"{"_id":"early1","category":"chat","topicId":"s9","content":{"bodyText":"zebracorn sighting"}}"#;
    assert_eq!(archive.ingest_text("early.jsonl", marker).code, 0);
    let (path, _) = generated(&archive, 60_000, 5);
    let mut child = spawn_ingest(&archive, &path);
    std::thread::sleep(Duration::from_millis(400));
    let run = archive.run(&["search", "--json", "zebracorn"]);
    let still_running = child.try_wait().unwrap().is_none();
    child.wait().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\"early1\""), "{}", run.stdout);
    assert!(
        still_running,
        "the search should have run while the ingest was writing"
    );
    let run = archive.run(&["ingest", path.to_str().unwrap()]);
    assert!(run.stderr.contains("archived 0"), "{}", run.stderr);
}

#[test]
fn two_writers_do_not_share_an_archive() {
    let archive = TestArchive::new();
    let (path, _) = generated(&archive, 60_000, 6);
    let mut child = spawn_ingest(&archive, &path);
    std::thread::sleep(Duration::from_millis(400));
    let run = archive.run(&["ingest", path.to_str().unwrap()]);
    child.wait().unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("being written by another process"),
        "{}",
        run.stderr
    );
}
