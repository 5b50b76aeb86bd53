//! `search` over a known fixture set: every syntax, filter and order returns exactly
//! the expected ids.

use serde_json::{json, Value};

use crate::helpers::TestArchive;

fn chat(id: &str, space: (&str, &str), sender: (&str, &str), created: &str, body: &str) -> Value {
    json!({"_id": id, "category": "chat", "topicId": space.0, "topicTitle": space.1, "topicType": "group",
           "created": created, "modified": created, "sender": {"_id": sender.0, "displayname": sender.1},
           "content": {"bodyText": format!("<p>{body}</p>"), "data": []}})
}

const FIN: (&str, &str) = ("s1", "Finance");
const ENG: (&str, &str) = ("s2", "Engineering");
const ANN: (&str, &str) = ("u1", "Ann Lee");
const BOB: (&str, &str) = ("u2", "Bob Stone");
const CHEN: (&str, &str) = ("u3", "陈 伟");

fn fixture_lines() -> Vec<Value> {
    let mut post = chat("m3", ENG, ANN, "2024-01-03T10:00:00Z", "Release plan");
    post["category"] = "idea".into();
    post["content"]["description"] = "<p>ship the release train on Friday</p>".into();
    let mut task = chat(
        "m4",
        ENG,
        BOB,
        "2024-01-04T10:00:00Z",
        "Fix the budget spreadsheet",
    );
    task["category"] = "task".into();
    task["content"]["assignees"] = json!([{"_id": "u1"}]);
    let mut attached = chat(
        "m7",
        FIN,
        ANN,
        "2024-01-07T10:00:00Z",
        "budget numbers attached",
    );
    attached["content"]["data"] =
        json!([{"fileId": "f1", "name": "forecast.xlsx", "fileSize": 1000}]);
    vec![
        chat(
            "m1",
            FIN,
            ANN,
            "2024-01-01T10:00:00Z",
            "Quarterly budget review meeting",
        ),
        chat(
            "m2",
            FIN,
            BOB,
            "2024-01-02T10:00:00Z",
            "The café opens at noon",
        ),
        post,
        task,
        chat(
            "m5",
            ENG,
            CHEN,
            "2024-01-05T10:00:00Z",
            "项目会议记录已上传",
        ),
        chat(
            "m6",
            FIN,
            BOB,
            "2024-01-06T10:00:00Z",
            "secret password is swordfish",
        ),
        json!({"_id": "m6", "messageId": "m6", "category": "app.event.message.updated", "topicId": "s1",
               "modified": "2024-01-06T11:00:00Z", "sender": {"_id": "u2"}, "content": {"bodyText": "<p>password removed</p>"}}),
        attached,
        json!({"_id": "m7", "messageId": "m7", "category": "app.event.message.removed", "topicId": "s1",
               "sender": {"_id": "u1"}}),
        chat(
            "m8",
            FIN,
            CHEN,
            "2024-01-08T10:00:00Z",
            "budgetary concerns",
        ),
    ]
}

