//! Failing storage (a full disk, an I/O error, a read-only file system) seen by the
//! writer: which errors are such failures ([`storage_cause`]), the shared state that
//! `/healthz` and `/metrics` read ([`StorageStatus`]), and the log of a stall: one
//! error line when it starts, one a minute while it lasts, one when writing works
//! again ([`Stall`]). The writer holds the batch and retries it with back-off
//! (1 s doubling to 30 s) instead of failing: a full disk is a normal condition.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// First retry delay of a stalled stage.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Largest retry delay of a stalled stage.
pub const LARGEST_RETRY: Duration = Duration::from_secs(30);
/// How often a stall that lasts is logged again.
const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// What the storage failure is, in words fit for `/healthz` (`no space left on
/// device`), when `error` (or one of its sources) is one; `None` for anything else
/// (a bug, corruption, a constraint), which stops the writer as before.
pub fn storage_cause(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(cause) = sqlx_cause(e).or_else(|| io_cause(e)) {
            return Some(cause);
        }
        current = e.source();
    }
    // Some libraries (tantivy's writer threads) pass an I/O error on as text.
    text_cause(&error.to_string())
}

fn sqlx_cause(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    match e.downcast_ref::<sqlx::Error>()? {
        // SQLite's primary result code is the low byte of the extended one.
        sqlx::Error::Database(db) => sqlite_cause(db.code()?.parse().ok()?),
        sqlx::Error::Io(io) => os_cause(io),
        _ => None,
    }
}

/// The storage failure a SQLite result code stands for.
pub fn sqlite_cause(code: i32) -> Option<&'static str> {
    match code & 0xff {
        13 => Some("no space left on device"),
        10 => Some("I/O error"),
        8 => Some("read-only file system"),
        14 => Some("cannot open a file"),
        _ => None,
    }
}

fn io_cause(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    e.downcast_ref::<std::io::Error>().and_then(os_cause)
}

fn os_cause(e: &std::io::Error) -> Option<&'static str> {
    match e.raw_os_error()? {
        28 => Some("no space left on device"),
        122 => Some("disk quota exceeded"),
        30 => Some("read-only file system"),
        5 => Some("I/O error"),
        _ => None,
    }
}

fn text_cause(text: &str) -> Option<&'static str> {
    let text = text.to_ascii_lowercase();
    [
        ("no space left on device", "no space left on device"),
        ("database or disk is full", "no space left on device"),
        ("disk quota exceeded", "disk quota exceeded"),
        ("read-only file system", "read-only file system"),
        ("input/output error", "I/O error"),
        ("disk i/o error", "I/O error"),
    ]
    .into_iter()
    .find(|(needle, _)| text.contains(needle))
    .map(|(_, cause)| cause)
}

/// Which of the writer's two stages is stalled, and why; read by `/healthz`.
#[derive(Debug, Default)]
pub struct StorageStatus {
    stalls: Mutex<[Option<String>; 2]>,
}

/// One of the writer's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The SQLite transaction of a batch.
    Sqlite,
    /// The search index.
    Index,
}

impl StorageStatus {
    fn set(&self, stage: Stage, cause: Option<String>) {
        let mut stalls = self.stalls.lock().unwrap_or_else(|e| e.into_inner());
        stalls[stage as usize] = cause;
    }

    /// Why storage is failing (`no space left on device`), `None` when it is not.
    pub fn problem(&self) -> Option<String> {
        let stalls = self.stalls.lock().unwrap_or_else(|e| e.into_inner());
        stalls.iter().flatten().next().cloned()
    }
}

/// The log and retry schedule of one stage's stall.
pub struct Stall {
    stage: Stage,
    path: PathBuf,
    since: Option<Instant>,
    logged: Instant,
    delay: Duration,
    attempts: u64,
}

impl Stall {
    /// No stall yet, for the stage writing to `path`.
    pub fn new(stage: Stage, path: &Path) -> Stall {
        Stall {
            stage,
            path: path.to_path_buf(),
            since: None,
            logged: Instant::now(),
            delay: FIRST_RETRY,
            attempts: 0,
        }
    }

    /// Whether the stage is stalled now.
    pub fn stalled(&self) -> bool {
        self.since.is_some()
    }

    /// Records a failed attempt (logging it when the stall starts, and once a minute
    /// after) and returns how long to wait before the next.
    pub fn failed(
        &mut self,
        status: &StorageStatus,
        cause: &str,
        error: &dyn std::fmt::Display,
        holding: &str,
    ) -> Duration {
        self.attempts += 1;
        let what = match self.stage {
            Stage::Sqlite => "archive storage",
            Stage::Index => "search index storage",
        };
        let now = Instant::now();
        match self.since {
            None => {
                self.since = Some(now);
                self.logged = now;
                tracing::error!(
                    "{what} failing: {cause} ({}): {error}; {holding}, retrying every {:?} up to {:?} until writing works again",
                    self.path.display(),
                    FIRST_RETRY,
                    LARGEST_RETRY
                );
            }
            Some(since) if now.duration_since(self.logged) >= REPEAT_EVERY => {
                self.logged = now;
                tracing::error!(
                    "{what} still failing after {:.0} s ({} attempts): {cause} ({}); {holding}",
                    now.duration_since(since).as_secs_f64(),
                    self.attempts,
                    self.path.display()
                );
            }
            Some(_) => {}
        }
        status.set(self.stage, Some(format!("archive storage: {cause}")));
        let delay = self.delay;
        self.delay = (self.delay * 2).min(LARGEST_RETRY);
        delay
    }

    /// Records that writing works (again); logs the recovery after a stall.
    pub fn succeeded(&mut self, status: &StorageStatus) {
        if let Some(since) = self.since.take() {
            tracing::warn!(
                "{} writable again after {:.1} s and {} failed attempts: resumed",
                self.path.display(),
                since.elapsed().as_secs_f64(),
                self.attempts
            );
            status.set(self.stage, None);
        }
        self.attempts = 0;
        self.delay = FIRST_RETRY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_storage_failures_and_nothing_else() {
        let full = std::io::Error::from_raw_os_error(28);
        assert_eq!(storage_cause(&full), Some("no space left on device"));
        let ro = std::io::Error::from_raw_os_error(30);
        assert_eq!(storage_cause(&ro), Some("read-only file system"));
        let other = std::io::Error::other("permission denied");
        assert_eq!(storage_cause(&other), None);
        assert_eq!(sqlite_cause(13), Some("no space left on device"));
        assert_eq!(sqlite_cause(10 | (3 << 8)), Some("I/O error"));
        assert_eq!(sqlite_cause(19), None);
        let text = std::io::Error::other("Failed to write: No space left on device");
        assert_eq!(storage_cause(&text), Some("no space left on device"));
    }

    #[test]
    fn backs_off_to_thirty_seconds_and_clears_on_success() {
        let status = StorageStatus::default();
        let mut stall = Stall::new(Stage::Sqlite, Path::new("/x/archive.sqlite"));
        let delays: Vec<u64> = (0..7)
            .map(|_| {
                stall
                    .failed(&status, "no space left on device", &"e", "holding")
                    .as_secs()
            })
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(
            status.problem().as_deref(),
            Some("archive storage: no space left on device")
        );
        stall.succeeded(&status);
        assert!(status.problem().is_none() && !stall.stalled());
    }
}
