//! `a AND b AND …` and `a OR b OR …` over plain words of one field: the commonest
//! queries, ranked by BM25 exactly as tantivy's `BooleanQuery` ranks them, but with
//! the top hits collected term-at-a-time per segment.
//!
//! Why: in message text every 128-document block holds some short message with a
//! common word, so block-max pruning skips almost nothing and tantivy scores every
//! match (about 2.7 ms for two common words at a million messages). Here each term's
//! frequencies go into a byte per document, the rarest (AND) or the best-scoring (OR)
//! list drives, and a document is scored only when an upper bound from its term
//! frequencies alone (the score it would have at the shortest length) can enter the
//! top hits. Lists that together cannot reach the current threshold are never walked
//! (MaxScore). Everything else (counting, time order, explanations, use inside another
//! query) is the equivalent `BooleanQuery`'s.

use std::cell::RefCell;
use std::collections::HashMap;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::BlockSegmentPostings;
use tantivy::query::{
    Bm25Weight, BooleanQuery, EnableScoring, Explanation, Occur, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, InvertedIndexReader, Score, SegmentReader, Term};

/// Whether every word must match, or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `a AND b`.
    All,
    /// `a OR b`.
    Any,
}

/// Words of one field, all or any of them.
#[derive(Debug, Clone)]
pub struct WordsQuery {
    mode: Mode,
    field: Field,
    terms: Vec<Term>,
}

impl WordsQuery {
    /// The query for these words (already analyzed) in `field`.
    pub fn new(mode: Mode, field: Field, words: &[String]) -> WordsQuery {
        let terms = words
            .iter()
            .map(|w| Term::from_field_text(field, w))
            .collect();
        WordsQuery { mode, field, terms }
    }

    /// The same query as tantivy builds it.
    pub fn boolean(&self) -> BooleanQuery {
        let occur = match self.mode {
            Mode::All => Occur::Must,
            Mode::Any => Occur::Should,
        };
        BooleanQuery::new(
            self.terms
                .iter()
                .map(|t| -> (Occur, Box<dyn Query>) {
                    (
                        occur,
                        Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs)),
                    )
                })
                .collect(),
        )
    }
}

impl Query for WordsQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = self.boolean().weight(scoring)?;
        let bm25 = match scoring {
            EnableScoring::Enabled {
                statistics_provider,
                ..
            } => Some(
                self.terms
                    .iter()
                    .map(|t| Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(t)))
                    .collect::<tantivy::Result<Vec<_>>>()?,
            ),
            EnableScoring::Disabled { .. } => None,
        };
        Ok(Box::new(WordsWeight {
            mode: self.mode,
            field: self.field,
            terms: self.terms.clone(),
            bm25,
            inner,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for term in &self.terms {
            visitor(term, false);
        }
    }
}

struct WordsWeight {
    mode: Mode,
    field: Field,
    terms: Vec<Term>,
    /// Per term, when scoring.
    bm25: Option<Vec<Bm25Weight>>,
    inner: Box<dyn Weight>,
}

impl Weight for WordsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.inner.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        self.inner.count(reader)
    }

    fn for_each(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        self.inner.for_each(reader, callback)
    }

    fn for_each_no_score(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        self.inner.for_each_no_score(reader, callback)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        let Some(bm25) = &self.bm25 else {
            return self.inner.for_each_pruning(threshold, reader, callback);
        };
        if self.mode == Mode::Any && self.terms.len() > 2 {
            // Few documents hold all of three or more words, so the walk below would
            // score most of the union; tantivy's block-max WAND is faster there
            // (0.9 against 1.8 ms for three common words at a million messages).
            return self.inner.for_each_pruning(threshold, reader, callback);
        }
        let inverted = reader.inverted_index(self.field)?;
        let mut lists = Vec::with_capacity(self.terms.len());
        for (term, bm25) in self.terms.iter().zip(bm25) {
            match inverted.read_block_postings(term, IndexRecordOption::WithFreqs)? {
                Some(postings) => lists.push(List::new(term, postings, bm25)),
                None if self.mode == Mode::All => return Ok(()),
                None => {}
            }
        }
        if lists.is_empty() {
            return Ok(());
        }
        let norms = reader.get_fieldnorms_reader(self.field)?;
        let max_doc = reader.max_doc() as usize;
        with_buffers(lists.len(), max_doc, |buffers| {
            let mut walk = Walk {
                lists,
                norms,
                threshold,
                callback,
            };
            match self.mode {
                Mode::All => {
                    walk.all(buffers);
                    Ok(())
                }
                Mode::Any => walk.any(&inverted, buffers),
            }
        })
    }
}

