//! `spaces-archive key` (the archive's public key, on the last line) and
//! `spaces-archive checkpoints [--json]` (every signed checkpoint, to copy somewhere
//! write-once).

use clap::Args;

use super::{Global, Outcome};
use crate::chain::checkpoint::list;
use crate::event::time::format_millis;

/// Arguments of `key`.
#[derive(Debug, Args)]
pub struct KeyArgs {}

/// Arguments of `checkpoints`.
#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    /// One JSON object per checkpoint (with the public key), a line each.
    #[arg(long)]
    pub json: bool,
}

/// Runs `key`: opens the archive (which makes the key pair the first time).
pub async fn key(global: &Global, _args: KeyArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let key = archive
        .signing_key()
        .ok_or_else(|| anyhow::anyhow!("the archive has no signing key"))?
        .public();
    archive.close().await;
    println!(
        "Ed25519 public key of the archive in {} (checks its checkpoints and exports: \
         `export verify FILE --key KEY`):",
        global.data_dir().display()
    );
    println!("{key}");
    Ok(Outcome::Success)
}

/// Runs `checkpoints`.
pub async fn checkpoints(global: &Global, args: CheckpointsArgs) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let public = archive.signing_key().map(|k| k.public().to_string());
    let mut conn = archive.pool().acquire().await?;
    let all = list(&mut conn).await?;
    drop(conn);
    archive.close().await;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    if args.json {
        for c in &all {
            let mut value = c.to_json();
            value["public_key"] = public.clone().into();
            writeln!(out, "{value}")?;
        }
    } else {
        if all.is_empty() {
            writeln!(out, "no checkpoints yet (the writer signs one every 10,000 payloads, every 10 minutes and when it stops)")?;
        }
        for c in &all {
            writeln!(
                out,
                "{:>6}  {}  seq {:>10}  head {}  rejected {} head {}  signature {}",
                c.id,
                format_millis(c.at),
                c.seq,
                crate::chain::link::hex(&c.head),
                c.rejected_id,
                crate::chain::link::hex(&c.rejected_head),
                crate::chain::link::hex(&c.signature)
            )?;
        }
    }
    Ok(Outcome::Success)
}
