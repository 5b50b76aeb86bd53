//! `export verify FILE`: proves an export whole and unaltered, or names what is wrong:
//! the manifest and `complete` records, the counts, the SHA-256 of the records, and the
//! `FILE.sha256` sidecar, and with `--files` the files beside it (a directory, RSMF or
//! HTML, is checked by [`super::verify_set`]). Compressed exports (zstd, gzip) are recognised by their bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::records::FORMAT;
use super::sink::{hex, sidecar_path};
use crate::chain::{Checkpoint, PublicKey};

/// What `export verify` found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Lines read.
    pub lines: u64,
    /// Records by type, as counted in the file.
    pub counts: BTreeMap<String, u64>,
    /// Everything wrong, each naming the problem; empty when the export is whole.
    pub problems: Vec<String>,
    /// Things worth saying that do not make the export wrong (no sidecar beside an
    /// export that was written to stdout).
    pub notes: Vec<String>,
    /// The cursor of the `complete` record, when there is one.
    pub cursor: Option<String>,
    /// The checkpoint the manifest carries and the one the `complete` record does.
    pub checkpoints: (Option<Value>, Option<Value>),
}

impl Verification {
    /// Notes the manifest's and the `complete` record's checkpoints; they must agree.
    pub fn saw_checkpoints(&mut self, manifest: &Value, complete: &Value) {
        let of = |v: &Value| v.get("checkpoint").filter(|c| !c.is_null()).cloned();
        self.checkpoints = (of(manifest), of(complete));
        if self.checkpoints.0 != self.checkpoints.1 {
            self.problems
                .push("altered: the manifest's checkpoint and the complete record's differ".into());
        }
    }

    /// Checks that the export's checkpoint is signed by `key` (`--key`).
    pub fn check_key(&mut self, key: &PublicKey) {
        let Some(value) = self.checkpoints.1.clone().or(self.checkpoints.0.clone()) else {
            self.problems.push(
                "the export carries no checkpoint to check with --key (made by an archive \
                 with nothing signed yet, or by a version before checkpoints)"
                    .into(),
            );
            return;
        };
        match Checkpoint::from_json(&value) {
            None => self
                .problems
                .push(format!("the export's checkpoint is malformed: {value}")),
            Some(c) if !c.signed_by(key) => self.problems.push(format!(
                "the export's checkpoint (seq {}) is not signed by key {key}: another archive's \
                 key, or an altered checkpoint",
                c.seq
            )),
            Some(c) => self.notes.push(format!(
                "checkpoint {} (seq {}, chain head {}) is signed by key {key}",
                c.id,
                c.seq,
                hex(&c.head)
            )),
        }
    }
}

/// Reads and checks an export file.
pub fn verify_file(path: &Path) -> io::Result<Verification> {
    if path.is_dir() {
        return super::verify_set::verify_dir(path);
    }
    let mut found = Verification::default();
    check_sidecar(path, &mut found)?;
    let mut magic = [0u8; 4];
    let n = File::open(path)?.read(&mut magic)?;
    let file = BufReader::new(File::open(path)?);
    let reader: Box<dyn BufRead> = match &magic[..n] {
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(BufReader::new(zstd::Decoder::new(file)?)),
        [0x1f, 0x8b, ..] => Box::new(BufReader::new(flate2::read::GzDecoder::new(file))),
        _ => Box::new(file),
    };
    let named = check_records(reader, &mut found);
    if let Some((claimed, named)) = named {
        let problems = super::files::check_files(path, &claimed, &named);
        found.problems.extend(problems);
    }
    Ok(found)
}

fn check_sidecar(path: &Path, found: &mut Verification) -> io::Result<()> {
    let sidecar = sidecar_path(path);
    let Ok(text) = std::fs::read_to_string(&sidecar) else {
        found.notes.push(format!(
            "no sidecar {} (an export written to stdout has none); checked the records only",
            sidecar.display()
        ));
        return Ok(());
    };
    let mut hash = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hash)?;
    let actual = hex(&hash.finalize());
    let expected = text.split_whitespace().next().unwrap_or_default();
    if expected != actual {
        found.problems.push(format!(
            "altered: the file's SHA-256 is {actual}, {} says {expected}",
            sidecar.display()
        ));
    }
    Ok(())
}

