//! Who looked at what: the reviewers' accounts, their sessions and the audit log,
//! in a SQLite file of their own beside the archive (`audit.sqlite`). The archive
//! keeps its one writer (`run`); `serve`, `users`, and the CLI's `search` and
//! `export` write here instead. Every audit row holds the SHA-256 of the row before
//! it ([`log`]), so a removed or altered row is found by [`AuditDb::verify`].

pub mod exports;
pub mod log;
pub mod sessions;
pub mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::SqliteConnection;

pub use exports::WebExport;
pub use log::{AuditEntry, AuditFilter, AuditRow, Broken};
pub use sessions::{Session, SessionLimits};
pub use users::{Role, User};

/// File name of the audit database inside the data directory.
pub const AUDIT_FILE: &str = "audit.sqlite";

/// The schema, created on first open (each statement idempotent).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name     TEXT PRIMARY KEY,
    role     TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
    spaces   TEXT,
    hash     TEXT NOT NULL,
    created  INTEGER NOT NULL,
    changed  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash    TEXT PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    address    TEXT NOT NULL,
    created    INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
CREATE TABLE IF NOT EXISTS audit (
    seq      INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    user     TEXT    NOT NULL,
    address  TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    detail   TEXT    NOT NULL,
    prev     TEXT    NOT NULL,
    hash     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_user ON audit (user, seq);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action, seq);
CREATE TABLE IF NOT EXISTS exports (
    id       TEXT PRIMARY KEY,
    user     TEXT    NOT NULL,
    created  INTEGER NOT NULL,
    file     TEXT    NOT NULL,
    sha256   TEXT    NOT NULL,
    bytes    INTEGER NOT NULL,
    counts   TEXT    NOT NULL,
    scope    TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    seq    INTEGER NOT NULL,
    hash   TEXT    NOT NULL
);
";

/// Why the audit database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file cannot be opened or created.
    #[error("cannot open the audit database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("audit database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// Hashing a password failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// The system's random source failed.
    #[error("no random bytes from the system: {0}")]
    Random(#[from] getrandom::Error),
    /// A group of rows could not be appended to the audit log.
    #[error("cannot append to the audit log: {0}")]
    Append(String),
    /// A request the accounts refuse (no such user, a duplicate name, a bad name).
    #[error("{0}")]
    Refused(String),
}

/// The open audit database.
#[derive(Clone)]
pub struct AuditDb {
    pool: SqlitePool,
    path: PathBuf,
    writer: writer::Writer,
    /// Taken by every write of this process, so they queue here instead of in
    /// SQLite's busy handler, whose growing sleeps (up to 100 ms a try) once held
    /// a session's touch for 400 ms behind the audit writer's commits.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl AuditDb {
    /// Opens (creating, mode 0600) the audit database in `data_dir`.
    pub async fn open(data_dir: &Path) -> Result<AuditDb, AuditError> {
        Self::open_file(&data_dir.join(AUDIT_FILE)).await
    }

    /// Opens (creating, mode 0600) the audit database at `path`.
    pub async fn open_file(path: &Path) -> Result<AuditDb, AuditError> {
        let open_err = |source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::open_data_dir(dir).map_err(|e| open_err(sqlx::Error::Io(e)))?;
        }
        match crate::private::create_options()
            .truncate(false)
            .create(false)
            .create_new(true)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                crate::private::restrict_path(path)
            }
            Err(e) => return Err(open_err(sqlx::Error::Io(e))),
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_err)?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .map_err(open_err)?;
        let gate = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        Ok(AuditDb {
            writer: writer::Writer::start(pool.clone(), gate.clone()),
            gate,
            pool,
            path: path.to_path_buf(),
        })
    }

    /// Waits for this process's turn to write.
    pub(crate) async fn write_gate(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.gate.lock().await
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Runs `work` in a write transaction taken at once (`BEGIN IMMEDIATE`), so two
/// processes appending to the chain never read the same head.
pub(crate) async fn immediate<T>(
    pool: &SqlitePool,
    work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, AuditError>,
) -> Result<T, AuditError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result = work(&mut conn).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::query(end).execute(&mut *conn).await?;
    result
}

/// `n` random bytes from the system, as lower-case hex.
pub fn random_hex(n: usize) -> Result<String, AuditError> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes)?;
    Ok(crate::files::content::hex(&bytes))
}

/// SHA-256 of `text`, as lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    crate::files::content::hex(&Sha256::digest(text.as_bytes()))
}
