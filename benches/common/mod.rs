//! Helpers shared by the benchmarks (each bench uses some of them).
#![allow(dead_code)]

/// Total size of the files under `path`.
pub fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// This process's peak resident memory, in MB.
pub fn peak_rss_mb() -> f64 {
    peak_rss_mb_of("self")
}

/// A process's peak resident memory (`self` or a pid), in MB.
pub fn peak_rss_mb_of(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Payloads the ingest and export benches generate: `BENCH_EVENTS`, default 200,000.
pub fn bench_events() -> u64 {
    std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// Writes a `generate` stream of `events` payloads (seed 42, 8 spaces) to `path`,
/// synced to disk (so no later timing pays for its write-back); returns its size.
pub fn write_generated(path: &std::path::Path, events: u64) -> u64 {
    use spaces_archive::generate::{write_stream, GenerateOptions};
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create input"));
    write_stream(
        GenerateOptions {
            events,
            seed: 42,
            spaces: 8,
        },
        &mut file,
    )
    .expect("generate");
    file.into_inner()
        .expect("flush input")
        .sync_all()
        .expect("sync input");
    std::fs::metadata(path).expect("input size").len()
}
