//! `export --format html`: the offline transcript opened from disk in Debian's
//! chromium (playwright-core from npm, no browser download), with JavaScript off and
//! on: every message id of the JSONL export is in the DOM, the stored image shows,
//! the removed message is struck through, versions are in `<details>`, a screenshot is
//! not blank, no request leaves the page and no dialog opens (hostile content stays
//! text, escaped in the HTML). Filters narrow as for JSONL; `export verify` of the
//! directory catches an altered page; a space too large for one page goes by month.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

use crate::browser::{chromium, run_script};
use crate::export::{export, generated, messages};
use crate::helpers::TestArchive;
use crate::review::*;

/// Runs `export --format html` into `name`; its directory.
fn export_html(archive: &TestArchive, name: &str, args: &[&str]) -> std::path::PathBuf {
    let dir = archive.dir.path().join(name);
    let mut all = vec![
        "export",
        "--format",
        "html",
        "--output",
        dir.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let run = archive.run(&all);
    assert_eq!(run.code, 0, "export {all:?}: {}", run.stderr);
    dir
}

/// Every file of the set, from its manifest: (path, record).
fn listed(dir: &Path) -> Vec<(String, Value)> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["type"] == "file")
        .map(|r| (r["path"].as_str().unwrap().to_string(), r))
        .collect()
}