/// Frequencies at or above this are kept exactly in [`List::big`].
const SATURATED: u32 = u8::MAX as u32;

/// One term's postings in a segment.
struct List<'w> {
    term: &'w Term,
    postings: BlockSegmentPostings,
    bm25: &'w Bm25Weight,
    /// Best score for each frequency (at the shortest length): `bound[tf]`, with
    /// `bound[255]` the limit for any frequency.
    bound: [Score; 256],
    /// Frequencies of [`SATURATED`] and more, by document.
    big: HashMap<DocId, u32>,
    /// The highest bound of any document in the list (known once read).
    max_bound: Score,
    /// The documents, in order (kept by `fill` when asked).
    docs: Vec<DocId>,
}

impl<'w> List<'w> {
    fn new(term: &'w Term, postings: BlockSegmentPostings, bm25: &'w Bm25Weight) -> List<'w> {
        let mut bound = [0.0; 256];
        for (tf, slot) in bound.iter_mut().enumerate().skip(1) {
            *slot = if tf as u32 == SATURATED {
                bm25.max_score()
            } else {
                bm25.score(0, tf as u32)
            };
        }
        List {
            term,
            postings,
            bm25,
            bound,
            big: HashMap::new(),
            max_bound: 0.0,
            docs: Vec::new(),
        }
    }

    fn doc_freq(&self) -> u32 {
        self.postings.doc_freq()
    }

    /// Reads the postings again from the start.
    fn reopen(&mut self, inverted: &InvertedIndexReader) -> tantivy::Result<()> {
        self.postings = inverted
            .read_block_postings(self.term, IndexRecordOption::WithFreqs)?
            .unwrap_or_else(BlockSegmentPostings::empty);
        Ok(())
    }

    /// Every block as (documents, frequencies).
    fn for_each_block(&mut self, mut f: impl FnMut(&[DocId], &[u32])) {
        loop {
            let docs = self.postings.docs();
            if docs.is_empty() {
                return;
            }
            f(docs, self.postings.freqs());
            self.postings.advance();
        }
    }

    /// Writes each document's frequency (saturated) into `tf`, and keeps the
    /// documents when `keep`.
    fn fill(&mut self, tf: &mut [u8], keep: bool) {
        let mut big = HashMap::new();
        let mut most = 0u32;
        let mut kept = Vec::new();
        self.for_each_block(|docs, freqs| {
            if keep {
                kept.extend_from_slice(docs);
            }
            for (&doc, &freq) in docs.iter().zip(freqs) {
                let freq = freq.max(1);
                tf[doc as usize] = freq.min(SATURATED) as u8;
                most = most.max(freq);
                if freq >= SATURATED {
                    big.insert(doc, freq);
                }
            }
        });
        self.big = big;
        self.docs = kept;
        self.max_bound = self.bound[most.min(SATURATED) as usize];
    }

    /// The exact score of a document with this (saturated) frequency.
    fn score(&self, doc: DocId, saturated: u8, norm: u8) -> Score {
        let tf = if u32::from(saturated) == SATURATED {
            self.big.get(&doc).copied().unwrap_or(SATURATED)
        } else {
            u32::from(saturated)
        };
        self.bm25.score(norm, tf)
    }
}

/// One segment's top-hit walk.
struct Walk<'w, 'c> {
    lists: Vec<List<'w>>,
    norms: FieldNormReader,
    threshold: Score,
    callback: &'c mut dyn FnMut(DocId, Score) -> Score,
}

