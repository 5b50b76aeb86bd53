//! Which segments the index writer merges: tantivy's log-structured policy, with no
//! merge allowed to produce more than [`MAX_MERGED_DOCS`] documents.
//!
//! A merge reads its inputs through memory maps, so every page of them counts in the
//! process's resident memory until the inputs are deleted. tantivy's own bound
//! (`max_docs_before_merge`) only keeps large segments out of a merge: eight segments
//! under it still merged into one of 740,000 documents at a million messages, and
//! mapping those inputs took `ingest` from about 330 MB to 525 MB for the few seconds
//! of the merge, over its 512 MB budget.

use tantivy::index::SegmentMeta;
use tantivy::indexer::{LogMergePolicy, MergeCandidate, MergePolicy};

/// Most documents a merge may produce. A segment this size maps about 60 MB of index
/// files at the generator's message sizes; a million messages end up in about a dozen
/// segments, which a search visits on both cores.
pub const MAX_MERGED_DOCS: u32 = 250_000;

/// tantivy's [`LogMergePolicy`] with each of its merges split into merges of at most
/// `max_docs` documents; a segment left alone in its part is not merged.
#[derive(Debug)]
pub struct CappedMerges {
    log: LogMergePolicy,
    max_docs: u32,
}

impl CappedMerges {
    /// Merges producing at most `max_docs` documents.
    pub fn new(max_docs: u32) -> CappedMerges {
        let mut log = LogMergePolicy::default();
        log.set_max_docs_before_merge(max_docs as usize);
        CappedMerges { log, max_docs }
    }
}

impl Default for CappedMerges {
    fn default() -> Self {
        CappedMerges::new(MAX_MERGED_DOCS)
    }
}

impl MergePolicy for CappedMerges {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let docs = |id| {
            segments
                .iter()
                .find(|s| s.id() == id)
                .map_or(0, SegmentMeta::num_docs)
        };
        let mut merges = Vec::new();
        for candidate in self.log.compute_merge_candidates(segments) {
            let mut sized: Vec<_> = candidate.0.into_iter().map(|id| (docs(id), id)).collect();
            // Smallest first, so the small segments are packed together.
            sized.sort_unstable_by_key(|&(n, _)| n);
            let mut part = Vec::new();
            let mut total = 0u32;
            for (n, id) in sized {
                if !part.is_empty() && total.saturating_add(n) > self.max_docs {
                    merges.push(std::mem::take(&mut part));
                    total = 0;
                }
                part.push(id);
                total = total.saturating_add(n);
            }
            merges.push(part);
        }
        merges
            .into_iter()
            .filter(|part| part.len() >= 2)
            .map(MergeCandidate)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::index::SegmentId;
    use tantivy::schema::Schema;
    use tantivy::Index;

    fn segments(docs: &[u32]) -> Vec<SegmentMeta> {
        let index = Index::create_in_ram(Schema::builder().build());
        docs.iter()
            .map(|&n| index.new_segment_meta(SegmentId::generate_random(), n))
            .collect()
    }

    /// Documents of each merge, smallest merge first.
    fn merged(policy: &CappedMerges, metas: &[SegmentMeta]) -> Vec<u32> {
        let mut sizes: Vec<u32> = policy
            .compute_merge_candidates(metas)
            .iter()
            .map(|c| {
                c.0.iter()
                    .map(|id| metas.iter().find(|m| m.id() == *id).unwrap().num_docs())
                    .sum()
            })
            .collect();
        sizes.sort_unstable();
        sizes
    }

    #[test]
    fn no_merge_produces_more_than_the_cap() {
        let policy = CappedMerges::new(250_000);
        // Eight segments under tantivy's bound: it alone merges them into 736,000.
        let metas = segments(&[92_000; 8]);
        let mut log = LogMergePolicy::default();
        log.set_max_docs_before_merge(250_000);
        assert_eq!(log.compute_merge_candidates(&metas).len(), 1);
        assert_eq!(merged(&policy, &metas), [184_000; 4]);

        // Eight of a level: packed into merges of at most 250,000 documents each.
        let metas = segments(&[70_000; 8]);
        assert_eq!(merged(&policy, &metas), [140_000, 210_000, 210_000]);

        // Small segments still merge as tantivy would merge them.
        let metas = segments(&[1_000; 8]);
        assert_eq!(merged(&policy, &metas), [8_000]);
    }

    #[test]
    fn a_segment_alone_in_its_part_is_left_as_it_is() {
        let policy = CappedMerges::new(250_000);
        let metas = segments(&[
            200_000, 200_000, 200_000, 200_000, 200_000, 200_000, 200_000, 200_000,
        ]);
        assert!(merged(&policy, &metas).is_empty());
    }
}
