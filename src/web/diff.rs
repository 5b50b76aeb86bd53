//! What changed between two versions of a text: a word diff (words and the space
//! between them are the units), as runs of kept, inserted and deleted text.

use similar::{ChangeTag, TextDiff};

/// A run of the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `same`, `ins` or `del`.
    pub tag: &'static str,
    /// The text.
    pub text: String,
}

/// The word diff from `old` to `new`, adjacent runs of one kind merged.
pub fn words(old: &str, new: &str) -> Vec<Run> {
    let diff = TextDiff::from_words(old, new);
    let mut runs: Vec<Run> = Vec::new();
    for change in diff.iter_all_changes() {
        let tag = match change.tag() {
            ChangeTag::Equal => "same",
            ChangeTag::Insert => "ins",
            ChangeTag::Delete => "del",
        };
        match runs.last_mut() {
            Some(last) if last.tag == tag => last.text.push_str(change.value()),
            _ => runs.push(Run {
                tag,
                text: change.value().to_string(),
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_word_is_deleted_and_inserted() {
        let runs = words("ship on Friday", "ship on Monday");
        let del: String = runs
            .iter()
            .filter(|r| r.tag == "del")
            .map(|r| r.text.as_str())
            .collect();
        let ins: String = runs
            .iter()
            .filter(|r| r.tag == "ins")
            .map(|r| r.text.as_str())
            .collect();
        assert_eq!(del, "Friday");
        assert_eq!(ins, "Monday");
        let same: String = runs
            .iter()
            .filter(|r| r.tag != "ins")
            .map(|r| r.text.as_str())
            .collect();
        assert_eq!(same, "ship on Friday");
    }

    #[test]
    fn equal_texts_are_one_run() {
        assert_eq!(words("a b", "a b").len(), 1);
        assert!(words("", "").is_empty());
    }
}
