//! `run` with a configuration file: bad settings are bad usage naming the key and
//! the file (never the value), the default location is read, and flags beat the
//! environment, which beats the file. `run` stops at "no token" (exit 2) once its
//! command line is accepted, before it connects anywhere.

use std::path::{Path, PathBuf};

use crate::helpers::{binary, Run, TestArchive};

const CLEARED: &[&str] = &[
    "SPACES_ARCHIVE_TOKEN",
    "SPACES_ARCHIVE_TOKEN_FILE",
    "SPACES_ARCHIVE_REFRESH_TOKEN",
    "SPACES_ARCHIVE_CONFIG",
    "SPACES_ARCHIVE_METRICS_ADDR",
];

/// `run` with XDG_CONFIG_HOME in the temp dir, no token, and `env` set.
fn run(archive: &TestArchive, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = binary();
    for name in CLEARED {
        command.env_remove(name);
    }
    command
        .env("XDG_CONFIG_HOME", archive.dir.path().join("xdg"))
        .envs(env.iter().copied())
        .arg("--data-dir")
        .arg(archive.data_dir())
        .arg("run")
        .args(args);
    command.output().expect("run binary").into()
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn accepted(run: &Run) -> bool {
    run.code == 2 && run.stderr.contains("no token")
}

#[test]
fn a_bad_setting_is_bad_usage_naming_the_key_and_the_file() {
    let archive = TestArchive::new();
    let file = write(
        &archive.dir.path().join("archiver.toml"),
        "server = \"https://spaces.example\"\nconnect-timeout = -5\n",
    );
    let out = run(&archive, &[], &["--config", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`connect-timeout`") && out.stderr.contains(file.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("-5"),
        "the value is shown: {}",
        out.stderr
    );
    let out = run(&archive, &[], &["--config", "/no/such/config.toml"]);
    assert_eq!(out.code, 2);
    assert!(out
        .stderr
        .contains("cannot read the configuration file /no/such/config.toml"));
}

#[test]
fn the_default_file_is_read_and_unknown_keys_are_refused() {
    let archive = TestArchive::new();
    let out = run(&archive, &[], &[]);
    assert!(accepted(&out), "no file is fine: {}", out.stderr);
    let file = archive.dir.path().join("xdg/spaces-archive/config.toml");
    write(
        &file,
        "sweep-intervall = 60\ntoken = \"eyJ-a-real-token\"\n",
    );
    let out = run(&archive, &[], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown key `sweep-intervall`")
            && out.stderr.contains(file.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("eyJ"), "{}", out.stderr);
    write(
        &file,
        "[run]\nsweep-interval = 60\nspace = [\"Finance\", \"Legal\"]\n",
    );
    assert!(accepted(&run(&archive, &[], &[])));
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let archive = TestArchive::new();
    let file = archive.dir.path().join("xdg/spaces-archive/config.toml");
    write(&file, "metrics-addr = \"not-an-address\"\n");
    let out = run(&archive, &[], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("bad value for `metrics-addr`"),
        "{}",
        out.stderr
    );
    let env = [("SPACES_ARCHIVE_METRICS_ADDR", "127.0.0.1:0")];
    let out = run(&archive, &env, &[]);
    assert!(
        accepted(&out),
        "the environment beats the file: {}",
        out.stderr
    );
    let env = [("SPACES_ARCHIVE_METRICS_ADDR", "junk")];
    let out = run(&archive, &env, &["--metrics-addr", "127.0.0.1:0"]);
    assert!(accepted(&out), "the flag beats both: {}", out.stderr);
}
