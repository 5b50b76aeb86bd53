//! `spaces-archive users`: the web app's accounts (add, list, passwd, remove).
//! Passwords come from `--password-stdin`, or are generated and printed once.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::{Global, Outcome};
use crate::audit::users::generate_password;
use crate::audit::{AuditDb, AuditEntry, AuditError, Role};

/// Arguments of `users`.
#[derive(Debug, Args)]
pub struct UsersArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UsersCommand,
}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an account; prints a generated password once unless --password-stdin.
    Add {
        /// Login name (letters, digits, `.`, `_`, `-`, `@`).
        name: String,
        /// What the account may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Limit the account to these spaces (ids; repeatable). Without it, every space.
        #[arg(long, value_name = "ID", num_args = 1..)]
        space: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts.
    List {
        /// One JSON object per account.
        #[arg(long)]
        json: bool,
    },
    /// Set a new password (ends the account's sessions).
    Passwd {
        /// Login name.
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account (ends its sessions; its audit rows stay).
    Remove {
        /// Login name.
        name: String,
    },
}

/// `--role`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Search, read and export (within its spaces).
    Reviewer,
    /// Also raw payloads and the audit log.
    Admin,
}

/// The password: stdin's first line, or a generated one (then printed).
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((generate_password()?, true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.len() < 8 {
        anyhow::bail!("the password on standard input must be at least 8 characters");
    }
    Ok((password, false))
}

/// Who runs the CLI, as the audit log names them: `os:NAME`.
pub fn os_user() -> String {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|n| !n.is_empty());
    match name {
        Some(name) => format!("os:{name}"),
        #[cfg(unix)]
        // SAFETY: getuid cannot fail and touches no memory.
        None => format!("os:uid{}", unsafe { libc::getuid() }),
        #[cfg(not(unix))]
        None => "os:unknown".into(),
    }
}

async fn record(audit: &AuditDb, action: &str, detail: serde_json::Value) -> anyhow::Result<()> {
    audit
        .record(&AuditEntry {
            user: os_user(),
            address: "cli".into(),
            action: action.into(),
            detail,
        })
        .await?;
    Ok(())
}

fn refused(e: AuditError) -> anyhow::Result<Outcome> {
    match e {
        AuditError::Refused(message) => {
            eprintln!("error: {message}");
            Ok(Outcome::Failure)
        }
        other => Err(other.into()),
    }
}

/// Runs `users`.
pub async fn run(global: &Global, args: UsersArgs) -> anyhow::Result<Outcome> {
    let audit = AuditDb::open_file(&global.audit_path()).await?;
    match args.command {
        UsersCommand::Add {
            name,
            role,
            space,
            password_stdin,
        } => {
            let role = match role {
                RoleArg::Reviewer => Role::Reviewer,
                RoleArg::Admin => Role::Admin,
            };
            let (password, generated) = password(password_stdin)?;
            let user = match audit.add_user(&name, role, &space, &password).await {
                Ok(user) => user,
                Err(e) => return refused(e),
            };
            record(
                &audit,
                "user_add",
                json!({"name": name, "role": role.as_str(), "spaces": user.spaces}),
            )
            .await?;
            eprintln!("added {} ({})", user.name, role.as_str());
            if generated {
                if std::io::stdout().is_terminal() {
                    eprintln!("its password (shown once; `users passwd` sets another):");
                }
                println!("{password}");
            }
        }
        UsersCommand::List { json } => {
            for user in audit.users().await? {
                if json {
                    println!("{}", serde_json::to_string(&user)?);
                } else {
                    let spaces = match &user.spaces {
                        None => "every space".to_string(),
                        Some(s) => format!("spaces {}", s.join(", ")),
                    };
                    println!("{}\t{}\t{spaces}", user.name, user.role.as_str());
                }
            }
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (password, generated) = password(password_stdin)?;
            if let Err(e) = audit.set_password(&name, &password).await {
                return refused(e);
            }
            record(&audit, "user_passwd", json!({"name": name})).await?;
            eprintln!("new password set for {name}; its sessions have ended");
            if generated {
                println!("{password}");
            }
        }
        UsersCommand::Remove { name } => {
            if let Err(e) = audit.remove_user(&name).await {
                return refused(e);
            }
            record(&audit, "user_remove", json!({"name": name})).await?;
            eprintln!("removed {name}");
        }
    }
    audit.close().await;
    Ok(Outcome::Success)
}
