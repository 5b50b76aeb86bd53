//! `spaces-archive purge --before DATE [--space …] [--dry-run]`: removes message
//! content created before the date, except what a legal hold covers; audited.

use clap::Args;
use serde_json::json;

use super::{Global, Outcome};
use crate::retention::purge::{plan, PurgeReport, Rule};
use crate::store::lookup;
use crate::writer::ArchiveWriter;

/// Arguments of `purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Purge messages created before this: ISO date-time, date, or relative (400d).
    #[arg(long, value_name = "TIME", value_parser = super::values::time)]
    pub before: i64,
    /// Only this space (id or title; repeatable).
    #[arg(long, value_name = "ID_OR_TITLE")]
    pub space: Vec<String>,
    /// Count what would go, per space, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Why (recorded in each tombstone and the audit log).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The counts as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `purge`.
pub async fn run(global: &Global, args: PurgeArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let mut spaces = Vec::new();
    for given in &args.space {
        let ids = lookup::space_ids(&archive, given).await?;
        if ids.is_empty() {
            eprintln!("error: no space matches --space {given:?}");
            return Ok(Outcome::BadUsage);
        }
        spaces.extend(ids);
    }
    let rules = [Rule {
        before: args.before,
        spaces: (!args.space.is_empty()).then_some(spaces),
    }];
    let before = crate::event::time::format_millis(args.before);
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| format!("purge --before {before}"));
    let report = if args.dry_run {
        let mut conn = archive.pool().acquire().await?;
        plan(&mut conn, &rules).await?
    } else {
        let index = global.open_index().map_err(|e| {
            anyhow::anyhow!(
                "{e:#} (a purge changes the index: while `run` writes this archive, purge \
                 with `run --retention DAYS`, or stop `run`, purge, and start it again)"
            )
        })?;
        let mut writer = ArchiveWriter::open(archive.clone(), &index, Default::default()).await?;
        let report = writer.purge(&rules, &reason).await?;
        writer.finish().await?;
        report
    };
    let totals = report.totals();
    global
        .audit(
            if args.dry_run {
                "purge.dry_run"
            } else {
                "purge"
            },
            json!({ "before": before, "space": args.space, "reason": reason,
                    "purged": totals.purged, "held": totals.held, "payloads": totals.payloads,
                    "files": totals.files }),
        )
        .await;
    print(&archive, &report, &args).await?;
    archive.close().await;
    Ok(Outcome::Success)
}

async fn print(
    archive: &crate::store::Archive,
    report: &PurgeReport,
    args: &PurgeArgs,
) -> anyhow::Result<()> {
    let totals = report.totals();
    if args.json {
        println!(
            "{}",
            json!({ "dry_run": args.dry_run, "spaces": report.spaces, "totals": totals })
        );
        return Ok(());
    }
    let verb = if args.dry_run {
        "would purge"
    } else {
        "purged"
    };
    for (space, c) in &report.spaces {
        let title: Option<String> = sqlx::query_scalar("SELECT title FROM spaces WHERE id = ?")
            .bind(space)
            .fetch_optional(archive.pool())
            .await?
            .flatten();
        println!(
            "{space}\t{}\t{verb} {} messages ({} payloads, {} files), {} kept under hold",
            title.unwrap_or_default(),
            c.purged,
            c.payloads,
            c.files,
            c.held
        );
    }
    println!(
        "total: {verb} {} messages ({} payloads, {} files), {} kept under hold",
        totals.purged, totals.payloads, totals.files, totals.held
    );
    Ok(())
}
