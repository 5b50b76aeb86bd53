//! The `text/plain` body of an `.rsmf`: the slice as a person reads it (review
//! platforms index this body), one message after another with its time, sender,
//! kind, text, changes, removal and attachments.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::slice::{Slice, SliceEvent};
use crate::export::parsed::{MessageIn, PersonIn};

/// `2020-07-10T11:24:13.654Z` as `2020-07-10 11:24:13 UTC`.
pub fn readable_time(time: Option<&str>) -> String {
    match time {
        Some(t) if t.len() >= 19 => format!("{} {} UTC", &t[..10], &t[11..19]),
        Some(t) => t.to_string(),
        None => "(time unknown)".to_string(),
    }
}

fn who(person: Option<&PersonIn>) -> &str {
    person.map_or("(unknown)", PersonIn::display)
}

/// The body of `slice`.
pub fn body(slice: &Slice) -> String {
    let mut out = String::new();
    let space = &slice.space;
    let _ = writeln!(out, "Avaya Spaces: {} ({})", space.display(), space.id);
    let messages = slice.messages().count();
    let _ = writeln!(
        out,
        "{} to {}: {messages} messages, {} joins and leaves",
        readable_time(slice.begin()),
        readable_time(slice.end()),
        slice.events.len() - messages
    );
    let firsts: HashMap<&str, String> = slice
        .messages()
        .map(|m| (m.id.as_str(), first_words(&m.text)))
        .collect();
    for event in &slice.events {
        out.push('\n');
        match event {
            SliceEvent::Message(m) => message(&mut out, m, &firsts),
            SliceEvent::Membership(c) => {
                let verb = if c.change == "leave" {
                    "left"
                } else {
                    "joined"
                };
                let _ = writeln!(
                    out,
                    "{}  {} {verb} the space{}",
                    readable_time(c.time()),
                    c.person.display(),
                    c.role
                        .as_deref()
                        .map(|r| format!(" (as {r})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    out
}

fn message(out: &mut String, m: &MessageIn, firsts: &HashMap<&str, String>) {
    let mut head = format!("{}  {}", readable_time(m.time()), who(m.sender.as_ref()));
    match m.kind.as_str() {
        "chat" => {}
        kind => {
            let _ = write!(head, "  [{kind}");
            if let Some(task) = &m.task {
                if let Some(status) = &task.status {
                    let _ = write!(head, ", {status}");
                }
                if let Some(due) = &task.due {
                    let _ = write!(head, ", due {}", readable_time(Some(due)));
                }
            }
            head.push(']');
        }
    }
    if let Some(parent) = &m.parent_id {
        match firsts.get(parent.as_str()) {
            Some(words) => {
                let _ = write!(head, "  (reply to \"{words}\")");
            }
            None => {
                let _ = write!(head, "  (reply to message {parent})");
            }
        }
    }
    let _ = writeln!(out, "{head}");
    for line in m.body().lines() {
        let _ = writeln!(out, "    {line}");
    }
    let edits = m.versions.len().saturating_sub(1);
    if edits > 0 {
        let _ = writeln!(
            out,
            "    (changed {edits} time{} after it was sent; last {})",
            if edits == 1 { "" } else { "s" },
            readable_time(m.modified.as_deref())
        );
    }
    if !m.assignees.is_empty() {
        let names: Vec<&str> = m.assignees.iter().map(PersonIn::display).collect();
        let _ = writeln!(out, "    (assigned to {})", names.join(", "));
    }
    for a in &m.attachments {
        let _ = writeln!(
            out,
            "    [attachment] {}{}{}",
            a.display(),
            a.size.map(|s| format!(", {s} bytes")).unwrap_or_default(),
            if a.stored_sha256().is_some() {
                ""
            } else {
                " (bytes not stored)"
            }
        );
    }
    if let Some(removed) = &m.removed {
        let _ = writeln!(
            out,
            "    (REMOVED {} by {}; the text above is its last)",
            readable_time(removed.at.as_deref()),
            who(removed.by.as_ref())
        );
    }
}

/// The first words of a text, for naming a reply's post.
fn first_words(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut words: String = line.chars().take(60).collect();
    if words.len() < line.len() {
        words.push('…');
    }
    words
}
