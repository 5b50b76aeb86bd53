//! Private by default: an archive holds every message of an organisation and its
//! OAuth refresh token, so the data directory is created mode 0700 and every file
//! the project writes is 0600, whatever the umask. `main` sets the umask to 077
//! first thing (which covers the files libraries create: SQLite's, tantivy's);
//! the helpers here create directories and files with those modes explicitly and
//! tighten a file that already exists with a looser one (a temporary file left by
//! a crash, an archive written by an earlier version). A data directory found open
//! to other users is left as it is (someone may have meant it) and warned about.
//! Imports nothing else of the crate.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Mode of the directories the project creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files the project writes.
pub const FILE_MODE: u32 = 0o600;

/// Sets the process umask to 077, so whatever the process or a library creates is
/// private. Call it before anything is written.
pub fn restrict_umask() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` and any missing parent with mode 0700 (an existing one is left
/// as it is).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Creates the data directory (mode 0700) if missing; an existing one that other
/// users can enter or read gets a warning (once per process) naming it and its mode.
pub fn open_data_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        warn_if_exposed(dir);
        return Ok(());
    }
    create_dir(dir)
}

/// Warns, once per process, when `dir` is open to its group or to other users.
pub fn warn_if_exposed(dir: &Path) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let Some(mode) = mode_of(dir) else { return };
    if mode & 0o077 != 0 && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "the data directory {} is open to other users (mode {mode:04o}): it holds every \
             archived message and, with OAuth refresh, a credential; `chmod 700 {}` makes it \
             private",
            dir.display(),
            dir.display()
        );
    }
}

/// The permission bits of `path`, where the platform has them.
pub fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Options that create a file mode 0600 (writing, creating, truncating).
pub fn create_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options
}

/// Makes an open file mode 0600: one that existed before it was opened keeps its
/// old mode otherwise.
pub fn restrict(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o777 != FILE_MODE {
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Makes the file at `path` mode 0600 if it exists and is looser; a file that is
/// missing, or not ours to change, is left as it is (and the latter logged).
pub fn restrict_path(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Some(mode) = mode_of(path) else { return };
        if mode & 0o077 == 0 {
            return;
        }
        let tightened = mode & !0o077;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(tightened)) {
            tracing::debug!("cannot make {} private: {e}", path.display());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `bytes` to a new or truncated file at `path`, mode 0600.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<File> {
    use std::io::Write;
    let mut file = create_options().open(path)?;
    restrict(&file)?;
    file.write_all(bytes)?;
    Ok(file)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_are_private_whatever_was_there() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir), Some(DIR_MODE));
        let path = dir.join("f");
        std::fs::write(&path, "old").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(mode_of(&path), Some(FILE_MODE));
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        restrict_path(&path);
        assert_eq!(mode_of(&path), Some(0o600));
        restrict_path(&dir.join("missing"));
    }
}

/// Whether this process may write in `dir` (a read-only mount says no).
pub fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(name) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access only reads the NUL-terminated path.
    unsafe { libc::access(name.as_ptr(), libc::W_OK) == 0 }
}
