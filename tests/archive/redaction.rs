//! No token reaches the output, in any encoding a library may print it (plain,
//! URL-encoded, hex in either case, base64 at each alignment and in either
//! alphabet), at trace level from every crate: `run` over v3 and v4, `run` with a
//! refused token, and the `simulate` command itself.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use spaces_archive::simulate::SimOptions;

use crate::helpers::{binary, TestArchive};
use crate::live::{reference, simulator, snapshot, spawn_run, stream, wait_for, Running};

/// A token with characters URL-encoding changes.
const TOKEN: &str = "tok/3fd+9a1c=SECRET-7e2b8d";

const STANDARD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64(bytes: &[u8], alphabet: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for k in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * k)) & 63) as usize]));
        }
    }
    out
}

/// `secret` as a library may print it: as it is, URL-encoded, hex (lower and upper
/// case) of both, and base64 of both behind 0, 1 and 2 other bytes in both
/// alphabets (the characters the secret alone determines: without the first four
/// and last four, which its neighbours share).
fn forms(secret: &str) -> Vec<(String, String)> {
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    assert_ne!(encoded, secret, "pick a token URL-encoding changes");
    let mut out = Vec::new();
    for (name, text) in [("plain", secret), ("URL-encoded", encoded.as_str())] {
        out.push((name.to_string(), text.to_string()));
        let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
        out.push((format!("{name}, hex"), hex.clone()));
        out.push((format!("{name}, HEX"), hex.to_uppercase()));
        for before in 0..3 {
            for (alphabet, which) in [(STANDARD, "standard"), (URL_SAFE, "URL-safe")] {
                let bytes = [&b"ab"[..before], text.as_bytes()].concat();
                let all = base64(&bytes, alphabet);
                let core = &all[4..all.len() - 4];
                assert!(core.len() >= 20);
                out.push((
                    format!("{name}, base64 {which} after {before} bytes"),
                    core.to_string(),
                ));
            }
        }
    }
    out
}

/// Fails naming the form and the line when `secret` is in `log` in any form.
fn assert_absent(log: &Path, secret: &str) -> String {
    let text = std::fs::read_to_string(log).unwrap();
    for (name, form) in forms(secret) {
        if let Some(n) = text.lines().position(|l| l.contains(&form)) {
            panic!(
                "the token ({name}) is in line {} of {}",
                n + 1,
                log.display()
            );
        }
    }
    text
}

/// Polls `log` until it holds `what` (or fails after `limit`).
fn wait_for_line(log: &Path, what: &[&str], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if what.iter().any(|w| text.contains(w)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {what:?} in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `run --log trace` archives a whole stream over `protocol` without printing the
/// token.
async fn run_at_trace(protocol: &str) -> TestArchive {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 300, 46, 3);
    let sim = simulator(
        SimOptions {
            token: TOKEN.into(),
            rate: 1_000.0,
            auto_join: true,
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let log = archive.dir.path().join("run.log");
    let child = spawn_run(
        &archive,
        &sim.url(),
        TOKEN,
        &["--log", "trace", "--protocol", protocol],
        &log,
    );
    let want = snapshot(&reference(&stream)).await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    sim.finished().await;
    assert_eq!(child.stop(), 0);
    let text = assert_absent(&log, TOKEN);
    assert!(text.lines().count() > 100, "trace output expected");
    // Trace from the websocket library is capped at debug; its debug lines stay.
    assert!(
        !text.contains("TRACE tungstenite"),
        "frame dumps in the log"
    );
    assert!(
        text.contains("DEBUG tungstenite"),
        "tungstenite's debug lines expected"
    );
    sim.stop().await;
    archive
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_never_appears_in_the_output_over_v3() {
    let archive = run_at_trace("v3").await;
    // A bad token: refused, reported, still not shown.
    let stream = stream(archive.dir.path(), 10, 48, 1);
    let sim = simulator(
        SimOptions {
            token: TOKEN.into(),
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let wrong = "wrong/token+77=not-the-right-one";
    let bad = archive.dir.path().join("bad.log");
    let child = spawn_run(&archive, &sim.url(), wrong, &["--log", "trace"], &bad);
    wait_for_line(&bad, &["401", "Authentication"], Duration::from_secs(30));
    assert_eq!(child.stop(), 0);
    assert_absent(&bad, wrong);
    let help = binary().args(["run", "--help"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains(TOKEN));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_never_appears_in_the_output_over_v4() {
    run_at_trace("v4").await;
}

/// `simulate --log trace` holds a token too: it logs each namespace connect (which
/// over v3 carries the token in its query) scrubbed, and never the token.
#[tokio::test(flavor = "multi_thread")]
async fn simulate_never_prints_its_token() {
    let archive = TestArchive::new();
    let dir = archive.dir.path();
    let stream = stream(dir, 200, 49, 3);
    let (url_file, sim_log) = (dir.join("sim.url"), dir.join("sim.log"));
    let sim = Running(Some(
        binary()
            .args(["simulate", "--log", "trace", "--listen", "127.0.0.1:0"])
            .arg("--url-file")
            .arg(&url_file)
            .arg("--file")
            .arg(&stream.file)
            .args(["--rate", "1000", "--auto-join"])
            .env("SPACES_ARCHIVE_SIM_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&sim_log).unwrap())
            .spawn()
            .unwrap(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        let text = std::fs::read_to_string(&url_file).unwrap_or_default();
        if text.ends_with('\n') {
            break text.trim().to_string();
        }
        assert!(Instant::now() < deadline, "the simulator wrote no URL");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = dir.join("run.log");
    let child = spawn_run(&archive, &url, TOKEN, &["--log", "trace"], &log);
    let want = snapshot(&reference(&stream)).await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    wait_for_line(&sim_log, &["simulator: played"], Duration::from_secs(30));
    assert_eq!(child.stop(), 0);
    assert_eq!(sim.stop(), 0);
    assert_absent(&log, TOKEN);
    let text = assert_absent(&sim_log, TOKEN);
    assert!(
        text.contains("connect accepted") && text.contains("<redacted>"),
        "the connect line, scrubbed, expected:\n{text}"
    );
}
