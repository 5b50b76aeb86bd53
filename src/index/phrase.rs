//! Phrases of very common words, bounded. A phrase is checked position by position in
//! every message that holds all its words; for `"to the"` that is most of the archive
//! (3.8 s at a million messages, where a phrase with a content word takes 3–6 ms).
//! When every word of a phrase is in at least a quarter of the messages, it is checked
//! in at most [`CANDIDATES`] messages holding all its words, shared among segments in
//! proportion to their size (so the result does not depend on thread timing), and the
//! search says when that cut it short. Any other phrase is tantivy's `PhraseQuery`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    Bm25Weight, EmptyScorer, EnableScoring, Explanation, PhraseQuery, Query, Scorer, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, Term, TERMINATED};

/// Messages holding every word of a common-word phrase that are checked, at most.
pub const CANDIDATES: u64 = 50_000;

/// A phrase is common when each word is in at least 1/`COMMON` of the messages.
const COMMON: u64 = 4;

/// A phrase (words with their positions), bounded when all its words are common.
#[derive(Debug, Clone)]
pub struct CommonPhrase {
    terms: Vec<(usize, Term)>,
    inner: PhraseQuery,
    cut: Arc<AtomicBool>,
    budget: u64,
}

impl CommonPhrase {
    /// The phrase of `terms` (position, term; two or more, one field); `cut` is set
    /// when the bound cut a search short.
    pub fn new(terms: Vec<(usize, Term)>, cut: Arc<AtomicBool>) -> CommonPhrase {
        CommonPhrase::with_budget(terms, cut, CANDIDATES)
    }

    /// The same with another bound than [`CANDIDATES`].
    pub fn with_budget(
        terms: Vec<(usize, Term)>,
        cut: Arc<AtomicBool>,
        budget: u64,
    ) -> CommonPhrase {
        CommonPhrase {
            inner: PhraseQuery::new_with_offset(terms.clone()),
            terms,
            cut,
            budget,
        }
    }
}

impl Query for CommonPhrase {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let Some(searcher) = scoring.searcher() else {
            return self.inner.weight(scoring);
        };
        let total = searcher.num_docs();
        let mut common = total > 0;
        for (_, term) in &self.terms {
            common &= searcher.doc_freq(term)? * COMMON >= total;
        }
        if !common {
            return self.inner.weight(scoring);
        }
        let bm25 = match scoring {
            EnableScoring::Enabled {
                statistics_provider,
                ..
            } => {
                let terms: Vec<Term> = self.terms.iter().map(|(_, t)| t.clone()).collect();
                Some(Bm25Weight::for_terms(statistics_provider, &terms)?)
            }
            EnableScoring::Disabled { .. } => None,
        };
        let max_docs = searcher
            .segment_readers()
            .iter()
            .map(|r| u64::from(r.max_doc()))
            .sum();
        Ok(Box::new(BoundedWeight {
            terms: self.terms.clone(),
            budget: self.budget,
            bm25,
            max_docs,
            cut: self.cut.clone(),
            inner: self.inner.weight(scoring)?,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (_, term) in &self.terms {
            visitor(term, true);
        }
    }
}

struct BoundedWeight {
    terms: Vec<(usize, Term)>,
    budget: u64,
    bm25: Option<Bm25Weight>,
    max_docs: u64,
    cut: Arc<AtomicBool>,
    inner: Box<dyn Weight>,
}

impl Weight for BoundedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let field = self.terms[0].1.field();
        let inverted = reader.inverted_index(field)?;
        let mut postings = Vec::with_capacity(self.terms.len());
        for (offset, term) in &self.terms {
            match inverted.read_postings(term, IndexRecordOption::WithFreqsAndPositions)? {
                Some(p) => postings.push((*offset as u32, p)),
                None => return Ok(Box::new(EmptyScorer)),
            }
        }
        let budget = (self.budget * u64::from(reader.max_doc())).div_ceil(self.max_docs.max(1));
        let mut scorer = BoundedScorer {
            positions: vec![Vec::new(); postings.len()],
            postings,
            left: budget.max(1),
            norms: reader.get_fieldnorms_reader(field)?,
            bm25: self.bm25.as_ref().map(|w| w.boost_by(boost)),
            doc: 0,
            count: 0,
            cut: self.cut.clone(),
        };
        scorer.doc = scorer.find(0);
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

struct BoundedScorer {
    /// Each word's postings with its position in the phrase.
    postings: Vec<(u32, SegmentPostings)>,
    positions: Vec<Vec<u32>>,
    /// Candidates it may still check.
    left: u64,
    norms: FieldNormReader,
    bm25: Option<Bm25Weight>,
    doc: DocId,
    /// Times the phrase occurs in `doc`.
    count: u32,
    cut: Arc<AtomicBool>,
}

impl BoundedScorer {
    /// The first document at or after `candidate` holding every word.
    fn align(&mut self, mut candidate: DocId) -> DocId {
        'again: loop {
            for (_, postings) in &mut self.postings {
                let mut doc = postings.doc();
                if doc < candidate {
                    doc = postings.seek(candidate);
                }
                if doc == TERMINATED {
                    return TERMINATED;
                }
                if doc > candidate {
                    candidate = doc;
                    continue 'again;
                }
            }
            return candidate;
        }
    }

    /// How often the phrase occurs in the document all postings are on.
    fn phrase_count(&mut self) -> u32 {
        for ((_, postings), out) in self.postings.iter_mut().zip(&mut self.positions) {
            postings.positions(out);
        }
        let first = self.postings[0].0;
        let mut count = 0;
        'start: for &at in &self.positions[0] {
            for ((offset, _), positions) in self.postings.iter().zip(&self.positions).skip(1) {
                let want = at + (offset - first);
                if positions.binary_search(&want).is_err() {
                    continue 'start;
                }
            }
            count += 1;
        }
        count
    }

