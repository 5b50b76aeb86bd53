//! Export benchmark: `export` of a whole archive to a file, through the library (the
//! same code path as `spaces-archive export --output`). Prints messages/s, versions,
//! the file's size and the export's peak memory. With `BENCH_DATA_DIR` naming an
//! existing archive it exports that; otherwise it generates and ingests `BENCH_EVENTS`
//! payloads (default 200,000) first. `BENCH_COMPRESS=zstd|gzip` compresses;
//! `BENCH_FORMAT=rsmf|html` writes that format's directory instead (RSMF sliced by
//! `BENCH_SLICE=day|week|month|none`, default day).
//! Run with `cargo bench --bench export`.

mod common;

use common::{bench_events, peak_rss_mb, write_generated};

use std::path::PathBuf;
use std::time::Instant;

use spaces_archive::export::formats::{export_set, SetFormat};
use spaces_archive::export::rsmf::slice::SliceBy;
use spaces_archive::export::{export, Compression, ExportOptions, Removed, SORT_MEMORY};
use spaces_archive::index::SearchIndex;
use spaces_archive::ingest::{ingest, Input};
use spaces_archive::store::Archive;

fn main() {
    let work = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data = match std::env::var_os("BENCH_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let input = work.path().join("stream.jsonl");
            write_generated(&input, bench_events());
            let data = work.path().join("data");
            runtime.block_on(async {
                let archive = Archive::open(&data).await.expect("archive");
                let index = SearchIndex::open(&data).expect("index");
                let inputs = vec![Input::open(input.to_str().expect("path")).expect("open")];
                ingest(
                    archive.clone(),
                    &index,
                    inputs,
                    indicatif::ProgressBar::hidden(),
                )
                .await
                .expect("ingest");
                archive.close().await;
            });
            data
        }
    };
    let compression = match std::env::var("BENCH_COMPRESS").as_deref() {
        Ok("zstd") => Some(Compression::Zstd),
        Ok("gzip") => Some(Compression::Gzip),
        _ => None,
    };
    let output = work.path().join("export.jsonl");
    // Peak memory from here on: the ingest above is not the export's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let options = ExportOptions {
        spaces: Vec::new(),
        from: Vec::new(),
        kind: None,
        since: None,
        until: None,
        by_modified: false,
        removed: Removed::Include,
        raw: false,
        after_cursor: None,
        sort_memory: SORT_MEMORY,
        files: false,
    };
    let format = match std::env::var("BENCH_FORMAT").as_deref() {
        Ok("rsmf") => Some(SetFormat::Rsmf(
            match std::env::var("BENCH_SLICE").as_deref() {
                Ok("week") => SliceBy::Week,
                Ok("month") => SliceBy::Month,
                Ok("none") => SliceBy::None,
                _ => SliceBy::Day,
            },
        )),
        Ok("html") => Some(SetFormat::Html),
        _ => None,
    };
    if let Some(format) = format {
        let dir = work.path().join("export-dir");
        let started = Instant::now();
        let (summary, set) = runtime.block_on(async {
            let archive = Archive::open(&data).await.expect("archive");
            export_set(
                &archive,
                &options,
                format,
                &dir,
                indicatif::ProgressBar::hidden(),
            )
            .await
            .expect("export")
        });
        let seconds = started.elapsed().as_secs_f64();
        let messages = summary.counts["message"];
        println!("export --format {} of {}", format.name(), data.display());
        println!("  messages       {messages}");
        println!("  files          {}", set.files);
        println!("  time           {seconds:.2} s");
        println!(
            "  throughput     {:.0} messages/s",
            messages as f64 / seconds
        );
        println!("  peak RSS       {:.0} MB", peak_rss_mb());
        println!("  written        {:.1} MB", set.bytes as f64 / 1e6);
        return;
    }
    let started = Instant::now();
    let summary = runtime.block_on(async {
        let archive = Archive::open(&data).await.expect("archive");
        export(
            &archive,
            &options,
            Some(&output),
            compression,
            indicatif::ProgressBar::hidden(),
        )
        .await
        .expect("export")
    });
    let seconds = started.elapsed().as_secs_f64();
    let messages = summary.counts["message"];
    println!("export of {} ({compression:?})", data.display());
    println!("  messages       {messages}");
    println!("  versions       {}", summary.counts["version"]);
    println!("  time           {seconds:.2} s");
    println!(
        "  throughput     {:.0} messages/s",
        messages as f64 / seconds
    );
    println!("  peak RSS       {:.0} MB", peak_rss_mb());
    println!(
        "  file           {:.1} MB",
        std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
}