impl Walk<'_, '_> {
    /// AND: the rarest list drives; the others answer by lookup in `buffers` (one
    /// per other list, in document-frequency order).
    fn all(&mut self, buffers: &mut [Vec<u8>]) {
        // tantivy's intersection orders by cost (the document frequency), stably.
        self.lists.sort_by_key(List::doc_freq);
        let (driver, others) = self.lists.split_first_mut().expect("one list at least");
        for (list, tf) in others.iter_mut().zip(buffers.iter_mut()) {
            list.fill(tf, false);
        }
        let others: &[List] = others;
        let tfs: &[Vec<u8>] = &buffers[..others.len()];
        let norms = &self.norms;
        let mut threshold = self.threshold;
        let callback = &mut *self.callback;
        let (driver_bm25, driver_bound) = (driver.bm25, driver.bound);
        let mut most = 0u32;
        driver.for_each_block(|docs, freqs| {
            'doc: for (&doc, &freq) in docs.iter().zip(freqs) {
                let freq = freq.max(1);
                most = most.max(freq);
                let mut bound = driver_bound[freq.min(SATURATED) as usize];
                for (list, tf) in others.iter().zip(tfs) {
                    let t = tf[doc as usize];
                    if t == 0 {
                        continue 'doc;
                    }
                    bound += list.bound[t as usize];
                }
                if bound <= threshold {
                    continue;
                }
                let norm = norms.fieldnorm_id(doc);
                // As tantivy sums an intersection: the first two, then the rest.
                let mut scores = others
                    .iter()
                    .zip(tfs)
                    .map(|(list, tf)| list.score(doc, tf[doc as usize], norm));
                let first = driver_bm25.score(norm, freq);
                let second = scores.next().unwrap_or(0.0);
                let rest: Score = scores.sum();
                let score = first + second + rest;
                if score > threshold {
                    threshold = callback(doc, score);
                }
            }
        });
        driver.max_bound = driver.bound[most.min(SATURATED) as usize];
        self.threshold = threshold;
    }

    /// OR: first the documents holding every word, as AND finds them (they set a
    /// high threshold quickly). Often no document lacking a word can then enter the
    /// top hits, and the walk ends there. Otherwise the lists are walked best first,
    /// each document taken from the first walked list that holds it, until the lists
    /// left cannot reach the threshold together (MaxScore).
    fn any(
        &mut self,
        inverted: &InvertedIndexReader,
        buffers: &mut [Vec<u8>],
    ) -> tantivy::Result<()> {
        let several = self.lists.len() > 1;
        if several {
            self.all(buffers);
            let total: Score = self.lists.iter().map(|l| l.max_bound).sum();
            let weakest = self
                .lists
                .iter()
                .map(|l| l.max_bound)
                .fold(Score::MAX, Score::min);
            if total - weakest <= self.threshold {
                return Ok(());
            }
            for buffer in buffers.iter_mut() {
                buffer.fill(0);
            }
            for list in &mut self.lists {
                list.reopen(inverted)?;
            }
        }
        for (list, tf) in self.lists.iter_mut().zip(buffers.iter_mut()) {
            list.fill(tf, true);
        }
        let tfs: &[Vec<u8>] = buffers;
        let mut order: Vec<usize> = (0..self.lists.len()).collect();
        order.sort_by(|&a, &b| self.lists[b].max_bound.total_cmp(&self.lists[a].max_bound));
        // reach[i]: the most the lists from order[i] on can add up to.
        let mut reach = vec![0.0; order.len() + 1];
        for i in (0..order.len()).rev() {
            reach[i] = reach[i + 1] + self.lists[order[i]].max_bound;
        }
        for (step, &walked) in order.iter().enumerate() {
            if reach[step] <= self.threshold {
                break;
            }
            let earlier = &order[..step];
            let docs = std::mem::take(&mut self.lists[walked].docs);
            for doc in docs {
                let d = doc as usize;
                let done = several && tfs.iter().all(|tf| tf[d] != 0);
                if done || earlier.iter().any(|&e| tfs[e][d] != 0) {
                    continue;
                }
                self.consider(doc, tfs);
            }
        }
        Ok(())
    }

    /// Scores a document when the bound from its frequencies can enter the top hits.
    fn consider(&mut self, doc: DocId, tfs: &[Vec<u8>]) {
        let d = doc as usize;
        let bound: Score = self
            .lists
            .iter()
            .zip(tfs)
            .map(|(list, tf)| list.bound[tf[d] as usize])
            .sum();
        if bound <= self.threshold {
            return;
        }
        let norm = self.norms.fieldnorm_id(doc);
        let score: Score = self
            .lists
            .iter()
            .zip(tfs)
            .filter(|(_, tf)| tf[d] != 0)
            .map(|(list, tf)| list.score(doc, tf[d], norm))
            .sum();
        if score > self.threshold {
            self.threshold = (self.callback)(doc, score);
        }
    }
}

