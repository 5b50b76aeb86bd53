//! The command line as people type it: `Cli::try_parse_from` for what clap decides
//! alone, [`parse_from`] for what is done after it (flags after a query).

use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use super::search::SearchArgs;
use super::{parse_from, Cli, Command};

fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("spaces-archive").chain(args.iter().copied()))
}

fn search(args: &[&str]) -> SearchArgs {
    match cli(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command
    {
        Command::Search(search) => search,
        other => panic!("not search: {other:?}"),
    }
}

/// Through [`parse_from`], with no configuration file.
fn full_search(args: &[&str]) -> SearchArgs {
    let argv = std::iter::once("spaces-archive").chain(args.iter().copied());
    match parse_from(argv, &[]).unwrap_or_else(|e| panic!("{args:?}: {e}")) {
        Cli {
            command: Command::Search(search),
            ..
        } => search,
        other => panic!("not search: {other:?}"),
    }
}

/// The error of a command line clap refuses: bad usage, exit 2.
fn refused(args: &[&str]) -> clap::Error {
    let error = cli(args).expect_err(&format!("{args:?} should be refused"));
    assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
    error
}

#[test]
fn the_command_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn several_words_are_one_query() {
    let args = search(&["search", "budget", "AND", "forecast"]);
    assert_eq!(args.query_text(), "budget AND forecast");
    assert_eq!(
        search(&["search", "budget AND forecast"]).query_text(),
        "budget AND forecast"
    );
    let args = search(&["search", "--limit", "5", "budget", "AND", "forecast"]);
    assert_eq!(
        (args.limit, args.query_text().as_str()),
        (5, "budget AND forecast")
    );
    assert_eq!(
        refused(&["search"]).kind(),
        ErrorKind::MissingRequiredArgument
    );
    refused(&["search", "--json"]);
}

#[test]
fn a_query_may_start_with_a_hyphen() {
    assert_eq!(
        search(&["search", "-spam", "budget"]).query_text(),
        "-spam budget"
    );
    let args = search(&["search", "--json", "-spam", "budget"]);
    assert!(args.json);
    assert_eq!(args.query_text(), "-spam budget");
    assert_eq!(
        search(&["search", "--unknown-word"]).query_text(),
        "--unknown-word"
    );
    assert_eq!(search(&["search", "--", "--json"]).query_text(), "--json");
    let args = search(&["search", "--json", "--limit", "3", "--", "-x", "y"]);
    assert_eq!(
        (args.json, args.limit, args.query_text().as_str()),
        (true, 3, "-x y")
    );
}

#[test]
fn flags_after_the_query_are_flags() {
    let args = full_search(&[
        "search",
        "budget",
        "--json",
        "--limit",
        "3",
        "--space=Finance",
    ]);
    assert!(args.json);
    assert_eq!(args.limit, 3);
    assert_eq!(args.filters.space, ["Finance"]);
    assert_eq!(args.query_text(), "budget");
    let args = full_search(&["search", "-spam", "budget", "--no-in-history", "AND", "x"]);
    assert!(args.no_in_history);
    assert_eq!(args.query_text(), "-spam budget AND x");
    assert_eq!(
        full_search(&["search", "budget", "--", "--json", "-h"]).query_text(),
        "budget --json -h"
    );
    let args = full_search(&["search", "--", "budget", "--json"]);
    assert!(!args.json);
    assert_eq!(args.query_text(), "budget --json");
    let argv = ["spaces-archive", "search", "budget", "--limit", "many"];
    assert_eq!(parse_from(argv, &[]).unwrap_err().exit_code(), 2);
}

#[test]
fn in_history_is_a_switch_with_a_negation() {
    assert!(!search(&["search", "x"]).no_in_history, "on by default");
    assert!(!search(&["search", "--in-history", "x"]).no_in_history);
    assert!(search(&["search", "--no-in-history", "x"]).no_in_history);
    assert!(!search(&["search", "--no-in-history", "--in-history", "x"]).no_in_history);
    assert!(search(&["search", "--in-history", "--no-in-history", "x"]).no_in_history);
    for old in [
        &["spaces-archive", "search", "--in-history", "false", "x"][..],
        &["spaces-archive", "search", "x", "--in-history", "true"],
    ] {
        let error = parse_from(old, &[]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--no-in-history"), "{error}");
    }
    let args = full_search(&["search", "--in-history", "--", "false"]);
    assert_eq!(args.query_text(), "false");
}

#[test]
fn context_takes_a_count() {
    assert_eq!(search(&["search", "x"]).context, 0);
    assert_eq!(search(&["search", "--context", "2", "x"]).context, 2);
    refused(&["search", "--context", "-1", "x"]);
    refused(&["search", "--context", "some", "x"]);
}

#[test]
fn durations_are_checked_while_parsing() {
    let Command::Run(run) = cli(&["run"]).unwrap().command else {
        panic!("not run")
    };
    assert_eq!(run.connect_timeout, Duration::from_secs(20));
    assert_eq!(run.sweep_window, Duration::from_secs(86_400));
    let Command::Run(run) = cli(&["run", "--connect-timeout", "0.5", "--sweep-interval", "15m"])
        .unwrap()
        .command
    else {
        panic!("not run")
    };
    assert_eq!(run.connect_timeout, Duration::from_millis(500));
    assert_eq!(run.sweep_interval, Duration::from_secs(900));
    for bad in [
        &["run", "--connect-timeout", "-5"][..],
        &["run", "--connect-timeout=-5"],
        &["run", "--status-interval", "NaN"],
        &["run", "--relist-interval", "inf"],
        &["run", "--backfill-safety", "soon"],
        &["run", "--max-reconnect-delay", "1e400"],
        &["run", "--sweep-window", "0"],
        &["simulate", "--drop-every", "-1"],
        &["simulate", "--linger", "forever"],
        &["simulate", "--rate", "-10"],
        &["simulate", "--ping-interval", "NaN"],
    ] {
        assert_eq!(refused(bad).kind(), ErrorKind::ValueValidation, "{bad:?}");
    }
    // Not a number, so a flag to clap: refused as an unknown one.
    refused(&["run", "--sweep-window", "-7d"]);
    let error = refused(&["run", "--connect-timeout", "-5"]).to_string();
    assert!(
        error.contains("--connect-timeout") && error.contains("negative"),
        "{error}"
    );
}

#[test]
fn times_are_checked_while_parsing() {
    let args = search(&[
        "search",
        "--since",
        "2024-01-05",
        "--until",
        "2024-01-06T12:00:00Z",
        "x",
    ]);
    assert_eq!(args.filters.since, Some(1_704_412_800_000));
    assert_eq!(args.filters.until, Some(1_704_542_400_000));
    let week = search(&["search", "--since", "7d", "x"])
        .filters
        .since
        .unwrap();
    let ago = crate::event::time::now_millis() - week;
    assert!((7 * 86_400_000..7 * 86_400_000 + 60_000).contains(&ago));
    for bad in [
        &["search", "--since", "yesterday", "x"][..],
        &["search", "--until", "2024-13-01", "x"],
        &["export", "--since", "7x"],
        &["export", "--until", ""],
    ] {
        let error = refused(bad);
        assert_eq!(error.kind(), ErrorKind::ValueValidation, "{bad:?}");
        assert!(error.to_string().contains("not a time"), "{error}");
    }
}

fn headings(command: &str) -> Vec<String> {
    let mut cli = Cli::command();
    cli.build();
    let mut found: Vec<String> = Vec::new();
    for arg in cli.find_subcommand(command).unwrap().get_arguments() {
        if let Some(heading) = arg.get_help_heading() {
            if !found.iter().any(|h| h == heading) {
                found.push(heading.to_string());
            }
        }
    }
    found
}

#[test]
fn flags_are_grouped_under_headings() {
    let want: [(&str, &[&str]); 4] = [
        (
            "run",
            &[
                "Connection",
                "Authentication",
                "Filters",
                "Intervals",
                "Limits",
                "Retention",
                "Monitoring",
            ],
        ),
        ("search", &["Filters", "Output"]),
        ("export", &["Filters", "Output", "Limits"]),
        (
            "simulate",
            &["Connection", "Stream", "Faults", "Files", "OAuth"],
        ),
    ];
    for (command, expected) in want {
        assert_eq!(headings(command), expected, "{command}");
    }
    let help = Cli::command().render_long_help().to_string();
    for code in [
        "Exit codes:",
        "0  success",
        "1  failure",
        "2  bad usage",
        "3  finished",
    ] {
        assert!(help.contains(code), "{help}");
    }
}
