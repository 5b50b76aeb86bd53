//! Search benchmark: a `generate` stream with about `BENCH_MESSAGES` messages (default
//! 200,000) ingested into a fresh archive (both stores committed), then the same
//! queries against the tantivy index (top 20 loaded from SQLite, with snippets) and
//! against SQLite FTS5 over the same messages' text (ranked by bm25, top 20 loaded),
//! and the whole `spaces-archive search` process. Run with `cargo bench --bench search`.
//! With `BENCH_DATA_DIR` naming an existing archive, the generation and ingest are
//! skipped and the queries run on it (an FTS5 table is added to it). `BENCH_ONLY`
//! (comma-separated query names) runs only those queries; `BENCH_NO_FTS` runs the FTS5
//! baseline once instead of 30 times.

mod common;

use common::{dir_size, peak_rss_mb};

use std::process::Command;
use std::time::{Duration, Instant};

use spaces_archive::generate::{write_stream, GenerateOptions};
use spaces_archive::index::{RemovedFilter, SearchIndex, Sort};
use spaces_archive::ingest::{ingest, Input};
use spaces_archive::search::{search_with, SearchOptions};
use spaces_archive::store::lookup::hit_rows;
use spaces_archive::store::Archive;

/// (name, tantivy query, FTS5 query, sort).
const QUERIES: &[(&str, &str, &str, Sort)] = &[
    ("single term", "budget", "budget", Sort::Relevance),
    ("rare term", "postmortem", "postmortem", Sort::Relevance),
    (
        "AND",
        "budget AND review",
        "budget AND review",
        Sort::Relevance,
    ),
    (
        "OR",
        "invoice OR contract",
        "invoice OR contract",
        Sort::Relevance,
    ),
    ("newest first", "deploy", "deploy", Sort::Newest),
    (
        "phrase",
        "\"budget review\"",
        "\"budget review\"",
        Sort::Relevance,
    ),
    ("prefix", "escal*", "escal*", Sort::Relevance),
    (
        "stopword phrase",
        "\"to the\"",
        "\"to the\"",
        Sort::Relevance,
    ),
];

