//! `spaces-archive spaces`.

use std::io::Write;

use clap::Args;

use super::{Global, Outcome};
use crate::event::time::format_millis;
use crate::store::read::spaces;

/// Arguments of `spaces`.
#[derive(Debug, Args)]
pub struct SpacesArgs {
    /// Print one JSON object per space.
    #[arg(long)]
    pub json: bool,
}

/// Runs `spaces`.
pub async fn run(global: &Global, args: SpacesArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let list = spaces(&archive).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for space in &list {
            let mut value = serde_json::to_value(space)?;
            value["last_activity"] = space.last_activity.map(format_millis).into();
            writeln!(out, "{value}")?;
        }
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "{:<24}  {:<8}  {:<8}  {:>8}  {:<24}  TITLE",
        "ID", "TYPE", "STATUS", "MESSAGES", "LAST ACTIVITY"
    )?;
    for s in &list {
        writeln!(
            out,
            "{:<24}  {:<8}  {:<8}  {:>8}  {:<24}  {}",
            s.id,
            s.kind.as_deref().unwrap_or("-"),
            if s.archived { "archived" } else { "active" },
            s.messages,
            s.last_activity
                .map(format_millis)
                .unwrap_or_else(|| "-".into()),
            s.title.as_deref().unwrap_or("(untitled)"),
        )?;
    }
    Ok(Outcome::Success)
}
