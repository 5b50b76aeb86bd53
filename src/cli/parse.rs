//! Reading the command line. clap parses it; then, for `search`, flags written after
//! the query words (which take every word from the first on) are moved before them;
//! then, for a configurable command, the configuration file's settings are added
//! ([`super::config`]); each time the new command line is parsed again, so that clap
//! checks everything. Every error here is bad usage (exit 2).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::{config, Cli};

/// Parses the process's command line, with the configuration file in its default
/// places; prints the error and exits (2; 0 for `--help` and `--version`) when it
/// cannot.
pub fn parse() -> Cli {
    parse_from(std::env::args_os(), &config::default_locations()).unwrap_or_else(|e| e.exit())
}

/// Parses `argv` (the program name first), looking for a configuration file in
/// `locations` when none is given.
pub fn parse_from<I, T>(argv: I, locations: &[PathBuf]) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = Cli::command();
    command.build();
    let mut argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut matches = command.clone().try_get_matches_from(&argv)?;
    if let Some(hoisted) = hoist_search_flags(&argv, &matches, &mut command)? {
        argv = hoisted;
        matches = command.clone().try_get_matches_from(&argv)?;
    }
    if let Some(applied) = config::apply(&argv, &matches, &command, locations)? {
        matches = command
            .clone()
            .try_get_matches_from(&applied.argv)
            .map_err(|e| config::blame(e, &applied))?;
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// `search budget --json`: the flags of `search` among its query words (`--name`,
/// `--name=value`, `--name value` for a flag that takes a value, `-h`) moved before
/// them. Words after a `--` stay query words, and so does a whole query after `--`.
fn hoist_search_flags(
    argv: &[OsString],
    matches: &ArgMatches,
    cli: &mut clap::Command,
) -> Result<Option<Vec<OsString>>, clap::Error> {
    let Some(("search", sub)) = matches.subcommand() else {
        return Ok(None);
    };
    let words = sub.get_raw("query").map_or(0, |w| w.len());
    // The query takes every word to the end once it starts.
    let start = argv.len() - words;
    if start > 0 && argv[start - 1] == "--" {
        return Ok(None);
    }
    let search = cli
        .find_subcommand_mut("search")
        .expect("search is a subcommand");
    let ends = argv[start..]
        .iter()
        .position(|w| w == "--")
        .map_or(argv.len(), |at| start + at);
    check_in_history(&argv[start.saturating_sub(1)..ends], search)?;
    let (mut flags, mut query) = (Vec::new(), Vec::new());
    let mut rest = argv[start..].iter();
    while let Some(word) = rest.next() {
        if word == "--" {
            query.extend(rest.by_ref().cloned());
            break;
        }
        match search_flag(search, word) {
            Some(takes_value) => {
                flags.push(word.clone());
                if takes_value {
                    flags.extend(rest.next().cloned());
                }
            }
            None => query.push(word.clone()),
        }
    }
    if flags.is_empty() && query.len() == words {
        return Ok(None);
    }
    let mut hoisted = argv[..start].to_vec();
    hoisted.extend(flags);
    hoisted.push("--".into());
    hoisted.extend(query);
    Ok(Some(hoisted))
}

/// Whether `word` is a flag of `search` and, if so, whether its value is the next
/// word.
fn search_flag(search: &clap::Command, word: &OsString) -> Option<bool> {
    let word = word.to_str()?;
    let takes_value = |arg: &clap::Arg| arg.get_num_args().is_some_and(|n| n.takes_values());
    if let Some(long) = word.strip_prefix("--").filter(|l| !l.is_empty()) {
        let (name, inline) = match long.split_once('=') {
            Some((name, _)) => (name, true),
            None => (long, false),
        };
        let arg = search
            .get_arguments()
            .find(|a| a.get_long() == Some(name))?;
        return Some(!inline && takes_value(arg));
    }
    let mut short = word.strip_prefix('-')?.chars();
    let (Some(c), None) = (short.next(), short.next()) else {
        return None;
    };
    let arg = search.get_arguments().find(|a| a.get_short() == Some(c))?;
    Some(takes_value(arg))
}

/// `--in-history false` (the old form) is refused: `--in-history` takes no value
/// now, and `false` would silently become a query word.
fn check_in_history(words: &[OsString], search: &mut clap::Command) -> Result<(), clap::Error> {
    let old_form = words
        .windows(2)
        .any(|pair| pair[0] == "--in-history" && (pair[1] == "true" || pair[1] == "false"));
    if old_form {
        return Err(search.error(
            ErrorKind::InvalidValue,
            "`--in-history` takes no value: write `--in-history` (the default) or \
             `--no-in-history` (or `-- true` to search for the word)",
        ));
    }
    Ok(())
}