/// Runs per query: many for tantivy, fewer for the FTS5 baseline (hundreds of ms each).
const RUNS: usize = 200;
const FTS_RUNS: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn time_runs<F, Fut>(runs: usize, mut run: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(run().await);
        times.push(started.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn main() {
    if let Some(dir) = std::env::var_os("BENCH_DATA_DIR") {
        let data = std::path::PathBuf::from(dir);
        query_runtime().block_on(async {
            let archive = Archive::open(&data).await.expect("archive");
            let index = SearchIndex::open(&data).expect("index");
            let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
                .fetch_one(archive.pool())
                .await
                .expect("count");
            println!(
                "existing archive {}: {messages} messages, index {:.1} MB",
                data.display(),
                dir_size(&data.join("index")) as f64 / 1e6
            );
            run_queries(&archive, &index).await;
        });
        whole_process(&data);
        return;
    }
    let messages: u64 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    // About 69% of generated payloads create a message.
    let events = messages * 100 / 69;
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("stream.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).expect("create"));
    let expected = write_stream(
        GenerateOptions {
            events,
            seed: 1_000,
            spaces: 20,
        },
        &mut file,
    )
    .expect("generate");
    drop(file);
    let input_size = std::fs::metadata(&input).expect("size").len();
    let data = work.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let archive = Archive::open(&data).await.expect("archive");
        let index = SearchIndex::open(&data).expect("index");
        let started = Instant::now();
        let inputs = vec![Input::open(input.to_str().expect("path")).expect("input")];
        let summary = ingest(archive.clone(), &index, inputs, indicatif::ProgressBar::hidden()).await.expect("ingest");
        let seconds = started.elapsed().as_secs_f64();
        let total = expected.chat + expected.post + expected.task;
        println!("machine: {} cores; {} events, {} messages, {:.1} MB of JSON lines", std::thread::available_parallelism().map_or(0, |n| n.get()), events, total, input_size as f64 / 1e6);
        println!("ingest (SQLite + index committed): {:.1} s, {:.0} events/s, peak RSS {:.0} MB, archived {}", seconds, events as f64 / seconds, peak_rss_mb(), summary.archived);
        let index_size = dir_size(&data.join("index"));
        println!("index size {:.1} MB = {:.3}x the JSON lines; SQLite {:.1} MB", index_size as f64 / 1e6, index_size as f64 / input_size as f64, dir_size(&data) as f64 / 1e6 - index_size as f64 / 1e6);
    });
    drop(runtime);
    query_runtime().block_on(async {
        let archive = Archive::open(&data).await.expect("archive");
        let index = SearchIndex::open(&data).expect("index");
        run_queries(&archive, &index).await;
    });
    whole_process(&data);
}

/// Queries run as `spaces-archive search` runs them: on tokio's multi-threaded runtime
/// (its workers spin briefly before parking, which answers SQLite's thread sooner
/// than the single-threaded runtime did: 0.56 against 0.75 ms for `OR`).
fn query_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn run_queries(archive: &Archive, index: &SearchIndex) {
    let reader = index.reader().expect("reader");
    println!(
        "\n{:<14} {:>12} {:>12} {:>12} {:>12}",
        "query", "tantivy p50", "tantivy p99", "FTS5 p50", "FTS5 p99"
    );
    let fts = build_fts(archive).await;
    let only = std::env::var("BENCH_ONLY").ok();
    for (name, query, fts_query, sort) in QUERIES {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == *name))
        {
            continue;
        }
        let options = SearchOptions {
            query: query.to_string(),
            spaces: vec![],
            from: vec![],
            kind: None,
            since: None,
            until: None,
            removed: RemovedFilter::Include,
            in_history: true,
            sort: *sort,
            limit: 20,
            offset: 0,
        };
        let (p50, p99) = time_runs(RUNS, || async {
            search_with(archive, index, &reader, &options)
                .await
                .expect("search")
                .len()
        })
        .await;
        let sql = if *sort == Sort::Newest {
            "SELECT m.id FROM fts JOIN messages m ON m.rowid = fts.rowid WHERE fts MATCH ? ORDER BY m.created DESC LIMIT 20"
        } else {
            "SELECT m.id FROM fts JOIN messages m ON m.rowid = fts.rowid WHERE fts MATCH ? ORDER BY rank LIMIT 20"
        };
        let (f50, f99) = time_runs(
            if std::env::var_os("BENCH_NO_FTS").is_some() {
                1
            } else {
                FTS_RUNS
            },
            || async {
                let ids: Vec<String> = sqlx::query_scalar(sql)
                    .bind(fts_query)
                    .fetch_all(&fts)
                    .await
                    .expect("fts");
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                hit_rows(archive, &ids).await.expect("rows").len()
            },
        )
        .await;
        println!("{name:<14} {p50:>10.2}ms {p99:>10.2}ms {f50:>10.2}ms {f99:>10.2}ms");
    }
}

fn whole_process(data: &std::path::Path) {
    let binary =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/spaces-archive");
    if binary.exists() {
        let mut times = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let out = Command::new(&binary)
                .arg("--data-dir")
                .arg(data)
                .args(["search", "budget", "--color", "never"])
                .output()
                .expect("run");
            assert!(out.status.success());
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "\nwhole `spaces-archive search budget` process: p50 {:.1} ms, p99 {:.1} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    } else {
        println!("\n(build the release binary to time the whole search process)");
    }
}

/// FTS5 over the current text of every message, keyed by the messages' rowid, in
/// the archive's own database (a separate table the archive does not otherwise have).
async fn build_fts(archive: &Archive) -> sqlx::SqlitePool {
    let started = Instant::now();
    let pool = archive.pool().clone();
    let exists: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'fts'")
        .fetch_one(&pool)
        .await
        .expect("schema");
    if exists > 0 {
        return pool;
    }
    sqlx::query("CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, description, tokenize = 'unicode61 remove_diacritics 2')")
        .execute(&pool)
        .await
        .expect("fts5");
    sqlx::query(
        "INSERT INTO fts (rowid, text, description) SELECT m.rowid, v.text, v.description_text FROM messages m \
         JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno",
    )
    .execute(&pool)
    .await
    .expect("fill fts5");
    // The fill is one transaction, so the WAL holds all of it (650 MB at 1M) until a
    // checkpoint; left there, it made every `search` process that opens the archive
    // afterwards take 200 ms.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .expect("checkpoint");
    println!(
        "(FTS5 baseline built in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    pool
}
