//! `spaces-archive export` and `spaces-archive export verify FILE`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::filters::{FilterArgs, RemovedArg};
use super::search::bad_usage;
use super::{Global, Outcome};
use crate::export::formats::{export_set, SetFormat};
use crate::export::rsmf::slice::SliceBy;
use crate::export::verify::verify_file;
use crate::export::{export, Compression, ExportError, ExportOptions, Removed};

/// Arguments of `export`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExportArgs {
    /// `export verify FILE`.
    #[command(subcommand)]
    pub command: Option<ExportCommand>,
    /// What to export and where.
    #[command(flatten)]
    pub options: ExportFlags,
}

/// `export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Check an export: manifest and complete records, counts, SHA-256, sidecar; for
    /// an RSMF or HTML directory, every file listed with its hash, and nothing else.
    Verify {
        /// The export file, or directory.
        file: PathBuf,
        /// Also check that the export's checkpoint is signed by this archive key (64
        /// hex digits as `spaces-archive key` prints them, or a file holding them).
        #[arg(long, value_name = "PUBLIC_KEY")]
        key: Option<String>,
    },
}

/// The flags of an export.
#[derive(Debug, Args)]
pub struct ExportFlags {
    /// Which messages.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Apply --since/--until to the modified time.
    #[arg(long, help_heading = "Filters")]
    pub by_modified: bool,
    /// Add the verbatim payloads of each message's events.
    #[arg(long, help_heading = "Output")]
    pub raw: bool,
    /// What to write: JSON lines (`spaces-archive-export/1`), RSMF 2.0 for review
    /// platforms (a directory of `.rsmf` files), or an offline HTML transcript (a
    /// directory).
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl, help_heading = "Output")]
    pub format: FormatArg,
    /// RSMF: one file per space per day, week or month, or one per space (each split
    /// at 10,000 events and kept under 2 GB).
    #[arg(long, value_enum, default_value_t = SliceArg::Day, help_heading = "Output")]
    pub slice: SliceArg,
    /// Write here (a file, or for rsmf and html a new directory: built under a
    /// temporary name and renamed when complete) with SHA-256 sidecars; JSON lines
    /// go to stdout without it.
    #[arg(long, short, value_name = "FILE|DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Compress the output.
    #[arg(long, value_enum, help_heading = "Output")]
    pub compress: Option<CompressArg>,
    /// Only what changed after the cursor of an earlier export (same filters).
    #[arg(long, value_name = "CURSOR", help_heading = "Filters")]
    pub after_cursor: Option<String>,
    /// Also write the stored files the records name beside the export
    /// (`FILE.files/<sha256>`); needs `--output`.
    #[arg(long, help_heading = "Output")]
    pub files: bool,
    /// Memory for putting lines in export order, in MiB; beyond it, sorted runs are
    /// spilled to unlinked files beside the output (the archive's, for stdout).
    #[arg(long, value_name = "MIB", default_value_t = 16, help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub sort_memory: u16,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// JSON lines.
    Jsonl,
    /// RSMF 2.0 (Relativity Short Message Format).
    Rsmf,
    /// An offline HTML transcript.
    Html,
}

/// `--slice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SliceArg {
    /// A UTC day.
    Day,
    /// An ISO week.
    Week,
    /// A UTC month.
    Month,
    /// The whole space.
    None,
}

/// `--compress`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressArg {
    /// zstd.
    Zstd,
    /// gzip.
    Gzip,
}

