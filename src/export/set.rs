//! An export that is a directory of files (RSMF, HTML): built under a temporary name
//! beside `--output DIR` and renamed into place when whole, with `manifest.jsonl` (the
//! JSONL export's manifest, one `file` record per file with its SHA-256, size and
//! counts, and a `complete` record hashing the lines before it), its
//! `manifest.jsonl.sha256` sidecar, and `SHA256SUMS` for `sha256sum -c`. Every file is
//! private (0600, directories 0700); the set is synced (one `syncfs`) before the rename.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use std::sync::Mutex;

use super::parsed::{CompleteIn, ManifestIn, OutOfScopeIn};
use super::sink::hex;

/// The set's manifest, in the directory's root.
pub const MANIFEST: &str = "manifest.jsonl";
/// Its sidecar.
pub const MANIFEST_SIDECAR: &str = "manifest.jsonl.sha256";
/// Every file's SHA-256, as `sha256sum` writes them.
pub const SUMS: &str = "SHA256SUMS";

/// One file of the set, as the manifest lists it.
#[derive(Debug, Clone)]
pub struct SetFile {
    /// Path inside the directory, `/`-separated.
    pub path: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// More fields for its `file` record (space, period, counts).
    pub about: Map<String, Value>,
}

/// What a finished set holds.
#[derive(Debug, Clone)]
pub struct SetSummary {
    /// Files written (the manifest and sums not counted).
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// SHA-256 of `manifest.jsonl`.
    pub manifest_sha256: String,
}

/// A directory being written.
pub struct ExportDir {
    path: PathBuf,
    temporary: PathBuf,
    files: Vec<SetFile>,
    /// Records for the manifest after the files (an incremental's `out_of_scope`).
    extra: Vec<Value>,
    renamed: bool,
}

impl Drop for ExportDir {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_dir_all(&self.temporary);
        }
    }
}

impl ExportDir {
    /// Starts a set to be renamed to `path`, which must not exist or be an empty
    /// directory.
    pub fn create(path: &Path) -> io::Result<ExportDir> {
        if let Ok(mut entries) = std::fs::read_dir(path) {
            if entries.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not empty; give a new directory",
                        path.display()
                    ),
                ));
            }
        } else if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a directory", path.display()),
            ));
        }
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other(format!("{} is not a name", path.display())))?
            .to_string_lossy();
        let temporary = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temporary);
        crate::private::create_dir(&temporary)?;
        Ok(ExportDir {
            path: path.to_path_buf(),
            temporary,
            files: Vec::new(),
            extra: Vec::new(),
            renamed: false,
        })
    }

    /// Where the files go until the rename.
    pub fn dir(&self) -> &Path {
        &self.temporary
    }

    /// Creates the file `rel` (`/`-separated, made of plain names), hashed as written.
    pub fn create_file(&self, rel: &str) -> io::Result<SetWriter> {
        let path = self.temporary.join(checked(rel)?);
        if let Some(parent) = path.parent() {
            crate::private::create_dir(parent)?;
        }
        Ok(SetWriter {
            file: BufWriter::with_capacity(1 << 20, crate::private::create_options().open(&path)?),
            hash: Sha256::new(),
            bytes: 0,
            path: rel.to_string(),
        })
    }

    /// Records a finished file.
    pub fn add(&mut self, file: SetFile) {
        self.files.push(file);
    }

    /// Lists a message that left an incremental export's filters.
    pub fn out_of_scope(&mut self, record: OutOfScopeIn) {
        self.extra
            .push(json!({"type": "out_of_scope", "id": record.id, "space_id": record.space_id}));
    }

    /// Writes the manifest (the JSONL export's manifest as `format`, each file, and a
    /// `complete` record with `counts` and the JSONL records' cursor and SHA-256), the
    /// messages that left an incremental export's filters, the sidecar and the sums, syncs everything and renames the directory into place.
    pub fn finish(
        mut self,
        format: &str,
        manifest: &ManifestIn,
        complete: &CompleteIn,
        counts: Value,
    ) -> io::Result<SetSummary> {
        let mut lines = Vec::new();
        fn line(lines: &mut Vec<u8>, value: Value) -> io::Result<()> {
            serde_json::to_writer(&mut *lines, &value)?;
            lines.push(b'\n');
            Ok(())
        }
        line(
            &mut lines,
            json!({
                "type": "manifest",
                "format": format,
                "records": super::records::FORMAT,
                "generated_at": manifest.generated_at,
                "generator": manifest.generator,
                "filters": manifest.filters,
                "archive": manifest.archive,
                "checkpoint": manifest.checkpoint,
            }),
        )?;
        for file in &self.files {
            let mut record = Map::new();
            record.insert("type".into(), "file".into());
            record.insert("path".into(), file.path.clone().into());
            record.insert("sha256".into(), file.sha256.clone().into());
            record.insert("bytes".into(), file.bytes.into());
            record.extend(file.about.clone());
            line(&mut lines, Value::Object(record))?;
        }
        for record in std::mem::take(&mut self.extra) {
            line(&mut lines, record)?;
        }
        let before = hex(&Sha256::digest(&lines));
        line(
            &mut lines,
            json!({
                "type": "complete",
                "counts": counts,
                "files": self.files.len(),
                "cursor": complete.cursor,
                "records_sha256": complete.sha256,
                "checkpoint": manifest.checkpoint,
                "sha256": before,
            }),
        )?;
        let manifest_sha256 = hex(&Sha256::digest(&lines));
        write_synced(&self.temporary.join(MANIFEST), &lines)?;
        write_synced(
            &self.temporary.join(MANIFEST_SIDECAR),
            format!("{manifest_sha256}  {MANIFEST}\n").as_bytes(),
        )?;
        let mut sums = String::new();
        for file in &self.files {
            sums.push_str(&format!("{}  {}\n", file.sha256, file.path));
        }
        sums.push_str(&format!("{manifest_sha256}  {MANIFEST}\n"));
        write_synced(&self.temporary.join(SUMS), sums.as_bytes())?;
        // One syncfs for the set's files (an fsync each cost more than writing them).
        sync_file_system(&self.temporary)?;
        sync_dirs(&self.temporary)?;
        if self.path.is_dir() {
            std::fs::remove_dir(&self.path)?; // empty, checked at the start
        }
        std::fs::rename(&self.temporary, &self.path)?;
        self.renamed = true;
        let parent = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
        Ok(SetSummary {
            files: self.files.len(),
            bytes: self.files.iter().map(|f| f.bytes).sum(),
            manifest_sha256,
        })
    }
}

