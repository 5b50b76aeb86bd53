//! Live benchmark: the simulator (in this process) plays a generated stream as fast
//! as it can over loopback, Engine.IO v3, to a `spaces-archive run` process; measured:
//! events/s from the first payload played to the last one committed in both stores
//! (SQLite rows counted, index committed at the end), `run`'s peak memory, and
//! seconds from a message being sent to it being found by a search, at a steady
//! 1,000 events/s. Run with `cargo bench --bench live`; `BENCH_EVENTS` (default
//! 200,000) sets the stream's length, `BENCH_RUN_ARGS` adds flags to `run`.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::peak_rss_mb_of;
use serde_json::value::RawValue;
use spaces_archive::generate::{GenerateOptions, Generator};
use spaces_archive::index::{RemovedFilter, SearchIndex, SearchRequest, Sort};
use spaces_archive::simulate::{SimOptions, Simulator};
use sqlx::{Connection, SqliteConnection};

fn payloads(events: u64, seed: u64) -> (Vec<(String, String)>, Vec<Box<RawValue>>) {
    let generator = Generator::new(GenerateOptions {
        events,
        seed,
        spaces: 20,
    });
    let spaces = generator.spaces();
    let payloads = generator
        .map(|v| serde_json::value::to_raw_value(&v).expect("JSON"))
        .collect();
    (spaces, payloads)
}

/// The simulator on a free loopback port, playing `stream` at `rate` (0: at once).
async fn simulator(
    rate: f64,
    spaces: Vec<(String, String)>,
    stream: Vec<Box<RawValue>>,
) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = SimOptions {
        rate,
        auto_join: true,
        ..SimOptions::default()
    };
    Simulator::start(listener, options, spaces, Box::new(stream.into_iter()))
        .await
        .unwrap()
}

fn spawn_run(data: &std::path::Path, url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_spaces-archive"))
        .arg("--data-dir")
        .arg(data)
        .args(["run", "--server", url, "--api", &format!("{url}/api")])
        .args([
            "--rest-per-minute",
            "100000",
            "--rest-per-5-minutes",
            "100000",
        ])
        // `BENCH_RUN_ARGS="--max-file-size 0"`: no attachment fetched, for the cost of files.
        .args(
            std::env::var("BENCH_RUN_ARGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
        .env("SPACES_ARCHIVE_TOKEN", "simulator-token")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn count(db: &mut SqliteConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap_or(0)
}

async fn open_db(data: &std::path::Path) -> SqliteConnection {
    let path = data.join("archive.sqlite");
    while !path.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    SqliteConnection::connect_with(&options)
        .await
        .expect("open")
}

async fn throughput(events: u64) {
    let work = tempfile::tempdir().expect("temp dir");
    let data = work.path().join("data");
    let (spaces, stream) = payloads(events, 7);
    let sim = simulator(0.0, spaces, stream).await;
    let child = spawn_run(&data, &sim.url());
    let mut db = open_db(&data).await;
    // The clock starts with the first payload played.
    while sim.shared.played.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    sim.finished().await;
    let played_in = started.elapsed();
    // Every payload in SQLite: events plus duplicates counted.
    loop {
        let stored = count(&mut db, "SELECT count(*) FROM events").await
            + count(
                &mut db,
                "SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'duplicates'",
            )
            .await;
        if stored >= events as i64 - 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let in_sqlite = started.elapsed();
    let pid = child.id().to_string();
    let rss = peak_rss_mb_of(&pid);
    stop(child);
    let total = started.elapsed();
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{events} events over v3: simulator played them in {:.1} s; all in SQLite after {:.1} s ({:.0} events/s); \
         stopped with the index committed after {:.1} s ({:.0} events/s end to end); run's peak RSS {:.0} MB",
        played_in.as_secs_f64(),
        in_sqlite.as_secs_f64(),
        events as f64 / in_sqlite.as_secs_f64(),
        total.as_secs_f64(),
        events as f64 / total.as_secs_f64(),
        rss
    );
    sim.stop().await;
}

async fn latency() {
    let work = tempfile::tempdir().expect("temp dir");
    let data = work.path().join("data");
    let (spaces, stream) = payloads(40_000, 8);
    // Message ids in stream order, to look for as they are played.
    let ids: Vec<(usize, String)> = stream
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let v: serde_json::Value = serde_json::from_str(p.get()).ok()?;
            let id = v["_id"].as_str()?.to_string();
            (v["category"] == "chat").then_some((i, id))
        })
        .collect();
    let sim = simulator(1_000.0, spaces, stream).await;
    let child = spawn_run(&data, &sim.url());
    let _ = open_db(&data).await;
    let index = SearchIndex::open(&data).expect("index");
    let reader = index.reader().expect("reader");
    let mut samples = Vec::new();
    while samples.len() < 30 {
        // The next chat message still to be played (a sample measured late would
        // look instant).
        let now = sim.shared.played.load(Ordering::Relaxed) as usize;
        let Some((at, id)) = ids.iter().find(|(at, _)| *at > now + 100) else {
            break;
        };
        while (sim.shared.played.load(Ordering::Relaxed) as usize) <= *at {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let sent = Instant::now();
        let request = SearchRequest {
            query: format!("id:{id}"),
            space_ids: None,
            sender_ids: None,
            kind: None,
            since: None,
            until: None,
            removed: RemovedFilter::Include,
            in_history: true,
            sort: Sort::Relevance,
            limit: 1,
            offset: 0,
        };
        let query = index.build_query(&request).expect("query").query;
        loop {
            reader.reload().expect("reload");
            if !index
                .run(&reader.searcher(), query.as_ref(), &request)
                .expect("search")
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples.push(sent.elapsed().as_secs_f64());
    }
    stop(child);
    sim.stop().await;
    samples.sort_by(f64::total_cmp);
    println!(
        "sent → searchable at 1,000 events/s ({} samples): min {:.3} s, p50 {:.3} s, max {:.3} s",
        samples.len(),
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
}

fn main() {
    let events: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        throughput(events).await;
        if std::env::var_os("BENCH_NO_LATENCY").is_none() {
            latency().await;
        }
    });
}
