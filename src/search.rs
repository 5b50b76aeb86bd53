//! `search`: filters resolved against SQLite (space titles, people's names), the query
//! run on the index, and the hits filled in from SQLite with a snippet of the text
//! that matched (the current text, else the description, else an earlier version).

use std::ops::Range;

use tantivy::query::Query;
use tantivy::snippet::SnippetGenerator;
use tantivy::Searcher;

use crate::index::{IndexError, QueryError, RemovedFilter, SearchIndex, SearchRequest, Sort};
use crate::store::lookup::{earlier_texts, hit_rows, person_ids, space_ids, HitRow};
use crate::store::{Archive, StoreError};

/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 160;

/// A search as the user gave it.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// The query.
    pub query: String,
    /// Spaces, by id or title (any of them).
    pub spaces: Vec<String>,
    /// Senders, by id, name or user name (any of them).
    pub from: Vec<String>,
    /// chat, post or task.
    pub kind: Option<String>,
    /// Created at or after, UTC ms.
    pub since: Option<i64>,
    /// Created before, UTC ms.
    pub until: Option<i64>,
    /// Removed messages.
    pub removed: RemovedFilter,
    /// Match earlier versions too.
    pub in_history: bool,
    /// Order.
    pub sort: Sort,
    /// Page size.
    pub limit: usize,
    /// Page start.
    pub offset: usize,
}

/// Text with the matched terms' byte ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snippet {
    /// The fragment.
    pub text: String,
    /// Byte ranges of matched terms in `text`.
    pub highlights: Vec<Range<usize>>,
    /// Where it came from: `text`, `description` or `history`.
    pub source: &'static str,
}

/// One search result.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The message.
    pub row: HitRow,
    /// Relevance (relevance order only).
    pub score: Option<f32>,
    /// What matched.
    pub snippet: Snippet,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query does not parse.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A filter names nothing in the archive.
    #[error("{0}")]
    Filter(String),
    /// SQLite.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index.
    #[error(transparent)]
    Index(#[from] IndexError),
}

async fn resolve(
    given: &[String],
    what: &str,
    lookup: impl AsyncFn(&str) -> Result<Vec<String>, StoreError>,
) -> Result<Option<Vec<String>>, SearchError> {
    if given.is_empty() {
        return Ok(None);
    }
    let mut ids = Vec::new();
    for name in given {
        let found = lookup(name).await?;
        if found.is_empty() {
            return Err(SearchError::Filter(format!("no {what} matches {name:?}")));
        }
        ids.extend(found);
    }
    Ok(Some(ids))
}

/// Runs a search with a new reader (one search per process: the CLI).
pub async fn search(
    archive: &Archive,
    index: &SearchIndex,
    options: &SearchOptions,
) -> Result<Vec<SearchHit>, SearchError> {
    let reader = index.reader()?;
    search_with(archive, index, &reader, options).await
}

/// Runs a search with a long-lived reader (reloaded by the caller to see new commits).
pub async fn search_with(
    archive: &Archive,
    index: &SearchIndex,
    reader: &tantivy::IndexReader,
    options: &SearchOptions,
) -> Result<Vec<SearchHit>, SearchError> {
    let request = SearchRequest {
        query: options.query.clone(),
        space_ids: resolve(&options.spaces, "space", async |s: &str| {
            space_ids(archive, s).await
        })
        .await?,
        sender_ids: resolve(&options.from, "person", async |p: &str| {
            person_ids(archive, p).await
        })
        .await?,
        kind: options.kind.clone(),
        since: options.since,
        until: options.until,
        removed: options.removed,
        in_history: options.in_history,
        sort: options.sort,
        limit: options.limit,
        offset: options.offset,
    };
    let query = index.build_query(&request)?;
    let searcher = reader.searcher();
    let hits = index.run(&searcher, query.as_ref(), &request)?;
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    let mut rows = hit_rows(archive, &ids).await?;
    let snippets = Snippets::new(&searcher, query.as_ref(), index)?;
    let mut out = Vec::with_capacity(hits.len());
    for hit in hits {
        let Some(row) = rows.remove(&hit.id) else {
            continue;
        };
        let snippet = snippets.best(archive, &row, options.in_history).await?;
        out.push(SearchHit {
            row,
            score: hit.score,
            snippet,
        });
    }
    Ok(out)
}

/// Snippet generators for the fields a hit can match in (`text` also holds the
/// description, so its terms highlight either).
struct Snippets {
    text: SnippetGenerator,
    history: SnippetGenerator,
}

impl Snippets {
    fn new(
        searcher: &Searcher,
        query: &dyn Query,
        index: &SearchIndex,
    ) -> Result<Snippets, IndexError> {
        let f = index.fields();
        let make = |field| -> Result<SnippetGenerator, IndexError> {
            let mut generator = SnippetGenerator::create(searcher, query, field)?;
            generator.set_max_num_chars(SNIPPET_CHARS);
            Ok(generator)
        };
        Ok(Snippets {
            text: make(f.text)?,
            history: make(f.history)?,
        })
    }

    async fn best(
        &self,
        archive: &Archive,
        row: &HitRow,
        in_history: bool,
    ) -> Result<Snippet, StoreError> {
        for (generator, text, source) in [
            (&self.text, &row.text, "text"),
            (&self.text, &row.description, "description"),
        ] {
            let snippet = generator.snippet(text);
            if !snippet.highlighted().is_empty() {
                return Ok(to_snippet(&snippet, source));
            }
        }
        if in_history && row.versions > 1 {
            let earlier = earlier_texts(archive, &row.id).await?.join("\n");
            let snippet = self.history.snippet(&earlier);
            if !snippet.highlighted().is_empty() {
                return Ok(to_snippet(&snippet, "history"));
            }
        }
        let text = if row.text.is_empty() {
            &row.description
        } else {
            &row.text
        };
        Ok(Snippet {
            text: truncate(text, SNIPPET_CHARS),
            highlights: Vec::new(),
            source: "text",
        })
    }
}

fn to_snippet(snippet: &tantivy::snippet::Snippet, source: &'static str) -> Snippet {
    Snippet {
        text: snippet.fragment().to_string(),
        highlights: snippet.highlighted().to_vec(),
        source,
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
