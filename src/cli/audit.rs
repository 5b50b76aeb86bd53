//! `spaces-archive audit`: read the audit log (`--user`, `--action`, `--since`,
//! `--json`), and `audit verify` to check its chain (exit 1 naming the first row
//! that was removed or altered).

use clap::{Args, Subcommand};

use super::search::bad_usage;
use super::{Global, Outcome};
use crate::audit::{AuditDb, AuditFilter};
use crate::event::time::{now_millis, parse_time_arg};

/// Arguments of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// `verify`, or nothing to list.
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only this user (an account name, or `os:NAME` for the CLI).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only this action (login, login_failed, logout, search, view_conversation,
    /// view_message, view_space, download_file, export, download_export,
    /// view_audit, user_add, user_passwd, user_remove).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// At or after: ISO date-time, date, or relative (30m, 12h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// At most this many rows, newest first.
    #[arg(long, value_name = "N")]
    pub limit: Option<i64>,
    /// One JSON object per row.
    #[arg(long)]
    pub json: bool,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain; exit 1 naming the first removed or altered row.
    Verify,
}

/// Runs `audit`.
pub async fn run(global: &Global, args: AuditArgs) -> anyhow::Result<Outcome> {
    let path = global.audit_path();
    if !path.exists() {
        eprintln!("no audit log yet at {}", path.display());
        return Ok(match args.command {
            Some(AuditCommand::Verify) => Outcome::Success,
            None => Outcome::Success,
        });
    }
    let audit = AuditDb::open_file(&path).await?;
    if let Some(AuditCommand::Verify) = args.command {
        let outcome = match audit.verify().await? {
            Ok(rows) => {
                println!("{}: ok, {rows} rows chained", path.display());
                Outcome::Success
            }
            Err(broken) => {
                eprintln!(
                    "{}: the chain breaks at row {}: {}",
                    path.display(),
                    broken.seq,
                    broken.reason
                );
                Outcome::Failure
            }
        };
        audit.close().await;
        return Ok(outcome);
    }
    let since = match &args.since {
        None => None,
        Some(text) => match parse_time_arg(text, now_millis()) {
            Some(ms) => Some(ms),
            None => {
                return bad_usage(&format!(
                    "--since {text:?} is not a time (use 2024-05-01, 7d, 12h)"
                ))
            }
        },
    };
    let rows = audit
        .list(&AuditFilter {
            user: args.user.clone(),
            action: args.action.clone(),
            since,
            until: None,
            limit: args.limit,
            offset: 0,
        })
        .await?;
    for row in rows.iter().rev() {
        if args.json {
            println!("{}", serde_json::to_string(row)?);
        } else {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                row.seq,
                crate::event::time::format_millis(row.at),
                row.user,
                row.address,
                row.action,
                row.detail
            );
        }
    }
    audit.close().await;
    Ok(Outcome::Success)
}
