//! The configuration file: precedence, keys, lists, switches and bad values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{parse_from, Cli, Command, Global};

use super::super::run::RunArgs;

/// A file holding `text` in a fresh temp dir.
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn parse(args: &[&str], locations: &[PathBuf]) -> Result<Cli, clap::Error> {
    parse_from(
        std::iter::once("spaces-archive").chain(args.iter().copied()),
        locations,
    )
}

fn run_with(config: &Path, args: &[&str]) -> Result<(Global, RunArgs), clap::Error> {
    let mut argv = vec!["run", "--config", config.to_str().unwrap()];
    argv.extend_from_slice(args);
    match parse(&argv, &[])? {
        Cli {
            global,
            command: Command::Run(run),
        } => Ok((global, run)),
        other => panic!("not run: {other:?}"),
    }
}

/// The error's message: bad usage (exit 2).
fn refused(config: &Path, args: &[&str]) -> String {
    let error = run_with(config, args).expect_err("should be refused");
    assert_eq!(error.exit_code(), 2, "{error}");
    error.to_string()
}

#[test]
fn the_file_beats_defaults_and_flags_beat_the_file() {
    let (_dir, path) = file(
        "sweep-interval = 120\nsweep-window = \"7d\"\nconnect-timeout = 2.5\nrest-per-minute = 30\n",
    );
    let (_, run) = run_with(&path, &[]).unwrap();
    assert_eq!(run.sweep_interval, Duration::from_secs(120));
    assert_eq!(run.sweep_window, Duration::from_secs(7 * 86_400));
    assert_eq!(run.connect_timeout, Duration::from_millis(2500));
    assert_eq!(run.rest_per_minute, 30);
    assert_eq!(run.status_interval, Duration::from_secs(60), "default");
    let (_, run) = run_with(&path, &["--sweep-interval", "5", "--rest-per-minute=7"]).unwrap();
    assert_eq!(run.sweep_interval, Duration::from_secs(5));
    assert_eq!(run.rest_per_minute, 7);
    assert_eq!(run.sweep_window, Duration::from_secs(7 * 86_400));
}

#[test]
fn lists_and_global_flags() {
    let (_dir, path) = file(
        "space = [\"Finance\", \"Legal\"]\nexclude-space = \"Random\"\ndata-dir = \"/srv/archive\"\nlog = \"info\"\n",
    );
    let (cli, run) = run_with(&path, &[]).unwrap();
    assert_eq!(run.spaces, ["Finance", "Legal"]);
    assert_eq!(run.exclude, ["Random"]);
    assert_eq!(cli.data_dir, Some(PathBuf::from("/srv/archive")));
    assert_eq!(cli.log.as_deref(), Some("info"));
    let (cli, run) = run_with(&path, &["--space", "Ops", "--data-dir", "/tmp/x"]).unwrap();
    assert_eq!(
        run.spaces,
        ["Ops"],
        "the command line's list replaces the file's"
    );
    assert_eq!(cli.data_dir, Some(PathBuf::from("/tmp/x")));
    let (_dir, path) = file("connect-timeout = [1, 2]\n");
    assert!(refused(&path, &[]).contains("takes one value, not a list"));
}

#[test]
fn tables_beat_the_top_level() {
    let (_dir, path) = file("sweep-interval = 120\nlog = \"warn\"\n\n[run]\nsweep-interval = 60\n");
    let (cli, run) = run_with(&path, &[]).unwrap();
    assert_eq!(run.sweep_interval, Duration::from_secs(60));
    assert_eq!(cli.log.as_deref(), Some("warn"));
    let (_dir, path) = file("[run]\nsweep-intervall = 60\n");
    let error = refused(&path, &[]);
    assert!(error.contains("`run.sweep-intervall`"), "{error}");
    let (_dir, path) = file("run = 5\n");
    assert!(refused(&path, &[]).contains("must be a table"));
}

#[test]
fn unknown_keys_are_named_with_the_file() {
    for (text, key) in [
        ("sweep-intervall = 60\n", "`sweep-intervall`"),
        ("json = true\n", "`json`"),
        ("config = \"other.toml\"\n", "`config`"),
        ("help = true\n", "`help`"),
        ("token = \"eyJhbGciOiJIUzI1NiJ9.c2VjcmV0\"\n", "`token`"),
    ] {
        let (_dir, path) = file(text);
        let error = refused(&path, &[]);
        assert!(error.contains(key), "{text}: {error}");
        assert!(error.contains(path.to_str().unwrap()), "{text}: {error}");
        assert!(!error.contains("eyJ"), "a value is printed: {error}");
    }
}

