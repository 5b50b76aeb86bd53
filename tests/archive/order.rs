//! Out-of-order delivery: each case fed one event per `ingest` run (so state goes
//! through SQLite between events) and all in one file (one batch).

use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{ms, rows, TestArchive};

fn create(body: &str) -> Value {
    json!({"_id": "m1", "category": "task", "topicId": "s1", "topicTitle": "Ops",
           "created": "2024-01-01T10:00:00Z", "modified": "2024-01-01T10:00:00Z",
           "sender": {"_id": "u1", "displayname": "Ann"},
           "content": {"bodyText": format!("<p>{body}</p>"), "status": "pending", "assignees": [{"_id": "u2"}],
                       "data": [{"fileId": "f1", "name": "a.txt", "fileSize": 3}]}})
}

fn update(body: &str, at: &str) -> Value {
    json!({"_id": "m1", "messageId": "m1", "category": "app.event.task.updated", "topicId": "s1", "modified": at,
           "sender": {"_id": "u1"}, "content": {"bodyText": format!("<p>{body}</p>"), "status": "complete"}})
}

fn remove() -> Value {
    json!({"_id": "m1", "messageId": "m1", "category": "app.event.message.removed", "topicId": "s1",
           "created": "2024-01-01T10:00:00Z", "sender": {"_id": "u3", "displayname": "Mod"},
           "content": {"bodyText": "<p>final words</p>"}})
}

struct State {
    text: String,
    status: String,
    versions: i64,
    removed_by: Option<String>,
    modified: i64,
    kind: String,
    attachments: i64,
}

async fn state(archive: &TestArchive) -> State {
    let mut db = archive.db().await;
    let row = &rows(&mut db, "SELECT m.*, v.text, (SELECT count(*) FROM versions WHERE message_id = 'm1') AS n, \
        (SELECT count(*) FROM attachments WHERE message_id = 'm1') AS a \
        FROM messages m JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno WHERE m.id = 'm1'").await[0];
    assert_eq!(row.get::<i64, _>("n"), row.get::<i64, _>("version_count"));
    State {
        text: row.get("text"),
        status: row.get("task_status"),
        versions: row.get("n"),
        removed_by: row.get("removed_by"),
        modified: row.get("modified"),
        kind: row.get("kind"),
        attachments: row.get("a"),
    }
}

/// Feeds the events one run at a time, then all at once into a second archive, and
/// returns both end states.
async fn feed(events: &[Value]) -> [State; 2] {
    let separate = TestArchive::new();
    for (i, event) in events.iter().enumerate() {
        let run = separate.ingest_text(&format!("e{i}.json"), &event.to_string());
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let together = TestArchive::new();
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    assert_eq!(together.ingest_text("all.jsonl", &lines.join("\n")).code, 0);
    [state(&separate).await, state(&together).await]
}

#[tokio::test]
async fn update_before_create() {
    for s in feed(&[update("edited", "2024-01-01T11:00:00Z"), create("original")]).await {
        assert_eq!(
            (s.text.as_str(), s.status.as_str(), s.versions),
            ("edited", "complete", 2)
        );
        assert_eq!(s.kind, "task");
        assert_eq!(s.modified, ms("2024-01-01T11:00:00Z"));
    }
}

#[tokio::test]
async fn older_update_after_newer() {
    let events = [
        create("v1"),
        update("v3", "2024-01-01T12:00:00Z"),
        update("v2", "2024-01-01T11:00:00Z"),
    ];
    for s in feed(&events).await {
        assert_eq!((s.text.as_str(), s.versions), ("v3", 3));
        assert_eq!(s.modified, ms("2024-01-01T12:00:00Z"));
        assert_eq!(
            s.attachments, 1,
            "attachments are inherited by updates that do not carry them"
        );
    }
}

#[tokio::test]
async fn removal_before_create() {
    for s in feed(&[remove(), create("original")]).await {
        assert_eq!(s.removed_by.as_deref(), Some("u3"));
        assert_eq!((s.text.as_str(), s.versions), ("final words", 2));
        assert_eq!(
            s.kind, "task",
            "the late create fixes the kind inferred from the removal"
        );
    }
}

#[tokio::test]
async fn create_after_removal_does_not_resurrect() {
    for s in feed(&[
        create("original"),
        update("edited", "2024-01-01T11:00:00Z"),
        remove(),
        create("original"),
    ])
    .await
    {
        assert_eq!(s.removed_by.as_deref(), Some("u3"));
        assert_eq!((s.text.as_str(), s.versions), ("final words", 3));
    }
}

#[tokio::test]
async fn replies_keep_their_post() {
    let archive = TestArchive::new();
    let post = json!({"_id": "p1", "category": "idea", "topicId": "s1", "content": {"bodyText": "Plan"}, "created": "2024-01-01T10:00:00Z"});
    let reply = json!({"_id": "c1", "category": "chat", "topicId": "s1", "parentMsg": "p1", "content": {"bodyText": "+1"}, "created": "2024-01-01T10:05:00Z"});
    assert_eq!(
        archive
            .ingest_text("r.jsonl", &format!("{reply}\n{post}"))
            .code,
        0
    );
    let mut db = archive.db().await;
    let r = &rows(
        &mut db,
        "SELECT kind, parent_id FROM messages WHERE id = 'c1'",
    )
    .await[0];
    assert_eq!(
        (r.get::<String, _>("kind"), r.get::<String, _>("parent_id")),
        ("chat".into(), "p1".into())
    );
    assert_eq!(
        rows(&mut db, "SELECT kind FROM messages WHERE id = 'p1'").await[0]
            .get::<String, _>("kind"),
        "post"
    );
}

#[tokio::test]
async fn membership_joins_and_leaves_are_recorded() {
    let archive = TestArchive::new();
    let snapshot = |members: &[&str], modified: &str| {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"member": m, "role": "member"}))
            .collect();
        json!({"category": "topic.updated", "topicId": "s1", "content": {"_id": "s1", "title": format!("T {modified}"), "members": members, "modified": modified}}).to_string()
    };
    let lines = [
        snapshot(&["a", "b"], "2024-01-01T00:00:00Z"),
        snapshot(&["a", "c"], "2024-01-02T00:00:00Z"),
        snapshot(&["a", "b"], "2024-01-01T12:00:00Z"), // older snapshot, arriving late: ignored
    ];
    assert_eq!(archive.ingest_text("m.jsonl", &lines.join("\n")).code, 0);
    let mut db = archive.db().await;
    let changes = rows(
        &mut db,
        "SELECT person_id, change FROM membership_changes ORDER BY id",
    )
    .await;
    let changes: Vec<(String, String)> = changes
        .iter()
        .map(|r| (r.get("person_id"), r.get("change")))
        .collect();
    let expected = [("a", "join"), ("b", "join"), ("c", "join"), ("b", "leave")];
    assert_eq!(
        changes,
        expected.map(|(p, c)| (p.to_string(), c.to_string()))
    );
    let title = &rows(&mut db, "SELECT title FROM spaces WHERE id = 's1'").await[0];
    assert_eq!(title.get::<String, _>("title"), "T 2024-01-02T00:00:00Z");
    let current = rows(&mut db, "SELECT person_id FROM space_members WHERE space_id = 's1' AND left_at IS NULL ORDER BY person_id").await;
    assert_eq!(
        current
            .iter()
            .map(|r| r.get::<String, _>("person_id"))
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
}
