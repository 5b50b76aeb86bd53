//! A `generate` stream archived twice: the counts the generator tallied, and a
//! second run that is all duplicates.

use spaces_archive::generate::{write_stream, GenerateOptions};

use crate::helpers::TestArchive;

#[test]
fn a_generated_stream_twice_gives_exact_counts() {
    let archive = TestArchive::new();
    let path = archive.dir.path().join("gen.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let expected = write_stream(
        GenerateOptions {
            events: 10_000,
            seed: 7,
            spaces: 6,
        },
        &mut file,
    )
    .unwrap();
    drop(file);
    assert!(expected.post > 0 && expected.task > 0 && expected.removed > 0 && expected.unknown > 0);

    let run = archive.run(&["ingest", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats = archive.stats();
    assert_eq!(stats["events"], expected.events - expected.duplicates);
    assert_eq!(stats["duplicates"], expected.duplicates);
    assert_eq!(stats["unknown"], expected.unknown);
    assert_eq!(stats["rejected"], 0);
    assert_eq!(stats["spaces"], expected.spaces);
    assert_eq!(stats["people"], expected.people);
    assert_eq!(stats["messages"]["chat"], expected.chat);
    assert_eq!(stats["messages"]["post"], expected.post);
    assert_eq!(stats["messages"]["task"], expected.task);
    assert_eq!(stats["removed"], expected.removed);
    assert_eq!(stats["versions"], expected.versions);
    assert_eq!(stats["attachments"], expected.attachments);

    let run = archive.run(&["ingest", "--json", path.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["read"], 10_000);
    assert_eq!(summary["archived"], 0);
    assert_eq!(summary["duplicates"], 10_000);
    let again = archive.stats();
    assert_eq!(again["duplicates"], expected.duplicates + 10_000);
    assert_eq!(again["messages"], stats["messages"]);
    assert_eq!(again["versions"], stats["versions"]);
}

#[test]
fn generate_is_deterministic_for_a_seed() {
    let archive = TestArchive::new();
    let a = archive
        .run(&["generate", "--events", "300", "--seed", "5"])
        .stdout;
    let b = archive
        .run(&["generate", "--events", "300", "--seed", "5"])
        .stdout;
    let c = archive
        .run(&["generate", "--events", "300", "--seed", "6"])
        .stdout;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.lines().count(), 300);
    let text = a.as_str();
    for needle in [
        "\"idea\"",
        "\"task\"",
        "app.event.message.removed",
        "parentMsg",
        "<mention",
        "&#x27;",
        "fileId",
    ] {
        assert!(text.contains(needle), "generated stream lacks {needle}");
    }
    assert!(
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "no CJK text"
    );
}
