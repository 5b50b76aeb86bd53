//! `spaces-archive files`: list attachments' files and their state; `files fetch`
//! fetches what is pending or failed (archives filled by `ingest` hold metadata
//! only); `files verify` hashes every stored file again.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use url::Url;

use super::{Global, Outcome};
use crate::event::time::format_millis;
use crate::files::content::ContentStore;
use crate::files::download::Downloader;
use crate::files::fetch::Fetcher;
use crate::files::verify::{verify_files, Verified};
use crate::spaces::auth::TokenType;
use crate::spaces::rest::{Limits, RestClient};
use crate::spaces::tokens::Tokens;
use crate::store::file_reads::{list_files, FileRow};
use crate::store::files::FileStatus;
use crate::writer::{drain, ArchiveWriter, BatchPolicy, IndexCommitPolicy, OnStall};

/// Arguments of `files`.
#[derive(Debug, Args)]
pub struct FilesArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<FilesAction>,
    /// Only files with this status: pending, stored, failed, gone, too_large.
    #[arg(long, value_name = "S", value_parser = parse_status)]
    pub status: Option<FileStatus>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `files` subcommands.
#[derive(Debug, Subcommand)]
pub enum FilesAction {
    /// Fetch every file that is pending or failed, now.
    Fetch(FetchArgs),
    /// Hash every stored file again; name each one altered or missing (exit 1).
    Verify,
}

/// Arguments of `files fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// REST API base URL.
    #[arg(
        long,
        env = "SPACES_ARCHIVE_API",
        default_value = "https://spacesapis.avayacloud.com/api",
        value_name = "URL"
    )]
    pub api: Url,
    /// Read the token from this file (first line) instead of $SPACES_ARCHIVE_TOKEN.
    #[arg(long, env = "SPACES_ARCHIVE_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How the token was issued.
    #[arg(
        long,
        value_enum,
        default_value = "jwt",
        env = "SPACES_ARCHIVE_TOKEN_TYPE"
    )]
    pub token_type: TokenType,
    /// Files bigger than this are not fetched (`KiB`, `MiB`, `GiB`).
    #[arg(long, default_value = "512MiB", value_parser = crate::files::parse_size, value_name = "SIZE")]
    pub max_file_size: u64,
    /// REST requests allowed per minute to one resource (Avaya documents 60).
    #[arg(long, default_value_t = 60, value_name = "N")]
    pub rest_per_minute: usize,
    /// REST requests allowed per 5 minutes in all (Avaya documents 600).
    #[arg(long, default_value_t = 600, value_name = "N")]
    pub rest_per_5_minutes: usize,
}

fn parse_status(text: &str) -> Result<FileStatus, String> {
    FileStatus::parse(text).ok_or_else(|| {
        format!("{text:?} is not a file status: pending, stored, failed, gone or too_large")
    })
}

/// Runs `files`.
pub async fn run(global: &Global, args: FilesArgs) -> anyhow::Result<Outcome> {
    match args.action {
        None => list(global, args.status, args.json).await,
        Some(FilesAction::Fetch(fetch)) => fetch_all(global, fetch).await,
        Some(FilesAction::Verify) => {
            let verified = verify(global).await?;
            Ok(if verified.problems.is_empty() {
                Outcome::Success
            } else {
                Outcome::Failure
            })
        }
    }
}

/// One file as a JSON object.
pub fn to_json(f: &FileRow) -> serde_json::Value {
    serde_json::json!({
        "file_id": f.file_id,
        "sha256": f.sha256,
        "size": f.size,
        "name": f.name,
        "mime": f.mime,
        "status": f.status.as_str(),
        "error": f.error,
        "messages": f.messages,
        "thumbnail_of": f.thumbnail_of,
        "attempts": f.attempts,
        "fetched_at": f.fetched_at.map(format_millis),
    })
}

async fn list(global: &Global, status: Option<FileStatus>, json: bool) -> anyhow::Result<Outcome> {
    let archive = global.open().await?;
    let files = list_files(&archive, status).await?;
    let mut out = std::io::stdout().lock();
    for f in &files {
        if json {
            writeln!(out, "{}", to_json(f))?;
        } else {
            let name = f.name.as_deref().unwrap_or(if f.thumbnail {
                "(thumbnail)"
            } else {
                "(no name)"
            });
            let size = f.size.map_or_else(|| "?".into(), |s| s.to_string());
            let detail = match (&f.sha256, &f.error) {
                (Some(sha), _) if f.status == FileStatus::Stored => sha.clone(),
                (_, Some(error)) => error.clone(),
                _ => String::new(),
            };
            writeln!(
                out,
                "{:<9} {:>10}  {}  {}  {}",
                f.status.as_str(),
                size,
                f.file_id,
                name,
                detail
            )?;
        }
    }
    if !json {
        eprintln!("{} files", files.len());
    }
    archive.close().await;
    Ok(Outcome::Success)
}

/// `files verify`, and `verify --files`: prints each problem; returns what it found.
pub async fn verify(global: &Global) -> anyhow::Result<Verified> {
    let archive = global.open().await?;
    let store = ContentStore::open(&global.data_dir())?;
    let verified = verify_files(&archive, &store, |_| {}).await?;
    for problem in &verified.problems {
        eprintln!("{problem}");
    }
    if verified.problems.is_empty() {
        eprintln!(
            "ok: {} stored files ({} bytes), every one intact",
            verified.checked, verified.bytes
        );
    } else {
        eprintln!(
            "files verify failed: {} of {} stored files altered or missing",
            verified.problems.len(),
            verified.checked
        );
    }
    archive.close().await;
    Ok(verified)
}

async fn fetch_all(global: &Global, args: FetchArgs) -> anyhow::Result<Outcome> {
    let token = super::run::token_from(args.token_type, args.token_file.as_deref())?;
    let archive = global.open().await?;
    let index = global.open_index()?;
    let limits = Limits {
        per_5_minutes: args.rest_per_5_minutes,
        per_minute_per_resource: args.rest_per_minute,
    };
    let rest = Arc::new(RestClient::new(
        args.api.clone(),
        Tokens::fixed(token),
        limits,
    )?);
    let store = ContentStore::open(&global.data_dir())?;
    let queued = crate::store::files::due(&archive, i64::MAX, i64::MAX)
        .await?
        .len() as u64;
    let bar = progress_bar(queued);
    let mut writer =
        ArchiveWriter::open(archive.clone(), &index, IndexCommitPolicy::default()).await?;
    let (tx, mut rx) = mpsc::channel(32);
    let fetcher = Fetcher {
        archive: archive.clone(),
        urls: rest,
        downloader: Downloader::new(store, args.max_file_size)?,
        out: tx,
    };
    let shown = bar.clone();
    let fetching = tokio::spawn(fetcher.fetch_all(move |_| shown.inc(1)));
    let drained = drain(
        &mut writer,
        &mut rx,
        BatchPolicy::default(),
        OnStall::Stop,
        |_| {},
    )
    .await;
    let counts = fetching.await??;
    bar.finish_and_clear();
    drained.map_err(|e| anyhow::anyhow!("{}", e.error))?;
    writer.finish().await?;
    archive.close().await;
    let summary: Vec<String> = FileStatus::ALL
        .iter()
        .filter_map(|s| counts.get(s).map(|n| format!("{n} {}", s.as_str())))
        .collect();
    eprintln!(
        "fetched {queued} files: {}",
        if summary.is_empty() {
            "nothing to do".into()
        } else {
            summary.join(", ")
        }
    );
    Ok(Outcome::Success)
}

fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed_precise} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}
