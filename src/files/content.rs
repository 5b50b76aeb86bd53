//! The content-addressed file store: `files/<sha256>` in the data directory, one
//! copy per distinct content. A file is streamed to a temporary name beside its
//! final one (bounded memory, hashed as it goes), fsynced, renamed to its hash and
//! the directory fsynced, so a crash leaves either the whole file or none; mode 0600.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Name of the store's directory inside the data directory.
pub const FILES_DIR: &str = "files";
/// Prefix of files being written (removed at open: a crash's leftovers).
const PARTIAL_PREFIX: &str = ".partial-";

/// The store.
#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
}

/// A file being written: hashes and counts what goes in. Dropped unfinished, it is
/// removed.
pub struct Incoming {
    file: Option<std::fs::File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// Their number.
    pub size: u64,
    /// Where they are.
    pub path: PathBuf,
}

/// What checking one stored content found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Present, and its bytes hash to its name.
    Intact,
    /// Not there.
    Missing,
    /// Present, but its bytes hash to something else (or their size differs).
    Altered {
        /// The hash of what is there now.
        found: String,
        /// Its size.
        size: u64,
    },
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl ContentStore {
    /// The store of the archive in `data_dir` (created, private, when missing);
    /// partial files a crash left are removed.
    pub fn open(data_dir: &Path) -> io::Result<ContentStore> {
        let dir = data_dir.join(FILES_DIR);
        crate::private::create_dir(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(ContentStore { dir })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the content with this hash lives.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Starts writing a file under a temporary name.
    pub fn incoming(&self) -> io::Result<Incoming> {
        let path = self.dir.join(format!(
            "{PARTIAL_PREFIX}{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let file = crate::private::create_options()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Incoming {
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Checks the content stored under `sha256`, reading it in bounded memory.
    pub fn check(&self, sha256: &str, size: Option<u64>) -> io::Result<Check> {
        let mut file = match std::fs::File::open(self.path_of(sha256)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Check::Missing),
            Err(e) => return Err(e),
        };
        let (found, length) = hash_reader(&mut file)?;
        if found == sha256 && size.is_none_or(|s| s == length) {
            Ok(Check::Intact)
        } else {
            Ok(Check::Altered {
                found,
                size: length,
            })
        }
    }
}

/// SHA-256 (hex) and length of everything `reader` gives.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut length = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        length += n as u64;
    }
    Ok((hex(&hasher.finalize()), length))
}

impl Incoming {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("file finished"))?;
        file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the file durable under its hash. Content already stored is kept as it
    /// is (same hash, same bytes) and the new copy dropped.
    pub fn finish(mut self, store: &ContentStore) -> io::Result<Stored> {
        let sha256 = hex(&std::mem::take(&mut self.hasher).finalize());
        let target = store.path_of(&sha256);
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("file finished"))?;
        file.sync_all()?;
        drop(file);
        if target.exists() {
            std::fs::remove_file(&self.path)?;
        } else {
            std::fs::rename(&self.path, &target)?;
            std::fs::File::open(&store.dir)?.sync_all()?;
        }
        Ok(Stored {
            sha256,
            size: self.size,
            path: target,
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        // Unfinished (or failed while finishing): the partial file goes. After a
        // rename this names nothing, and the removal fails harmlessly.
        if self.file.is_some() || self.path.exists() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_once_per_content_privately_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut first = store.incoming().unwrap();
        first.write(b"hello ").unwrap();
        first.write(b"world").unwrap();
        let stored = first.finish(&store).unwrap();
        assert_eq!(
            stored.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(stored.size, 11);
        assert_eq!(std::fs::read(&stored.path).unwrap(), b"hello world");
        assert_eq!(crate::private::mode_of(&stored.path), Some(0o600));
        let mut again = store.incoming().unwrap();
        again.write(b"hello world").unwrap();
        assert_eq!(again.finish(&store).unwrap(), stored);
        let names: Vec<_> = std::fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(names.len(), 1, "one copy, no partial file left");
        assert_eq!(
            store.check(&stored.sha256, Some(11)).unwrap(),
            Check::Intact
        );
        std::fs::write(&stored.path, b"hello World").unwrap();
        assert!(matches!(
            store.check(&stored.sha256, Some(11)).unwrap(),
            Check::Altered { size: 11, .. }
        ));
        std::fs::remove_file(&stored.path).unwrap();
        assert_eq!(store.check(&stored.sha256, None).unwrap(), Check::Missing);
    }

    #[test]
    fn partial_files_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut partial = store.incoming().unwrap();
        partial.write(b"cut off").unwrap();
        std::mem::forget(partial);
        let mut dropped = store.incoming().unwrap();
        dropped.write(b"given up").unwrap();
        assert_eq!(std::fs::read_dir(store.dir()).unwrap().count(), 2);
        drop(dropped);
        assert_eq!(std::fs::read_dir(store.dir()).unwrap().count(), 1);
        ContentStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(store.dir()).unwrap().count(), 0);
    }
}
