//! `export --format rsmf`: the golden RSMF of the seed payloads, every `.rsmf` parsed
//! back (a mail parser, then the zip, then the manifest) holding exactly the JSONL
//! export's messages, versions and removals; every manifest of a 5,000-event export
//! valid against RSMF 2.0's rules; slicing and filters narrowing as for JSONL; stored
//! files inside `rsmf.zip`; `export verify` of the directory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::export::{export, generated, ingest_seeds, mask_arrival_times, messages};
use crate::helpers::{fixture, TestArchive};

/// One `.rsmf` read back.
pub struct Rsmf {
    pub name: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub manifest: Value,
    pub zip: BTreeMap<String, Vec<u8>>,
}

/// Parses `path` as a mail, its one attachment as a zip, and the manifest in it.
pub fn read_rsmf(path: &Path) -> Rsmf {
    let bytes = std::fs::read(path).unwrap();
    let message = mail_parser::MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("{} does not parse as a mail", path.display()));
    let mut headers = BTreeMap::new();
    for header in message.headers() {
        let name = header.name().to_string();
        if name.to_ascii_lowercase().starts_with("x-rsmf-") || name == "Subject" || name == "From" {
            let value = match header.value() {
                mail_parser::HeaderValue::Text(t) => decode_words(t),
                mail_parser::HeaderValue::Address(a) => a
                    .iter()
                    .map(|a| format!("{} <{}>", a.name().unwrap_or(""), a.address().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => format!("{other:?}"),
            };
            headers.insert(name, value);
        }
    }
    assert_eq!(
        message.attachment_count(),
        1,
        "{}: exactly one attachment",
        path.display()
    );
    let attachment = message.attachment(0).unwrap();
    use mail_parser::MimeHeaders;
    assert_eq!(attachment.attachment_name(), Some("rsmf.zip"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(attachment.contents().to_vec()))
        .unwrap_or_else(|e| panic!("{}: rsmf.zip: {e}", path.display()));
    let mut zip = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        assert!(
            matches!(
                entry.compression(),
                zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
            ),
            "Relativity reads only stored and deflated entries"
        );
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        zip.insert(entry.name().unwrap().to_string(), data);
    }
    let manifest: Value =
        serde_json::from_slice(zip.get("rsmf_manifest.json").unwrap_or_else(|| {
            panic!(
                "{}: no rsmf_manifest.json at the zip's root",
                path.display()
            )
        }))
        .unwrap();
    Rsmf {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        headers,
        body: message
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default(),
        manifest,
        zip,
    }
}

/// RFC 2047 `=?UTF-8?B?…?=` words decoded (mail-parser leaves `X-` headers as sent;
/// the writer encodes a whole value or none of it).
fn decode_words(value: &str) -> String {
    use base64::Engine as _;
    if !value.contains("=?UTF-8?B?") {
        return value.to_string();
    }
    let mut bytes = Vec::new();
    for word in value.split_whitespace() {
        let encoded = word
            .strip_prefix("=?UTF-8?B?")
            .and_then(|w| w.strip_suffix("?="))
            .unwrap_or_else(|| panic!("{word:?} in an encoded value"));
        bytes.extend(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        );
    }
    String::from_utf8(bytes).unwrap()
}

/// Runs `export --format rsmf` into `name` with `args`; every `.rsmf` read back, by name.
pub fn export_rsmf(archive: &TestArchive, name: &str, args: &[&str]) -> (PathBuf, Vec<Rsmf>) {
    let dir = archive.dir.path().join(name);
    let mut all = vec![
        "export",
        "--format",
        "rsmf",
        "--output",
        dir.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let run = archive.run(&all);
    assert_eq!(run.code, 0, "export {all:?}: {}", run.stderr);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rsmf"))
        .collect();
    names.sort();
    let files = names.iter().map(|p| read_rsmf(p)).collect();
    (dir, files)
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("rsmf/manifest-2.0.0.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::draft7::new(&schema).unwrap()
}

/// The schema's rules, then what a schema cannot say: unique ids, every reference
/// defined, parents in the same manifest, the headers agreeing with the manifest.
pub fn check_rsmf(file: &Rsmf, validator: &jsonschema::Validator) {
    let m = &file.manifest;
    let errors: Vec<String> = validator
        .iter_errors(m)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", file.name);
    let participants: BTreeSet<&str> = m["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        participants.len(),
        m["participants"].as_array().unwrap().len(),
        "unique participants"
    );
    let conversations: BTreeSet<&str> = m["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for c in m["conversations"].as_array().unwrap() {
        for p in c["participants"].as_array().unwrap() {
            assert!(
                participants.contains(p.as_str().unwrap()),
                "{}: {p} undefined",
                file.name
            );
        }
    }
    let events = m["events"].as_array().unwrap();
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), events.len(), "{}: event ids unique", file.name);
    let times: BTreeMap<&str, &str> = events
        .iter()
        .filter_map(|e| Some((e["id"].as_str()?, e["timestamp"].as_str()?)))
        .collect();
    for e in events {
        assert!(conversations.contains(e["conversation"].as_str().unwrap()));
        assert!(
            participants.contains(e["participant"].as_str().unwrap()),
            "{}: {e}",
            file.name
        );
        if let Some(parent) = e["parent"].as_str() {
            assert!(
                ids.contains(parent),
                "{}: parent {parent} not in the manifest",
                file.name
            );
            assert!(times[parent] <= e["timestamp"].as_str().unwrap());
        }
        for edit in e["edits"].as_array().into_iter().flatten() {
            assert!(participants.contains(edit["participant"].as_str().unwrap()));
            if let (Some(at), Some(t)) = (edit["timestamp"].as_str(), e["timestamp"].as_str()) {
                assert!(at >= t, "{}: an edit before its event", file.name);
            }
        }
        for a in e["attachments"].as_array().into_iter().flatten() {
            assert!(
                file.zip.contains_key(a["id"].as_str().unwrap()),
                "{}: {a} not in the zip",
                file.name
            );
        }
        if e["type"] == "join" || e["type"] == "leave" {
            let conversation = &m["conversations"][0];
            assert_ne!(
                conversation["type"], "direct",
                "no joins in a direct conversation"
            );
        }
    }
    // Nothing in the zip that nothing names.
    let named: BTreeSet<&str> = events
        .iter()
        .flat_map(|e| e["attachments"].as_array().into_iter().flatten())
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    for entry in file.zip.keys() {
        assert!(
            entry == "rsmf_manifest.json" || named.contains(entry.as_str()),
            "{}: {entry} unreferenced",
            file.name
        );
    }
    let h = &file.headers;
    assert_eq!(h["X-RSMF-Version"], "2.0.0");
    assert_eq!(h["X-RSMF-Application"], "Avaya Spaces");
    assert!(h["X-RSMF-Generator"].starts_with("spaces-archive "));
    assert_eq!(h["X-RSMF-EventCount"], events.len().to_string());
    assert_eq!(
        h["X-RSMF-AttachmentCount"],
        (file.zip.len() - 1).to_string()
    );
    let stamps: Vec<&str> = events
        .iter()
        .filter_map(|e| e["timestamp"].as_str())
        .collect();
    assert_eq!(
        h.get("X-RSMF-BeginDate").map(String::as_str),
        stamps.iter().min().copied()
    );
    assert_eq!(
        h.get("X-RSMF-EndDate").map(String::as_str),
        stamps.iter().max().copied()
    );
    assert_eq!(
        h["X-RSMF-Participants"].split(", ").count(),
        participants.len(),
        "{}: {}",
        file.name,
        h["X-RSMF-Participants"]
    );
    assert!(!file.body.trim().is_empty(), "a text body");
}

/// Every message event of `files`, by id.
fn events_by_id(files: &[Rsmf]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for file in files {
        for e in file.manifest["events"].as_array().unwrap() {
            if e["type"] == "message" {
                let id = e["id"].as_str().unwrap().to_string();
                assert!(
                    out.insert(id.clone(), e.clone()).is_none(),
                    "message {id} in two files"
                );
            }
        }
    }
    out
}

fn custom<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event["custom"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)?["value"]
        .as_str()
}

