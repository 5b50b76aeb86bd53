//! Bad input mixed into good input: every good line archived, every bad one rejected
//! with its line number and a reason, exit code 3, no panic. And input serde_json
//! refuses that is not bad: JSON with lone surrogate escapes, as Node.js writes it.

use serde_json::json;
use sqlx::Row;

use crate::helpers::{rows, scalar, TestArchive};

fn chat(id: &str) -> String {
    json!({"_id": id, "category": "chat", "topicId": "s1", "content": {"bodyText": format!("<p>{id}</p>")}}).to_string()
}

#[tokio::test]
async fn malformed_lines_are_rejected_and_the_rest_archived() {
    let archive = TestArchive::new();
    let mut input: Vec<u8> = Vec::new();
    let mut line = |bytes: &[u8]| {
        input.extend_from_slice(bytes);
        input.push(b'\n');
    };
    line(chat("m1").as_bytes()); // 1
    line(b"this is not json"); // 2
    line(chat("m2").as_bytes()); // 3
    line(br#"[{"category":"chat","_id":"x"}]"#); // 4
    line(br#"{"_id":"m9","content":{}}"#); // 5
    line(br#"{"category":"app.event.message.updated","content":{"bodyText":"x"}}"#); // 6
    let big = format!(
        r#"{{"category":"chat","_id":"big","content":{{"bodyText":"{}"}}}}"#,
        "x".repeat(5 << 20)
    );
    line(big.as_bytes()); // 7
    line(b"{\"category\":\"chat\",\"_id\":\"m8\",\"content\":{\"bodyText\":\"caf\xe9\"}}"); // 8
    line(chat("m3").as_bytes()); // 9
    line(b"{\"category\": 7}"); // 10
    line(b"42/chat,[\"MESSAGE_SENT\",{\"category\":\"chat\",\"_id\":\"m4\"}]"); // 11
    line(b"42/chat,[\"MESSAGE_SENT\""); // 12
    let path = archive.dir.path().join("mixed.jsonl");
    std::fs::write(&path, &input).unwrap();

    let run = archive.run(&["ingest", path.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("read 12, archived 4, duplicates 0, unknown 0, rejected 8"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));

    let mut db = archive.db().await;
    let ids = rows(&mut db, "SELECT id FROM messages ORDER BY id").await;
    assert_eq!(
        ids.iter()
            .map(|r| r.get::<String, _>("id"))
            .collect::<Vec<_>>(),
        ["m1", "m2", "m3", "m4"]
    );
    let rejected = rows(
        &mut db,
        "SELECT line, reason, raw_len, source_name FROM rejected ORDER BY line",
    )
    .await;
    let got: Vec<(i64, String)> = rejected
        .iter()
        .map(|r| (r.get("line"), r.get("reason")))
        .collect();
    let expect: [(i64, &str); 8] = [
        (2, "not JSON"),
        (4, "JSON an array where a payload object was expected"),
        (5, "payload has no \"category\" field"),
        (6, "app.event.message.updated payload has no message id"),
        (7, "payload limit"),
        (8, "not valid UTF-8"),
        (10, "payload \"category\" is a number, not a string"),
        (12, "bad socket frame"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:?}");
    for ((line, reason), (want_line, want)) in got.iter().zip(expect) {
        assert_eq!(*line, want_line);
        assert!(
            reason.contains(want),
            "line {line}: {reason:?} should say {want:?}"
        );
    }
    assert!(rejected
        .iter()
        .all(|r| r.get::<String, _>("source_name") == path.to_str().unwrap()));
    assert_eq!(rejected[4].get::<i64, _>("raw_len"), big.len() as i64);
    assert_eq!(archive.stats()["rejected"], 8);
}

#[tokio::test]
async fn wrongly_typed_optional_fields_keep_the_message() {
    let archive = TestArchive::new();
    let payload = json!({"_id": "t1", "category": "task", "topicId": "s1", "created": 12345,
        "content": {"bodyText": "due soon", "assignees": null, "data": [{"name": "a.pdf", "fileSize": "12"}], "dueDate": "soon"}});
    let run = archive.ingest_text("typed.json", &payload.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    for field in [
        "content.data[].fileSize",
        "created",
        "content.assignees",
        "content.dueDate",
    ] {
        assert!(
            run.stderr.contains(&format!("field {field}")),
            "no warning for {field}: {}",
            run.stderr
        );
    }
    let mut db = archive.db().await;
    let m = &rows(&mut db, "SELECT created, due FROM messages WHERE id = 't1'").await[0];
    assert_eq!(
        m.get::<i64, _>("created"),
        12345,
        "a number is read as epoch milliseconds"
    );
    assert_eq!(
        m.get::<Option<i64>, _>("due"),
        None,
        "an unreadable date is left empty"
    );
    assert_eq!(
        scalar(
            &mut db,
            "SELECT size FROM attachments WHERE message_id = 't1'"
        )
        .await,
        12
    );
    assert_eq!(
        scalar(
            &mut db,
            "SELECT count(*) FROM task_assignees WHERE message_id = 't1'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn stdin_json_array_and_frames_are_read() {
    let archive = TestArchive::new();
    let array = format!("[\n  {},\n  {}\n]\n", chat("a1"), chat("a2"));
    let run = archive.run_with_stdin(&["ingest", "-"], array.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let frames = format!("0{{\"sid\":\"x\"}}\n40/chat\n2\n42/chat,[\"MESSAGE_SENT\",{}]\n42/chat,[\"CHANNEL_SUBSCRIBED\",{{}}]\n", chat("f1"));
    let run = archive.run_with_stdin(&["ingest"], frames.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("archived 1") && run.stderr.contains("ignored frames 4"),
        "{}",
        run.stderr
    );
    assert_eq!(archive.stats()["messages"]["chat"], 3);
}

/// JSON as Node.js writes it: a string cut inside an emoji holds a lone surrogate
/// escape. It is archived like any other payload, from JSON lines, a JSON array and
/// a socket frame: the raw text verbatim, U+FFFD in the text, searchable, exported.
#[tokio::test]
async fn lone_surrogate_escapes_are_archived() {
    let archive = TestArchive::new();
    let payload = |id: &str, body: &str| {
        format!(
            r#"{{"_id":"{id}","category":"chat","topicId":"s1","content":{{"bodyText":"<p>{body}</p>"}}}}"#
        )
    };
    let high = payload("lone-high", r"quarterly forecast cut \ud83d");
    let low = payload("lone-low", r"\ude00 lighthouse");
    let pair = payload("pair", r"\ud83d\ude00 a valid pair, \\ud83d not an escape");
    let lines = format!("{high}\n{low}\n{pair}\n");
    let run = archive.ingest_text("node.jsonl", &lines);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let array = payload("in-array", r"harbour \udbff");
    let frame = format!(
        "42/chat,[\"MESSAGE_SENT\",{}]",
        payload("in-frame", r"beacon \udfff")
    );
    assert_eq!(
        archive.ingest_text("node.json", &format!("[{array}]")).code,
        0
    );
    assert_eq!(archive.ingest_text("node.frames", &frame).code, 0);
    assert_eq!(archive.stats()["rejected"], 0);

    let mut db = archive.db().await;
    for (id, raw) in [
        ("lone-high", &high),
        ("lone-low", &low),
        ("pair", &pair),
        ("in-array", &array),
    ] {
        let row = &rows(
            &mut db,
            &format!("SELECT payload FROM events WHERE message_id = '{id}'"),
        )
        .await[0];
        let stored = spaces_archive::store::decompress(&row.get::<Vec<u8>, _>("payload")).unwrap();
        assert_eq!(stored, raw.as_bytes(), "{id}: the payload as received");
    }
    let text = |id: &str| {
        format!("SELECT v.text FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno WHERE m.id = '{id}'")
    };
    let texts: Vec<(String, String)> = [
        ("lone-high", "quarterly forecast cut \u{FFFD}"),
        ("lone-low", "\u{FFFD} lighthouse"),
        ("pair", "😀 a valid pair, \\ud83d not an escape"),
        ("in-array", "harbour \u{FFFD}"),
        ("in-frame", "beacon \u{FFFD}"),
    ]
    .into_iter()
    .map(|(id, want)| (id.to_string(), want.to_string()))
    .collect();
    for (id, want) in &texts {
        let got: String = rows(&mut db, &text(id)).await[0].get("text");
        assert_eq!(&got, want, "{id}");
    }

    for (word, id) in [
        ("forecast", "lone-high"),
        ("lighthouse", "lone-low"),
        ("beacon", "in-frame"),
    ] {
        let run = archive.run(&["search", "--json", word]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let hits: Vec<serde_json::Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(hits.len(), 1, "{word}: {}", run.stdout);
        assert_eq!(hits[0]["id"], id);
        assert!(hits[0]["text"].as_str().unwrap().contains('\u{FFFD}'));
    }

    let export = archive.dir.path().join("node-export.jsonl");
    let run = archive.run(&["export", "--raw", "--output", export.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = archive.run(&["export", "verify", export.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(exported.contains("quarterly forecast cut \u{FFFD}"));
}
