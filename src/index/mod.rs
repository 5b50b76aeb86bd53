//! The full-text index: tantivy beside SQLite, derived from it and rebuildable from
//! it at any time. One writer (the archive writer task) adds and replaces documents;
//! readers open a fresh searcher per query.

mod merge;
mod phrase;
mod prefix;
mod query;
pub mod readonly;
mod schema;
mod terms;
mod tokenizer;
mod writer;

use std::path::{Path, PathBuf};

use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, ReloadPolicy};

pub use phrase::{CommonPhrase, CANDIDATES};
pub use query::{parse_user_query, Built, Hit, QueryError, RemovedFilter, SearchRequest, Sort};
pub use schema::Fields;
pub use terms::{Mode, WordsQuery};
pub use writer::IndexWriterHandle;

/// Directory of the index inside the data directory.
pub const INDEX_DIR: &str = "index";

/// Index failures.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index directory cannot be created or opened.
    #[error("cannot open search index {path}: {source}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: tantivy::TantivyError,
    },
    /// The index was built with another schema (an older version of this program).
    #[error("the search index {0} was built by another version of spaces-archive; run `spaces-archive reindex` to rebuild it from the archive")]
    Outdated(PathBuf),
    /// Another process holds the index writer.
    #[error("the search index {0} is being written by another process (one writer per archive)")]
    Busy(PathBuf),
    /// Any other tantivy failure.
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A query that does not parse.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// An open index.
#[derive(Clone)]
pub struct SearchIndex {
    index: Index,
    fields: Fields,
    path: PathBuf,
}

impl SearchIndex {
    /// Opens the index in `data_dir`, creating it if missing; an index built with
    /// another schema is [`IndexError::Outdated`].
    pub fn open(data_dir: &Path) -> Result<SearchIndex, IndexError> {
        Self::open_at(data_dir.join(INDEX_DIR))
    }

    /// Opens the index for a rebuild: an outdated one is removed and created anew
    /// (it holds nothing SQLite does not).
    pub fn open_for_rebuild(data_dir: &Path) -> Result<SearchIndex, IndexError> {
        match Self::open(data_dir) {
            Err(IndexError::Outdated(path)) => {
                std::fs::remove_dir_all(&path).map_err(|e| IndexError::Open {
                    path: path.clone(),
                    source: e.into(),
                })?;
                Self::open_at(path)
            }
            other => other,
        }
    }

    /// Opens the index for reading only (`serve`): read-only when its directory
    /// cannot be written ([`readonly`]); never created.
    pub fn open_read_only(data_dir: &Path) -> Result<SearchIndex, IndexError> {
        let path = data_dir.join(INDEX_DIR);
        let open_err = |source| IndexError::Open {
            path: path.clone(),
            source,
        };
        let missing = || {
            open_err(tantivy::TantivyError::from(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no index here yet (`run`, `ingest` or `reindex` makes one)",
            )))
        };
        if !path.is_dir() {
            return Err(missing());
        }
        if crate::private::writable(&path) {
            let directory = MmapDirectory::open(&path).map_err(|e| open_err(e.into()))?;
            Self::from_directory(path, directory, false)
        } else {
            let directory = readonly::ReadOnlyDirectory::open(&path).map_err(open_err)?;
            Self::from_directory(path, directory, false)
        }
    }

    fn open_at(path: PathBuf) -> Result<SearchIndex, IndexError> {
        crate::private::create_dir(&path).map_err(|e| IndexError::Open {
            path: path.clone(),
            source: tantivy::TantivyError::from(e),
        })?;
        let directory = MmapDirectory::open(&path).map_err(|e| IndexError::Open {
            path: path.clone(),
            source: e.into(),
        })?;
        Self::from_directory(path, directory, true)
    }

    fn from_directory(
        path: PathBuf,
        directory: impl tantivy::Directory,
        create: bool,
    ) -> Result<SearchIndex, IndexError> {
        let open_err = |source| IndexError::Open {
            path: path.clone(),
            source,
        };
        let (schema, _) = schema::build();
        let index = if Index::exists(&directory).map_err(|e| open_err(e.into()))? {
            let index = Index::open(directory).map_err(open_err)?;
            if index.schema() != schema {
                return Err(IndexError::Outdated(path));
            }
            index
        } else if create {
            Index::create(directory, schema, tantivy::IndexSettings::default()).map_err(open_err)?
        } else {
            return Err(open_err(tantivy::TantivyError::from(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no index here yet (`run`, `ingest` or `reindex` makes one)",
            ))));
        };
        schema::register_analyzers(&index);
        // Segments are searched in parallel, one thread per core: a query over a
        // million messages spends its time scoring matches, segment by segment.
        let mut index = index;
        index.set_default_multithread_executor().map_err(open_err)?;
        let fields = schema::fields_of(&index.schema()).map_err(open_err)?;
        Ok(SearchIndex {
            index,
            fields,
            path,
        })
    }

    /// The index's fields.
    pub fn fields(&self) -> Fields {
        self.fields
    }

    /// The tantivy index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A reader that sees the latest commit when created and is reloaded by hand.
    pub fn reader(&self) -> Result<IndexReader, IndexError> {
        Ok(self
            .index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?)
    }

    /// Opens the writer; fails with [`IndexError::Busy`] while another process writes.
    pub fn writer(&self) -> Result<IndexWriterHandle, IndexError> {
        IndexWriterHandle::new(self)
    }

    /// Every document's message id, with how often it occurs (for `verify`).
    pub fn all_ids(&self) -> Result<std::collections::HashMap<String, u32>, IndexError> {
        writer::all_ids(self)
    }
}

/// An index over several segments (one per batch), for tests: `make(batch, n, rng)`
/// gives the `n`th document of a batch; ids drawn again replace earlier documents.
#[cfg(test)]
pub(crate) fn test_index(
    batches: usize,
    per_batch: usize,
    seed: u64,
    mut make: impl FnMut(usize, usize, &mut fastrand::Rng) -> crate::event::document::MessageDocument,
) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = SearchIndex::open(dir.path()).expect("index");
    let mut writer = index.writer().expect("writer");
    let mut rng = fastrand::Rng::with_seed(seed);
    for batch in 0..batches {
        for n in 0..per_batch {
            writer.upsert(&make(batch, n, &mut rng)).expect("upsert");
        }
        writer.commit().expect("commit");
    }
    writer.finish().expect("finish");
    (dir, index)
}
