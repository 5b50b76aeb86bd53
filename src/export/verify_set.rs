//! `export verify DIR` for an RSMF or HTML export: `manifest.jsonl` whole (its
//! `complete` record's SHA-256 of the lines before it, and its sidecar), every file it
//! lists present with its size and SHA-256, `SHA256SUMS` agreeing, no file that it
//! does not list, the counts adding up, and each `.rsmf`'s `X-RSMF-*` headers matching.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::set::{MANIFEST, MANIFEST_SIDECAR, SUMS};
use super::sink::hex;
use super::verify::Verification;

/// Checks the export directory `dir`.
pub fn verify_dir(dir: &Path) -> io::Result<Verification> {
    let mut found = Verification::default();
    let manifest_path = dir.join(MANIFEST);
    let bytes = std::fs::read(&manifest_path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{}: {e} (not an RSMF or HTML export directory?)",
                manifest_path.display()
            ),
        )
    })?;
    let manifest_sha256 = hex(&Sha256::digest(&bytes));
    match std::fs::read_to_string(dir.join(MANIFEST_SIDECAR)) {
        Ok(text) if text.split_whitespace().next() == Some(manifest_sha256.as_str()) => {}
        Ok(_) => found.problems.push(format!(
            "altered: {MANIFEST}'s SHA-256 is {manifest_sha256}, {MANIFEST_SIDECAR} says otherwise"
        )),
        Err(e) => found.problems.push(format!("{MANIFEST_SIDECAR}: {e}")),
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let records: Vec<Value> = lines
        .iter()
        .enumerate()
        .filter_map(|(n, line)| match serde_json::from_str(line) {
            Ok(v) => Some(v),
            Err(e) => {
                found
                    .problems
                    .push(format!("{MANIFEST} line {} is not JSON: {e}", n + 1));
                None
            }
        })
        .collect();
    found.lines = lines.len() as u64;
    let (Some(first), Some(complete)) = (records.first(), records.last()) else {
        found.problems.push(format!("{MANIFEST} is empty"));
        return Ok(found);
    };
    let format = first["format"].as_str().unwrap_or_default().to_string();
    if first["type"] != "manifest" || !format.starts_with("spaces-archive-") {
        found.problems.push(format!(
            "the first line of {MANIFEST} is not a set's manifest"
        ));
    }
    if complete["type"] != "complete" {
        found.problems.push(format!(
            "truncated: the last line of {MANIFEST} is not a complete record"
        ));
        return Ok(found);
    }
    let before_last = bytes.len() - lines.last().map_or(0, |l| l.len() + 1);
    let actual = hex(&Sha256::digest(&bytes[..before_last.min(bytes.len())]));
    if complete["sha256"].as_str() != Some(actual.as_str()) {
        found.problems.push(format!(
            "altered: the lines of {MANIFEST} hash to {actual}, its complete record says {}",
            complete["sha256"]
        ));
    }
    found.cursor = complete["cursor"].as_str().map(String::from);
    found.saw_checkpoints(first, complete);
    let files: Vec<&Value> = records.iter().filter(|r| r["type"] == "file").collect();
    let mut listed = BTreeMap::new();
    for file in &files {
        let Some(path) = file["path"].as_str() else {
            found.problems.push("a file record has no path".into());
            continue;
        };
        listed.insert(
            path.to_string(),
            file["sha256"].as_str().unwrap_or_default().to_string(),
        );
        check_file(dir, path, file, &mut found)?;
    }
    check_sums(dir, &listed, &manifest_sha256, &mut found);
    let mut present = Vec::new();
    super::zip_dir::collect_files(dir, dir, &mut present)?;
    present.sort();
    for path in present {
        if !listed.contains_key(&path)
            && ![MANIFEST, MANIFEST_SIDECAR, SUMS].contains(&path.as_str())
        {
            found.problems.push(format!(
                "{path}: not in the manifest (added after the export?)"
            ));
        }
    }
    check_counts(&files, complete, &mut found);
    Ok(found)
}

