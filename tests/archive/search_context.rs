//! `search` the way people type it (several words, a leading `-`, flags before or
//! after the query) and `--context N`, over the fixture of [`crate::search`].

use serde_json::Value;

use crate::search::archive;

fn hits(run: &crate::helpers::Run) -> Vec<Value> {
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(hits: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    ids.sort();
    ids
}

#[test]
fn queries_as_typed() {
    let a = archive();
    let quoted = hits(&a.run(&["search", "--json", "budget AND review"]));
    let words = hits(&a.run(&["search", "--json", "budget", "AND", "review"]));
    assert_eq!(ids(&words), ["m1"]);
    assert_eq!(ids(&words), ids(&quoted));
    let run = a.run(&[
        "search", "--limit", "5", "--json", "budget", "AND", "forecast",
    ]);
    assert_eq!(ids(&hits(&run)), ["m7"]);
    let run = a.run(&["search", "--json", "-review", "budget"]);
    assert_eq!(ids(&hits(&run)), ["m4", "m7"]);
    let run = a.run(&["search", "--json", "-spam", "budget"]);
    assert_eq!(ids(&hits(&run)), ["m1", "m4", "m7"]);
    let run = a.run(&["search", "--color", "never", "-spam", "budget"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("Quarterly [budget] review"),
        "{}",
        run.stdout
    );
    // Flags of `search` after the query are still flags.
    let run = a.run(&["search", "budget", "--json", "--space", "Finance"]);
    assert_eq!(ids(&hits(&run)), ["m1", "m7"]);
    let run = a.run(&["search", "--json", "--in-history", "swordfish"]);
    assert_eq!(ids(&hits(&run)), ["m6"]);
    let run = a.run(&["search", "--json", "--no-in-history", "swordfish"]);
    assert!(hits(&run).is_empty());
    let run = a.run(&["search", "--in-history", "false", "swordfish"]);
    assert_eq!(run.code, 2, "the old form is refused: {}", run.stderr);
    assert!(run.stderr.contains("--no-in-history"), "{}", run.stderr);
}

#[test]
fn bad_values_are_bad_usage() {
    let a = archive();
    for args in [
        &["search", "--since", "tomorrowish", "budget"][..],
        &["search", "--context", "many", "budget"],
        &["run", "--connect-timeout", "-5"],
        &["run", "--sweep-interval", "NaN"],
        &["run", "--sweep-window", "eventually"],
        &["export", "--until", "2024-02-30"],
    ] {
        let run = a.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("invalid value"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn context_shows_the_neighbours_in_the_space() {
    let a = archive();
    let run = a.run(&["search", "--json", "--context", "2", "café"]);
    let hit = &hits(&run)[0];
    assert_eq!(hit["id"], "m2");
    let context = &hit["context"];
    let ids = |side: &str| -> Vec<&str> {
        context[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect()
    };
    // Finance by creation time: m1, m2, m6, m7, m8 (Engineering's m3-m5 are not
    // its neighbours).
    assert_eq!(ids("before"), ["m1"]);
    assert_eq!(ids("after"), ["m6", "m7"]);
    let first = &context["before"][0];
    assert_eq!(first["sender"], "Ann Lee");
    assert_eq!(first["created"], "2024-01-01T10:00:00.000Z");
    assert_eq!(first["text"], "Quarterly budget review meeting");
    assert_eq!(first["removed"], false);
    assert_eq!(
        context["after"][0]["text"], "password removed",
        "the current text"
    );
    assert_eq!(context["after"][1]["removed"], true);

    let task = &hits(&a.run(&["search", "--json", "--context", "5", "kind:task"]))[0];
    assert_eq!(task["context"]["before"][0]["id"], "m3");
    assert_eq!(task["context"]["after"][0]["id"], "m5");
    assert_eq!(task["context"]["before"].as_array().unwrap().len(), 1);

    let plain = hits(&a.run(&["search", "--json", "café"]));
    assert!(plain[0].get("context").is_none(), "no context unless asked");
}

#[test]
fn context_in_text_is_indented_and_groups_are_separated() {
    let a = archive();
    let run = a.run(&[
        "search",
        "--color",
        "never",
        "--sort",
        "oldest",
        "--context",
        "1",
        "budget",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let expected_context = [
        "  2024-01-02T10:00:00.000Z  Bob Stone: The café opens at noon",
        "  2024-01-03T10:00:00.000Z  Ann Lee: Release plan",
        "  2024-01-05T10:00:00.000Z  陈 伟: 项目会议记录已上传",
        "  2024-01-06T10:00:00.000Z  Bob Stone: password removed",
        "  2024-01-08T10:00:00.000Z  陈 伟: budgetary concerns",
    ];
    for line in expected_context {
        assert!(lines.contains(&line), "no {line:?} in\n{}", run.stdout);
    }
    assert_eq!(
        lines.iter().filter(|l| **l == "--").count(),
        2,
        "{}",
        run.stdout
    );
    // m1: hit, then one after; m4: one before, hit, one after; m7 likewise.
    assert!(
        lines[0].starts_with("2024-01-01T10:00:00.000Z  Finance"),
        "{}",
        run.stdout
    );
    assert_eq!(lines[1], "    Quarterly [budget] review meeting");
    assert_eq!(lines[2], expected_context[0]);
    assert_eq!(lines[3], "--");
    assert_eq!(lines[4], expected_context[1]);
    assert!(lines[5].ends_with("m4"), "{}", run.stdout);
}
