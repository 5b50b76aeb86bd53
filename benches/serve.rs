//! Load benchmark for `serve`: the release binary serving an archive while this
//! process (a second one) drives `BENCH_SESSIONS` concurrent logged-in sessions
//! (default 50), each a closed loop of requests over its own keep-alive
//! connection. Three phases of `BENCH_SECONDS` each (default 20): the search page
//! (the search bench's queries, first page, with snippets), the conversation page
//! (around a message picked at random from the archive, or its latest messages),
//! and a mix of the two with message histories. Prints per page the requests,
//! throughput, p50/p90/p99/max latency, and `serve`'s resident memory (peak and
//! at the end). Every request is audited as in production (the audit log is a
//! fresh file in a temp dir). `BENCH_THINK_MS` makes each session pause about
//! that long (uniformly 0 to twice it) after each answer (a reviewer reading), instead of asking again at once.
//!
//! `BENCH_DATA_DIR` names an existing archive (the 1M figures use the archive of
//! the one-million ingest); without it a `generate` stream of `BENCH_MESSAGES`
//! messages (default 100,000) is ingested first. Run with
//! `cargo bench --bench serve`.

mod common;

use common::peak_rss_mb_of;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, Row};

const QUERIES: &[&str] = &[
    "budget",
    "postmortem",
    "budget AND review",
    "invoice OR contract",
    "\"budget review\"",
    "escal*",
    "deploy",
];

const PASSWORD: &str = "a benchmark password";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spaces-archive"))
}

/// An archive to serve: `BENCH_DATA_DIR`, or a generated one in `work`.
fn archive(work: &Path) -> PathBuf {
    if let Ok(dir) = std::env::var("BENCH_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let messages = env_number("BENCH_MESSAGES", 100_000);
    let events = messages * 100 / 69;
    let input = work.join("stream.jsonl");
    common::write_generated(&input, events);
    let data = work.join("data");
    let started = Instant::now();
    let status = binary()
        .arg("--data-dir")
        .arg(&data)
        .arg("ingest")
        .arg(&input)
        .stdout(Stdio::null())
        .status()
        .expect("ingest");
    assert!(status.success(), "ingest failed");
    println!(
        "ingested {events} generated events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    data
}

/// `(space, message)` pairs picked at random, and the archive's message count.
async fn targets(data: &Path, count: usize) -> (Vec<(String, String)>, i64) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("archive.sqlite"))
        .read_only(true);
    let mut db = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open the archive");
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&mut db)
        .await
        .expect("count");
    let max: i64 = sqlx::query_scalar("SELECT max(rowid) FROM messages")
        .fetch_one(&mut db)
        .await
        .expect("max");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut picked = Vec::new();
    while picked.len() < count {
        let row = sqlx::query("SELECT space_id, id FROM messages WHERE rowid >= ? LIMIT 1")
            .bind(rng.i64(1..=max))
            .fetch_optional(&mut db)
            .await
            .expect("pick");
        if let Some(row) = row {
            picked.push((row.get(0), row.get(1)));
        }
    }
    (picked, total)
}

struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_serve(data: &Path, audit: &Path) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut add = binary()
        .arg("--data-dir")
        .arg(data)
        .arg("--audit-db")
        .arg(audit)
        .args([
            "users",
            "add",
            "bench",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("users add");
    use std::io::Write;
    writeln!(add.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    assert!(add.wait().expect("users add").success());
    let child = binary()
        .arg("--data-dir")
        .arg(data)
        .arg("--audit-db")
        .arg(audit)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// Logs in through the form; returns the session cookie's value.
async fn login(http: &reqwest::Client, base: &str) -> String {
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let login_cookie = cookie_of(&page, "sa_login").expect("login cookie");
    let body = page.text().await.expect("login page");
    let at = body.find("name=\"csrf\" value=\"").expect("csrf") + 19;
    let csrf = &body[at..at + 64];
    let form = format!(
        "username=bench&password={}&csrf={csrf}&next=%2Fsearch",
        PASSWORD.replace(' ', "+")
    );
    let response = http
        .post(format!("{base}/login"))
        .header("cookie", format!("sa_login={login_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("login");
    cookie_of(&response, "sa_session").expect("a session")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Page {
    Search,
    Conversation,
    Message,
}

const PAGES: [Page; 3] = [Page::Search, Page::Conversation, Page::Message];

fn url(page: Page, base: &str, targets: &[(String, String)], rng: &mut fastrand::Rng) -> String {
    let (space, id) = &targets[rng.usize(0..targets.len())];
    match page {
        Page::Search => {
            let q = QUERIES[rng.usize(0..QUERIES.len())];
            let q: String = url_encode(q);
            format!("{base}/search?q={q}")
        }
        Page::Conversation if rng.u8(0..10) == 0 => format!("{base}/spaces/{space}"),
        Page::Conversation => format!("{base}/spaces/{space}?around={id}"),
        Page::Message => format!("{base}/messages/{id}"),
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'_' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One phase: every session in a closed loop for `seconds`; latencies per page.
async fn phase(
    base: &str,
    sessions: &[String],
    targets: &Arc<Vec<(String, String)>>,
    mix: &'static [Page],
    seconds: u64,
) -> Vec<(Page, Vec<Duration>)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let think = Duration::from_millis(env_number("BENCH_THINK_MS", 0));
    let mut tasks = Vec::new();
    for (n, session) in sessions.iter().enumerate() {
        let (base, session, targets) = (base.to_string(), session.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut rng = fastrand::Rng::with_seed(n as u64);
            let mut seen: Vec<(Page, Duration)> = Vec::new();
            if !think.is_zero() {
                // Sessions that read between requests do not all start at once.
                tokio::time::sleep(think.mul_f64(rng.f64() * 2.0)).await;
            }
            while Instant::now() < deadline {
                let page = mix[rng.usize(0..mix.len())];
                let url = url(page, &base, &targets, &mut rng);
                let started = Instant::now();
                let response = http
                    .get(&url)
                    .header("cookie", format!("sa_session={session}"))
                    .send()
                    .await
                    .expect("request");
                let status = response.status();
                let body = response.bytes().await.expect("body");
                let took = started.elapsed();
                assert!(status.is_success(), "{url}: {status}");
                assert!(body.len() > 500, "{url}: a short page");
                seen.push((page, took));
                if !think.is_zero() {
                    // Uniform around the mean, so sessions do not march in step.
                    tokio::time::sleep(think.mul_f64(rng.f64() * 2.0)).await;
                }
            }
            seen
        }));
    }
    let mut all: Vec<(Page, Duration)> = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("session"));
    }
    PAGES
        .iter()
        .map(|p| {
            let mut times: Vec<Duration> = all
                .iter()
                .filter(|(q, _)| q == p)
                .map(|(_, t)| *t)
                .collect();
            times.sort();
            (*p, times)
        })
        .filter(|(_, t)| !t.is_empty())
        .collect()
}

fn ms_at(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn report(name: &str, seconds: u64, results: &[(Page, Vec<Duration>)]) {
    println!("\n{name}:");
    println!("| page | requests | per s | p50 ms | p90 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (page, times) in results {
        println!(
            "| {page:?} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            times.len(),
            times.len() as f64 / seconds as f64,
            ms_at(times, 0.5),
            ms_at(times, 0.9),
            ms_at(times, 0.99),
            ms_at(times, 1.0)
        );
    }
}

/// A `/proc/PID/status` field in kB, as MB.
fn status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn print_rss(pid: u32) {
    println!(
        "\nserve RSS: peak {:.0} MB, at the end {:.0} MB ({:.0} MB anonymous, {:.0} MB \
             of mapped files: the index and SQLite's shared memory)",
        peak_rss_mb_of(&pid.to_string()),
        status_mb(pid, "VmRSS:"),
        status_mb(pid, "RssAnon:"),
        status_mb(pid, "RssFile:") + status_mb(pid, "RssShmem:"),
    );
}

fn main() {
    spaces_archive::tls::install_crypto();
    let work = tempfile::tempdir().expect("temp dir");
    let data = archive(work.path());
    let sessions = env_number("BENCH_SESSIONS", 50) as usize;
    let seconds = env_number("BENCH_SECONDS", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (targets, total) = targets(&data, 2_000).await;
        let targets = Arc::new(targets);
        let serve = start_serve(&data, &work.path().join("audit.sqlite"));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let ready = Instant::now() + Duration::from_secs(60);
        while http.get(format!("{}/login", serve.base)).send().await.is_err() {
            assert!(Instant::now() < ready, "serve did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut cookies = Vec::new();
        for _ in 0..sessions {
            cookies.push(login(&http, &serve.base).await);
        }
        println!(
            "machine: {} cores; archive of {total} messages; {sessions} sessions, {seconds} s a phase",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        if let Ok(only) = std::env::var("BENCH_ONLY") {
            let page: &'static [Page] = match only.as_str() {
                "search" => &[Page::Search],
                "message" => &[Page::Message],
                _ => &[Page::Conversation],
            };
            let pid = serve.child.id();
            eprintln!("serve pid {pid}");
            let results = phase(&serve.base, &cookies, &targets, page, seconds).await;
            report(&only, seconds, &results);
            print_rss(pid);
            return;
        }
        // Warm the page cache and the index readers.
        phase(&serve.base, &cookies, &targets, &[Page::Search, Page::Conversation], 3).await;
        let pid = serve.child.id();
        let search = phase(&serve.base, &cookies, &targets, &[Page::Search], seconds).await;
        report("search page alone", seconds, &search);
        let conversation =
            phase(&serve.base, &cookies, &targets, &[Page::Conversation], seconds).await;
        report("conversation page alone", seconds, &conversation);
        const MIX: &[Page] = &[
            Page::Search,
            Page::Search,
            Page::Conversation,
            Page::Conversation,
            Page::Message,
        ];
        let mixed = phase(&serve.base, &cookies, &targets, MIX, seconds).await;
        report("mixed (2 search : 2 conversation : 1 history)", seconds, &mixed);
        print_rss(pid);
        drop(serve);
    });
}
