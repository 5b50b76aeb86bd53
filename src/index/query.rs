//! Queries: the user's query text (words, `"phrases"`, `AND`/`OR`, `-word`,
//! `field:value`, `prefix*`) checked with a position for every mistake we can place,
//! combined with the filters, and run newest-first, oldest-first or by relevance.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::collections::BinaryHeap;

use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, EnableScoring, Occur, Query, QueryParser, RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, Searcher, TantivyDocument, Term};

use super::writer::stored_id;
use super::{IndexError, SearchIndex};

/// Fields a query may name.
pub const QUERY_FIELDS: &[&str] = &[
    "text",
    "description",
    "attachment",
    "history",
    "space",
    "sender",
    "kind",
    "id",
    "space_id",
    "sender_id",
];

/// A query that cannot be run: what is wrong and, when known, where (0-based char).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// Character position in the query.
    pub position: Option<usize>,
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Best match first.
    Relevance,
    /// Newest first (by creation).
    Newest,
    /// Oldest first.
    Oldest,
}

/// What to do with removed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedFilter {
    /// Removed and present ones.
    Include,
    /// Only messages not removed.
    Exclude,
    /// Only removed messages.
    Only,
}

/// A search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The user's query.
    pub query: String,
    /// Only these spaces, when set.
    pub space_ids: Option<Vec<String>>,
    /// Only these senders, when set.
    pub sender_ids: Option<Vec<String>>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Created at or after (UTC ms).
    pub since: Option<i64>,
    /// Created before (UTC ms).
    pub until: Option<i64>,
    /// Removed messages.
    pub removed: RemovedFilter,
    /// Also match earlier versions' text.
    pub in_history: bool,
    /// Order.
    pub sort: Sort,
    /// At most this many hits.
    pub limit: usize,
    /// Skipping this many.
    pub offset: usize,
}

/// A query ready to run.
pub struct Built {
    /// The query.
    pub query: Box<dyn Query>,
    /// Set when the bound on phrases of common words cut a run of this query short.
    pub cut: Arc<AtomicBool>,
}

impl Built {
    /// Whether the bound on phrases of common words cut a run of the query short.
    pub fn was_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Message id.
    pub id: String,
    /// Relevance score (with relevance order only).
    pub score: Option<f32>,
}

fn error(message: impl Into<String>, position: Option<usize>) -> QueryError {
    QueryError {
        message: message.into(),
        position,
    }
}

/// Finds the mistakes tantivy's parser would report without a position.
fn check_syntax(query: &str) -> Result<(), QueryError> {
    if query.trim().is_empty() {
        return Err(error("empty query", Some(0)));
    }
    let mut quote: Option<usize> = None;
    let mut parens: Vec<usize> = Vec::new();
    let mut word_start: Option<usize> = None;
    for (pos, c) in query.chars().enumerate() {
        if let Some(open) = quote {
            if c == '"' {
                quote = None;
            }
            let _ = open;
            continue;
        }
        match c {
            '"' => quote = Some(pos),
            '(' => parens.push(pos),
            ')' if parens.pop().is_none() => return Err(error("unbalanced ')'", Some(pos))),
            ':' => {
                if let Some(start) = word_start {
                    let field: String = query.chars().skip(start).take(pos - start).collect();
                    if !QUERY_FIELDS.contains(&field.as_str()) {
                        let known = QUERY_FIELDS.join(", ");
                        return Err(error(format!("unknown field '{field}' (fields: {known}; quote text containing ':')"), Some(start)));
                    }
                }
            }
            _ => {}
        }
        let in_word = c.is_alphanumeric() || c == '_';
        word_start = match (in_word, word_start) {
            (true, None) => Some(pos),
            (true, start) => start,
            (false, _) => None,
        };
    }
    if let Some(open) = quote {
        return Err(error(
            "unbalanced '\"': the phrase is not closed",
            Some(open),
        ));
    }
    if let Some(open) = parens.pop() {
        return Err(error("unbalanced '(': not closed", Some(open)));
    }
    Ok(())
}