/// Runs `export` or `export verify`.
pub async fn run(global: &Global, args: ExportArgs) -> anyhow::Result<Outcome> {
    if let Some(ExportCommand::Verify { file, key }) = args.command {
        let key = match key
            .as_deref()
            .map(crate::chain::PublicKey::parse)
            .transpose()
        {
            Ok(key) => key,
            Err(e) => {
                eprintln!("error: --key: {e}");
                return Ok(Outcome::BadUsage);
            }
        };
        return verify(&file, key);
    }
    let flags = args.options;
    let options = ExportOptions {
        kind: flags.filters.kind(),
        spaces: flags.filters.space,
        from: flags.filters.from,
        since: flags.filters.since,
        until: flags.filters.until,
        by_modified: flags.by_modified,
        removed: match flags.filters.removed {
            RemovedArg::Include => Removed::Include,
            RemovedArg::Exclude => Removed::Exclude,
            RemovedArg::Only => Removed::Only,
        },
        raw: flags.raw,
        sort_memory: usize::from(flags.sort_memory) << 20,
        after_cursor: flags.after_cursor,
        files: flags.files,
    };
    let compression = flags.compress.map(|c| match c {
        CompressArg::Zstd => Compression::Zstd,
        CompressArg::Gzip => Compression::Gzip,
    });
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} messages {per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let set_format = match flags.format {
        FormatArg::Jsonl => None,
        FormatArg::Rsmf => Some(SetFormat::Rsmf(match flags.slice {
            SliceArg::Day => SliceBy::Day,
            SliceArg::Week => SliceBy::Week,
            SliceArg::Month => SliceBy::Month,
            SliceArg::None => SliceBy::None,
        })),
        FormatArg::Html => Some(SetFormat::Html),
    };
    if let Some(format) = set_format {
        let Some(dir) = flags.output.as_deref() else {
            return bad_usage(&format!(
                "--format {} writes a directory: give --output DIR",
                format.name()
            ));
        };
        if compression.is_some() {
            return bad_usage("--compress is for JSON lines; rsmf and html are directories");
        }
        let archive = global.open().await?;
        return match export_set(&archive, &options, format, dir, progress).await {
            Ok((summary, set)) => {
                global
                    .audit(
                        "export",
                        serde_json::json!({"format": format.name(), "output": dir.display().to_string(),
                            "spaces": options.spaces, "from": options.from, "kind": options.kind,
                            "since": options.since, "until": options.until, "counts": summary.counts,
                            "files": set.files, "sha256": set.manifest_sha256}),
                    )
                    .await;
                print_counts(&summary.counts);
                eprintln!(
                    "{}: {} files, {} bytes; manifest.jsonl sha256 {}",
                    dir.display(),
                    set.files,
                    set.bytes,
                    set.manifest_sha256
                );
                eprintln!("cursor {}", summary.cursor);
                Ok(Outcome::Success)
            }
            Err(ExportError::Filter(e) | ExportError::Cursor(e)) => bad_usage(&e),
            Err(e) => Err(e.into()),
        };
    }
    if flags.slice != SliceArg::Day {
        return bad_usage("--slice is for --format rsmf");
    }
    let archive = global.open().await?;
    match export(
        &archive,
        &options,
        flags.output.as_deref(),
        compression,
        progress,
    )
    .await
    {
        Ok(summary) => {
            global
                .audit(
                    "export",
                    serde_json::json!({"format": "jsonl", "output": flags.output.as_ref().map(|p| p.display().to_string()),
                        "spaces": options.spaces, "from": options.from, "kind": options.kind,
                        "since": options.since, "until": options.until, "counts": summary.counts,
                        "sha256": summary.file_sha256}),
                )
                .await;
            print_counts(&summary.counts);
            if let Some(path) = &flags.output {
                eprintln!("{}: sha256 {}", path.display(), summary.file_sha256);
            }
            if let (Some(files), Some(path)) = (summary.files, &flags.output) {
                eprintln!(
                    "{} files ({} bytes) in {}",
                    files.count,
                    files.bytes,
                    crate::export::files::files_dir(path).display()
                );
            }
            eprintln!("cursor {}", summary.cursor);
            Ok(Outcome::Success)
        }
        Err(ExportError::Filter(e) | ExportError::Cursor(e)) => bad_usage(&e),
        Err(e) => Err(e.into()),
    }
}

fn print_counts(counts: &std::collections::BTreeMap<String, u64>) {
    let counts: Vec<String> = counts
        .iter()
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    eprintln!("exported {}", counts.join(", "));
}

fn verify(file: &std::path::Path, key: Option<crate::chain::PublicKey>) -> anyhow::Result<Outcome> {
    let mut found = match verify_file(file) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return Ok(Outcome::Failure);
        }
    };
    if let Some(key) = &key {
        found.check_key(key);
    }
    for note in &found.notes {
        eprintln!("note: {note}");
    }
    if found.problems.is_empty() {
        let counts: Vec<String> = found
            .counts
            .iter()
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        println!("{}: ok, {}", file.display(), counts.join(", "));
        return Ok(Outcome::Success);
    }
    for problem in &found.problems {
        eprintln!("{}: {problem}", file.display());
    }
    Ok(Outcome::Failure)
}
