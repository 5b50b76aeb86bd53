//! `search`: filters resolved against SQLite (space titles, people's names), the query
//! run on the index, and the hits filled in from SQLite with a snippet of the text
//! that matched (the current text, else the description, else an earlier version).

use std::ops::Range;

use tantivy::query::Query;
use tantivy::snippet::SnippetGenerator;
use tantivy::Searcher;

use crate::index::{IndexError, QueryError, RemovedFilter, SearchIndex, SearchRequest, Sort};
use crate::store::lookup::{
    attachment_texts, earlier_texts, hit_rows, person_ids, space_ids, HitRow,
};
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
    /// Where it came from: `text`, `description`, `history` or `attachment`.
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

/// What a filter's names are looked up as.
#[derive(Clone, Copy)]
enum Names {
    Spaces,
    People,
}

/// The ids the names resolve to (`None` for no filter); a name that matches
/// nothing is an error. (A plain loop, not an async closure: the future must be
/// `Send` for `serve`'s handlers.)
async fn resolve(
    archive: &Archive,
    given: &[String],
    names: Names,
) -> Result<Option<Vec<String>>, SearchError> {
    if given.is_empty() {
        return Ok(None);
    }
    let mut ids = Vec::new();
    for name in given {
        let (found, what) = match names {
            Names::Spaces => (space_ids(archive, name).await?, "space"),
            Names::People => (person_ids(archive, name).await?, "person"),
        };
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
    Ok(search_inner(archive, index, reader, options, false)
        .await?
        .hits)
}

/// A page of hits and how many messages match in all.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The page's hits.
    pub hits: Vec<SearchHit>,
    /// Messages matching, every page together.
    pub total: usize,
}

/// Runs a search and counts every match (`serve`'s result pages).
pub async fn search_page(
    archive: &Archive,
    index: &SearchIndex,
    reader: &tantivy::IndexReader,
    options: &SearchOptions,
) -> Result<SearchPage, SearchError> {
    search_inner(archive, index, reader, options, true).await
}

async fn search_inner(
    archive: &Archive,
    index: &SearchIndex,
    reader: &tantivy::IndexReader,
    options: &SearchOptions,
    count: bool,
) -> Result<SearchPage, SearchError> {
    let request = SearchRequest {
        query: options.query.clone(),
        space_ids: resolve(archive, &options.spaces, Names::Spaces).await?,
        sender_ids: resolve(archive, &options.from, Names::People).await?,
        kind: options.kind.clone(),
        since: options.since,
        until: options.until,
        removed: options.removed,
        in_history: options.in_history,
        sort: options.sort,
        limit: options.limit,
        offset: options.offset,
    };
    let built = index.build_query(&request)?;
    let query = &built.query;
    let searcher = reader.searcher();
    let hits = index.run(&searcher, query.as_ref(), &request)?;
    let total = if count {
        query
            .count(&searcher)
            .map_err(|e| SearchError::Index(e.into()))?
    } else {
        hits.len()
    };
    if built.was_cut() {
        tracing::warn!(
            "every word of the phrase in {:?} is very common: it was checked in the first {} \
             messages holding them all, not in every one (add a less common word, or narrow \
             with --space, --from or --since)",
            options.query,
            crate::index::CANDIDATES
        );
    }
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    let mut rows = hit_rows(archive, &ids).await?;
    let snippets = Snippets::new(&searcher, query.as_ref(), index)?;
    let mut found: Vec<(HitRow, Option<f32>, Option<Snippet>)> = hits
        .into_iter()
        .filter_map(|hit| {
            let row = rows.remove(&hit.id)?;
            let snippet = snippets.current(&row);
            Some((row, hit.score, snippet))
        })
        .collect();
    // Hits whose match is only in an earlier version: their earlier texts, in one query.
    let need: Vec<&str> = found
        .iter()
        .filter(|(row, _, snippet)| options.in_history && snippet.is_none() && row.versions > 1)
        .map(|(row, _, _)| row.id.as_str())
        .collect();
    let mut earlier = if need.is_empty() {
        Default::default()
    } else {
        earlier_texts(archive, &need).await?
    };
    for (row, _, snippet) in &mut found {
        if snippet.is_none() {
            if let Some(texts) = earlier.remove(&row.id) {
                *snippet = snippets.earlier(&texts.join("\n"));
            }
        }
    }
    // Hits whose match is in neither: the text inside their attachments.
    let need: Vec<&str> = found
        .iter()
        .filter(|(_, _, snippet)| snippet.is_none())
        .map(|(row, _, _)| row.id.as_str())
        .collect();
    let mut inside = if need.is_empty() {
        Default::default()
    } else {
        attachment_texts(archive, &need).await?
    };
    let hits = found
        .drain(..)
        .map(|(row, score, snippet)| {
            let snippet = snippet
                .or_else(|| {
                    let text = inside.remove(&row.id)?;
                    snippets.inside(&text)
                })
                .unwrap_or_else(|| plain(&row));
            SearchHit {
                row,
                score,
                snippet,
            }
        })
        .collect();
    Ok(SearchPage { hits, total })
}

