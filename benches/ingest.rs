//! Ingest benchmark: a `generate` stream of `BENCH_EVENTS` payloads (default 200,000)
//! ingested into a fresh archive, both through the library (the same code path as
//! `spaces-archive ingest`). Prints events/s, peak memory and the archive's size
//! against the input's. Run with `cargo bench --bench ingest`.

mod common;

use common::{bench_events, dir_size, peak_rss_mb, write_generated};

use std::time::Instant;

use spaces_archive::ingest::{ingest, Input};
use spaces_archive::store::Archive;

fn main() {
    let events = bench_events();
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("stream.jsonl");
    // Synced before the clock starts: otherwise the kernel writes these 190 MB back
    // while SQLite waits on its own fsyncs, and the run measures both.
    let input_size = write_generated(&input, events);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data = work.path().join("data");
    let started = Instant::now();
    let summary = runtime.block_on(async {
        let archive = Archive::open(&data).await.expect("open archive");
        let inputs = vec![Input::open(input.to_str().expect("path")).expect("open input")];
        let index = spaces_archive::index::SearchIndex::open(&data).expect("open index");
        let summary = ingest(
            archive.clone(),
            &index,
            inputs,
            indicatif::ProgressBar::hidden(),
        )
        .await
        .expect("ingest");
        archive.close().await;
        summary
    });
    let seconds = started.elapsed().as_secs_f64();
    let archive_size = dir_size(&data);
    println!("ingest of {events} generated events (seed 42, 8 spaces)");
    println!(
        "  archived {} new, {} duplicates, {} unknown, {} rejected",
        summary.archived, summary.duplicates, summary.unknown, summary.rejected
    );
    println!("  time           {seconds:.2} s");
    println!("  throughput     {:.0} events/s", events as f64 / seconds);
    println!("  peak RSS       {:.0} MB", peak_rss_mb());
    println!(
        "  input          {:.1} MB of JSON lines",
        input_size as f64 / 1e6
    );
    println!(
        "  archive        {:.1} MB ({:.2}x the input)",
        archive_size as f64 / 1e6,
        archive_size as f64 / input_size as f64
    );
}