/// Finishes the set in `set` on the export's `complete` record: its counts with the
/// format's `more`, then [`ExportDir::finish`]; the summary goes to `done`.
pub fn finish_set(
    set: &mut Option<ExportDir>,
    done: &Mutex<Option<SetSummary>>,
    format: &str,
    manifest: Option<&ManifestIn>,
    complete: &CompleteIn,
    more: Map<String, Value>,
) -> io::Result<()> {
    let manifest =
        manifest.ok_or_else(|| io::Error::other("the export's records have no manifest"))?;
    let set = set
        .take()
        .ok_or_else(|| io::Error::other("two complete records"))?;
    let mut counts = match &complete.counts {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    counts.extend(more);
    let summary = set.finish(format, manifest, complete, Value::Object(counts))?;
    if let Ok(mut done) = done.lock() {
        *done = Some(summary);
    }
    Ok(())
}

/// A JSON object's non-null fields as (name, text) pairs, for a page to list.
pub fn pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), String::from),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A file of the set being written.
pub struct SetWriter {
    file: BufWriter<File>,
    hash: Sha256,
    bytes: u64,
    path: String,
}

impl Write for SetWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl SetWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Flushes the file (synced with the whole set by [`ExportDir::finish`]); its
    /// entry for the manifest, with `about`.
    pub fn finish(self, about: Map<String, Value>) -> io::Result<SetFile> {
        self.file.into_inner().map_err(|e| e.into_error())?;
        Ok(SetFile {
            path: self.path,
            sha256: hex(&self.hash.finalize()),
            bytes: self.bytes,
            about,
        })
    }
}

/// `rel` as a relative path of plain names (no `..`, no root), or an error.
fn checked(rel: &str) -> io::Result<PathBuf> {
    let path = Path::new(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(io::Error::other(format!(
            "{rel:?} is not a file name inside the export"
        )));
    }
    Ok(path.to_path_buf())
}

/// Everything written to the file system that holds `dir`, durable.
fn sync_file_system(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let handle = File::open(dir)?;
    // SAFETY: syncfs takes an open descriptor, which `handle` keeps open for the call.
    if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::private::write(path, bytes)?.sync_all()
}

/// Syncs `dir` and every directory below it (so the names of the files are durable).
fn sync_dirs(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_dirs(&entry.path())?;
        }
    }
    File::open(dir)?.sync_all()
}

/// Makes a name safe as one file name: letters, digits, `.`, `-` and `_` kept, the
/// rest `_`, at most 100 characters, never empty or starting with a dot.
pub fn safe_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain() {
        assert!(checked("../x").is_err());
        assert!(checked("/etc/passwd").is_err());
        assert!(checked("a/./b").is_ok() || checked("a/./b").is_err());
        assert!(checked("spaces/a.html").is_ok());
        assert_eq!(safe_name("../a b.txt"), "_.._a_b.txt");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("Ünïcode.png"), "_n_code.png");
    }

    #[test]
    fn a_set_is_renamed_when_whole_and_removed_when_not() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        {
            let set = ExportDir::create(&target).unwrap();
            let mut w = set.create_file("a/b.txt").unwrap();
            w.write_all(b"x").unwrap();
            drop(w);
        }
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        let mut set = ExportDir::create(&target).unwrap();
        let mut w = set.create_file("a/b.txt").unwrap();
        w.write_all(b"hello").unwrap();
        let file = w.finish(Map::new()).unwrap();
        assert_eq!(file.bytes, 5);
        set.add(file);
        let manifest = ManifestIn {
            generated_at: "t".into(),
            generator: "g".into(),
            filters: json!({}),
            archive: json!({}),
            checkpoint: None,
        };
        let complete = CompleteIn {
            counts: json!({}),
            cursor: "c".into(),
            sha256: "s".into(),
        };
        let summary = set.finish("f", &manifest, &complete, json!({})).unwrap();
        assert_eq!(summary.files, 1);
        assert_eq!(std::fs::read(target.join("a/b.txt")).unwrap(), b"hello");
        let sums = std::fs::read_to_string(target.join(SUMS)).unwrap();
        assert!(sums.starts_with(
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  a/b.txt\n"
        ));
        assert!(ExportDir::create(&target).is_err(), "not empty");
    }
}