pub fn archive() -> TestArchive {
    let archive = TestArchive::new();
    let lines: Vec<String> = fixture_lines().iter().map(Value::to_string).collect();
    let run = archive.ingest_text("fixture.jsonl", &lines.join("\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    archive
}

fn ids(archive: &TestArchive, args: &[&str]) -> Vec<String> {
    let mut full = vec!["search", "--json"];
    if !args.contains(&"--limit") {
        full.extend(["--limit", "100"]);
    }
    full.extend_from_slice(args);
    let run = archive.run(&full);
    assert_eq!(run.code, 0, "search {args:?}: {}", run.stderr);
    run.stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn sorted(archive: &TestArchive, args: &[&str]) -> Vec<String> {
    let mut got = ids(archive, args);
    got.sort();
    got
}

#[test]
fn query_syntax() {
    let a = archive();
    assert_eq!(sorted(&a, &["budget"]), ["m1", "m4", "m7"]);
    assert_eq!(sorted(&a, &["\"budget review\""]), ["m1"]);
    assert!(sorted(&a, &["\"review budget\""]).is_empty());
    assert_eq!(sorted(&a, &["budget AND review"]), ["m1"]);
    assert_eq!(sorted(&a, &["budget OR café"]), ["m1", "m2", "m4", "m7"]);
    assert_eq!(sorted(&a, &["budget -review"]), ["m4", "m7"]);
    assert_eq!(sorted(&a, &["budget*"]), ["m1", "m4", "m7", "m8"]);
    assert_eq!(sorted(&a, &["description:friday"]), ["m3"]);
    assert_eq!(sorted(&a, &["attachment:forecast"]), ["m7"]);
    assert_eq!(sorted(&a, &["kind:task"]), ["m4"]);
    assert_eq!(sorted(&a, &["sender:bob"]), ["m2", "m4", "m6"]);
}

#[test]
fn folding_and_cjk() {
    let a = archive();
    assert_eq!(sorted(&a, &["cafe"]), ["m2"]);
    assert_eq!(sorted(&a, &["CAFÉ"]), ["m2"]);
    assert_eq!(sorted(&a, &["会议"]), ["m5"]);
    assert_eq!(sorted(&a, &["项目"]), ["m5"]);
    assert!(
        sorted(&a, &["会项"]).is_empty(),
        "characters that are not adjacent do not match as a word"
    );
}

#[test]
fn filters() {
    let a = archive();
    assert_eq!(sorted(&a, &["budget", "--space", "Finance"]), ["m1", "m7"]);
    assert_eq!(sorted(&a, &["budget", "--space", "s2"]), ["m4"]);
    assert_eq!(
        sorted(
            &a,
            &["budget*", "--space", "finance", "--space", "Engineering"]
        ),
        ["m1", "m4", "m7", "m8"]
    );
    assert_eq!(sorted(&a, &["budget", "--from", "Bob Stone"]), ["m4"]);
    assert_eq!(sorted(&a, &["budget*", "--from", "u3"]), ["m8"]);
    assert_eq!(sorted(&a, &["budget", "--kind", "task"]), ["m4"]);
    assert_eq!(sorted(&a, &["budget", "--since", "2024-01-05"]), ["m7"]);
    assert_eq!(sorted(&a, &["budget", "--until", "2024-01-04"]), ["m1"]);
    assert_eq!(
        sorted(
            &a,
            &[
                "budget",
                "--since",
                "2024-01-04T10:00:00Z",
                "--until",
                "2024-01-05"
            ]
        ),
        ["m4"]
    );
    assert_eq!(sorted(&a, &["budget", "--removed", "only"]), ["m7"]);
    assert_eq!(
        sorted(&a, &["budget", "--removed", "exclude"]),
        ["m1", "m4"]
    );
    assert!(
        sorted(&a, &["budget", "--since", "7d"]).is_empty(),
        "nothing in the fixture is that recent"
    );
    let run = a.run(&["search", "budget", "--space", "Nowhere"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no space matches \"Nowhere\""),
        "{}",
        run.stderr
    );
}

#[test]
fn sorting_and_paging() {
    let a = archive();
    assert_eq!(
        ids(&a, &["budget*", "--sort", "newest"]),
        ["m8", "m7", "m4", "m1"]
    );
    assert_eq!(
        ids(&a, &["budget*", "--sort", "oldest"]),
        ["m1", "m4", "m7", "m8"]
    );
    assert_eq!(
        ids(
            &a,
            &["budget*", "--sort", "newest", "--limit", "2", "--offset", "1"]
        ),
        ["m7", "m4"]
    );
    let best = ids(&a, &["budget review"]);
    assert_eq!(best, ["m1"]);
}

#[test]
fn removed_and_edited_are_marked_and_history_is_searched() {
    let a = archive();
    let run = a.run(&["search", "--json", "swordfish"]);
    let hit: Value = serde_json::from_str(run.stdout.lines().next().expect("a hit")).unwrap();
    assert_eq!(hit["id"], "m6");
    assert_eq!(hit["edited"], true);
    assert_eq!(hit["removed"], false);
    assert_eq!(hit["matched_in"], "history");
    assert_eq!(hit["text"], "password removed");
    assert!(hit["snippet"].as_str().unwrap().contains("swordfish"));
    assert!(ids(&a, &["swordfish", "--no-in-history"]).is_empty());
    // Several words: one word now, the other only before the edit.
    assert_eq!(ids(&a, &["password AND swordfish"]), ["m6"]);
    assert!(ids(&a, &["password AND swordfish", "--no-in-history"]).is_empty());
    assert_eq!(
        ids(&a, &["swordfish OR password", "--no-in-history"]),
        ["m6"]
    );
    assert!(ids(&a, &["swordfish OR secret", "--no-in-history"]).is_empty());

    let run = a.run(&["search", "--json", "forecast"]);
    let hit: Value = serde_json::from_str(run.stdout.lines().next().expect("a hit")).unwrap();
    for key in [
        "id",
        "space_id",
        "space_title",
        "kind",
        "sender_id",
        "sender_name",
        "created",
        "modified",
        "removed",
        "text",
        "snippet",
        "score",
    ] {
        assert!(hit.get(key).is_some(), "no {key} in {hit}");
    }
    assert_eq!(hit["removed"], true);
    assert_eq!(hit["space_title"], "Finance");
    assert_eq!(hit["sender_name"], "Ann Lee");
    assert_eq!(hit["created"], "2024-01-07T10:00:00.000Z");

    let text = a
        .run(&["search", "budget", "--color", "never", "--sort", "oldest"])
        .stdout;
    assert!(text.contains("[removed"), "{text}");
    assert!(text.contains("Quarterly [budget] review"), "{text}");
    let colored = a.run(&["search", "budget", "--color", "always"]).stdout;
    assert!(colored.contains("\x1b[1;31mbudget\x1b[0m"));
}

/// A long message's snippet is cut from around the match, wherever it is, also when
/// the first place the word's letters appear is not the word (`redeployment`) or the
/// word is written with accents and capitals.
#[test]
fn long_messages_get_a_snippet_around_the_match() {
    let a = TestArchive::new();
    let filler = "lorem ipsum dolor sit amet ".repeat(120);
    let lines = [
        chat(
            "l1",
            FIN,
            ANN,
            "2024-02-01T10:00:00Z",
            &format!("{filler} the swordfish deadline"),
        ),
        chat(
            "l2",
            FIN,
            ANN,
            "2024-02-02T10:00:00Z",
            &format!("redeployment {filler} deploy tonight"),
        ),
        chat(
            "l3",
            FIN,
            ANN,
            "2024-02-03T10:00:00Z",
            &format!("{filler} le DÉPLOIEMENT est fini"),
        ),
    ];
    let lines: Vec<String> = lines.iter().map(Value::to_string).collect();
    let run = a.ingest_text("long.jsonl", &lines.join("\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (query, marked) in [
        ("swordfish", "the [swordfish] deadline"),
        ("deploy", "[deploy] tonight"),
        ("deploiement", "le [DÉPLOIEMENT] est"),
    ] {
        let run = a.run(&["search", query, "--color", "never"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains(marked), "{query}: {}", run.stdout);
    }
}

/// An edit that only adds to a message leaves its earlier words current; an edit
/// that replaces them leaves them findable only in history.
#[test]
fn edits_that_add_and_edits_that_replace() {
    let a = TestArchive::new();
    let update = |id: &str, at: &str, body: &str| {
        json!({"_id": id, "messageId": id, "category": "app.event.message.updated", "topicId": "s1",
               "modified": at, "sender": {"_id": "u1"}, "content": {"bodyText": body}})
    };
    let lines = [
        chat("e1", FIN, ANN, "2024-03-01T10:00:00Z", "zeppelin arrives"),
        update(
            "e1",
            "2024-03-01T11:00:00Z",
            "<p>zeppelin arrives</p><p>edit: at noon</p>",
        ),
        chat("e2", FIN, ANN, "2024-03-02T10:00:00Z", "zeppelin tour"),
        update("e2", "2024-03-02T11:00:00Z", "<p>tour cancelled</p>"),
    ];
    let lines: Vec<String> = lines.iter().map(Value::to_string).collect();
    let run = a.ingest_text("edits.jsonl", &lines.join("\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let now = "--no-in-history";
    assert_eq!(sorted(&a, &["zeppelin"]), ["e1", "e2"]);
    assert_eq!(sorted(&a, &["zeppelin", now]), ["e1"]);
    assert_eq!(sorted(&a, &["\"zeppelin arrives\"", now]), ["e1"]);
    assert_eq!(sorted(&a, &["zeppelin AND noon", now]), ["e1"]);
    assert!(sorted(&a, &["zeppelin AND tour", now]).is_empty());
    assert_eq!(sorted(&a, &["zeppelin AND tour"]), ["e2"]);
    assert_eq!(sorted(&a, &["history:zeppelin"]), ["e1", "e2"]);
    assert_eq!(a.run(&["verify"]).code, 0);
}

#[test]
fn bad_queries_are_exit_code_2() {
    let a = archive();
    for (query, says) in [
        ("\"unbalanced", "the phrase is not closed"),
        ("nosuch:field", "unknown field 'nosuch'"),
        ("", "empty query"),
        ("(budget OR", "not closed"),
        ("budget)", "unbalanced ')'"),
    ] {
        let run = a.run(&["search", query]);
        assert_eq!(run.code, 2, "{query:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{query:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"));
    }
    let run = a.run(&["search", "--since", "yesterday", "x"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("'yesterday' for '--since <TIME>': not a time"),
        "{}",
        run.stderr
    );
}
