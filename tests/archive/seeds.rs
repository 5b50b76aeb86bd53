//! Every payload of Avaya's documentation, ingested and checked field by field.

use sqlx::Row;

use crate::helpers::{fixture, ms, rows, scalar, TestArchive};

const SENDER: &str = "5f04251caa4a347af9946e06";

fn ingest_seeds(archive: &TestArchive) -> crate::helpers::Run {
    let dir = fixture("seed-payloads");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    archive.run(&args)
}

#[tokio::test]
async fn seed_payloads_become_rows() {
    let archive = TestArchive::new();
    let run = ingest_seeds(&archive);
    assert_eq!(
        run.code, 3,
        "two seeds have no id and are rejected: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("read 8, archived 6, duplicates 0, unknown 0, rejected 2"),
        "{}",
        run.stderr
    );
    let mut db = archive.db().await;

    let chat = &rows(
        &mut db,
        "SELECT * FROM messages WHERE id = '5f103c8b76111fce5a460df8'",
    )
    .await[0];
    assert_eq!(chat.get::<String, _>("kind"), "chat");
    assert_eq!(
        chat.get::<String, _>("space_id"),
        "5f06c25e574ca36b54cb4cdf"
    );
    assert_eq!(chat.get::<String, _>("sender_id"), SENDER);
    assert_eq!(
        chat.get::<i64, _>("created"),
        ms("2020-07-16T11:39:55.232Z")
    );
    assert_eq!(
        chat.get::<i64, _>("modified"),
        ms("2020-07-16T11:39:55.232Z")
    );
    assert_eq!(chat.get::<i64, _>("like_count"), 0);
    assert_eq!(chat.get::<i64, _>("chat_count"), 0);
    assert_eq!(chat.get::<Option<i64>, _>("removed_at"), None);
    assert_eq!(chat.get::<i64, _>("version_count"), 1);
    let v = &rows(
        &mut db,
        "SELECT * FROM versions WHERE message_id = '5f103c8b76111fce5a460df8'",
    )
    .await[0];
    assert_eq!(v.get::<String, _>("text"), "asd");
    assert_eq!(v.get::<String, _>("change"), "create");
    assert_eq!(
        (
            v.get::<Option<String>, _>("html"),
            v.get::<i64, _>("html_form")
        ),
        (None, 2),
        "<p>asd</p> is one paragraph of the text, rebuilt from it: no payload is read"
    );

    let space = &rows(
        &mut db,
        "SELECT * FROM spaces WHERE id = '5f06c25e574ca36b54cb4cdf'",
    )
    .await[0];
    assert_eq!(space.get::<String, _>("title"), "aadasdasdasdasd");
    assert_eq!(space.get::<String, _>("type"), "group");
    assert_eq!(space.get::<i64, _>("status"), 0);

    let person = &rows(
        &mut db,
        &format!("SELECT * FROM people WHERE id = '{SENDER}'"),
    )
    .await[0];
    assert_eq!(person.get::<String, _>("display_name"), "Test user");
    assert_eq!(person.get::<Option<String>, _>("username"), None);
    assert_eq!(person.get::<String, _>("type"), "user");

    let post = &rows(&mut db, "SELECT m.*, v.text, v.description_text FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno WHERE m.id = '5f084a681015c7cc4929f8ca'").await[0];
    assert_eq!(post.get::<String, _>("kind"), "post");
    assert_eq!(
        post.get::<String, _>("space_id"),
        "5f0425254b3cd61ae416fa5f"
    );
    assert_eq!(
        post.get::<i64, _>("modified"),
        ms("2020-07-10T11:24:13.654Z")
    );
    assert_eq!(post.get::<Option<i64>, _>("created"), None);
    assert_eq!(post.get::<String, _>("text"), "asdasasd");
    assert_eq!(
        post.get::<String, _>("description_text"),
        "asdasdadsasdasdadasd"
    );
    assert_eq!(post.get::<i64, _>("due"), ms("2020-07-10T11:00:56.755Z"));
    let a = &rows(
        &mut db,
        "SELECT * FROM attachments WHERE message_id = '5f084a681015c7cc4929f8ca'",
    )
    .await;
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].get::<String, _>("name"),
        "userActions working example.txt"
    );
    assert_eq!(a[0].get::<i64, _>("size"), 3235);
    assert_eq!(a[0].get::<String, _>("file_type"), "document");
    assert_eq!(a[0].get::<String, _>("mime"), "text/plain");
    assert_eq!(
        a[0].get::<String, _>("file_id"),
        "0c1591af-9d7a-4252-ba93-64e0b1ad49d4"
    );
    assert_eq!(a[0].get::<String, _>("provider"), "native");

    let task = &rows(&mut db, "SELECT m.*, v.text, v.description_text FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno WHERE m.id = '5f084be01015c7ea0129f976'").await[0];
    assert_eq!(task.get::<String, _>("kind"), "task");
    assert_eq!(task.get::<String, _>("task_status"), "pending");
    assert_eq!(task.get::<i64, _>("due"), ms("2020-07-10T11:06:59.733Z"));
    assert_eq!(task.get::<String, _>("text"), "asdasd");
    assert_eq!(
        task.get::<String, _>("description_text"),
        "asdasdasdasdasasd"
    );
    let assignees = scalar(&mut db, &format!("SELECT count(*) FROM task_assignees WHERE message_id = '5f084be01015c7ea0129f976' AND person_id = '{SENDER}'")).await;
    assert_eq!(assignees, 1);
    let name = scalar(&mut db, "SELECT size FROM attachments WHERE message_id = '5f084be01015c7ea0129f976' AND name = 'userActions compressed.txt'").await;
    assert_eq!(name, 2034);

    let removed = &rows(&mut db, "SELECT m.*, v.text, v.change, v.removed FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno WHERE m.id = '5f0848181015c73ae229f735'").await[0];
    assert!(removed.get::<Option<i64>, _>("removed_at").is_some());
    assert_eq!(removed.get::<String, _>("removed_by"), SENDER);
    assert_eq!(
        removed.get::<String, _>("text"),
        "sdasdasdasd",
        "a removal keeps the content"
    );
    assert_eq!(removed.get::<String, _>("change"), "remove");
    assert!(removed.get::<bool, _>("removed"));
    assert_eq!(
        removed.get::<i64, _>("created"),
        ms("2020-07-10T10:51:04.613Z")
    );

    let pref = &rows(&mut db, "SELECT * FROM preferences").await;
    assert_eq!(pref.len(), 1);
    assert_eq!(
        pref[0].get::<String, _>("space_id"),
        "5f06c25e574ca36b54cb4cdf"
    );
    assert_eq!(pref[0].get::<String, _>("person_id"), SENDER);
    assert!(pref[0].get::<bool, _>("pinned") && pref[0].get::<bool, _>("notification"));

    let topic = &rows(
        &mut db,
        "SELECT * FROM spaces WHERE id = '5f047cbf1f2f363310b0cda0'",
    )
    .await[0];
    assert_eq!(topic.get::<String, _>("title"), "new space");
    assert_eq!(
        topic.get::<i64, _>("created"),
        ms("2020-07-07T13:46:39.344Z")
    );
    assert_eq!(
        topic.get::<i64, _>("modified"),
        ms("2020-07-10T11:28:02.853Z")
    );
    let retention: serde_json::Value =
        serde_json::from_str(&topic.get::<String, _>("retention")).unwrap();
    assert_eq!(retention["retentionType"], "forever");
    let settings: serde_json::Value =
        serde_json::from_str(&topic.get::<String, _>("settings")).unwrap();
    assert_eq!(settings["confId"], "918529927");
    let members = rows(&mut db, "SELECT * FROM space_members WHERE space_id = '5f047cbf1f2f363310b0cda0' ORDER BY joined_at").await;
    assert_eq!(members.len(), 2);
    assert_eq!(
        (
            members[0].get::<String, _>("person_id"),
            members[0].get::<String, _>("role")
        ),
        (SENDER.into(), "admin".into())
    );
    assert_eq!(
        members[0].get::<i64, _>("joined_at"),
        ms("2020-07-07T13:46:39.339Z")
    );
    assert_eq!(
        members[1].get::<String, _>("person_id"),
        "5ef9b678aa4a347af983c74c"
    );
    assert_eq!(
        members[1].get::<i64, _>("joined_at"),
        ms("2020-07-09T09:32:12.934Z")
    );
    let joins = scalar(&mut db, "SELECT count(*) FROM membership_changes WHERE space_id = '5f047cbf1f2f363310b0cda0' AND change = 'join'").await;
    assert_eq!(joins, 2);
    let vidas = scalar(
        &mut db,
        "SELECT count(*) FROM people WHERE display_name = 'Vidas Andrijaitis'",
    )
    .await;
    assert_eq!(vidas, 1);

    let rejected = rows(&mut db, "SELECT * FROM rejected ORDER BY source_name").await;
    assert_eq!(rejected.len(), 2);
    assert!(rejected[0]
        .get::<String, _>("source_name")
        .ends_with("SEND_MESSAGE.request.json"));
    assert!(rejected[1]
        .get::<String, _>("source_name")
        .ends_with("task.json"));
    for r in &rejected {
        let reason = r.get::<String, _>("reason");
        assert!(reason.contains("has no message id"), "{reason}");
        assert_eq!(r.get::<i64, _>("line"), 1);
        let raw = spaces_archive::store::decompress(&r.get::<Vec<u8>, _>("raw")).unwrap();
        assert!(
            String::from_utf8(raw).unwrap().contains("\"category\""),
            "the raw input is kept"
        );
    }
    let raw = &rows(
        &mut db,
        "SELECT payload FROM events WHERE message_id = '5f103c8b76111fce5a460df8'",
    )
    .await[0];
    let payload = spaces_archive::store::decompress(&raw.get::<Vec<u8>, _>("payload")).unwrap();
    let original = std::fs::read(fixture("seed-payloads/chat.json")).unwrap();
    assert_eq!(
        payload,
        original.trim_ascii(),
        "the payload is kept exactly as received"
    );
}

#[tokio::test]
async fn the_same_payload_three_times_is_one_message() {
    let archive = TestArchive::new();
    let chat = fixture("seed-payloads/chat.json");
    let chat = chat.to_str().unwrap();
    assert_eq!(archive.run(&["ingest", chat, chat]).code, 0);
    let run = archive.run(&["ingest", chat]);
    assert!(
        run.stderr.contains("archived 0, duplicates 1"),
        "{}",
        run.stderr
    );
    let stats = archive.stats();
    assert_eq!(stats["events"], 1);
    assert_eq!(stats["duplicates"], 2);
    assert_eq!(stats["messages"]["chat"], 1);
    assert_eq!(stats["versions"], 1);
}
