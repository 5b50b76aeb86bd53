//! The message filters `search` and `export` share: space, sender, kind, time range
//! and removal.

use clap::{Args, ValueEnum};

/// `--space`, `--from`, `--kind`, `--since`, `--until`, `--removed`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Filters")]
pub struct FilterArgs {
    /// Only this space (id or title; repeatable).
    #[arg(long, value_name = "ID_OR_TITLE")]
    pub space: Vec<String>,
    /// Only messages from this person (id, name or user name; repeatable).
    #[arg(long, value_name = "PERSON")]
    pub from: Vec<String>,
    /// Only this kind.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Created (with `export --by-modified`: modified) at or after: ISO date-time,
    /// date, or relative (30m, 12h, 7d, 2w ago).
    #[arg(long, value_name = "TIME", value_parser = super::values::time)]
    pub since: Option<i64>,
    /// Created (or modified) before: ISO date-time, date, or relative.
    #[arg(long, value_name = "TIME", value_parser = super::values::time)]
    pub until: Option<i64>,
    /// Removed messages.
    #[arg(long, value_enum, default_value_t = RemovedArg::Include)]
    pub removed: RemovedArg,
}

/// `--kind`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Chat messages.
    Chat,
    /// Posts.
    Post,
    /// Tasks.
    Task,
}

/// `--removed`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RemovedArg {
    /// Removed and present messages.
    Include,
    /// Only messages not removed.
    Exclude,
    /// Only removed messages.
    Only,
}

impl FilterArgs {
    /// `--kind` as the archive names it.
    pub fn kind(&self) -> Option<String> {
        self.kind.map(|k| format!("{k:?}").to_lowercase())
    }
}