fn body(text: &Value, description: &Value) -> String {
    let (t, d) = (
        text.as_str().unwrap_or(""),
        description.as_str().unwrap_or(""),
    );
    match (t.is_empty(), d.is_empty()) {
        (_, true) => t.to_string(),
        (true, false) => d.to_string(),
        _ => format!("{t}\n\n{d}"),
    }
}

/// The RSMF events hold exactly the JSONL export's messages, current texts, edits
/// and removals.
fn assert_same_as_jsonl(files: &[Rsmf], lines: &[Value]) {
    let events = events_by_id(files);
    let jsonl = messages(lines);
    assert_eq!(events.len(), jsonl.len());
    for m in jsonl {
        let id = m["id"].as_str().unwrap();
        let e = &events[id];
        assert_eq!(
            e["body"].as_str().unwrap(),
            body(&m["text"], &m["description"]),
            "{id}"
        );
        assert_eq!(
            e["deleted"].as_bool().unwrap_or(false),
            !m["removed"].is_null(),
            "{id}"
        );
        assert_eq!(e["participant"], m["sender"]["id"], "{id}");
        assert_eq!(e["conversation"], m["space_id"]);
        assert_eq!(custom(e, "kind"), m["kind"].as_str());
        assert_eq!(custom(e, "export_message_id"), Some(id));
        let versions = m["versions"].as_array().unwrap();
        assert_eq!(
            custom(e, "versions"),
            Some(versions.len().to_string().as_str())
        );
        let bodies: Vec<String> = versions
            .iter()
            .map(|v| body(&v["text"], &v["description"]))
            .collect();
        let changes = bodies.windows(2).filter(|w| w[0] != w[1]).count();
        let edits = e["edits"].as_array().map_or(0, Vec::len);
        assert_eq!(edits, changes, "{id}: one edit per change of text");
        if let Some(last) = e["edits"].as_array().and_then(|a| a.last()) {
            assert_eq!(last["new"], e["body"]);
        }
        match (m["parent_id"].as_str(), e["parent"].as_str()) {
            (Some(p), Some(q)) => assert_eq!(p, q),
            (Some(p), None) => assert_eq!(custom(e, "parent_id"), Some(p)),
            (None, q) => assert_eq!(q, None),
        }
        if let Some(removed) = m["removed"].as_object() {
            assert_eq!(custom(e, "removed_at"), removed["at"].as_str());
        }
    }
}