#[test]
fn bad_values_are_named_with_the_key_and_the_file_but_not_shown() {
    for (text, key, says) in [
        ("connect-timeout = -5\n", "`connect-timeout`", "negative"),
        (
            "sweep-window = \"soon\"\n",
            "`sweep-window`",
            "not a length of time",
        ),
        (
            "protocol = \"v9\"\n",
            "`protocol`",
            "must be one of: v3, v4",
        ),
        ("server = \"eyJsecret-looking\"\n", "`server`", "URL"),
        ("metrics-addr = 9464\n", "`metrics-addr`", "address"),
        (
            "rest-per-minute = \"eyJmany\"\n",
            "`rest-per-minute`",
            "digit",
        ),
    ] {
        let (_dir, path) = file(text);
        let error = refused(&path, &[]);
        assert!(
            error.contains(key) && error.contains(path.to_str().unwrap()),
            "{text}: {error}"
        );
        assert!(
            error.to_lowercase().contains(&says.to_lowercase()),
            "{text}: {error}"
        );
        assert!(
            !error.contains("eyJ") && !error.contains("-5"),
            "a value is shown: {error}"
        );
    }
    let (_dir, path) = file("connect-timeout = -5\n");
    run_with(&path, &["--connect-timeout", "3"]).expect("the flag beats the bad setting");
}

/// A command with switches (`run` has none): `true` is the bare switch, `false` its
/// negation when there is one, and either form given on the command line wins.
#[test]
fn switches_take_booleans() {
    use clap::{Arg, ArgAction};
    let switch = |name: &'static str| Arg::new(name).long(name).action(ArgAction::SetTrue);
    let mut cli = clap::Command::new("spaces-archive").subcommand(
        clap::Command::new("run")
            .arg(
                Arg::new("config")
                    .long("config")
                    .value_parser(clap::value_parser!(PathBuf)),
            )
            .arg(switch("json"))
            .arg(switch("in-history"))
            .arg(switch("no-in-history"))
            .arg(switch("quiet")),
    );
    cli.build();
    let added = |text: &str, args: &[&str]| -> Result<Vec<String>, clap::Error> {
        let (_dir, path) = file(text);
        let mut argv = vec!["spaces-archive", "run", "--config", path.to_str().unwrap()];
        argv.extend_from_slice(args);
        let argv: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
        let matches = cli.clone().try_get_matches_from(&argv).unwrap();
        let applied = super::apply(&argv, &matches, &cli, &[])?.expect("a file");
        Ok(applied.argv[argv.len()..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    };
    let text = "json = true\nin-history = false\nquiet = false\n";
    assert_eq!(added(text, &[]).unwrap(), ["--no-in-history", "--json"]);
    assert_eq!(added(text, &["--in-history"]).unwrap(), ["--json"]);
    assert_eq!(added(text, &["--json"]).unwrap(), ["--no-in-history"]);
    assert_eq!(
        added("no-in-history = true\n", &["--in-history"]).unwrap(),
        Vec::<String>::new()
    );
    let error = added("json = \"yes\"\n", &[]).unwrap_err().to_string();
    assert!(error.contains("`json` is a switch"), "{error}");
    let (_dir, path) = file("connect-timeout = true\n");
    assert!(refused(&path, &[]).contains("`connect-timeout`"));
    let (_dir, path) = file("space = [[\"a\"]]\n");
    assert!(refused(&path, &[]).contains("a string or a number"));
}

#[test]
fn files_that_are_not_toml_or_not_there() {
    let (_dir, path) = file("token = eyJunquoted\n");
    let error = refused(&path, &[]);
    assert!(error.contains(":1:9") && !error.contains("eyJ"), "{error}");
    let missing = Path::new("/no/such/dir/config.toml");
    let error = refused(missing, &[]);
    assert!(
        error.contains("cannot read the configuration file /no/such/dir"),
        "{error}"
    );
}

#[test]
fn default_locations_are_optional() {
    let (_dir, path) = file("sweep-interval = 30\n");
    let absent = PathBuf::from("/no/such/dir/config.toml");
    let Command::Run(run) = parse(&["run"], std::slice::from_ref(&absent))
        .unwrap()
        .command
    else {
        panic!("not run")
    };
    assert_eq!(
        run.sweep_interval,
        Duration::from_secs(900),
        "no file: defaults"
    );
    let Command::Run(run) = parse(&["run"], &[absent, path.clone()]).unwrap().command else {
        panic!("not run")
    };
    assert_eq!(
        run.sweep_interval,
        Duration::from_secs(30),
        "the first that exists"
    );
    let (_dir, bad) = file("nonsense = 1\n");
    let Command::Search(_) = parse(&["search", "x"], &[bad]).unwrap().command else {
        panic!("not search")
    };
}

#[test]
fn every_configurable_command_takes_config() {
    let mut cli = <Cli as clap::CommandFactory>::command();
    cli.build();
    for name in super::CONFIGURABLE {
        if let Some(command) = cli.find_subcommand(name) {
            assert!(
                command
                    .get_arguments()
                    .any(|a| a.get_long() == Some("config")),
                "`{name}` needs `#[command(flatten)] config: ConfigArg`"
            );
        }
    }
}
