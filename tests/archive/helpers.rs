//! A fresh archive in a temp dir, the binary run against it, and SQL on the result.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, SqliteConnection};

/// A fresh data directory.
pub struct TestArchive {
    pub dir: tempfile::TempDir,
}

/// What a run of the binary printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Installs a test directory's npm packages from its lock file (`npm ci`) once per
/// test run, unless `marker` (a package under `node_modules`) is already there.
pub fn npm_ci(dir: &Path, marker: &str) {
    static DONE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.iter().any(|d| d == dir) {
        return;
    }
    if !dir.join("node_modules").join(marker).exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm is needed for the interop and browser tests (Node.js 18 or later)");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
    done.push(dir.to_path_buf());
}

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spaces-archive"))
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

impl TestArchive {
    pub fn new() -> TestArchive {
        TestArchive {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs the binary with this archive's data dir.
    pub fn run(&self, args: &[&str]) -> Run {
        binary()
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .output()
            .expect("run binary")
            .into()
    }

    /// Runs the binary with `stdin` piped in.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = binary()
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn binary");
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin).unwrap();
        drop(pipe);
        child.wait_with_output().expect("wait").into()
    }

    /// Writes `text` to a file in the temp dir and ingests it.
    pub fn ingest_text(&self, name: &str, text: &str) -> Run {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        self.run(&["ingest", path.to_str().unwrap()])
    }

    /// `stats --json`.
    pub fn stats(&self) -> serde_json::Value {
        let run = self.run(&["stats", "--json"]);
        assert_eq!(run.code, 0, "stats failed: {}", run.stderr);
        serde_json::from_str(&run.stdout).expect("stats JSON")
    }

    /// Payloads stored so far: 0 before the archive exists or is migrated (the file
    /// exists, private and empty, a moment before its tables).
    pub async fn stored_events(&self) -> i64 {
        if !self.data_dir().join("archive.sqlite").exists() {
            return 0;
        }
        let mut db = self.db().await;
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(&mut db)
            .await
            .unwrap_or(0)
    }

    /// A read connection to the archive's SQLite file.
    pub async fn db(&self) -> SqliteConnection {
        Self::db_at(&self.data_dir()).await
    }

    /// A read connection to the archive in `data_dir`.
    pub async fn db_at(data_dir: &Path) -> SqliteConnection {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("archive.sqlite"))
            .read_only(true);
        SqliteConnection::connect_with(&options)
            .await
            .expect("open archive")
    }
}

/// Runs a query and returns its rows.
pub async fn rows(db: &mut SqliteConnection, sql: &str) -> Vec<SqliteRow> {
    sqlx::query(sql)
        .fetch_all(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// One integer.
pub async fn scalar(db: &mut SqliteConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// ISO-8601 to UTC ms.
pub fn ms(iso: &str) -> i64 {
    spaces_archive::event::time::parse_iso_millis(iso).expect("ISO time")
}
