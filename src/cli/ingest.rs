//! `spaces-archive ingest [FILE…|-]`.

use std::io::{IsTerminal, Write};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Global, Outcome};
use crate::ingest::{ingest, Input, Summary};

/// Arguments of `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files to read (`-` for stdin, the default): JSON lines, one JSON array, one
    /// pretty-printed payload, or socket frames (`42/chat,["MESSAGE_SENT",{…}]`).
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// Print the summary as one JSON object on stdout as well.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ingest`.
pub async fn run(global: &Global, args: IngestArgs) -> anyhow::Result<Outcome> {
    let paths = if args.files.is_empty() {
        vec!["-".to_string()]
    } else {
        args.files
    };
    let mut inputs = Vec::with_capacity(paths.len());
    for path in &paths {
        inputs.push(Input::open(path).map_err(|e| anyhow::anyhow!("cannot open {path}: {e}"))?);
    }
    let archive = global.open().await?;
    let index = global.open_index()?;
    let progress = progress_bar(inputs.iter().map(|i| i.size).sum());
    let summary = ingest(archive.clone(), &index, inputs, progress).await?;
    archive.close().await;
    eprintln!("{}", describe(&summary));
    if args.json {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    }
    Ok(if summary.rejected > 0 {
        Outcome::Rejected
    } else {
        Outcome::Success
    })
}

fn describe(s: &Summary) -> String {
    let mut line = format!(
        "read {}, archived {}, duplicates {}, unknown {}, rejected {}",
        s.read, s.archived, s.duplicates, s.unknown, s.rejected
    );
    if s.ignored > 0 {
        line.push_str(&format!(", ignored frames {}", s.ignored));
    }
    if s.rejected > 0 {
        line.push_str(" (see `spaces-archive stats` and the rejected table)");
    }
    line
}

/// A byte-progress bar when stderr is a terminal, hidden otherwise.
fn progress_bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}