fn ids(lines: &[Value]) -> BTreeSet<String> {
    messages(lines)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_transcript_in_chromium_shows_every_message_and_runs_nothing() {
    let archive = review_archive().await;
    let (_, lines) = export(&archive, "all.jsonl", &[]);
    let dir = export_html(&archive, "transcript", &[]);
    let pages: Vec<String> = std::iter::once("index.html".to_string())
        .chain(
            listed(&dir)
                .into_iter()
                .filter(|(_, r)| r["kind"] == "page")
                .map(|(p, _)| p),
        )
        .collect();
    assert!(pages.len() >= 3, "{pages:?}");
    let shot = archive.dir.path().join("transcript.png");
    let facts = run_script(
        "transcript.mjs",
        &json!({"dir": dir, "pages": pages, "screenshot": shot, "chromium": chromium()}),
    );
    let seen: BTreeSet<String> = facts["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ids(&lines), "every message of the export, in the DOM");
    let without_js: BTreeSet<String> = facts["message_ids_without_js"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(without_js, seen, "the same with JavaScript off");
    assert_eq!(facts["dialogs"], json!([]), "no dialog: {facts:#}");
    assert_eq!(
        facts["foreign_requests"],
        json!([]),
        "nothing leaves the page"
    );
    assert_eq!(facts["page_errors"], json!([]));
    assert!(facts["screenshot_differs_from_blank"].as_bool().unwrap());
    assert!(
        facts["screenshot_bytes"].as_u64().unwrap() > 5_000,
        "{facts:#}"
    );
    assert!(
        facts["print_hides_permalinks"].as_bool().unwrap(),
        "print CSS applies"
    );
    let images = facts["images"].as_array().unwrap();
    assert!(
        images.iter().any(|i| i["width"].as_u64() == Some(1)),
        "the stored PNG shows: {images:?}"
    );
    assert!(
        facts["struck"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| !t.as_str().unwrap().is_empty()),
        "the removed message's text is struck through: {facts:#}"
    );
    assert!(
        facts["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().contains("versions")),
        "the edited reply's versions: {facts:#}"
    );
    let complete: Value = serde_json::from_str(
        std::fs::read_to_string(dir.join("manifest.jsonl"))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let records = complete["records_sha256"].as_str().unwrap();
    assert_eq!(records.len(), 64);
    assert!(
        facts["index_text"].as_str().unwrap().contains(records),
        "the index shows the records' SHA-256"
    );

    // The HTML holds the hostile strings escaped, never as markup.
    for (path, _) in listed(&dir) {
        if !path.ends_with(".html") {
            continue;
        }
        let html = std::fs::read_to_string(dir.join(&path)).unwrap();
        for attack in ATTACKS {
            assert!(!html.contains(attack), "{path} holds {attack} raw");
        }
        assert!(!html.contains("<script"), "{path}: no script at all");
        assert!(html.contains("Content-Security-Policy"));
    }
    let all: String = listed(&dir)
        .iter()
        .filter(|(p, _)| p.ends_with(".html"))
        .map(|(p, _)| std::fs::read_to_string(dir.join(p)).unwrap())
        .collect();
    let shown = all
        .find("alert(")
        .map(|i| &all[i.saturating_sub(40)..i + 20]);
    assert!(
        all.contains("&#60;script&#62;alert("),
        "escaped, and shown: {shown:?}"
    );
    // The stored image is in files/, under a name that cannot run.
    let files: Vec<String> = listed(&dir)
        .into_iter()
        .filter(|(_, r)| r["kind"] == "file")
        .map(|(p, _)| p)
        .collect();
    assert_eq!(files.len(), 1, "one content, stored once: {files:?}");
    assert!(files[0].starts_with("files/") && files[0].ends_with(".png"));
    assert_eq!(std::fs::read(dir.join(&files[0])).unwrap(), PNG);

    // export verify: whole, then an altered page.
    let ok = archive.run(&["export", "verify", dir.to_str().unwrap()]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let page = dir.join(&pages[1]);
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(&page, html.replacen("</main>", "<p>added</p></main>", 1)).unwrap();
    let bad = archive.run(&["export", "verify", dir.to_str().unwrap()]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains(&pages[1]) && bad.stderr.contains("altered"),
        "{}",
        bad.stderr
    );

    // A filter narrows the transcript as it narrows JSON lines.
    let (_, only_a) = export(&archive, "a.jsonl", &["--space", SPACE_A]);
    let dir = export_html(&archive, "transcript-a", &["--space", SPACE_A]);
    let on_pages: usize = listed(&dir)
        .iter()
        .filter_map(|(_, r)| r["messages"].as_u64())
        .sum::<u64>() as usize;
    assert_eq!(on_pages, ids(&only_a).len());
    let text: String = listed(&dir)
        .iter()
        .filter(|(p, _)| p.ends_with(".html"))
        .map(|(p, _)| std::fs::read_to_string(dir.join(p)).unwrap())
        .collect();
    assert!(!text.contains(SECRET), "nothing of space B");
}

/// A space of more than one page's messages goes by month, every message on exactly
/// one page, each page's replies under their post when it is on the page and linked
/// to it when it is not.
#[test]
fn a_large_space_is_split_by_month() {
    let archive = TestArchive::new();
    generated(&archive, 26_000);
    let (_, lines) = export(&archive, "all.jsonl", &[]);
    let dir = export_html(&archive, "big", &[]);
    let records = listed(&dir);
    let monthly: Vec<&(String, Value)> = records
        .iter()
        .filter(|(p, r)| r["kind"] == "page" && p.matches('/').count() == 2)
        .collect();
    assert!(
        !monthly.is_empty(),
        "some space has more than one page's messages"
    );
    let mut on_pages = BTreeSet::new();
    for (path, record) in records.iter().filter(|(_, r)| r["kind"] == "page") {
        let html = std::fs::read_to_string(dir.join(path)).unwrap();
        let found: Vec<&str> = html
            .split("data-message-id=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        assert_eq!(
            found.len() as u64,
            record["messages"].as_u64().unwrap(),
            "{path}"
        );
        for id in found {
            assert!(on_pages.insert(id.to_string()), "{id} on two pages");
        }
    }
    assert_eq!(on_pages, ids(&lines));
    assert!(
        records.iter().any(|(p, _)| p.ends_with("/index.html")),
        "a list of a space's pages"
    );
    let ok = archive.run(&["export", "verify", dir.to_str().unwrap()]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}