    /// The first match at or after `from`, within the budget.
    fn find(&mut self, from: DocId) -> DocId {
        let mut candidate = from;
        loop {
            candidate = self.align(candidate);
            if candidate == TERMINATED {
                return TERMINATED;
            }
            if self.left == 0 {
                self.cut.store(true, Ordering::Relaxed);
                return TERMINATED;
            }
            self.left -= 1;
            let count = self.phrase_count();
            if count > 0 {
                self.count = count;
                return candidate;
            }
            candidate += 1;
        }
    }
}

impl DocSet for BoundedScorer {
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.doc = self.find(self.doc + 1);
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc != TERMINATED && target > self.doc {
            self.doc = self.find(target);
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.postings
            .iter()
            .map(|(_, p)| p.size_hint())
            .min()
            .unwrap_or(0)
    }
}

impl Scorer for BoundedScorer {
    fn score(&mut self) -> Score {
        match &self.bm25 {
            Some(bm25) => bm25.score(self.norms.fieldnorm_id(self.doc), self.count),
            None => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CommonPhrase;
    use crate::event::document::MessageDocument;
    use crate::index::test_index;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tantivy::collector::{Count, TopDocs};
    use tantivy::query::PhraseQuery;
    use tantivy::Term;

    const WORDS: &[&str] = &["to", "the", "a", "budget", "review", "of"];

    /// Common words in random order over several segments with replaced documents:
    /// with room enough, the bounded phrase finds what tantivy's finds, scored the
    /// same; with a small bound, it checks no more than that and says so.
    #[test]
    fn equals_tantivy_within_the_bound_and_stops_at_it() {
        let (_dir, index) = test_index(4, 800, 5, |_, _, rng| {
            let len = rng.usize(2..30);
            let text: Vec<&str> = (0..len).map(|_| WORDS[rng.usize(0..WORDS.len())]).collect();
            MessageDocument {
                id: format!("m{}", rng.usize(0..2_500)),
                kind: "chat".into(),
                text: text.join(" "),
                ..Default::default()
            }
        });
        let searcher = index.reader().unwrap().searcher();
        assert!(searcher.segment_readers().len() > 1);
        let text = index.fields().text;
        for words in [&["to", "the"][..], &["the", "to", "a"], &["of", "of"]] {
            let terms: Vec<(usize, Term)> = words
                .iter()
                .enumerate()
                .map(|(i, w)| (i, Term::from_field_text(text, w)))
                .collect();
            let theirs = PhraseQuery::new_with_offset(terms.clone());
            let cut = Arc::new(AtomicBool::new(false));
            let ours = CommonPhrase::with_budget(terms.clone(), cut.clone(), 1_000_000);
            let matches = searcher.search(&theirs, &Count).unwrap();
            assert!(matches > 20, "{words:?}: {matches}");
            assert_eq!(
                searcher.search(&ours, &Count).unwrap(),
                matches,
                "{words:?}"
            );
            let top = TopDocs::with_limit(50);
            let (a, b) = (
                searcher.search(&ours, &top).unwrap(),
                searcher.search(&theirs, &top).unwrap(),
            );
            let scores = |hits: &[(f32, tantivy::DocAddress)]| -> Vec<i64> {
                hits.iter().map(|h| (h.0 * 1e4).round() as i64).collect()
            };
            assert_eq!(scores(&a), scores(&b), "{words:?}");
            assert!(!cut.load(Ordering::Relaxed));

            let small = CommonPhrase::with_budget(terms, cut.clone(), 40);
            let bounded = searcher.search(&small, &Count).unwrap();
            assert!(
                bounded <= 40 + searcher.segment_readers().len(),
                "{words:?}: {bounded}"
            );
            assert!(bounded > 0);
            assert!(cut.load(Ordering::Relaxed), "{words:?}");
        }
    }
}
