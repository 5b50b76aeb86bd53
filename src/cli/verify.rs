//! `spaces-archive verify`: check the hash chain, its checkpoints, SQLite and the index; exit 1 and list what
//! disagrees.

use clap::Args;

use super::{Global, Outcome};
use crate::verify::{verify, Depth};

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// List at most this many ids per problem.
    #[arg(long, default_value_t = 20)]
    pub show: usize,
    /// SQLite's full `integrity_check` (every index entry against its table row too)
    /// instead of `quick_check`: about twice as long.
    #[arg(long)]
    pub full: bool,
    /// Also hash every stored attachment file again (`files verify`).
    #[arg(long)]
    pub files: bool,
}

fn list(title: &str, items: &[String], show: usize) {
    if items.is_empty() {
        return;
    }
    eprintln!("{title}: {}", items.len());
    for item in items.iter().take(show) {
        eprintln!("  {item}");
    }
    if items.len() > show {
        eprintln!("  … and {} more", items.len() - show);
    }
}

/// Runs `verify`.
pub async fn run(global: &Global, args: VerifyArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let index = global.open_index()?;
    let depth = if args.full { Depth::Full } else { Depth::Quick };
    let report = verify(&archive, &index, depth).await?;
    let chain = &report.chain;
    list("the hash chain breaks", &chain.breaks, args.show);
    if chain.more_breaks > 0 {
        eprintln!("  … and {} more breaks", chain.more_breaks);
    }
    list("checkpoint problems", &chain.checkpoint_problems, args.show);
    list("SQLite integrity problems", &report.integrity, args.show);
    list("foreign-key violations", &report.foreign_keys, args.show);
    list(
        "messages missing from the index",
        &report.missing,
        args.show,
    );
    let duplicated: Vec<String> = report
        .duplicated
        .iter()
        .map(|(id, n)| format!("{id} ({n} documents)"))
        .collect();
    list("messages indexed more than once", &duplicated, args.show);
    list(
        "index documents for messages not in the archive",
        &report.orphaned,
        args.show,
    );
    if report.pending > 0 {
        eprintln!(
            "{} messages wait in the index outbox (indexed when ingest or run next starts)",
            report.pending
        );
    }
    let files_ok = if args.files {
        super::files::verify(global).await?.problems.is_empty()
    } else {
        true
    };
    if report.is_ok() && files_ok {
        let signed = match &chain.latest {
            Some(c) => format!(
                "{} checkpoints signed, the latest at seq {} ({} payloads since)",
                chain.checkpoints, c.seq, chain.unsigned
            ),
            None => "no checkpoint yet".to_string(),
        };
        eprintln!(
            "ok: {} messages, SQLite intact, every message indexed exactly once; {} payloads \
             and {} rejected inputs chained ({} purged, by tombstone), {signed}",
            report.messages, chain.payloads, chain.rejected, chain.tombstones
        );
        Ok(Outcome::Success)
    } else if !chain.is_ok() {
        eprintln!("verify failed: the archive's stored payloads or checkpoints were altered");
        Ok(Outcome::Failure)
    } else if !report.is_ok() {
        eprintln!("verify failed (`spaces-archive reindex` rebuilds the index from SQLite)");
        Ok(Outcome::Failure)
    } else {
        eprintln!("verify failed: stored files are altered or missing");
        Ok(Outcome::Failure)
    }
}
