//! An archive written by an earlier version, opened by this one: its migrations run and
//! what it already holds is still recognised.

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};

use crate::helpers::{fixture, rows, scalar, TestArchive};

/// Creates the data dir's SQLite file from a `.dump` of an older archive.
async fn load_dump(archive: &TestArchive, dump: &str) {
    std::fs::create_dir_all(archive.data_dir()).unwrap();
    let options = SqliteConnectOptions::new()
        .filename(archive.data_dir().join("archive.sqlite"))
        .create_if_missing(true);
    let mut db = SqliteConnection::connect_with(&options).await.unwrap();
    let sql = std::fs::read_to_string(fixture(dump)).unwrap();
    sqlx::raw_sql(&sql).execute(&mut db).await.unwrap();
    db.close().await.unwrap();
}

/// Every stored payload, as JSON lines (some were received pretty-printed), in
/// arrival order.
async fn payloads(db: &mut SqliteConnection) -> String {
    let mut lines = String::new();
    for row in rows(db, "SELECT payload FROM events ORDER BY seq").await {
        let bytes = spaces_archive::store::decompress(row.get::<&[u8], _>(0)).unwrap();
        let payload: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        lines.push_str(&payload.to_string());
        lines.push('\n');
    }
    lines
}

/// Every `dedup_key`, with its SQLite type.
async fn keys(db: &mut SqliteConnection) -> Vec<String> {
    rows(
        db,
        "SELECT typeof(dedup_key) || ' ' || hex(dedup_key) FROM events ORDER BY dedup_key",
    )
    .await
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Payloads archived before events were keyed by id and digest (migration 0003) are
/// still recognised when they arrive again, and carry the keys a new archive gives them.
#[tokio::test]
async fn payloads_stored_before_event_keys_are_still_duplicates() {
    let old = TestArchive::new();
    load_dump(&old, "archives/before-event-keys.sql").await;
    let events = {
        let mut db = old.db().await;
        scalar(&mut db, "SELECT count(*) FROM events").await
    };
    assert_eq!(events, 46);
    let lines = payloads(&mut old.db().await).await;

    let run = old.ingest_text("again.jsonl", &lines);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("archived 0, duplicates 46"),
        "{}",
        run.stderr
    );
    let mut db = old.db().await;
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM events").await, 46);
    assert_eq!(
        scalar(&mut db, "SELECT max(version) FROM _sqlx_migrations").await,
        7
    );
    // Migration 0005 queued every attachment the old archive's versions name.
    let named = scalar(
        &mut db,
        "SELECT count(DISTINCT json_extract(a.value, '$.file_id')) FROM versions v, \
         json_each(v.attachments) a WHERE v.attachments IS NOT NULL",
    )
    .await;
    assert!(named > 0);
    assert_eq!(
        scalar(
            &mut db,
            "SELECT count(*) FROM files WHERE status = 'pending'"
        )
        .await,
        named
    );
    assert_eq!(
        scalar(&mut db, "SELECT count(DISTINCT file_id) FROM file_messages").await,
        named
    );

    let fresh = TestArchive::new();
    let run = fresh.ingest_text("fresh.jsonl", &lines);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(keys(&mut db).await, keys(&mut fresh.db().await).await);

    // Versions written before migration 0004 keep their HTML in the payloads; an export
    // reads it back from there and shows what a new archive stores itself.
    assert_eq!(
        scalar(
            &mut db,
            "SELECT count(*) FROM versions WHERE html_form = 1 AND html IS NULL"
        )
        .await,
        scalar(&mut db, "SELECT count(*) FROM versions").await,
        "the old rows hold no HTML of their own"
    );
    assert_eq!(
        scalar(
            &mut fresh.db().await,
            "SELECT count(*) FROM versions WHERE html_form = 1"
        )
        .await,
        0
    );
    let (old_bodies, fresh_bodies) = (bodies(&old), bodies(&fresh));
    assert!(old_bodies.len() >= 20, "{old_bodies:?}");
    assert!(
        old_bodies.iter().any(|b| b.contains("<p>")),
        "{old_bodies:?}"
    );
    assert_eq!(old_bodies, fresh_bodies);
}

/// Every version's id, number, text and HTML (body and description) in an export.
fn bodies(archive: &TestArchive) -> Vec<String> {
    let run = archive.run(&["export"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut bodies = Vec::new();
    for line in run.stdout.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        if record["type"] != "message" {
            continue;
        }
        for v in record["versions"].as_array().unwrap() {
            bodies.push(format!(
                "{} {} {} {} {} {}",
                record["id"],
                v["vno"],
                v["text"],
                v["html"],
                v["description"],
                v["description_html"]
            ));
        }
    }
    bodies
}
