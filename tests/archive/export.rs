//! `export` and `export verify`: the golden export of the seed payloads, integrity
//! checks that catch flipped bytes, removed lines and truncation, incremental exports
//! that add up to a full one, and every filter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use spaces_archive::generate::{write_stream, GenerateOptions};

use crate::helpers::{fixture, scalar, TestArchive};

pub fn ingest_seeds(archive: &TestArchive) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("seed-payloads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(fixture("export/task-completed.json"));
    let mut args = vec!["ingest".to_string()];
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = archive.run(&args);
    assert_eq!(run.code, 3, "two seeds are rejected: {}", run.stderr);
}

/// Ingests `events` generated payloads (seed 11) and returns the stream's lines.
pub fn generated(archive: &TestArchive, events: u64) -> Vec<String> {
    let path = archive.dir.path().join("gen.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    write_stream(
        GenerateOptions {
            events,
            seed: 11,
            spaces: 5,
        },
        &mut file,
    )
    .unwrap();
    let run = archive.run(&["ingest", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs `export` with `args` into `name` in the test's directory; returns the path and
/// the parsed lines.
pub fn export(archive: &TestArchive, name: &str, args: &[&str]) -> (PathBuf, Vec<Value>) {
    let path = archive.dir.path().join(name);
    let mut all = vec!["export", "--output", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = archive.run(&all);
    assert_eq!(run.code, 0, "export {args:?}: {}", run.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (path, lines)
}

fn verify(archive: &TestArchive, path: &Path) -> crate::helpers::Run {
    archive.run(&["export", "verify", path.to_str().unwrap()])
}

pub fn messages(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] == "message").collect()
}

fn ids(lines: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = messages(lines)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Replaces every time at or after `start` (the clock's, not the payloads': when a
/// payload arrived, and a removal that carries no time of its own) with `(arrival)`.
pub fn mask_arrival_times(value: &mut Value, start: i64) {
    match value {
        Value::String(s)
            if spaces_archive::event::time::parse_iso_millis(s).is_some_and(|t| t >= start) =>
        {
            *s = "(arrival)".into();
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_arrival_times(v, start)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_arrival_times(v, start)),
        _ => {}
    }
}

/// The seed payloads (with a second update of the task, and the removal) exported and
/// compared line by line with `tests/fixtures/export/seeds.jsonl`, apart from the
/// generation time, the hash that covers it, and times taken from the clock when the
/// payloads arrived. `UPDATE_GOLDEN=1` rewrites the file.
#[test]
fn golden_export_of_the_seed_payloads() {
    let start = spaces_archive::event::time::now_millis() - 1_000;
    let archive = TestArchive::new();
    ingest_seeds(&archive);
    let (path, mut lines) = export(&archive, "seeds.jsonl", &[]);
    assert_eq!(verify(&archive, &path).code, 0);
    let last = lines.len() - 1;
    lines[0]["generated_at"] = "(varies)".into();
    lines[last]["sha256"] = "(varies)".into();
    // The checkpoint covers arrival times and is signed by this archive's own key.
    assert!(
        lines[0]["checkpoint"]["signature"].is_string(),
        "{}",
        lines[0]
    );
    assert_eq!(lines[0]["checkpoint"], lines[last]["checkpoint"]);
    lines[0]["checkpoint"] = "(varies)".into();
    lines[last]["checkpoint"] = "(varies)".into();
    lines.iter_mut().for_each(|l| mask_arrival_times(l, start));
    let actual: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let golden = fixture("export/seeds.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    for (n, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "line {} differs from the golden export", n + 1);
    }
    assert_eq!(actual.lines().count(), expected.lines().count());

    // What the golden file must show, whatever it is regenerated from.
    let task = messages(&lines)
        .into_iter()
        .find(|m| m["kind"] == "task")
        .unwrap();
    assert_eq!(task["versions"].as_array().unwrap().len(), 2);
    assert_eq!(task["task"]["status"], "completed");
    assert_eq!(task["versions"][0]["task"]["status"], "pending");
    let changed = task["versions"][1]["changed"].as_array().unwrap();
    assert!(changed.contains(&"task.status".into()) && changed.contains(&"html".into()));
    assert_eq!(task["html"], "<p>asdasd, <b>done</b></p>");
    assert_eq!(task["text"], "asdasd, done");
    let removed = messages(&lines)
        .into_iter()
        .find(|m| m["id"] == "5f0848181015c73ae229f735")
        .unwrap();
    assert_eq!(removed["removed"]["by"]["id"], "5f04251caa4a347af9946e06");
    // Only its removal is among the seeds: one version, the removal, content kept.
    assert_eq!(
        removed["versions"].as_array().unwrap().len(),
        1,
        "{removed}"
    );
    assert_eq!(removed["versions"][0]["change"], "remove");
    assert_eq!(removed["versions"][0]["removed"], true);
    assert_eq!(
        removed["text"], "sdasdasdasd",
        "a removed message keeps its content"
    );
    assert_eq!(lines[0]["format"], "spaces-archive-export/1");
    assert_eq!(lines[last]["type"], "complete");
}

#[test]
fn verify_passes_a_fresh_export_and_names_what_is_wrong() {
    let archive = TestArchive::new();
    generated(&archive, 400);
    let (path, lines) = export(&archive, "all.jsonl", &[]);
    let run = verify(&archive, &path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("ok"), "{}", run.stdout);
    // The sidecar is in sha256sum's format.
    let sidecar = std::fs::read_to_string(format!("{}.sha256", path.display())).unwrap();
    assert!(sidecar.ends_with("  all.jsonl\n"), "{sidecar}");
    let bytes = std::fs::read(&path).unwrap();

    let check = |name: &str, damaged: &[u8], expect: &[&str]| {
        let bad = archive.dir.path().join(name);
        std::fs::write(&bad, damaged).unwrap();
        let run = verify(&archive, &bad);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        for word in expect {
            assert!(
                run.stderr.contains(word),
                "{name}: no {word:?} in {}",
                run.stderr
            );
        }
    };
    // A flipped byte inside a message's text.
    let mut flipped = bytes.clone();
    let at = bytes.len() / 2;
    flipped[at] = if flipped[at] == b'a' { b'b' } else { b'a' };
    check("flipped.jsonl", &flipped, &["altered"]);
    // A message line removed.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut kept: Vec<&str> = text.lines().collect();
    let message_line = lines.iter().position(|l| l["type"] == "message").unwrap();
    kept.remove(message_line);
    check(
        "removed.jsonl",
        format!("{}\n", kept.join("\n")).as_bytes(),
        &["altered", "counts differ", "message"],
    );
    // Cut short.
    check(
        "truncated.jsonl",
        &bytes[..bytes.len() * 2 / 3],
        &["truncated"],
    );
    // The sidecar itself disagrees with a file whose records are intact but re-spaced.
    let sidecar_target = archive.dir.path().join("resaved.jsonl");
    std::fs::write(&sidecar_target, [&bytes[..], b"\n"].concat()).unwrap();
    std::fs::write(
        format!("{}.sha256", sidecar_target.display()),
        sidecar.replace("all.jsonl", "resaved.jsonl"),
    )
    .unwrap();
    let run = verify(&archive, &sidecar_target);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("sha256"), "{}", run.stderr);
}

#[test]
fn compressed_exports_verify_and_decompress_to_the_same_records() {
    let archive = TestArchive::new();
    generated(&archive, 300);
    let (_, plain) = export(&archive, "plain.jsonl", &[]);
    for (compress, magic) in [
        ("zstd", &[0x28u8, 0xb5, 0x2f, 0xfd][..]),
        ("gzip", &[0x1f, 0x8b][..]),
    ] {
        let path = archive.dir.path().join(format!("out.{compress}"));
        let run = archive.run(&[
            "export",
            "--compress",
            compress,
            "--output",
            path.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(magic), "{compress}");
        let run = verify(&archive, &path);
        assert_eq!(run.code, 0, "{compress}: {}", run.stderr);
        assert!(
            run.stdout
                .contains(&format!("{} message", messages(&plain).len())),
            "{}",
            run.stdout
        );
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() - 20);
        std::fs::write(&path, &cut).unwrap();
        assert_eq!(verify(&archive, &path).code, 1, "{compress} cut short");
    }
}

/// The final state an importer builds from exports applied in order: each record
/// replaces the one with its type and id; `out_of_scope` drops the message.
fn apply(state: &mut BTreeMap<(String, String), Value>, lines: &[Value]) {
    for line in lines {
        let id = line["id"].as_str().unwrap_or_default().to_string();
        match line["type"].as_str() {
            Some("space") | Some("message") => {
                state.insert((line["type"].as_str().unwrap().into(), id), line.clone());
            }
            Some("out_of_scope") => {
                state.remove(&("message".to_string(), id));
            }
            _ => {}
        }
    }
}

fn cursor(lines: &[Value]) -> String {
    lines.last().unwrap()["cursor"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A generated stream in three parts: a full export after the first, incrementals after
/// the next two, applied in order, equal one full export at the end; with and without a
/// filter that removals move messages out of.
#[test]
fn a_full_export_and_its_incrementals_equal_a_full_export_at_the_end() {
    let source = TestArchive::new();
    let lines = generated(&source, 3_000);
    let archive = TestArchive::new();
    let filter_sets: [&[&str]; 2] = [&[], &["--removed", "exclude"]];
    let mut states = vec![BTreeMap::new(); filter_sets.len()];
    let mut cursors: Vec<Option<String>> = vec![None; filter_sets.len()];
    let mut out_of_scope = 0;
    for (n, part) in lines.chunks(1_000).enumerate() {
        let run = archive.ingest_text(&format!("part{n}.jsonl"), &(part.join("\n") + "\n"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        for (f, filters) in filter_sets.iter().enumerate() {
            let mut args = filters.to_vec();
            let previous = cursors[f].clone();
            if let Some(c) = &previous {
                args.extend(["--after-cursor", c]);
            }
            let (path, exported) = export(&archive, &format!("e{n}-{f}.jsonl"), &args);
            assert_eq!(verify(&archive, &path).code, 0);
            if n > 0 {
                assert!(
                    messages(&exported).len() < 1_000,
                    "an incremental holds only changes"
                );
            }
            out_of_scope += exported
                .iter()
                .filter(|l| l["type"] == "out_of_scope")
                .count();
            apply(&mut states[f], &exported);
            cursors[f] = Some(cursor(&exported));
        }
    }
    assert!(
        out_of_scope > 0,
        "removals after an export move messages out of --removed exclude"
    );
    for (f, filters) in filter_sets.iter().enumerate() {
        let (_, full) = export(&archive, &format!("full-{f}.jsonl"), filters);
        let mut expected = BTreeMap::new();
        apply(&mut expected, &full);
        assert!(expected.len() > 1_000);
        assert_eq!(states[f].len(), expected.len(), "{filters:?}");
        for (key, record) in &expected {
            assert_eq!(states[f].get(key), Some(record), "{key:?} with {filters:?}");
        }
    }
    // Nothing changed since: the next incremental is empty.
    let (_, none) = export(
        &archive,
        "none.jsonl",
        &["--after-cursor", cursors[0].as_deref().unwrap()],
    );
    assert!(messages(&none).is_empty());
}

#[tokio::test]
async fn every_filter_narrows_exactly_as_documented() {
    let archive = TestArchive::new();
    generated(&archive, 2_000);
    let (_, all) = export(&archive, "all.jsonl", &[]);
    let total = messages(&all).len();
    let mut db = archive.db().await;
    assert_eq!(
        total as i64,
        scalar(&mut db, "SELECT count(*) FROM messages").await
    );

    let space: String = sqlx::query_scalar(
        "SELECT space_id FROM messages GROUP BY space_id ORDER BY count(*) DESC",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    let title: String = sqlx::query_scalar("SELECT title FROM spaces WHERE id = ?")
        .bind(&space)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let (sender, name): (String, String) = sqlx::query_as(
        "SELECT p.id, p.display_name FROM messages m JOIN people p ON p.id = m.sender_id GROUP BY p.id ORDER BY count(*) DESC",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    let middle: i64 = scalar(&mut db, "SELECT created FROM messages ORDER BY created LIMIT 1 OFFSET (SELECT count(*) / 2 FROM messages)").await;
    let iso = spaces_archive::event::time::format_millis(middle);

    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--space", &space], format!("space_id = '{space}'")),
        (vec!["--space", &title], format!("space_id = '{space}'")),
        (vec!["--from", &sender], format!("sender_id = '{sender}'")),
        (vec!["--from", &name], format!("sender_id = '{sender}'")),
        (vec!["--kind", "task"], "kind = 'task'".into()),
        (vec!["--kind", "post"], "kind = 'post'".into()),
        (vec!["--since", &iso], format!("created >= {middle}")),
        (vec!["--until", &iso], format!("created < {middle}")),
        (
            vec!["--since", &iso, "--by-modified"],
            format!("modified >= {middle}"),
        ),
        (vec!["--removed", "exclude"], "removed_at IS NULL".into()),
        (vec!["--removed", "only"], "removed_at IS NOT NULL".into()),
        (
            vec!["--space", &space, "--kind", "chat", "--removed", "exclude"],
            format!("space_id = '{space}' AND kind = 'chat' AND removed_at IS NULL"),
        ),
    ];
    for (n, (args, condition)) in cases.iter().enumerate() {
        let (_, lines) = export(&archive, &format!("f{n}.jsonl"), args);
        let expected: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM messages WHERE {condition} ORDER BY id"
        ))
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert!(
            !expected.is_empty() && expected.len() < total,
            "{args:?} must narrow"
        );
        assert_eq!(ids(&lines), expected, "{args:?}");
        assert_eq!(lines.last().unwrap()["counts"]["message"], expected.len());
    }

    // Export order: by space, then created time, then id.
    let order: Vec<(String, String, String)> = messages(&all)
        .iter()
        .map(|m| {
            (
                m["space_id"].as_str().unwrap_or_default().to_string(),
                m["created"].as_str().unwrap_or_default().to_string(),
                m["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);

    // Names that match nothing and unusable cursors are usage errors.
    for args in [
        &["export", "--space", "no such space"][..],
        &["export", "--from", "nobody at all"][..],
        &["export", "--after-cursor", "not-a-cursor"][..],
        &["export", "--kind", "task", "--after-cursor", &cursor(&all)][..],
    ] {
        let run = archive.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("error:"), "{}", run.stderr);
    }
}

#[tokio::test]
async fn raw_adds_every_payload_of_each_message_verbatim() {
    let archive = TestArchive::new();
    generated(&archive, 600);
    let (path, lines) = export(&archive, "raw.jsonl", &["--raw"]);
    assert_eq!(verify(&archive, &path).code, 0);
    let mut db = archive.db().await;
    let mut total = 0;
    for m in messages(&lines) {
        let id = m["id"].as_str().unwrap();
        let events = m["events"].as_array().unwrap();
        let stored = scalar(
            &mut db,
            &format!("SELECT count(*) FROM events WHERE message_id = '{id}'"),
        )
        .await;
        assert_eq!(events.len() as i64, stored, "{id}");
        for e in events {
            let payload: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
            let about = payload["_id"].as_str().or(payload["messageId"].as_str());
            assert!(about == Some(id) || payload["messageId"] == id, "{payload}");
        }
        total += events.len();
    }
    assert_eq!(lines.last().unwrap()["counts"]["event"], total);
    assert!(total > messages(&lines).len());
}

#[test]
fn stdout_exports_and_files_leave_nothing_half_written() {
    let archive = TestArchive::new();
    generated(&archive, 200);
    let run = archive.run(&["export"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].contains("\"manifest\"") && lines.last().unwrap().contains("\"complete\""));
    // A failed export (a missing directory) leaves no file and no temporary file.
    let missing = archive.dir.path().join("no-dir/out.jsonl");
    let run = archive.run(&["export", "--output", missing.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    let (_path, _) = export(&archive, "ok.jsonl", &[]);
    let leftovers: Vec<String> = std::fs::read_dir(archive.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Lines past `--sort-memory` are sorted in runs spilled to unlinked files and merged:
/// an export that spills dozens of runs (to a file, and to stdout with the spill
/// beside the archive) has exactly the lines of one ordered in memory, in export order,
/// and leaves no spill file behind.
#[test]
fn spilled_runs_merge_to_the_same_export() {
    let archive = TestArchive::new();
    generated(&archive, 6_000);
    let (whole_path, whole) = export(&archive, "whole.jsonl", &["--sort-memory", "1024"]);
    let (spilled_path, spilled) = export(&archive, "spilled.jsonl", &["--sort-memory", "1"]);
    let size = std::fs::metadata(&spilled_path).unwrap().len();
    assert!(
        size > 8 << 20,
        "the export must spill several runs: {size} bytes"
    );
    assert_eq!(verify(&archive, &spilled_path).code, 0);
    let run = archive.run(&["export", "--sort-memory", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stdout: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for other in [&spilled, &stdout] {
        assert_eq!(other.len(), whole.len());
        // The manifest differs in its generation time, and the hash that covers it.
        for (a, b) in whole.iter().zip(other.iter()).skip(1) {
            if a["type"] != "complete" {
                assert_eq!(a, b);
            } else {
                assert_eq!(a["counts"], b["counts"]);
                assert_eq!(a["cursor"], b["cursor"]);
            }
        }
    }
    let keys: Vec<(String, String, String)> = messages(&spilled)
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (field("space_id"), field("created"), field("id"))
        })
        .collect();
    assert!(keys.len() > 3_000, "{} messages", keys.len());
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "export order");
    drop(whole_path);
    let leftovers: Vec<String> = std::fs::read_dir(archive.dir.path())
        .unwrap()
        .chain(std::fs::read_dir(archive.data_dir()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
