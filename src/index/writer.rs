//! The index writer: documents replaced by id (`delete_term` + `add_document`, so a
//! message is never indexed twice), committed when the archive writer says so.

use std::collections::HashMap;

use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocSet, IndexWriter, TantivyDocument, TantivyError, Term, TERMINATED};

use super::merge::CappedMerges;
use super::{Fields, IndexError, SearchIndex};
use crate::event::document::MessageDocument;

/// Memory for the writer's in-flight segment. 48 MB keeps `run` and `ingest` well
/// under their 512 MB budgets while making segments of tens of thousands of messages.
const WRITER_MEMORY: usize = 48 << 20;

/// The single writer of an index.
pub struct IndexWriterHandle {
    writer: IndexWriter<TantivyDocument>,
    fields: Fields,
    uncommitted: usize,
}

impl IndexWriterHandle {
    pub(super) fn new(index: &SearchIndex) -> Result<IndexWriterHandle, IndexError> {
        // One indexing thread: the machine's other core decodes payloads and runs SQLite.
        match index.index.writer_with_num_threads(1, WRITER_MEMORY) {
            Ok(writer) => {
                writer.set_merge_policy(Box::new(CappedMerges::default()));
                Ok(IndexWriterHandle {
                    writer,
                    fields: index.fields,
                    uncommitted: 0,
                })
            }
            Err(TantivyError::LockFailure(..)) => Err(IndexError::Busy(index.path.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds a message, replacing any document it had.
    pub fn upsert(&mut self, doc: &MessageDocument) -> Result<(), IndexError> {
        let f = &self.fields;
        self.writer
            .delete_term(Term::from_field_text(f.id, &doc.id));
        let mut d = TantivyDocument::new();
        d.add_text(f.id, &doc.id);
        if let Some(space) = &doc.space_id {
            d.add_text(f.space_id, space);
        }
        if let Some(title) = &doc.space_title {
            d.add_text(f.space, title);
        }
        if let Some(sender) = &doc.sender_id {
            d.add_text(f.sender_id, sender);
        }
        if let Some(name) = &doc.sender_name {
            d.add_text(f.sender, name);
        }
        d.add_text(f.kind, &doc.kind);
        d.add_i64(f.created, doc.created);
        d.add_i64(f.modified, doc.modified);
        d.add_u64(f.removed, u64::from(doc.removed));
        // Earlier text still contained in the current text adds nothing a search of
        // `text` could find, and leaves the message unedited for `--no-in-history`.
        let unshown: Vec<&str> = doc.unshown_history().collect();
        let edited = !unshown.is_empty();
        d.add_u64(f.edited, u64::from(edited));
        let shown: [&str; 4] = [
            &doc.text,
            &doc.description,
            &doc.attachments,
            &doc.file_text,
        ];
        let mut values: Vec<(Field, &str)> = shown.iter().map(|t| (f.text, *t)).collect();
        values.extend(unshown.iter().map(|t| (f.text, *t)));
        values.extend([
            (f.description, doc.description.as_str()),
            (f.attachment, doc.attachments.as_str()),
            (f.attachment, doc.file_text.as_str()),
        ]);
        values.extend(doc.history.iter().map(|t| (f.history, t.as_str())));
        if edited {
            values.extend(shown.iter().map(|t| (f.current, *t)));
        }
        for (field, text) in values {
            if !text.is_empty() {
                d.add_text(field, text);
            }
        }
        self.writer.add_document(d)?;
        self.uncommitted += 1;
        Ok(())
    }

    /// Removes a message's document.
    pub fn delete(&mut self, id: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.fields.id, id));
        self.uncommitted += 1;
    }

    /// Removes every document (before a rebuild).
    pub fn delete_all(&mut self) -> Result<(), IndexError> {
        self.writer.delete_all_documents()?;
        Ok(())
    }

    /// Documents added since the last commit.
    pub fn uncommitted(&self) -> usize {
        self.uncommitted
    }

    /// Makes everything added so far durable and visible to new readers.
    pub fn commit(&mut self) -> Result<(), IndexError> {
        self.writer.commit()?;
        self.uncommitted = 0;
        Ok(())
    }

    /// Waits for background merges to finish (at the end of a bulk job).
    pub fn finish(self) -> Result<(), IndexError> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// Every live document's id with its number of documents, read from the id field's
/// postings (fast: no stored documents are read).
pub(super) fn all_ids(index: &SearchIndex) -> Result<HashMap<String, u32>, IndexError> {
    let searcher = index.reader()?.searcher();
    let mut ids: HashMap<String, u32> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(index.fields.id)?;
        let mut terms = inverted.terms().stream().map_err(TantivyError::from)?;
        while terms.advance() {
            let mut postings = inverted
                .read_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)
                .map_err(TantivyError::from)?;
            let mut live = 0;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if segment
                    .alive_bitset()
                    .is_none_or(|alive| alive.is_alive(doc))
                {
                    live += 1;
                }
                doc = postings.advance();
            }
            if live > 0 {
                *ids.entry(String::from_utf8_lossy(terms.key()).into_owned())
                    .or_default() += live;
            }
        }
    }
    Ok(ids)
}

/// The stored id of a document.
pub(super) fn stored_id(doc: &TantivyDocument, fields: &Fields) -> Option<String> {
    doc.get_first(fields.id)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}
