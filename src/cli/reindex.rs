//! `spaces-archive reindex`: rebuild the search index from SQLite.

use std::io::IsTerminal;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Global, Outcome};
use crate::writer::{IndexCommitPolicy, Indexer};

/// Arguments of `reindex`.
#[derive(Debug, Args)]
pub struct ReindexArgs {}

/// Runs `reindex`.
pub async fn run(global: &Global, _args: ReindexArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    // An index built by another version is dropped here and rebuilt from SQLite.
    let index = crate::index::SearchIndex::open_for_rebuild(&global.data_dir())?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(archive.pool())
        .await?;
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} messages {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let indexer = Indexer::open(archive.clone(), &index, IndexCommitPolicy::default()).await?;
    let done = indexer.rebuild(|n| progress.set_position(n)).await?;
    progress.finish_and_clear();
    archive.close().await;
    eprintln!("reindexed {done} messages");
    Ok(Outcome::Success)
}
