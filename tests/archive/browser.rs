//! `serve` in a real browser: Debian's chromium driven by `playwright-core` from
//! npm (installed from `tests/browser/package-lock.json`, no browser download).
//! An admin logs in (after a wrong password), searches, opens a hit's
//! conversation, its history, the space's about page, exports the scope and
//! downloads it, reads the audit log and logs out; hostile content in bodies,
//! titles, names, attachment names and the query opens no dialog. The audit log
//! then holds each of those actions and `audit verify` catches a deleted row.
//!
//! With `SPACES_ARCHIVE_SCREENSHOTS=DIR` the script also writes a screenshot of
//! each page there (the README's come from `docs/screenshots`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::npm_ci;
use crate::review::*;

/// Debian's chromium (`.ci/run` installs it), or `SPACES_ARCHIVE_CHROMIUM`.
pub fn chromium() -> String {
    let path = std::env::var("SPACES_ARCHIVE_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "the browser tests need Chromium at {path} (apt-get install chromium chromium-driver, \
         as .ci/run does), or SPACES_ARCHIVE_CHROMIUM set to another"
    );
    path
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs `script` (in `tests/browser`) with `config` as its argument and returns
/// the JSON object it printed; its stderr is the test's.
pub fn run_script(script: &str, config: &Value) -> Value {
    let dir = browser_dir();
    npm_ci(&dir, "playwright-core");
    let out = Command::new("node")
        .arg(dir.join(script))
        .arg(config.to_string())
        .current_dir(&dir)
        .output()
        .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} exited {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    let last = stdout.lines().last().unwrap_or("");
    let facts: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}\n{stderr}"));
    assert!(
        facts.get("error").is_none(),
        "{script} failed in the browser: {}\nwhat it saw: {facts:#}",
        facts["error"].as_str().unwrap_or("")
    );
    facts
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_reviewer_session_in_chromium() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let downloads = archive.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let screenshots = std::env::var("SPACES_ARCHIVE_SCREENSHOTS").ok();
    let facts = run_script(
        "review.mjs",
        &json!({
            "base": server.base, "user": "ana", "password": ADMIN_PASSWORD,
            "reply": REPLY, "post": POST, "removed": REMOVED, "hostile": HOSTILE,
            "space": SPACE_A, "downloads": downloads, "screenshots": screenshots,
            "chromium": chromium(),
        }),
    );
    let base = &server.base;

    // Nothing hostile ran, nothing left the server, no script error.
    assert_eq!(facts["dialogs"], json!([]), "a dialog opened: {facts:#}");
    assert_eq!(facts["foreign_requests"], json!([]));
    assert_eq!(facts["page_errors"], json!([]));

    // Login: redirected there first, a wrong password refused, then in.
    assert!(
        facts["unauthenticated_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/login?next=")),
        "{}",
        facts["unauthenticated_url"]
    );
    assert!(facts["wrong_password_error"]
        .as_str()
        .unwrap()
        .contains("Wrong user name or password"));
    assert!(facts["wrong_password_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/login")));
    assert!(facts["after_login_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/search")));
    assert_eq!(facts["who"], "ana");

    // Search: every "budget" message of both spaces (an admin sees all), the
    // removed one marked, the edited reply marked, the word highlighted.
    let hits = strings(&facts["hit_ids"]);
    for id in [POST, REPLY, REMOVED, HOSTILE, WITH_FILES, SECRET] {
        assert!(hits.contains(&id.to_string()), "{id} missing from {hits:?}");
    }
    assert_eq!(hits.len(), 6, "{hits:?}");
    assert!(facts["hit_count"]
        .as_str()
        .unwrap()
        .starts_with("6 messages match"));
    let marks = strings(&facts["hit_marks"]);
    assert!(marks.contains(&"removed".into()), "{marks:?}");
    assert!(marks.contains(&"edited".into()), "{marks:?}");
    assert!(strings(&facts["highlighted"])
        .iter()
        .all(|m| m.eq_ignore_ascii_case("budget")));
    assert_eq!(facts["hostile_query_value"], "<script>alert('q')</script>");

    // The conversation, opened at the reply, threaded under its post.
    assert!(facts["conversation_url"]
        .as_str()
        .unwrap()
        .contains(&format!("/spaces/{SPACE_A}?around={REPLY}")));
    assert_eq!(
        facts["conversation_title"],
        "Release train <script>alert('t')</script>"
    );
    let shown = strings(&facts["conversation_ids"]);
    for id in [POST, REPLY, REMOVED, HOSTILE, WITH_FILES] {
        assert!(shown.contains(&id.to_string()), "{id} not shown: {shown:?}");
    }
    assert!(
        !shown.contains(&SECRET.to_string()),
        "another space's message"
    );
    assert_eq!(facts["reply_parent"], POST);
    assert_eq!(facts["anchor"], REPLY);
    assert!(facts["removed_struck"]
        .as_str()
        .unwrap()
        .contains("<img src=x onerror=alert('img')> budget leak"));
    assert!(facts["removed_note"]
        .as_str()
        .unwrap()
        .contains("removed by Ann Lee"));
    assert!(facts["hostile_text"]
        .as_str()
        .unwrap()
        .contains("<script>alert('s')</script>"));
    assert_eq!(facts["hostile_links"], 0);
    assert_eq!(facts["scripts_in_messages"], 0);
    let images = facts["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0]["alt"], "<script>alert('f')</script>.png");
    assert_eq!(images[0]["width"], 1, "the stored image did not load");
    let files = strings(&facts["file_names"]).join("\n");
    assert!(
        files.contains("minutes.pdf") && files.contains("not fetched yet"),
        "{files}"
    );

    // The history: two versions and the words that changed.
    assert!(facts["history_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/messages/{REPLY}")));
    assert_eq!(facts["versions"], json!(["create", "update"]));
    let inserted = strings(&facts["inserted"]).join(" ");
    let deleted = strings(&facts["deleted"]).join(" ");
    assert!(
        inserted.contains("final") && inserted.contains("numbers"),
        "{inserted}"
    );
    assert!(deleted.contains("first"), "{deleted}");
    assert_eq!(facts["payloads"], 2, "an admin sees both payloads");

    // About: both titles, the hostile one as text; both members.
    let titles = strings(&facts["titles"]).join("\n");
    assert!(titles.contains("Release train <script>alert('t')</script>"));
    let members = strings(&facts["members"]).join("\n");
    assert!(
        members.contains("Ann Lee") && members.contains("<b onmouseover=alert('n')>Mallory</b>")
    );

    // The export: downloaded whole, its bytes hash to the SHA-256 the page showed,
    // and `export verify` accepts it.
    let sha = facts["export_sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(facts["download_sha256"], sha);
    let file = PathBuf::from(facts["download_path"].as_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        spaces_archive::files::content::hex(&Sha256::digest(&bytes)),
        sha
    );
    let text = String::from_utf8(bytes).unwrap();
    for id in [POST, REPLY, REMOVED, HOSTILE, WITH_FILES, SECRET] {
        assert!(text.contains(id), "{id} not in the export");
    }
    let verify = archive.run(&["export", "verify", file.to_str().unwrap()]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    // Logged out, and the pages are closed again.
    assert!(facts["after_logout_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/login")));
    assert!(facts["after_logout_search_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/login?next=")));
    assert_eq!(facts["after_logout_hits"], 0);
    assert!(strings(&facts["audit_actions"]).contains(&"export".into()));
    drop(server);

    // The audit log holds every action of the session, in order.
    let log = archive.run(&["audit", "--json"]);
    assert_eq!(log.code, 0, "{}", log.stderr);
    let rows: Vec<Value> = log
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = rows
        .iter()
        .filter(|r| r["user"] == "ana" && r["address"] != "cli")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "login_failed",
            "login",
            "search",
            "search",
            "search",
            "view_conversation",
            "download_file",
            "view_message",
            "view_space",
            "search",
            "export",
            "download_export",
            "view_audit",
            "logout",
        ],
        "{rows:#?}"
    );
    let search = rows.iter().find(|r| r["action"] == "search").unwrap();
    assert_eq!(search["detail"]["query"], "budget");
    assert_eq!(search["detail"]["hits"], 6);
    let export = rows.iter().find(|r| r["action"] == "export").unwrap();
    assert_eq!(export["detail"]["sha256"], sha);
    assert_eq!(archive.run(&["audit", "verify"]).code, 0);

    // A row deleted through SQLite is named by `audit verify`.
    let view = rows.iter().find(|r| r["action"] == "view_message").unwrap();
    let seq = view["seq"].as_i64().unwrap();
    {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(archive.data_dir().join("audit.sqlite"));
        let mut db = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit WHERE seq = ?")
            .bind(seq)
            .execute(&mut db)
            .await
            .unwrap();
    }
    let broken = archive.run(&["audit", "verify"]);
    assert_eq!(broken.code, 1, "{}", broken.stdout);
    assert!(
        broken.stderr.contains(&format!("row {seq} is missing")),
        "{}",
        broken.stderr
    );
}
