//! `spaces-archive search QUERY…`: the hits, and with `--context N` the messages around
//! each in its space.

use std::io::{IsTerminal, Write};

use clap::{Args, ValueEnum};

use super::filters::{FilterArgs, RemovedArg};
use super::{Global, Outcome};
use crate::index::{RemovedFilter, Sort};
use crate::render::{context_json, context_text, hit_json, hit_text};
use crate::search::{search, SearchError, SearchHit, SearchOptions};
use crate::store::context::{around, Context};
use crate::store::Archive;

/// Arguments of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query: words (all must match), "a phrase", AND / OR, -word, field:value
    /// (text, description, attachment, history, space, sender, kind, id, space_id,
    /// sender_id), prefix*. Flags go before it (or after it; all words after `--`
    /// are query words).
    ///
    /// Its words are joined with single spaces: `search budget AND forecast` is
    /// `search "budget AND forecast"`. A word may start with `-`: `search -spam
    /// budget`. The flags of `search` written after the query are taken as flags;
    /// to search for such a word, put the query after `--`.
    #[arg(value_name = "QUERY", required = true, num_args = 1.., trailing_var_arg = true,
          allow_hyphen_values = true)]
    pub query: Vec<String>,
    /// Which messages.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Also match earlier versions (text that was edited away or removed): the
    /// default.
    #[arg(long, overrides_with = "no_in_history", help_heading = "Filters")]
    pub in_history: bool,
    /// Match only the current text of each message.
    #[arg(long, overrides_with = "in_history", help_heading = "Filters")]
    pub no_in_history: bool,
    /// Result order.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance, help_heading = "Output")]
    pub sort: SortArg,
    /// At most this many results.
    #[arg(long, default_value_t = 20, help_heading = "Output")]
    pub limit: usize,
    /// Skip this many results.
    #[arg(long, default_value_t = 0, help_heading = "Output")]
    pub offset: usize,
    /// Also show the N messages before and the N after each hit in its space (by
    /// creation time), like `grep -C`.
    #[arg(long, default_value_t = 0, value_name = "N", help_heading = "Output")]
    pub context: usize,
    /// One JSON object per hit.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Colour: auto (when stdout is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, help_heading = "Output")]
    pub color: ColorArg,
}

impl SearchArgs {
    /// The query, its words joined with single spaces.
    pub fn query_text(&self) -> String {
        self.query.join(" ")
    }
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
    let query = args.query_text();
    let options = SearchOptions {
        query: query.clone(),
        kind: args.filters.kind(),
        spaces: args.filters.space,
        from: args.filters.from,
        since: args.filters.since,
        until: args.filters.until,
        removed: match args.filters.removed {
            RemovedArg::Include => RemovedFilter::Include,
            RemovedArg::Exclude => RemovedFilter::Exclude,
            RemovedArg::Only => RemovedFilter::Only,
        },
        in_history: !args.no_in_history,
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
                .map(|p| format!("\n  {query}\n  {}^", " ".repeat(p)))
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
    for (n, hit) in hits.iter().enumerate() {
        let context = context_of(&archive, hit, args.context).await?;
        if args.json {
            let mut object = hit_json(hit);
            if args.context > 0 {
                object["context"] = context_json(&context);
            }
            writeln!(out, "{object}")?;
            continue;
        }
        if args.context > 0 && n > 0 {
            writeln!(out, "--")?;
        }
        for row in &context.before {
            write!(out, "{}", context_text(row, color))?;
        }
        write!(out, "{}", hit_text(hit, color))?;
        for row in &context.after {
            write!(out, "{}", context_text(row, color))?;
        }
    }
    if !args.json && hits.is_empty() {
        eprintln!("no messages match");
    }
    Ok(Outcome::Success)
}

/// The `n` messages before and after a hit in its space; none for a message
/// without a space or a creation time.
async fn context_of(archive: &Archive, hit: &SearchHit, n: usize) -> anyhow::Result<Context> {
    let row = &hit.row;
    match (&row.space_id, row.created) {
        (Some(space), Some(created)) if n > 0 => {
            Ok(around(archive, space, created, &row.id, n).await?)
        }
        _ => Ok(Context::default()),
    }
}
