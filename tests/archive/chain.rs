//! The hash chain, signed checkpoints, legal holds and purges, through the binary:
//! tampering done through SQLite directly is caught and named by `verify`, exports
//! verify with their archive's key and no other, held content survives a purge while
//! the rest goes (leaving tombstones that keep the chain whole), and an archive
//! written before the chain is chained by the migration.

use std::path::Path;

use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};

use crate::export::{export, generated};
use crate::helpers::{fixture, rows, scalar, TestArchive};

/// A writable connection to the archive in `data_dir`, foreign keys off (as a
/// tamperer's would be).
async fn tamper_db(data_dir: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join("archive.sqlite"))
        .foreign_keys(false);
    SqliteConnection::connect_with(&options).await.unwrap()
}

/// A copy of `source`'s data directory in a new archive.
fn copy_of(source: &TestArchive) -> TestArchive {
    let copy = TestArchive::new();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(source.data_dir())
        .arg(copy.data_dir())
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

fn verify_fails_naming(archive: &TestArchive, expected: &[&str]) {
    let run = archive.run(&["verify"]);
    assert_eq!(
        run.code, 1,
        "verify passed a tampered archive: {}",
        run.stderr
    );
    for text in expected {
        assert!(
            run.stderr.contains(text),
            "verify did not say {text:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn altered_removed_swapped_payloads_and_an_edited_checkpoint_are_each_named() {
    let archive = TestArchive::new();
    generated(&archive, 1_500);
    let ok = archive.run(&["verify"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stderr.contains("payloads and 0 rejected inputs chained"),
        "{}",
        ok.stderr
    );
    let checkpoints = archive.run(&["checkpoints", "--json"]);
    assert_eq!(checkpoints.code, 0, "{}", checkpoints.stderr);
    let listed: Vec<Value> = checkpoints
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!listed.is_empty(), "the writer signed no checkpoint");
    let last_seq = scalar(&mut archive.db().await, "SELECT max(seq) FROM events").await;
    assert_eq!(
        listed.last().unwrap()["seq"],
        last_seq,
        "no checkpoint at shutdown"
    );

    // One payload's blob replaced by another's.
    let altered = copy_of(&archive);
    let mut db = tamper_db(&altered.data_dir()).await;
    sqlx::query(
        "UPDATE events SET payload = (SELECT payload FROM events WHERE seq = 41) WHERE seq = 40",
    )
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    verify_fails_naming(&altered, &["events row 40:"]);

    // One event row deleted.
    let removed = copy_of(&archive);
    let mut db = tamper_db(&removed.data_dir()).await;
    sqlx::query("DELETE FROM events WHERE seq = 77")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    verify_fails_naming(&removed, &["events row 78: row 77 is missing"]);

    // Two payloads swapped.
    let swapped = copy_of(&archive);
    let mut db = tamper_db(&swapped.data_dir()).await;
    let blobs = rows(
        &mut db,
        "SELECT seq, payload FROM events WHERE seq IN (100, 101) ORDER BY seq",
    )
    .await;
    let (a, b): (Vec<u8>, Vec<u8>) = (blobs[0].get(1), blobs[1].get(1));
    assert_ne!(a, b);
    for (seq, blob) in [(100, &b), (101, &a)] {
        sqlx::query("UPDATE events SET payload = ? WHERE seq = ?")
            .bind(blob)
            .bind(seq)
            .execute(&mut db)
            .await
            .unwrap();
    }
    db.close().await.unwrap();
    verify_fails_naming(&swapped, &["events row 100:", "events row 101:"]);

    // A checkpoint's head edited (the signature no longer matches it).
    let edited = copy_of(&archive);
    let mut db = tamper_db(&edited.data_dir()).await;
    sqlx::query("UPDATE checkpoints SET seq = seq - 1 WHERE id = 1")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    verify_fails_naming(&edited, &["checkpoint 1 ", "signature does not verify"]);

    // The last rows removed and every chain value after a change rewritten: only the
    // signed checkpoint can tell.
    let truncated = copy_of(&archive);
    let mut db = tamper_db(&truncated.data_dir()).await;
    sqlx::query("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    verify_fails_naming(&truncated, &["which is missing", "rows were removed"]);

    // The original is untouched by all this.
    assert_eq!(archive.run(&["verify"]).code, 0);
}

#[test]
fn an_export_verifies_with_its_archives_key_and_not_with_another() {
    let archive = TestArchive::new();
    generated(&archive, 400);
    let other = TestArchive::new();
    generated(&other, 50);
    let key = archive.run(&["key"]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    let public = key.stdout.lines().last().unwrap().trim().to_string();
    assert_eq!(public.len(), 64, "{}", key.stdout);
    assert_eq!(
        archive.run(&["key"]).stdout.lines().last().unwrap().trim(),
        public
    );
    let other_key = other
        .run(&["key"])
        .stdout
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(public, other_key);
    let mode = std::fs::metadata(archive.data_dir().join("signing.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);

    let (path, lines) = export(&archive, "out.jsonl", &[]);
    let manifest = &lines[0];
    let complete = lines.last().unwrap();
    assert!(
        manifest["checkpoint"]["signature"].is_string(),
        "{manifest}"
    );
    assert_eq!(manifest["checkpoint"], complete["checkpoint"]);
    let file = path.to_str().unwrap();
    let own = archive.run(&["export", "verify", file, "--key", &public]);
    assert_eq!(own.code, 0, "{}", own.stderr);
    assert!(own.stderr.contains("is signed by key"), "{}", own.stderr);
    let wrong = archive.run(&["export", "verify", file, "--key", &other_key]);
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("not signed by key"),
        "{}",
        wrong.stderr
    );
    // The key as a file (the output of `key` saved).
    let saved = archive.data_dir().join("../key.txt");
    std::fs::write(&saved, &key.stdout).unwrap();
    let from_file = archive.run(&["export", "verify", file, "--key", saved.to_str().unwrap()]);
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);

    // A directory export carries it too.
    let dir = archive.data_dir().join("../html");
    let run = archive.run(&[
        "export",
        "--format",
        "html",
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = dir.to_str().unwrap();
    assert_eq!(
        archive
            .run(&["export", "verify", dir, "--key", &public])
            .code,
        0
    );
    assert_eq!(
        archive
            .run(&["export", "verify", dir, "--key", &other_key])
            .code,
        1
    );
}

/// Messages (id, space, sender, created, purged) as stored.
async fn messages(archive: &TestArchive) -> Vec<(String, String, String, i64, bool)> {
    rows(
        &mut archive.db().await,
        "SELECT id, space_id, sender_id, created, purged_at IS NOT NULL FROM messages ORDER BY id",
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

#[tokio::test]
async fn holds_by_space_person_and_dates_survive_a_purge_and_the_rest_goes() {
    let archive = TestArchive::new();
    generated(&archive, 3_000);
    let before = messages(&archive).await;
    let mut created: Vec<i64> = before.iter().map(|m| m.3).collect();
    created.sort_unstable();
    let cutoff = created[created.len() * 3 / 4];
    let window = (created[created.len() / 10], created[created.len() / 5]);
    let held_space = before[0].1.clone();
    let held_person = before
        .iter()
        .find(|m| m.1 != held_space)
        .map(|m| m.2.clone())
        .unwrap();
    let iso = spaces_archive::event::time::format_millis;
    for args in [
        vec![
            "hold",
            "add",
            "by-space",
            "--space",
            &held_space,
            "--reason",
            "matter 1",
        ],
        vec![
            "hold",
            "add",
            "by-person",
            "--from",
            &held_person,
            "--reason",
            "matter 2",
        ],
    ] {
        let run = archive.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    let (since, until) = (iso(window.0), iso(window.1));
    let run = archive.run(&[
        "hold", "add", "by-dates", "--since", &since, "--until", &until, "--reason", "m3",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let again = archive.run(&["hold", "add", "by-space", "--reason", "again"]);
    assert_eq!(again.code, 2, "a hold name was reused: {}", again.stderr);
    // A hold that is released covers nothing.
    assert_eq!(
        archive
            .run(&["hold", "add", "gone", "--reason", "all"])
            .code,
        0
    );
    assert_eq!(archive.run(&["hold", "release", "gone"]).code, 0);
    let listed = archive.run(&["hold", "list", "--json"]);
    let holds: Vec<Value> = listed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(holds.len(), 4, "{}", listed.stdout);
    assert!(holds
        .iter()
        .any(|h| h["name"] == "gone" && h["released_at"].is_i64()));

    let covered = |m: &(String, String, String, i64, bool)| {
        m.1 == held_space || m.2 == held_person || (m.3 >= window.0 && m.3 < window.1)
    };
    let should_go: Vec<&String> = before
        .iter()
        .filter(|m| m.3 < cutoff && !covered(m))
        .map(|m| &m.0)
        .collect();
    let should_hold = before.iter().filter(|m| m.3 < cutoff && covered(m)).count();
    assert!(
        should_go.len() > 100 && should_hold > 100,
        "{} {should_hold}",
        should_go.len()
    );

    let cut = iso(cutoff);
    let dry = archive.run(&["purge", "--before", &cut, "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let dry: Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(dry["totals"]["purged"], should_go.len());
    assert_eq!(dry["totals"]["held"], should_hold);
    assert_eq!(
        messages(&archive).await,
        before,
        "a dry run changed something"
    );

    let run = archive.run(&["purge", "--before", &cut, "--json", "--reason", "policy 7y"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let done: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        done["totals"], dry["totals"],
        "the purge did other than its dry run said"
    );
    let after = messages(&archive).await;
    assert_eq!(after.len(), before.len(), "purged messages lost their rows");
    for m in &after {
        assert_eq!(
            m.4,
            should_go.contains(&&m.0),
            "message {} purged={}",
            m.0,
            m.4
        );
    }
    let mut db = archive.db().await;
    let tombstones = scalar(&mut db, "SELECT count(*) FROM tombstones").await;
    assert_eq!(done["totals"]["payloads"], tombstones);
    assert_eq!(
        scalar(
            &mut db,
            "SELECT count(*) FROM events WHERE length(payload) = 0"
        )
        .await,
        tombstones
    );
    assert_eq!(
        scalar(
            &mut db,
            "SELECT count(*) FROM versions v JOIN messages m ON m.id = v.message_id WHERE m.purged_at IS NOT NULL"
        )
        .await,
        0
    );
    drop(db);
    // The chain still verifies (through the tombstones), and the index holds exactly
    // the messages not purged.
    let verified = archive.run(&["verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert!(
        verified
            .stderr
            .contains(&format!("({tombstones} purged, by tombstone)")),
        "{}",
        verified.stderr
    );

    // The export shows placeholders: every message is there, purged ones without text.
    let (_, lines) = export(&archive, "after.jsonl", &["--raw"]);
    let exported: Vec<&Value> = lines.iter().filter(|l| l["type"] == "message").collect();
    assert_eq!(exported.len(), before.len());
    let placeholders: Vec<&&Value> = exported
        .iter()
        .filter(|m| m["purged"].is_object())
        .collect();
    assert_eq!(placeholders.len(), should_go.len());
    for m in &placeholders {
        assert_eq!(m["purged"]["reason"], "policy 7y");
        assert_eq!(m["text"], "");
        assert_eq!(m["versions"], serde_json::json!([]));
        assert!(m["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["purged"] == true && e["payload"].is_null()));
    }
    // Held content is whole.
    let kept = exported
        .iter()
        .find(|m| m["space_id"] == held_space.as_str())
        .unwrap();
    assert!(kept["purged"].is_null() && !kept["versions"].as_array().unwrap().is_empty());

    // Holds and purges are in the audit log.
    let audit = archive.run(&["audit", "--json"]);
    for action in ["hold.add", "hold.release", "purge.dry_run", "\"purge\""] {
        assert!(
            audit.stdout.contains(action),
            "{action} not audited: {}",
            audit.stdout
        );
    }

    // Released, the person's hold no longer keeps their old messages.
    assert_eq!(archive.run(&["hold", "release", "by-person"]).code, 0);
    let run = archive.run(&["purge", "--before", &cut, "--json"]);
    let second: Value = serde_json::from_str(&run.stdout).unwrap();
    let now_go = before
        .iter()
        .filter(|m| {
            m.3 < cutoff
                && m.2 == held_person
                && m.1 != held_space
                && !(m.3 >= window.0 && m.3 < window.1)
        })
        .count();
    assert_eq!(second["totals"]["purged"], now_go);
    assert_eq!(archive.run(&["verify"]).code, 0);
}

#[tokio::test]
async fn the_migration_chains_an_archive_written_before_it() {
    let old = TestArchive::new();
    std::fs::create_dir_all(old.data_dir()).unwrap();
    let options = SqliteConnectOptions::new()
        .filename(old.data_dir().join("archive.sqlite"))
        .create_if_missing(true);
    let mut db = SqliteConnection::connect_with(&options).await.unwrap();
    let sql = std::fs::read_to_string(fixture("archives/before-event-keys.sql")).unwrap();
    sqlx::raw_sql(&sql).execute(&mut db).await.unwrap();
    db.close().await.unwrap();
    // The fixture has no index: `reindex` makes it (opening the archive chains it).
    let reindexed = old.run(&["reindex"]);
    assert_eq!(reindexed.code, 0, "{}", reindexed.stderr);
    let run = old.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("46 payloads"), "{}", run.stderr);
    let mut db = old.db().await;
    assert_eq!(
        scalar(&mut db, "SELECT count(*) FROM events WHERE chain IS NULL").await,
        0
    );
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM events").await, 46);
    // The chained rows are signed at once.
    assert_eq!(
        scalar(&mut db, "SELECT max(seq) FROM checkpoints").await,
        46
    );
    drop(db);
    // New payloads chain on from them.
    generated(&old, 100);
    assert_eq!(old.run(&["verify"]).code, 0);
}