thread_local! {
    /// Per-document frequency bytes, reused between searches on this thread.
    static BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `n` zeroed buffers of `len` bytes.
fn with_buffers<R>(n: usize, len: usize, f: impl FnOnce(&mut [Vec<u8>]) -> R) -> R {
    BUFFERS.with(|cell| {
        let mut buffers = cell.take();
        buffers.resize_with(n.max(buffers.len()), Vec::new);
        for buffer in &mut buffers[..n] {
            buffer.clear();
            buffer.resize(len, 0);
        }
        let out = f(&mut buffers[..n]);
        cell.replace(buffers);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::{Mode, WordsQuery};
    use crate::event::document::MessageDocument;
    use crate::index::{test_index, SearchIndex};
    use tantivy::collector::{Count, TopDocs};
    use tantivy::query::Query;
    use tantivy::{DocAddress, Score};

    const WORDS: &[&str] = &[
        "budget", "review", "invoice", "contract", "deploy", "alpha", "beta", "gamma", "delta",
        "the", "a", "to",
    ];

    /// Messages of varied length with skewed word frequencies, a few repeating a word
    /// hundreds of times (frequencies past a byte), over several segments with
    /// replaced (deleted) documents.
    fn corpus() -> (tempfile::TempDir, SearchIndex) {
        test_index(5, 1_500, 11, |batch, n, rng| {
            let id = format!("m{}", rng.usize(0..6_000));
            let len = if n % 97 == 0 { 300 } else { rng.usize(1..40) };
            let words: Vec<&str> = (0..len)
                .map(|_| {
                    // Zipf-like: low indices far more often.
                    let r = rng.f64();
                    WORDS[((r * r * r) * WORDS.len() as f64) as usize]
                })
                .collect();
            let mut text = words.join(" ");
            if n % 97 == 0 {
                text = format!("{text} {}", "budget ".repeat(260 + batch));
            }
            MessageDocument {
                id,
                kind: "chat".into(),
                text,
                ..Default::default()
            }
        })
    }

    /// Same hits as tantivy's `BooleanQuery`: the same scores in the same order,
    /// and the same documents wherever scores do not tie.
    fn same_hits(ours: &[(Score, DocAddress)], theirs: &[(Score, DocAddress)], what: &str) {
        assert_eq!(ours.len(), theirs.len(), "{what}: hit count");
        let close = |a: Score, b: Score| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert!(close(a.0, b.0), "{what}: score {i}: {} vs {}", a.0, b.0);
            let tied =
                |list: &[(Score, DocAddress)]| list.iter().filter(|h| close(h.0, a.0)).count() > 1;
            if !tied(ours) && !tied(theirs) {
                assert_eq!(a.1, b.1, "{what}: document {i}");
            }
        }
    }

    #[test]
    fn ranks_as_tantivy_does() {
        let (_dir, index) = corpus();
        let searcher = index.reader().unwrap().searcher();
        assert!(searcher.segment_readers().len() > 1);
        assert!(searcher
            .segment_readers()
            .iter()
            .any(|s| s.num_deleted_docs() > 0));
        let text = index.fields().text;
        let mut queries: Vec<Vec<String>> = Vec::new();
        for (i, a) in WORDS.iter().enumerate() {
            for b in &WORDS[i + 1..] {
                queries.push(vec![a.to_string(), b.to_string()]);
            }
        }
        queries.push(vec!["budget".into(), "review".into(), "invoice".into()]);
        queries.push(vec!["budget".into(), "nosuchword".into()]);
        queries.push(vec!["budget".into(), "budget".into()]);
        let mut compared = 0;
        for words in &queries {
            for mode in [Mode::All, Mode::Any] {
                let ours = WordsQuery::new(mode, text, words);
                let theirs = ours.boolean();
                let what = format!("{mode:?} {words:?}");
                assert_eq!(
                    ours.count(&searcher).unwrap(),
                    searcher.search(&theirs, &Count).unwrap(),
                    "{what}: count"
                );
                for (limit, offset) in [(1, 0), (5, 0), (20, 0), (20, 7), (200, 0)] {
                    let top = TopDocs::with_limit(limit).and_offset(offset);
                    let a = searcher.search(&ours, &top).unwrap();
                    let b = searcher.search(&theirs, &top).unwrap();
                    same_hits(&a, &b, &format!("{what} limit {limit} offset {offset}"));
                    compared += a.len();
                }
            }
        }
        assert!(compared > 10_000, "only {compared} hits compared");
    }
}