/// Parses the user's query over the text fields. `text` holds earlier versions too;
/// without `in_history`, an edited message is matched on its `current` text instead,
/// so the result is the query as if only current text were indexed.
pub fn parse_user_query(
    index: &SearchIndex,
    query: &str,
    in_history: bool,
    cut: &Arc<AtomicBool>,
) -> Result<Box<dyn Query>, QueryError> {
    check_syntax(query)?;
    let f = index.fields();
    let over = |field| -> Result<Box<dyn Query>, QueryError> {
        let mut parser = QueryParser::for_index(index.index(), vec![field]);
        parser.set_conjunction_by_default();
        let ast = tantivy::query_grammar::parse_query(query)
            .map_err(|_| error("the query does not parse", None))?;
        super::prefix::convert(index, &parser, &[field], ast, cut).map_err(|e| error(e, None))
    };
    if in_history {
        return over(f.text);
    }
    let edited: Box<dyn Query> = Box::new(TermQuery::new(
        Term::from_field_u64(f.edited, 1),
        IndexRecordOption::Basic,
    ));
    let unedited: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
        (Occur::Must, over(f.text)?),
        (Occur::MustNot, edited),
    ]));
    Ok(Box::new(BooleanQuery::new(vec![
        (Occur::Should, unedited),
        (Occur::Should, over(f.current)?),
    ])))
}

fn any_of(field: tantivy::schema::Field, values: &[String]) -> Box<dyn Query> {
    let terms: Vec<(Occur, Box<dyn Query>)> = values
        .iter()
        .map(|v| {
            let q: Box<dyn Query> = Box::new(TermQuery::new(
                Term::from_field_text(field, v),
                IndexRecordOption::Basic,
            ));
            (Occur::Should, q)
        })
        .collect();
    Box::new(BooleanQuery::new(terms))
}

impl SearchIndex {
    /// The user's query with the request's filters.
    pub fn build_query(&self, request: &SearchRequest) -> Result<Built, QueryError> {
        let cut = Arc::new(AtomicBool::new(false));
        let query = self.build_with(request, &cut)?;
        Ok(Built { query, cut })
    }