/// The seed payloads as RSMF (an edited task, a removed message), compared field by
/// field with `tests/fixtures/export/seeds.rsmf.json` (headers and manifests of every
/// file; times taken from the clock at arrival masked). `UPDATE_GOLDEN=1` rewrites it.
#[test]
fn golden_rsmf_of_the_seed_payloads() {
    let start = spaces_archive::event::time::now_millis() - 1_000;
    let archive = TestArchive::new();
    ingest_seeds(&archive);
    let (_, lines) = export(&archive, "seeds.jsonl", &[]);
    let (dir, files) = export_rsmf(&archive, "seeds-rsmf", &[]);
    let validator = validator();
    for file in &files {
        check_rsmf(file, &validator);
    }
    assert_same_as_jsonl(&files, &lines);
    let mut actual = serde_json::Map::new();
    for file in &files {
        let mut headers = json!(file.headers);
        headers["X-RSMF-Generator"] = "(version)".into();
        let body = mask_readable_arrivals(&file.body, start);
        let mut entry = json!({"headers": headers, "manifest": file.manifest, "body": body});
        mask_arrival_times(&mut entry, start);
        actual.insert(file.name.clone(), entry);
    }
    let actual = Value::Object(actual);
    let golden = fixture("export/seeds.rsmf.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, format!("{actual:#}\n")).unwrap();
    }
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
    let (a, e) = (actual.as_object().unwrap(), expected.as_object().unwrap());
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        e.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (name, file) in e {
        for part in ["headers", "body"] {
            assert_eq!(a[name][part], file[part], "{name}: {part}");
        }
        for key in [
            "version",
            "eventcollectionid",
            "participants",
            "conversations",
        ] {
            assert_eq!(
                a[name]["manifest"][key], file["manifest"][key],
                "{name}: manifest {key}"
            );
        }
        let (got, want) = (&a[name]["manifest"]["events"], &file["manifest"]["events"]);
        assert_eq!(
            got.as_array().unwrap().len(),
            want.as_array().unwrap().len(),
            "{name}: events"
        );
        for (g, w) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            for (field, value) in w.as_object().unwrap() {
                assert_eq!(&g[field], value, "{name}: event {} field {field}", w["id"]);
            }
            assert_eq!(
                g.as_object().unwrap().len(),
                w.as_object().unwrap().len(),
                "{name}: {}",
                w["id"]
            );
        }
    }
    // What the golden file must show, whatever it is regenerated from.
    let events = events_by_id(&files);
    let task = &events["5f084be01015c7ea0129f976"];
    assert_eq!(task["edits"][0]["previous"], "asdasd\n\nasdasdasdasdasasd");
    assert_eq!(task["edits"][0]["new"], "asdasd, done\n\nasdasdasdasdasasd");
    assert_eq!(custom(task, "task_status"), Some("completed"));
    let removed = &events["5f0848181015c73ae229f735"];
    assert_eq!(removed["deleted"], true);
    assert_eq!(removed["body"], "sdasdasdasd", "the last text is kept");
    assert!(files.iter().any(|f| f.body.contains("REMOVED")));
    let ok = verify(&archive, &dir);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

fn verify(archive: &TestArchive, dir: &Path) -> crate::helpers::Run {
    archive.run(&["export", "verify", dir.to_str().unwrap()])
}

/// 5,000 generated events sliced by day: every manifest valid, each file one UTC day
/// of one space, the messages exactly the JSONL export's; by month and whole spaces
/// fewer files with the same messages; filters and `--after-cursor` narrow exactly as
/// for JSONL; `export verify` names a changed, a missing and an added file.
#[test]
fn a_generated_export_sliced_by_day_validates_and_narrows_as_jsonl_does() {
    let source = TestArchive::new();
    // The generator's clock moves about ten seconds an event: stretched 50 times, the
    // stream covers about a month, so that days and months differ.
    let stream: Vec<String> = generated(&source, 5_500)
        .iter()
        .map(|l| stretched(l, 50))
        .collect();
    let archive = TestArchive::new();
    let run = archive.ingest_text("first.jsonl", &(stream[..5_000].join("\n") + "\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, lines) = export(&archive, "all.jsonl", &[]);
    let (dir, days) = export_rsmf(&archive, "by-day", &[]);
    let validator = validator();
    for file in &days {
        check_rsmf(file, &validator);
        let h = &file.headers;
        let (begin, end) = (&h["X-RSMF-BeginDate"], &h["X-RSMF-EndDate"]);
        assert_eq!(begin[..10], end[..10], "{}: one day", file.name);
        let space = file.manifest["conversations"][0]["id"].as_str().unwrap();
        assert!(
            file.name.starts_with(&format!("{space}_{}", &begin[..10])),
            "{}",
            file.name
        );
        assert!(file.manifest["events"].as_array().unwrap().len() <= 10_000);
    }
    assert_same_as_jsonl(&days, &lines);
    assert!(days.len() > 5, "{} files", days.len());
    let (_, months) = export_rsmf(&archive, "by-month", &["--slice", "month"]);
    assert!(months.len() < days.len());
    assert_eq!(
        events_by_id(&months).keys().collect::<Vec<_>>(),
        events_by_id(&days).keys().collect::<Vec<_>>()
    );
    let (_, whole) = export_rsmf(&archive, "whole", &["--slice", "none"]);
    let spaces: BTreeSet<&str> = messages(&lines)
        .iter()
        .map(|m| m["space_id"].as_str().unwrap())
        .collect();
    let per_space: BTreeSet<String> = whole
        .iter()
        .map(|f| {
            f.manifest["conversations"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(per_space.len(), whole.len(), "one file per space");
    assert!(spaces.iter().all(|s| per_space.contains(*s)));
    assert_eq!(events_by_id(&whole).len(), events_by_id(&days).len());

    // The set: verify, then damage it three ways.
    let ok = verify(&archive, &dir);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("ok"), "{}", ok.stdout);
    let victim = dir.join(&days[0].name);
    let original = std::fs::read(&victim).unwrap();
    let mut changed = original.clone();
    let at = changed.len() / 2;
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&victim, &changed).unwrap();
    let bad = verify(&archive, &dir);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains(&days[0].name) && bad.stderr.contains("altered"),
        "{}",
        bad.stderr
    );
    std::fs::remove_file(&victim).unwrap();
    let bad = verify(&archive, &dir);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("missing"), "{}", bad.stderr);
    std::fs::write(&victim, &original).unwrap();
    std::fs::write(dir.join("extra.rsmf"), b"x").unwrap();
    let bad = verify(&archive, &dir);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("extra.rsmf: not in the manifest"),
        "{}",
        bad.stderr
    );

    // Filters narrow exactly as for JSONL.
    let space = spaces.iter().next().unwrap().to_string();
    let since = lines
        .iter()
        .filter(|l| l["type"] == "message")
        .filter_map(|l| l["created"].as_str())
        .nth(2_000)
        .unwrap()[..10]
        .to_string();
    for filters in [
        vec!["--space", space.as_str()],
        vec!["--since", since.as_str(), "--kind", "chat"],
        vec!["--removed", "only"],
    ] {
        let (_, narrowed) = export(&archive, "narrow.jsonl", &filters);
        let name = format!("narrow-{}", filters.join("").replace(['-', ':'], ""));
        let (_, files) = export_rsmf(&archive, &name, &filters);
        let want: BTreeSet<String> = messages(&narrowed)
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        let got: BTreeSet<String> = events_by_id(&files).into_keys().collect();
        assert_eq!(got, want, "{filters:?}");
        assert!(!want.is_empty(), "{filters:?} narrows to something");
    }

    // An incremental export holds what the JSONL incremental holds.
    let cursor = lines.last().unwrap()["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let run = archive.ingest_text("rest.jsonl", &(stream[5_000..].join("\n") + "\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, since_cursor) = export(&archive, "inc.jsonl", &["--after-cursor", &cursor]);
    let (inc_dir, files) = export_rsmf(&archive, "inc", &["--after-cursor", &cursor]);
    let want: BTreeSet<String> = messages(&since_cursor)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let got: BTreeSet<String> = events_by_id(&files).into_keys().collect();
    assert_eq!(got, want);
    assert_eq!(verify(&archive, &inc_dir).code, 0);
}

/// `text` with each `YYYY-MM-DD HH:MM:SS UTC` at or after `start` as `(arrival)`.
fn mask_readable_arrivals(text: &str, start: i64) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" UTC") {
        let begin = i.saturating_sub(19);
        let candidate = rest
            .get(begin..i)
            .map(|t| format!("{}T{}Z", &t[..10.min(t.len())], t.get(11..).unwrap_or("")));
        match candidate.and_then(|iso| spaces_archive::event::time::parse_iso_millis(&iso)) {
            Some(t) if t >= start => {
                out.push_str(&rest[..begin]);
                out.push_str("(arrival)");
            }
            _ => out.push_str(&rest[..i + 4]),
        }
        rest = &rest[i + 4..];
    }
    out.push_str(rest);
    out
}

