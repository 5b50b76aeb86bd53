//! SQLite via sqlx: opening and migrating the archive, the batched writer, and the
//! read queries behind `spaces` and `stats`.

pub mod body;
mod bulk;
mod codec;
pub mod context;
mod dedup;
pub mod documents;
mod error;
pub mod file_reads;
pub mod files;
mod items;
pub mod lookup;
mod messages;
pub mod outbox;
mod people;
pub mod raw;
pub mod read;
pub mod reconcile;
pub mod review;
mod spaces;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;

use crate::chain::SigningKey;

pub use codec::{compress, decompress};
pub use dedup::{id_range, unhex};
pub use error::StoreError;
pub use items::{BatchReport, IndexWork, Item, Rejection, Source, StoredEvent, Written};
pub use writer::Writer;

/// File name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "archive.sqlite";

/// Lets `events.source` hold `sweep` in archives made before it existed. Widening a
/// CHECK constraint changes nothing on disk, so it is done as SQLite documents for
/// such changes (ALTER TABLE, "making other kinds of table schema changes"): the
/// table's SQL edited under `writable_schema` in one transaction, with the schema
/// version bumped so every connection reloads it. A table rebuild would copy every
/// payload, and cannot run inside the migrations' transactions with foreign keys on.
async fn allow_sweep_source(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let sql: String = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if sql.contains("'sweep'") || !sql.contains("'import')") {
        return Ok(());
    }
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let edited = async {
        let version: i64 = sqlx::query_scalar("PRAGMA schema_version")
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query("PRAGMA writable_schema = ON")
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE sqlite_master SET sql = replace(sql, '''import'')', '''import'', ''sweep'')') \
             WHERE type = 'table' AND name = 'events'",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!("PRAGMA schema_version = {}", version + 1))
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA writable_schema = OFF")
            .execute(&mut *conn)
            .await?;
        Ok::<(), sqlx::Error>(())
    }
    .await;
    let end = if edited.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::query(end).execute(&mut *conn).await?;
    edited
}

/// Makes the database private before SQLite opens it: created empty with mode 0600
/// when missing (SQLite gives its `-wal` and `-shm` files the database's mode,
/// whatever the umask), and an existing one (and its `-wal`, `-shm`) written by an
/// earlier version under a looser umask tightened to 0600.
fn private_database(path: &Path) -> std::io::Result<()> {
    let mut options = crate::private::create_options();
    options.truncate(false).create(false).create_new(true);
    match options.open(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        crate::private::restrict_path(Path::new(&name));
    }
    Ok(())
}

/// An open archive: the SQLite pool of one data directory.
#[derive(Clone)]
pub struct Archive {
    pool: SqlitePool,
    path: PathBuf,
    key: Option<Arc<SigningKey>>,
}

impl Archive {
    /// Opens (creating if needed) the archive in `data_dir` and applies migrations.
    /// WAL journal, foreign keys on, `synchronous=NORMAL` (durable at each checkpoint,
    /// never corrupt).
    #[tracing::instrument(skip_all, fields(data_dir = %data_dir.display()))]
    pub async fn open(data_dir: &Path) -> Result<Archive, StoreError> {
        let dir_err = |source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        };
        crate::private::open_data_dir(data_dir).map_err(dir_err)?;
        let path = data_dir.join(DATABASE_FILE);
        private_database(&path).map_err(dir_err)?;
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_err)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("cache_size", "-16384")
            // Prepared multi-row statements are large; sqlx's default of 100 per
            // connection grew `ingest` past 500 MB at a million messages. Re-preparing
            // them every time instead cost 12% of ingest throughput.
            .statement_cache_capacity(16)
            // `verify`'s integrity check takes seconds at a million messages, as it should.
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A local file's connection does not go stale; pinging it before every
            // use cost a search a round trip to SQLite's thread (~50 µs, spikes to 0.5 ms).
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        allow_sweep_source(&pool)
            .await
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        let key = Arc::new(SigningKey::open_or_create(data_dir)?);
        let chained = crate::chain::fill::fill(&pool).await?;
        if chained > 0 {
            tracing::info!(
                rows = chained,
                "chained the rows stored before the hash chain"
            );
            // Signed at once, so the rows that were there are proven from now on.
            let mut conn = pool.acquire().await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let made = crate::chain::checkpoint::make(&mut conn, &key, true).await;
            let end = if made.is_ok() { "COMMIT" } else { "ROLLBACK" };
            sqlx::query(end).execute(&mut *conn).await?;
            made?;
        }
        Ok(Archive {
            pool,
            path,
            key: Some(key),
        })
    }

    /// Opens an existing archive for reading only (`serve`): nothing is created,
    /// migrated or written, so `run` stays its one writer. An archive whose schema is
    /// older than this version's is refused with what to do.
    pub async fn open_read_only(data_dir: &Path) -> Result<Archive, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        if !path.is_file() {
            return Err(open_err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no archive here yet (`run` or `ingest` makes one)",
            ))));
        }
        // A WAL archive is read through SQLite's shared-memory file, which a
        // reader creates when it is missing; on a read-only mount it cannot.
        let shm = data_dir.join(format!("{DATABASE_FILE}-shm"));
        if !crate::private::writable(data_dir) && !shm.exists() {
            return Err(open_err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the archive's directory cannot be written here and SQLite's shared-memory file \
                 (archive.sqlite-shm) is missing: it exists while the archive's writer (`run`) \
                 has the archive open, so start `run` first (the docker-compose file and the \
                 systemd unit do), or give `serve` a directory it may write",
            ))));
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_err)?
            .filename(&path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("cache_size", "-4096")
            .statement_cache_capacity(64)
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .map_err(open_err)?;
        let wanted = sqlx::migrate!("./migrations")
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if applied.unwrap_or(0) < wanted {
            return Err(open_err(sqlx::Error::Protocol(format!(
                "the archive's schema is older than this version's (migration {} of {wanted}): \
                 start `run` (or any other command that writes, such as `verify`) once to upgrade it",
                applied.unwrap_or(0)
            ))));
        }
        Ok(Archive {
            pool,
            path,
            key: None,
        })
    }

    /// The archive's signing key: present when it was opened for writing.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.key.as_deref()
    }

    /// The connection pool, for read queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Path of the SQLite database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checkpoints and truncates the WAL (a WAL left large makes every later process
    /// slower to open the archive), then closes every connection. Best effort: a
    /// reader elsewhere may keep the WAL from being truncated.
    pub async fn close(self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::debug!("WAL checkpoint at close: {e}");
        }
        self.pool.close().await;
    }
}
