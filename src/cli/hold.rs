//! `spaces-archive hold add NAME … --reason TEXT`, `hold list [--json]`,
//! `hold release NAME`: legal holds, each recorded in the audit log.

use clap::{Args, Subcommand};
use serde_json::json;

use super::users::os_user;
use super::{Global, Outcome};
use crate::event::time::format_millis;
use crate::retention::holds::{add, list, release, NewHold};
use crate::retention::RetentionError;

/// Arguments of `hold`.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: HoldCommand,
}

/// The `hold` subcommands.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a hold: matching messages are never purged while it is active.
    Add {
        /// Its name (unique for good: holds are never deleted).
        name: String,
        /// Only this space (id or title; repeatable).
        #[arg(long, value_name = "ID_OR_TITLE")]
        space: Vec<String>,
        /// Only messages from this person (id, name or user name; repeatable).
        #[arg(long, value_name = "PERSON")]
        from: Vec<String>,
        /// Messages created at or after: ISO date-time, date, or relative.
        #[arg(long, value_name = "TIME", value_parser = super::values::time)]
        since: Option<i64>,
        /// Messages created before: ISO date-time, date, or relative.
        #[arg(long, value_name = "TIME", value_parser = super::values::time)]
        until: Option<i64>,
        /// Why (the matter, the request).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// List every hold, active and released.
    List {
        /// As JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Release a hold (recorded; it stays listed).
    Release {
        /// Its name.
        name: String,
    },
}

/// Runs `hold`.
pub async fn run(global: &Global, args: HoldArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let outcome = match args.command {
        HoldCommand::Add {
            name,
            space,
            from,
            since,
            until,
            reason,
        } => {
            let new = NewHold {
                name,
                spaces: space,
                from,
                since,
                until,
                reason,
                by: os_user(),
            };
            match add(&archive, &new).await {
                Ok(hold) => {
                    global
                        .audit("hold.add", json!({ "hold": hold.name, "reason": hold.reason,
                            "criteria": hold.criteria, "spaces": hold.spaces, "senders": hold.senders }))
                        .await;
                    println!("hold {:?} placed", hold.name);
                    Outcome::Success
                }
                Err(e) => usage(e)?,
            }
        }
        HoldCommand::List { json } => {
            for hold in list(&archive).await? {
                if json {
                    println!("{}", serde_json::to_string(&hold)?);
                    continue;
                }
                let state = match hold.released_at {
                    Some(at) => format!(
                        "released {} by {}",
                        format_millis(at),
                        hold.released_by.as_deref().unwrap_or("?")
                    ),
                    None => "active".into(),
                };
                println!(
                    "{}\t{state}\tplaced {} by {}\t{}\t{}",
                    hold.name,
                    format_millis(hold.created_at),
                    hold.created_by,
                    hold.criteria,
                    hold.reason
                );
            }
            Outcome::Success
        }
        HoldCommand::Release { name } => match release(&archive, &name, &os_user()).await {
            Ok(hold) => {
                global
                    .audit("hold.release", json!({ "hold": hold.name }))
                    .await;
                println!("hold {:?} released", hold.name);
                Outcome::Success
            }
            Err(e) => usage(e)?,
        },
    };
    archive.close().await;
    Ok(outcome)
}

/// A usage error is printed and exits 2; others go up.
pub fn usage(e: RetentionError) -> anyhow::Result<Outcome> {
    match e {
        RetentionError::Usage(why) => {
            eprintln!("error: {why}");
            Ok(Outcome::BadUsage)
        }
        other => Err(other.into()),
    }
}
