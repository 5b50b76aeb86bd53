//! `spaces-archive search QUERY`.

use std::io::{IsTerminal, Write};

use clap::{Args, ValueEnum};

use super::filters::{FilterArgs, RemovedArg};
use super::{Global, Outcome};
use crate::index::{RemovedFilter, Sort};
use crate::render::{hit_json, hit_text};
use crate::search::{search, SearchError, SearchOptions};

/// Arguments of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query: words (all must match), "a phrase", AND / OR, -word, field:value
    /// (text, description, attachment, history, space, sender, kind, id, space_id,
    /// sender_id), prefix*.
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// Which messages.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Also match earlier versions (text that was edited away or removed).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    pub in_history: bool,
    /// Result order.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    pub sort: SortArg,
    /// At most this many results.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Skip this many results.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// One JSON object per hit.
    #[arg(long)]
    pub json: bool,
    /// Colour: auto (when stdout is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

/// `--sort`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    /// Best match first.
    Relevance,
    /// Newest first.
    Newest,
    /// Oldest first.
    Oldest,
}

/// `--color`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorArg {
    /// When stdout is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

pub(super) fn bad_usage(message: &str) -> anyhow::Result<Outcome> {
    eprintln!("error: {message}");
    Ok(Outcome::BadUsage)
}

/// Runs `search`.
pub async fn run(global: &Global, args: SearchArgs) -> anyhow::Result<Outcome> {
    let (since, until) = match args.filters.times() {
        Ok(times) => times,
        Err(e) => return bad_usage(&e),
    };
    let options = SearchOptions {
        query: args.query.clone(),
        kind: args.filters.kind(),
        spaces: args.filters.space,
        from: args.filters.from,
        since,
        until,
        removed: match args.filters.removed {
            RemovedArg::Include => RemovedFilter::Include,
            RemovedArg::Exclude => RemovedFilter::Exclude,
            RemovedArg::Only => RemovedFilter::Only,
        },
        in_history: args.in_history,
        sort: match args.sort {
            SortArg::Relevance => Sort::Relevance,
            SortArg::Newest => Sort::Newest,
            SortArg::Oldest => Sort::Oldest,
        },
        limit: args.limit,
        offset: args.offset,
    };
    let archive = global.open().await?;
    let index = global.open_index()?;
    let hits = match search(&archive, &index, &options).await {
        Ok(hits) => hits,
        Err(SearchError::Query(e)) => {
            let caret = e
                .position
                .map(|p| format!("\n  {}\n  {}^", args.query, " ".repeat(p)))
                .unwrap_or_default();
            return bad_usage(&format!("bad query: {}{caret}", e.message));
        }
        Err(SearchError::Filter(message)) => return bad_usage(&message),
        Err(e) => return Err(e.into()),
    };
    global
        .audit(
            "search",
            serde_json::json!({"query": args.query, "spaces": options.spaces, "from": options.from,
                "kind": options.kind, "since": options.since, "until": options.until,
                "hits": hits.len(), "limit": options.limit, "offset": options.offset}),
        )
        .await;
    let color = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal(),
    };
    let mut out = std::io::stdout().lock();
    for hit in &hits {
        if args.json {
            writeln!(out, "{}", hit_json(hit))?;
        } else {
            write!(out, "{}", hit_text(hit, color))?;
        }
    }
    if !args.json && hits.is_empty() {
        eprintln!("no messages match");
    }
    Ok(Outcome::Success)
}
