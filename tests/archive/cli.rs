//! Exit codes, the data directory, and the `spaces` listing.

use crate::helpers::{binary, fixture, TestArchive};

#[test]
fn bad_usage_is_exit_code_2() {
    let archive = TestArchive::new();
    assert_eq!(archive.run(&["ingest", "--no-such-flag"]).code, 2);
    assert_eq!(archive.run(&["generate"]).code, 2, "--events is required");
    assert_eq!(archive.run(&["no-such-command"]).code, 2);
}

#[test]
fn an_unwritable_data_dir_is_exit_code_1() {
    let archive = TestArchive::new();
    let blocker = archive.dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = binary()
        .args([
            "--data-dir",
            blocker.join("data").to_str().unwrap(),
            "ingest",
            fixture("seed-payloads/chat.json").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot use data directory") && stderr.contains("file/data"),
        "{stderr}"
    );
}

#[test]
fn a_missing_input_file_is_exit_code_1_and_named() {
    let archive = TestArchive::new();
    let run = archive.run(&["ingest", "/no/such/file.jsonl"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("/no/such/file.jsonl"), "{}", run.stderr);
}

#[test]
fn the_data_dir_comes_from_the_environment() {
    let archive = TestArchive::new();
    let out = binary()
        .env("SPACES_ARCHIVE_DATA_DIR", archive.data_dir())
        .args([
            "ingest",
            fixture("seed-payloads/chat.json").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(archive.data_dir().join("archive.sqlite").exists());
    assert_eq!(archive.stats()["messages"]["chat"], 1);
}

#[test]
fn spaces_lists_titles_counts_and_activity() {
    let archive = TestArchive::new();
    let topic = fixture("seed-payloads/topic.updated.json");
    let chat = fixture("seed-payloads/chat.json");
    archive.run(&["ingest", topic.to_str().unwrap(), chat.to_str().unwrap()]);
    let run = archive.run(&["spaces", "--json"]);
    assert_eq!(run.code, 0);
    let spaces: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(spaces.len(), 2);
    assert_eq!(spaces[0]["id"], "5f06c25e574ca36b54cb4cdf");
    assert_eq!(spaces[0]["messages"], 1);
    assert_eq!(spaces[0]["last_activity"], "2020-07-16T11:39:55.232Z");
    assert_eq!(spaces[0]["archived"], false);
    assert_eq!(spaces[1]["title"], "new space");
    assert_eq!(spaces[1]["members"], 2);
    assert_eq!(spaces[1]["messages"], 0);
    let text = archive.run(&["spaces"]).stdout;
    assert!(
        text.contains("aadasdasdasdasd") && text.contains("new space"),
        "{text}"
    );
}