fn check_file(dir: &Path, path: &str, record: &Value, found: &mut Verification) -> io::Result<()> {
    let full = dir.join(path);
    let Ok(mut file) = File::open(&full) else {
        found.problems.push(format!("{path}: missing"));
        return Ok(());
    };
    let mut hash = Sha256::new();
    let size = io::copy(&mut file, &mut hash)?;
    let sha256 = hex(&hash.finalize());
    if Some(size) != record["bytes"].as_u64() {
        found.problems.push(format!(
            "{path}: altered: {size} bytes, the manifest says {}",
            record["bytes"]
        ));
    } else if record["sha256"].as_str() != Some(sha256.as_str()) {
        found.problems.push(format!(
            "{path}: altered: its SHA-256 is {sha256}, the manifest says {}",
            record["sha256"]
        ));
    } else if path.ends_with(".rsmf") {
        check_rsmf_headers(&full, path, record, found)?;
    }
    Ok(())
}

/// The `X-RSMF-Version` and `X-RSMF-EventCount` of an `.rsmf` against its record.
fn check_rsmf_headers(
    full: &Path,
    path: &str,
    record: &Value,
    found: &mut Verification,
) -> io::Result<()> {
    let mut headers = BTreeMap::new();
    for line in BufReader::new(File::open(full)?).lines() {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
        }
    }
    if headers.get("x-rsmf-version").map(String::as_str) != Some(super::rsmf::manifest::VERSION) {
        found
            .problems
            .push(format!("{path}: no X-RSMF-Version 2.0.0 header"));
    }
    let events = headers
        .get("x-rsmf-eventcount")
        .and_then(|n| n.parse::<u64>().ok());
    if events != record["events"].as_u64() {
        found.problems.push(format!(
            "{path}: X-RSMF-EventCount is {events:?}, the manifest says {}",
            record["events"]
        ));
    }
    Ok(())
}

fn check_sums(
    dir: &Path,
    listed: &BTreeMap<String, String>,
    manifest: &str,
    found: &mut Verification,
) {
    let Ok(text) = std::fs::read_to_string(dir.join(SUMS)) else {
        found.problems.push(format!("{SUMS}: missing"));
        return;
    };
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some((sha256, path)) = line.split_once("  ") {
            sums.insert(path.to_string(), sha256.to_string());
        }
    }
    let mut expected = listed.clone();
    expected.insert(MANIFEST.to_string(), manifest.to_string());
    if sums != expected {
        let differ: Vec<&String> = expected
            .keys()
            .chain(sums.keys())
            .filter(|k| sums.get(*k) != expected.get(*k))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .take(5)
            .collect();
        found.problems.push(format!(
            "{SUMS} does not match the manifest (first: {})",
            differ
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// The complete record's counts against the file records: files, and the messages
/// (and RSMF events) they hold.
fn check_counts(files: &[&Value], complete: &Value, found: &mut Verification) {
    let sum = |key: &str| files.iter().filter_map(|f| f[key].as_u64()).sum::<u64>();
    let counts = &complete["counts"];
    found.counts.insert("file".into(), files.len() as u64);
    found.counts.insert("message".into(), sum("messages"));
    if complete["files"].as_u64() != Some(files.len() as u64) {
        found.problems.push(format!(
            "counts differ: {} files listed, the complete record says {}",
            files.len(),
            complete["files"]
        ));
    }
    if counts["message"].as_u64() != Some(sum("messages")) {
        found.problems.push(format!(
            "counts differ: the files hold {} messages, the complete record says {}",
            sum("messages"),
            counts["message"]
        ));
    }
    if let Some(events) = counts["rsmf_event"].as_u64() {
        found.counts.insert("rsmf_event".into(), sum("events"));
        if events != sum("events") {
            found.problems.push(format!(
                "counts differ: the files hold {} RSMF events, the complete record says {events}",
                sum("events")
            ));
        }
    }
}