/// Checks the lines: every line but the last is hashed; the last must be `complete`.
/// Returns the `complete` record's `files` and the stored files the records name,
/// when it lists files.
fn check_records(
    mut reader: Box<dyn BufRead>,
    found: &mut Verification,
) -> Option<(Value, BTreeSet<String>)> {
    let mut named = BTreeSet::new();
    let mut hash = Sha256::new();
    let mut held: Option<Vec<u8>> = None;
    let mut versions = 0u64;
    let mut events = 0u64;
    let mut manifest = Value::Null;
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                found.problems.push(format!(
                    "truncated or corrupt: reading after line {} failed: {e}",
                    found.lines
                ));
                return None;
            }
        }
        found.lines += 1;
        if let Some(previous) = held.replace(line) {
            hash.update(&previous);
            let value: Value = match serde_json::from_slice(&previous) {
                Ok(v) => v,
                Err(e) => {
                    found
                        .problems
                        .push(format!("line {} is not JSON: {e}", found.lines - 1));
                    continue;
                }
            };
            let kind = value["type"].as_str().unwrap_or("(no type)").to_string();
            if found.lines == 2 {
                check_manifest(&value, found);
                manifest = value.clone();
            }
            super::files::named_files(&value, &mut named);
            versions += value["versions"].as_array().map_or(0, |v| v.len() as u64);
            events += value["events"].as_array().map_or(0, |v| v.len() as u64);
            *found.counts.entry(kind).or_default() += 1;
        }
    }
    let Some(last) = held else {
        found.problems.push("empty: the file has no records".into());
        return None;
    };
    if found.lines == 1 {
        found
            .problems
            .push("truncated: only one line, no records after it".into());
        return None;
    }
    let complete: Value = match serde_json::from_slice::<Value>(&last) {
        Ok(v) if v["type"] == "complete" && last.ends_with(b"\n") => v,
        _ => {
            found.problems.push(format!(
                "truncated: the last line ({}) is not a complete record",
                found.lines
            ));
            return None;
        }
    };
    found.saw_checkpoints(&manifest, &complete);
    found.counts.remove("manifest");
    found.counts.insert("version".into(), versions);
    if events > 0 || complete["counts"].get("event").is_some() {
        found.counts.insert("event".into(), events);
    }
    let actual = hex(&hash.finalize());
    let expected = complete["sha256"].as_str().unwrap_or_default();
    if actual != expected {
        found.problems.push(format!(
            "altered: the records' SHA-256 is {actual}, the complete record says {expected}"
        ));
    }
    check_counts(&complete["counts"], found);
    found.cursor = complete["cursor"].as_str().map(str::to_string);
    let files = complete.get("files").filter(|f| f.is_object())?;
    Some((files.clone(), named))
}

fn check_manifest(first: &Value, found: &mut Verification) {
    if first["type"] != "manifest" {
        found
            .problems
            .push("the first line is not a manifest record".into());
    } else if first["format"] != FORMAT {
        found.problems.push(format!(
            "the manifest's format is {}, not {FORMAT}",
            first["format"]
        ));
    }
}

fn check_counts(claimed: &Value, found: &mut Verification) {
    let Some(claimed) = claimed.as_object() else {
        found
            .problems
            .push("the complete record has no counts".into());
        return;
    };
    let mut names: Vec<&String> = claimed.keys().chain(found.counts.keys()).collect();
    names.sort();
    names.dedup();
    let mut differ = Vec::new();
    for name in names {
        let said = claimed.get(name).and_then(Value::as_u64).unwrap_or(0);
        let counted = found.counts.get(name).copied().unwrap_or(0);
        if said != counted {
            differ.push(format!(
                "{name}: {counted} in the file, {said} in the complete record"
            ));
        }
    }
    if !differ.is_empty() {
        found
            .problems
            .push(format!("counts differ: {}", differ.join("; ")));
    }
}
