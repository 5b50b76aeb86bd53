//! Private by default, whatever the umask: under umask 022, the data dir and every
//! directory in it are 0700 and every file the binary writes (SQLite files, index,
//! OAuth refresh token, exports and their `.sha256`) is 0600, an existing export
//! replaced included; a data dir found open to others gets a warning at the default
//! log level.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use spaces_archive::simulate::accounts::OAuthSim;
use spaces_archive::simulate::SimOptions;

use crate::helpers::{fixture, TestArchive};
use crate::live::{reference, simulator, snapshot, stream, wait_for, Running};

/// The binary, started by a shell that sets umask 022 first.
fn binary_022() -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_spaces-archive"))
        .env_remove("RUST_LOG");
    command
}

fn run_022(data_dir: &Path, args: &[&str]) -> Output {
    binary_022()
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every path under `dir` (itself included) whose mode is not 0700 for a directory
/// or 0600 for a file, and how many files were checked.
fn loose(dir: &Path) -> (Vec<String>, usize) {
    let (mut wrong, mut files) = (Vec::new(), 0);
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let is_dir = std::fs::symlink_metadata(&path).unwrap().is_dir();
        let want = if is_dir { 0o700 } else { 0o600 };
        if mode(&path) != want {
            wrong.push(format!("{} is {:04o}", path.display(), mode(&path)));
        }
        if is_dir {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else {
            files += 1;
        }
    }
    (wrong, files)
}

#[test]
fn archive_and_exports_are_private_under_umask_022() {
    let archive = TestArchive::new();
    let data = archive.data_dir();
    let seeds: Vec<PathBuf> = std::fs::read_dir(fixture("seed-payloads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut ingest = vec!["ingest"];
    ingest.extend(seeds.iter().map(|p| p.to_str().unwrap()));
    let out = run_022(&data, &ingest);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("open to other users"), "{stderr}");
    assert!(data.join("archive.sqlite").exists() && data.join("index").is_dir());

    // An export over an existing file with a looser mode.
    let exports = archive.dir.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    let export = exports.join("q3.jsonl");
    std::fs::write(&export, "old").unwrap();
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_022(&data, &["export", "--output", export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&export), 0o600);
    assert_eq!(mode(&exports.join("q3.jsonl.sha256")), 0o600);
    let out = run_022(&data, &["export", "verify", export.to_str().unwrap()]);
    assert!(out.status.success());

    let (wrong, files) = loose(&data);
    assert!(wrong.is_empty(), "not private: {wrong:#?}");
    assert!(files >= 5, "{files} files checked");
}

#[test]
fn a_data_dir_open_to_others_is_warned_about() {
    let archive = TestArchive::new();
    let data = archive.data_dir();
    assert!(run_022(&data, &["stats"]).status.success());
    assert_eq!(mode(&data), 0o700);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for command in [&["stats"][..], &["search", "anything"]] {
        let out = run_022(&data, command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .find(|l| l.contains("WARN") && l.contains("open to other users"))
            .unwrap_or_else(|| panic!("{command:?}: no warning in:\n{stderr}"));
        assert!(
            line.contains(data.to_str().unwrap()) && line.contains("0755"),
            "{line}"
        );
        assert_eq!(stderr.matches("open to other users").count(), 1, "{stderr}");
    }
    // It is a warning, not a change: the mode stays what the administrator set.
    assert_eq!(mode(&data), 0o755);
}

/// `run` with OAuth refresh: while it runs, the SQLite files (`-wal`, `-shm`), the
/// index, the refresh token and the digest beside it are all private.
#[tokio::test(flavor = "multi_thread")]
async fn run_writes_only_private_files_under_umask_022() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 200, 51, 3);
    let sim = simulator(
        SimOptions {
            rate: 1_000.0,
            auto_join: true,
            oauth: Some(OAuthSim {
                lifetime: Duration::from_secs(600),
                client_id: "client-9".into(),
                client_secret: "client-secret-d41a".into(),
                refresh_token: "first-refresh-77e0".into(),
                refuse_attempts: Vec::new(),
            }),
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let url = sim.url();
    let log = archive.dir.path().join("run.log");
    let child = Running(Some(
        binary_022()
            .arg("--data-dir")
            .arg(archive.data_dir())
            .args(["run", "--server", &url, "--api", &format!("{url}/api")])
            .args(["--token-type", "oauth", "--accounts"])
            .arg(format!("{url}/oauth2/access_token"))
            .env("SPACES_ARCHIVE_REFRESH_TOKEN", "first-refresh-77e0")
            .env("SPACES_ARCHIVE_CLIENT_ID", "client-9")
            .env("SPACES_ARCHIVE_CLIENT_SECRET", "client-secret-d41a")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    ));
    let want = snapshot(&reference(&stream)).await;
    wait_for(&archive, &want, Duration::from_secs(60)).await;
    let data = archive.data_dir();
    for name in [
        "oauth-refresh-token",
        "archive.sqlite-wal",
        "archive.sqlite-shm",
    ] {
        assert!(data.join(name).exists(), "{name} expected while run runs");
    }
    let (wrong, _) = loose(&data);
    assert!(wrong.is_empty(), "not private while running: {wrong:#?}");
    assert_eq!(
        child.stop(),
        0,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let (wrong, _) = loose(&data);
    assert!(wrong.is_empty(), "not private after: {wrong:#?}");
    sim.stop().await;
}
