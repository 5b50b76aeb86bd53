//! The message filters `search` and `export` share: space, sender, kind, time range
//! and removal.

use clap::{Args, ValueEnum};

use crate::event::time::{now_millis, parse_time_arg};

/// `--space`, `--from`, `--kind`, `--since`, `--until`, `--removed`.
#[derive(Debug, Args)]
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
    /// date, or relative (30m, 12h, 7d, 2w).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Created (or modified) before: ISO date-time, date, or relative.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
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
    /// `--since` and `--until` as UTC ms, or what is wrong with them.
    pub fn times(&self) -> Result<(Option<i64>, Option<i64>), String> {
        Ok((
            time_arg("--since", &self.since)?,
            time_arg("--until", &self.until)?,
        ))
    }

    /// `--kind` as the archive names it.
    pub fn kind(&self) -> Option<String> {
        self.kind.map(|k| format!("{k:?}").to_lowercase())
    }
}

fn time_arg(name: &str, value: &Option<String>) -> Result<Option<i64>, String> {
    match value {
        None => Ok(None),
        Some(text) => parse_time_arg(text, now_millis()).map(Some).ok_or_else(|| {
            format!("{name} {text:?} is not a time (use 2024-05-01, 2024-05-01T12:00:00Z, 7d, 12h)")
        }),
    }
}