/// `line` with every time in it moved `factor` times as far from 2024-01-01.
fn stretched(line: &str, factor: i64) -> String {
    use spaces_archive::event::time::{format_millis, parse_iso_millis};
    fn walk(value: &mut Value, factor: i64, origin: i64) {
        match value {
            Value::String(s) => {
                if let Some(t) = parse_iso_millis(s).filter(|t| *t > origin) {
                    *s = format_millis(origin + (t - origin) * factor);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, factor, origin)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, factor, origin)),
            _ => {}
        }
    }
    let mut value: Value = serde_json::from_str(line).unwrap();
    walk(
        &mut value,
        factor,
        crate::helpers::ms("2024-01-01T00:00:00Z"),
    );
    value.to_string()
}

/// Stored files travel inside `rsmf.zip` under the names the manifest gives them,
/// byte for byte; hostile names stay text.
#[tokio::test]
async fn stored_files_are_inside_the_zip() {
    let archive = crate::review::review_archive().await;
    let (_, files) = export_rsmf(&archive, "review-rsmf", &[]);
    let validator = validator();
    let mut found = 0;
    for file in &files {
        check_rsmf(file, &validator);
        for e in file.manifest["events"].as_array().unwrap() {
            for a in e["attachments"].as_array().into_iter().flatten() {
                assert_eq!(file.zip[a["id"].as_str().unwrap()], crate::review::PNG);
                found += 1;
            }
        }
    }
    assert_eq!(found, 2, "both stored images");
    let names: Vec<String> = files
        .iter()
        .flat_map(|f| f.manifest["events"].as_array().unwrap().clone())
        .flat_map(|e| e["attachments"].as_array().cloned().unwrap_or_default())
        .map(|a| a["display"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"<script>alert('f')</script>.png".to_string()),
        "{names:?}"
    );
}
