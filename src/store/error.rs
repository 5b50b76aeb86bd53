//! Errors of the storage layer.

use std::path::PathBuf;

/// A storage failure: the archive cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be created or used.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Opening the SQLite database failed.
    #[error("cannot open archive {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("cannot migrate archive {path}: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed (disk full, I/O error, corruption).
    #[error("archive database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// A statement stepped directly on SQLite failed.
    #[error("archive database error: {0}")]
    Sqlite(String),
    /// A stored value could not be read back.
    #[error("archive holds a value it cannot read: {0}")]
    Corrupt(String),
    /// The archive's signing key.
    #[error(transparent)]
    Key(#[from] crate::chain::key::KeyError),
}