    fn build_with(
        &self,
        request: &SearchRequest,
        cut: &Arc<AtomicBool>,
    ) -> Result<Box<dyn Query>, QueryError> {
        let f = self.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            parse_user_query(self, &request.query, request.in_history, cut)?,
        )];
        if let Some(spaces) = &request.space_ids {
            clauses.push((Occur::Must, any_of(f.space_id, spaces)));
        }
        if let Some(senders) = &request.sender_ids {
            clauses.push((Occur::Must, any_of(f.sender_id, senders)));
        }
        if let Some(kind) = &request.kind {
            clauses.push((Occur::Must, any_of(f.kind, std::slice::from_ref(kind))));
        }
        if request.since.is_some() || request.until.is_some() {
            let lower = request.since.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_i64(f.created, t))
            });
            let upper = request.until.map_or(Bound::Unbounded, |t| {
                Bound::Excluded(Term::from_field_i64(f.created, t))
            });
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        let removed = match request.removed {
            RemovedFilter::Include => None,
            RemovedFilter::Exclude => Some(0),
            RemovedFilter::Only => Some(1),
        };
        if let Some(value) = removed {
            let term = Term::from_field_u64(f.removed, value);
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        if clauses.len() == 1 {
            // Unwrapped, a disjunction of terms stays top-level, where tantivy prunes
            // with block-max WAND instead of scoring every match.
            return Ok(clauses.remove(0).1);
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// Runs a built query.
    pub fn run(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        request: &SearchRequest,
    ) -> Result<Vec<Hit>, IndexError> {
        let top = TopDocs::with_limit(request.limit.max(1)).and_offset(request.offset);
        let hits: Vec<(Option<f32>, DocAddress)> = match request.sort {
            Sort::Relevance => searcher
                .search(query, &top)?
                .into_iter()
                .map(|(s, a)| (Some(s), a))
                .collect(),
            Sort::Newest | Sort::Oldest => by_time(
                searcher,
                query,
                request.sort == Sort::Newest,
                request.offset,
                request.limit,
            )?
            .into_iter()
            .map(|a| (None, a))
            .collect(),
        };
        let fields = self.fields();
        let mut out = Vec::with_capacity(hits.len());
        for (score, address) in hits.into_iter().take(request.limit) {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = stored_id(&doc, &fields) {
                out.push(Hit { id, score });
            }
        }
        Ok(out)
    }
}

/// Newest- or oldest-first hits after `offset`, visiting segments from the newest
/// (oldest) and skipping a segment once it cannot hold a better hit than the
/// `offset + limit`-th so far. Messages arrive roughly in time order, so most of a
/// large index is never read. Ties go to the earlier document.
fn by_time(
    searcher: &Searcher,
    query: &dyn Query,
    newest: bool,
    offset: usize,
    limit: usize,
) -> tantivy::Result<Vec<DocAddress>> {
    let wanted = offset + limit;
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    // Smaller key = better hit.
    let key = |created: i64| -> i128 {
        if newest {
            -i128::from(created)
        } else {
            i128::from(created)
        }
    };
    let mut segments = Vec::with_capacity(searcher.segment_readers().len());
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let created = reader.fast_fields().i64("created")?;
        let best_possible = if newest {
            key(created.max_value())
        } else {
            key(created.min_value())
        };
        segments.push((best_possible, ord as u32, reader, created));
    }
    segments.sort_by_key(|s| (s.0, s.1));
    let mut heap: BinaryHeap<(i128, u32, DocId)> = BinaryHeap::with_capacity(wanted + 1);
    for (best_possible, ord, reader, created) in segments {
        if heap.len() >= wanted && heap.peek().is_some_and(|worst| best_possible > worst.0) {
            continue;
        }
        let alive = reader.alive_bitset();
        weight.for_each_no_score(reader, &mut |docs| {
            for &doc in docs {
                if alive.is_some_and(|a| a.is_deleted(doc)) {
                    continue;
                }
                let candidate = (key(created.first(doc).unwrap_or(0)), ord, doc);
                if heap.len() < wanted {
                    heap.push(candidate);
                } else if heap.peek().is_some_and(|worst| candidate < *worst) {
                    heap.pop();
                    heap.push(candidate);
                }
            }
        })?;
    }
    Ok(heap
        .into_sorted_vec()
        .into_iter()
        .skip(offset)
        .map(|(_, segment_ord, doc_id)| DocAddress {
            segment_ord,
            doc_id,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{by_time, check_syntax};
    use crate::event::document::MessageDocument;
    use crate::index::test_index;
    use tantivy::query::AllQuery;

    /// Several segments with interleaved times, some documents replaced: the pruned
    /// newest/oldest walk must equal a full sort, page by page.
    #[test]
    fn time_order_equals_a_full_sort() {
        let mut created = std::collections::HashMap::new();
        let (_dir, index) = test_index(6, 400, 3, |batch, n, rng| {
            // Mostly rising with the batch, with stragglers and equal times.
            let id = format!("m{}", rng.usize(0..2_000));
            let time = batch as i64 * 1_000 + rng.i64(-1_500..1_000) + (n % 3) as i64;
            created.insert(id.clone(), time);
            MessageDocument {
                id,
                kind: "chat".into(),
                created: time,
                ..Default::default()
            }
        });
        let searcher = index.reader().unwrap().searcher();
        assert!(searcher.segment_readers().len() > 1);
        let f = index.fields();
        for newest in [true, false] {
            let mut expected: Vec<i64> = created.values().copied().collect();
            expected.sort();
            if newest {
                expected.reverse();
            }
            for (offset, limit) in [(0, 1), (0, 20), (15, 20), (0, 300), (250, 100), (0, 5_000)] {
                let hits = by_time(&searcher, &AllQuery, newest, offset, limit).unwrap();
                let times: Vec<i64> = hits
                    .iter()
                    .map(|a| {
                        let doc: tantivy::TantivyDocument = searcher.doc(*a).unwrap();
                        let id = super::stored_id(&doc, &f).unwrap();
                        created[&id]
                    })
                    .collect();
                let want: Vec<i64> = expected.iter().skip(offset).take(limit).copied().collect();
                assert_eq!(times, want, "newest {newest} offset {offset} limit {limit}");
            }
        }
    }

    fn position(query: &str) -> Option<usize> {
        check_syntax(query).unwrap_err().position
    }

    #[test]
    fn places_syntax_mistakes() {
        assert_eq!(position("say \"hello"), Some(4));
        assert_eq!(position("(a OR b"), Some(0));
        assert_eq!(position("a) b"), Some(1));
        assert_eq!(position("x nosuch:value"), Some(2));
        assert_eq!(position("   "), Some(0));
        assert!(check_syntax("text:\"a b\" AND -c OR kind:task d*").is_ok());
        assert!(check_syntax("\"time: 10:30\"").is_ok());
    }
}
