//! `spaces-archive stats`.

use std::io::Write;

use clap::Args;

use super::{Global, Outcome};
use crate::event::time::format_millis;
use crate::store::file_reads::{file_counts, FileCounts};
use crate::store::read::{stats, Stats};

/// Arguments of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `stats`.
pub async fn run(global: &Global, args: StatsArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let stats = stats(&archive).await?;
    let files = file_counts(&archive).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut json = to_json(&stats);
        json["files"] = files_json(&files);
        writeln!(out, "{json}")?;
    } else {
        write!(out, "{}", to_text(&stats))?;
        write!(out, "{}", files_text(&files))?;
    }
    Ok(Outcome::Success)
}

fn to_json(s: &Stats) -> serde_json::Value {
    let categories: serde_json::Map<String, serde_json::Value> = s
        .categories
        .iter()
        .map(|(c, n)| (c.clone(), (*n).into()))
        .collect();
    serde_json::json!({
        "events": s.events,
        "duplicates": s.duplicates,
        "unknown": s.unknown,
        "rejected": s.rejected,
        "spaces": s.spaces,
        "people": s.people,
        "messages": s.messages,
        "removed": s.removed,
        "versions": s.versions,
        "attachments": s.attachments,
        "membership_changes": s.membership_changes,
        "read_markers": s.read_markers,
        "preferences": s.preferences,
        "categories": categories,
        "first_message": s.first_message.map(format_millis),
        "last_message": s.last_message.map(format_millis),
    })
}

fn files_json(f: &FileCounts) -> serde_json::Value {
    let mut by_status = serde_json::Map::new();
    for (status, n) in &f.by_status {
        by_status.insert(status.as_str().into(), (*n).into());
    }
    serde_json::json!({
        "by_status": by_status,
        "stored_contents": f.contents,
        "stored_bytes": f.bytes,
    })
}

fn files_text(f: &FileCounts) -> String {
    let counts: Vec<String> = f
        .by_status
        .iter()
        .map(|(s, n)| format!("{} {n}", s.as_str()))
        .collect();
    format!(
        "files         {}
file bytes    {} in {} distinct files stored
",
        counts.join(", "),
        f.bytes,
        f.contents
    )
}

fn to_text(s: &Stats) -> String {
    let mut out = format!(
        "events        {}\nduplicates    {}\nunknown       {}\nrejected      {}\nspaces        {}\npeople        {}\n\
         messages      {} (chat {}, post {}, task {})\nremoved       {}\nversions      {}\nattachments   {}\n\
         memberships   {} changes\nread markers  {}\npreferences   {}\n",
        s.events,
        s.duplicates,
        s.unknown,
        s.rejected,
        s.spaces,
        s.people,
        s.messages.chat + s.messages.post + s.messages.task,
        s.messages.chat,
        s.messages.post,
        s.messages.task,
        s.removed,
        s.versions,
        s.attachments,
        s.membership_changes,
        s.read_markers,
        s.preferences,
    );
    if let (Some(first), Some(last)) = (s.first_message, s.last_message) {
        out.push_str(&format!(
            "period        {} .. {}\n",
            format_millis(first),
            format_millis(last)
        ));
    }
    out.push_str("by category:\n");
    for (category, n) in &s.categories {
        out.push_str(&format!("  {n:>10}  {category}\n"));
    }
    out
}
