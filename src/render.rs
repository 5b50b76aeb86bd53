//! Rendering search results: a human listing (time, space, sender, kind, marks and a
//! snippet with the matched terms highlighted, in colour on a terminal) or one JSON
//! object per hit; and the messages shown around a hit (`search --context`).

use serde_json::json;

use crate::event::time::format_millis;
use crate::search::{SearchHit, Snippet};
use crate::store::context::{Context, ContextRow};

const BOLD_RED: &str = "\x1b[1;31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Longest text of a context line, in characters.
const CONTEXT_CHARS: usize = 160;

/// One hit as a JSON object.
pub fn hit_json(hit: &SearchHit) -> serde_json::Value {
    let r = &hit.row;
    json!({
        "id": r.id,
        "space_id": r.space_id,
        "space_title": r.space_title,
        "kind": r.kind,
        "sender_id": r.sender_id,
        "sender_name": r.sender_name,
        "created": r.created.map(format_millis),
        "modified": r.modified.map(format_millis),
        "removed": r.removed_at.is_some(),
        "removed_at": r.removed_at.map(format_millis),
        "edited": r.versions > 1,
        "text": r.text,
        "snippet": hit.snippet.text,
        "highlights": hit.snippet.highlights.iter().map(|h| [h.start, h.end]).collect::<Vec<_>>(),
        "matched_in": hit.snippet.source,
        "score": hit.score,
    })
}

/// The messages around a hit as JSON: `{"before": [...], "after": [...]}`.
pub fn context_json(context: &Context) -> serde_json::Value {
    let row = |r: &ContextRow| {
        json!({
            "id": r.id,
            "created": format_millis(r.created),
            "sender": r.sender_name.as_deref().or(r.sender_id.as_deref()),
            "text": r.text,
            "removed": r.removed,
        })
    };
    json!({
        "before": context.before.iter().map(row).collect::<Vec<_>>(),
        "after": context.after.iter().map(row).collect::<Vec<_>>(),
    })
}

/// A message around a hit as one line, indented by two spaces (dim in colour):
/// time, sender, `[removed]` when it was, and its text on one line.
pub fn context_text(row: &ContextRow, color: bool) -> String {
    let sender = row
        .sender_name
        .as_deref()
        .or(row.sender_id.as_deref())
        .unwrap_or("(unknown sender)");
    let mark = if row.removed { " [removed]" } else { "" };
    let mut text: String = row.text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = text.char_indices().nth(CONTEXT_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    let line = format!("{}  {sender}{mark}: {text}", format_millis(row.created));
    if color {
        format!("  {DIM}{line}{RESET}\n")
    } else {
        format!("  {line}\n")
    }
}

/// One hit as two lines of text.
pub fn hit_text(hit: &SearchHit, color: bool) -> String {
    let r = &hit.row;
    let time = r
        .created
        .map(format_millis)
        .unwrap_or_else(|| "(time unknown)".into());
    let mut marks = String::new();
    if let Some(at) = r.removed_at {
        marks.push_str(&format!(" [removed {}]", format_millis(at)));
    }
    if r.versions > 1 {
        marks.push_str(" [edited]");
    }
    if hit.snippet.source == "attachment" {
        marks.push_str(" [matched inside an attachment]");
    }
    if hit.snippet.source == "history" {
        marks.push_str(" [matched an earlier version]");
    }
    let header = format!(
        "{time}  {}  ·  {}  ·  {}{marks}  {}",
        r.space_title.as_deref().unwrap_or("(untitled space)"),
        r.sender_name
            .as_deref()
            .or(r.sender_id.as_deref())
            .unwrap_or("(unknown sender)"),
        r.kind,
        r.id,
    );
    let header = if color {
        format!("{DIM}{header}{RESET}")
    } else {
        header
    };
    format!("{header}\n    {}\n", highlight(&hit.snippet, color))
}

/// The snippet with matches in bold red, or between `[` `]` without colour.
pub fn highlight(snippet: &Snippet, color: bool) -> String {
    let (open, close) = if color { (BOLD_RED, RESET) } else { ("[", "]") };
    let text = &snippet.text;
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for range in &snippet.highlights {
        if range.start < at
            || range.end > text.len()
            || !text.is_char_boundary(range.start)
            || !text.is_char_boundary(range.end)
        {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str(open);
        out.push_str(&text[range.clone()]);
        out.push_str(close);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_ranges() {
        let snippet = Snippet {
            text: "the café opens".into(),
            highlights: std::iter::once(4..9).collect(),
            source: "text",
        };
        assert_eq!(highlight(&snippet, false), "the [café] opens");
        assert_eq!(highlight(&snippet, true), "the \x1b[1;31mcafé\x1b[0m opens");
        let bad = Snippet {
            text: "abc".into(),
            highlights: std::iter::once(2..9).collect(),
            source: "text",
        };
        assert_eq!(highlight(&bad, false), "abc");
    }

    #[test]
    fn context_lines() {
        let row = ContextRow {
            id: "m1".into(),
            created: 1_594_857_600_000,
            sender_id: Some("u1".into()),
            sender_name: None,
            text: "two\nlines ".repeat(40),
            removed: true,
        };
        let line = context_text(&row, false);
        assert!(
            line.starts_with("  2020-07-16T00:00:00.000Z  u1 [removed]: two lines two"),
            "{line}"
        );
        assert!(line.ends_with("…\n") && line.lines().count() == 1, "{line}");
        assert!(context_text(&row, true).starts_with("  \x1b[2m2020"));
        let json = context_json(&Context {
            before: vec![row],
            after: vec![],
        });
        assert_eq!(json["before"][0]["sender"], "u1");
        assert_eq!(json["before"][0]["removed"], true);
        assert_eq!(json["after"], serde_json::json!([]));
    }
}
