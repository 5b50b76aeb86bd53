//! `export --files`: the stored files an export's records name, copied beside it
//! (`NAME.files/<sha256>`, each hashed as it is copied), and checked again by
//! `export verify`: every file hashes to its name, the count and bytes match the
//! `complete` record, and every attachment a record says is stored is there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::files::content::{hash_reader, ContentStore};

/// What `export --files` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FilesWritten {
    /// Distinct files.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The directory of an export's files.
pub fn files_dir(export: &Path) -> PathBuf {
    let mut name = export.as_os_str().to_os_string();
    name.push(".files");
    PathBuf::from(name)
}

/// Copies each content in `used` (SHA-256 → size) from the store into
/// [`files_dir`]; a stored file that no longer hashes to its name stops the export.
pub fn copy_files(
    store: &ContentStore,
    export: &Path,
    used: &BTreeMap<String, i64>,
) -> io::Result<FilesWritten> {
    let dir = files_dir(export);
    crate::private::create_dir(&dir)?;
    let mut written = FilesWritten::default();
    for sha256 in used.keys() {
        let target = dir.join(sha256);
        let mut to = crate::private::create_options().open(&target)?;
        let size = match copy_checked(store, sha256, &mut to) {
            Ok(size) => size,
            Err(e) => {
                let _ = std::fs::remove_file(&target);
                return Err(e);
            }
        };
        to.sync_all()?;
        written.count += 1;
        written.bytes += size;
    }
    File::open(&dir)?.sync_all()?;
    Ok(written)
}

/// Copies the stored content `sha256` to `to`, hashing it on the way: a file missing
/// from the store, or whose bytes no longer hash to its name, is an error naming it.
/// Returns its size.
pub fn copy_checked(store: &ContentStore, sha256: &str, to: &mut impl Write) -> io::Result<u64> {
    let source = store.path_of(sha256);
    let mut from = File::open(&source)
        .map_err(|e| io::Error::new(e.kind(), format!("stored file {}: {e}", source.display())))?;
    let (found, size) = hash_reader(&mut Tee {
        from: &mut from,
        to,
    })?;
    if found != sha256 {
        return Err(io::Error::other(format!(
            "stored file {} is altered: its bytes hash to {found} (`spaces-archive files verify` lists every such file)",
            source.display()
        )));
    }
    Ok(size)
}

/// Reads `from`, writing what it reads to `to`.
struct Tee<'a, W> {
    from: &'a mut File,
    to: &'a mut W,
}

impl<W: Write> Read for Tee<'_, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.from.read(buf)?;
        self.to.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The stored files a record's attachments (its own and its versions') name.
pub fn named_files(record: &Value, into: &mut BTreeSet<String>) {
    let lists = std::iter::once(&record["attachments"]).chain(
        record["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| &v["attachments"]),
    );
    for list in lists {
        for item in list.as_array().into_iter().flatten() {
            if item["stored"] == true {
                if let Some(sha) = item["sha256"].as_str() {
                    into.insert(sha.to_string());
                }
            }
        }
    }
}

/// Checks the files beside `export` against what its `complete` record says and
/// the records name; returns the problems.
pub fn check_files(export: &Path, claimed: &Value, named: &BTreeSet<String>) -> Vec<String> {
    let dir = files_dir(export);
    let mut problems = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => return vec![format!("its files: cannot read {}: {e}", dir.display())],
    };
    let mut found = FilesWritten::default();
    let mut present = BTreeSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let hashed = File::open(entry.path()).and_then(|mut f| hash_reader(&mut f));
        match hashed {
            Ok((sha, size)) if sha == name => {
                found.count += 1;
                found.bytes += size;
                present.insert(name);
            }
            Ok((sha, _)) => problems.push(format!(
                "altered file: {} hashes to {sha}",
                entry.path().display()
            )),
            Err(e) => problems.push(format!("unreadable file {}: {e}", entry.path().display())),
        }
    }
    for missing in named.difference(&present) {
        problems.push(format!(
            "missing file: a record names {missing}, which is not in {}",
            dir.display()
        ));
    }
    let said = (claimed["count"].as_u64(), claimed["bytes"].as_u64());
    if said != (Some(found.count), Some(found.bytes)) && problems.is_empty() {
        problems.push(format!(
            "its files differ: {} files of {} bytes in {}, the complete record says {} of {}",
            found.count,
            found.bytes,
            dir.display(),
            claimed["count"],
            claimed["bytes"]
        ));
    }
    problems
}