/// Text longer than this (bytes) is first cut to a window of this size around the
/// first place a query word appears, so a long message is not tokenized whole for a
/// 160-character snippet (a 7 KB message took ~50 µs). The window is found by a byte
/// search that ignores ASCII case; when it shows no match (an accented or partial
/// form), the whole text is tokenized as before.
const WINDOW: usize = 1_024;

/// Snippet generators for the fields a hit can match in (`text` also holds the
/// description and earlier versions, so its terms highlight any of them).
struct Snippets {
    text: SnippetGenerator,
    history: SnippetGenerator,
    attachment: SnippetGenerator,
    /// The query's words (as indexed: lower-case), to find a window by.
    words: Vec<String>,
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
        let mut words = Vec::new();
        query.query_terms(&mut |term, _| {
            if let Some(word) = term.value().as_str() {
                words.push(word.to_string());
            }
        });
        Ok(Snippets {
            text: make(f.text)?,
            history: make(f.history)?,
            attachment: make(f.attachment)?,
            words,
        })
    }

    /// The generator's snippet of `text`, from a window around the first query word
    /// when the text is long.
    fn cut(&self, generator: &SnippetGenerator, text: &str) -> tantivy::snippet::Snippet {
        if text.len() > WINDOW {
            let lower = text.to_ascii_lowercase();
            if let Some(at) = self
                .words
                .iter()
                .filter_map(|w| lower.find(w.as_str()))
                .min()
            {
                let start = text.floor_char_boundary(at.saturating_sub(WINDOW / 4));
                let end = text.ceil_char_boundary((start + WINDOW).min(text.len()));
                let snippet = generator.snippet(&text[start..end]);
                if !snippet.highlighted().is_empty() {
                    return snippet;
                }
            }
        }
        generator.snippet(text)
    }

    /// The matched part of the current text, else of the description.
    fn current(&self, row: &HitRow) -> Option<Snippet> {
        [(&row.text, "text"), (&row.description, "description")]
            .into_iter()
            .find_map(|(text, source)| {
                let snippet = self.cut(&self.text, text);
                (!snippet.highlighted().is_empty()).then(|| to_snippet(&snippet, source))
            })
    }

    /// The matched part of the text inside the attachments: words the user named
    /// `attachment:` first, then the default ones.
    fn inside(&self, text: &str) -> Option<Snippet> {
        [&self.attachment, &self.text]
            .into_iter()
            .find_map(|generator| {
                let snippet = self.cut(generator, text);
                (!snippet.highlighted().is_empty()).then(|| to_snippet(&snippet, "attachment"))
            })
    }

    /// The matched part of earlier versions: words the user named `history:` first,
    /// then the default ones.
    fn earlier(&self, earlier: &str) -> Option<Snippet> {
        [&self.history, &self.text]
            .into_iter()
            .find_map(|generator| {
                let snippet = self.cut(generator, earlier);
                (!snippet.highlighted().is_empty()).then(|| to_snippet(&snippet, "history"))
            })
    }
}

/// The start of the text (or description) when no matched word can be shown.
fn plain(row: &HitRow) -> Snippet {
    let text = if row.text.is_empty() {
        &row.description
    } else {
        &row.text
    };
    Snippet {
        text: truncate(text, SNIPPET_CHARS),
        highlights: Vec::new(),
        source: "text",
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
