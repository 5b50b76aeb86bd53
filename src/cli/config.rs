//! The configuration file of the long-running commands ([`CONFIGURABLE`]: `run`,
//! `serve`): a TOML file holding any of the command's flags, keyed by the long flag
//! name (`sweep-interval = 900`, `space = ["Finance", "Legal"]`, `json = true`).
//!
//! Which file: `--config FILE` (or `$SPACES_ARCHIVE_CONFIG`), which must exist; else
//! the first that exists of `$XDG_CONFIG_HOME/spaces-archive/config.toml` (without
//! XDG_CONFIG_HOME: `~/.config/spaces-archive/config.toml`) and
//! `/etc/spaces-archive/config.toml`; else none. Only one file is read.
//!
//! Which keys: a top-level key applies to each configurable command that has that
//! flag, and must be a flag of at least one of them (`data-dir` and `log`, global
//! flags, are flags of all). A `[run]` or `[serve]` table holds keys for that command
//! only, which must be its flags, and beat the same key at the top level. Any other
//! key is an error naming it and the file (bad usage).
//!
//! Precedence: a flag on the command line beats its environment variable, which beats
//! the file, which beats the default. The file's settings are added to the command
//! line as `--key=value` (each item of a list as one; `true` as the bare switch,
//! `false` as its `--no-key` when there is one) unless the flag was already given on
//! the command line or through the environment, and the whole is parsed again: clap
//! checks a value from the file exactly as it checks a flag, and a bad one is reported
//! with the key and the file. No error ever prints a value from the file (a token put
//! there by mistake stays out of the terminal and the logs).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args};

/// The subcommands that read the configuration file.
pub const CONFIGURABLE: &[&str] = &["run", "serve"];

/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "SPACES_ARCHIVE_CONFIG";

/// `--config FILE`, flattened into each command of [`CONFIGURABLE`].
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Read settings from this TOML file (default: the first that exists of
    /// $XDG_CONFIG_HOME/spaces-archive/config.toml, or ~/.config/…, and
    /// /etc/spaces-archive/config.toml). Flags and environment variables beat it.
    #[arg(long, env = CONFIG_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The default places of the file, in order: the user's, then the system's.
pub fn default_locations() -> Vec<PathBuf> {
    let non_empty = |key: &str| {
        std::env::var_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let user =
        non_empty("XDG_CONFIG_HOME").or_else(|| non_empty("HOME").map(|h| h.join(".config")));
    user.map(|dir| dir.join("spaces-archive/config.toml"))
        .into_iter()
        .chain(std::iter::once(PathBuf::from(
            "/etc/spaces-archive/config.toml",
        )))
        .collect()
}

/// The command line with the file's settings added.
#[derive(Debug)]
pub struct Applied {
    /// The new command line.
    pub argv: Vec<OsString>,
    /// The file read.
    pub path: PathBuf,
    /// The keys whose settings were added.
    pub keys: Vec<String>,
}

fn usage(message: String) -> clap::Error {
    clap::Error::raw(ErrorKind::InvalidValue, format!("{message}\n"))
}

/// Adds the configuration file's settings to `argv`, parsed as `matches` by `cli`
/// (built: global flags propagated). `None` when the command is not configurable,
/// or no file is given and none is in `locations`.
pub fn apply(
    argv: &[OsString],
    matches: &ArgMatches,
    cli: &clap::Command,
    locations: &[PathBuf],
) -> Result<Option<Applied>, clap::Error> {
    let Some((name, sub_matches)) = matches.subcommand() else {
        return Ok(None);
    };
    if !CONFIGURABLE.contains(&name) {
        return Ok(None);
    }
    let Some((path, text)) = read(sub_matches.get_one::<PathBuf>("config"), locations)? else {
        return Ok(None);
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| not_toml(&path, &text, &e))?;
    let settings = settings_for(name, table, cli, &path)?;
    let command = cli
        .find_subcommand(name)
        .expect("a parsed subcommand is a subcommand");
    let mut applied = Applied {
        argv: argv.to_vec(),
        path,
        keys: Vec::new(),
    };
    for (key, value) in settings {
        let tokens = flags_for(command, sub_matches, &key, &value, &applied.path)?;
        if !tokens.is_empty() {
            applied.argv.extend(tokens);
            applied.keys.push(key);
        }
    }
    Ok(Some(applied))
}

/// The file given (which must be readable), else the first default that exists.
fn read(
    given: Option<&PathBuf>,
    locations: &[PathBuf],
) -> Result<Option<(PathBuf, String)>, clap::Error> {
    let cannot = |path: &Path, e: std::io::Error| {
        usage(format!(
            "cannot read the configuration file {}: {e}",
            path.display()
        ))
    };
    if let Some(path) = given {
        return match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some((path.clone(), text))),
            Err(e) => Err(cannot(path, e)),
        };
    }
    for path in locations {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok(Some((path.clone(), text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(cannot(path, e)),
        }
    }
    Ok(None)
}

/// A TOML syntax error, placed by line and column, without the text (which may hold
/// a secret).
fn not_toml(path: &Path, text: &str, error: &toml::de::Error) -> clap::Error {
    let place = error
        .span()
        .map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
            format!(":{line}:{column}")
        })
        .unwrap_or_default();
    let message = error.message().lines().next().unwrap_or("").trim();
    usage(format!(
        "{}{place}: not a TOML configuration file: {message}",
        path.display()
    ))
}

/// Whether `command` has a settable flag `--key`.
fn has_flag(command: &clap::Command, key: &str) -> bool {
    find_flag(command, key).is_some()
}

/// The flag `--key` of `command`, when it is one a file may set.
fn find_flag<'c>(command: &'c clap::Command, key: &str) -> Option<&'c clap::Arg> {
    command.get_arguments().find(|arg| {
        arg.get_long() == Some(key)
            && arg.get_id() != "config"
            && !matches!(arg.get_action(), ArgAction::Help | ArgAction::Version)
    })
}

/// The file's settings for command `name`: its top-level keys that are its flags,
/// then its table's. Checks every key of the file.
fn settings_for(
    name: &str,
    table: toml::Table,
    cli: &clap::Command,
    path: &Path,
) -> Result<Vec<(String, toml::Value)>, clap::Error> {
    let commands: Vec<&clap::Command> = CONFIGURABLE
        .iter()
        .filter_map(|n| cli.find_subcommand(n))
        .collect();
    let names: Vec<&str> = commands.iter().map(|c| c.get_name()).collect();
    let unknown = |key: &str, of: &str| {
        let hint = if key.contains("token") || key.contains("secret") {
            " (secrets are never read from this file: use the environment or --token-file)"
        } else if key == "config" {
            " (the file cannot name another one)"
        } else {
            ""
        };
        usage(format!(
            "unknown key `{key}` in {}: not a flag of {of}{hint}",
            path.display()
        ))
    };
    let mut top = Vec::new();
    let mut own = Vec::new();
    for (key, value) in table {
        if let Some(command) = commands.iter().find(|c| c.get_name() == key) {
            let toml::Value::Table(section) = value else {
                return Err(usage(format!(
                    "`{key}` in {} must be a table ([{key}]) of its flags",
                    path.display()
                )));
            };
            for (inner, value) in section {
                if !has_flag(command, &inner) {
                    return Err(unknown(&format!("{key}.{inner}"), &key));
                }
                if key == name {
                    own.push((inner, value));
                }
            }
        } else if !commands.iter().any(|c| has_flag(c, &key)) {
            return Err(unknown(&key, &names.join(" or ")));
        } else if commands
            .iter()
            .any(|c| c.get_name() == name && has_flag(c, &key))
        {
            top.push((key, value));
        }
    }
    top.retain(|(key, _)| !own.iter().any(|(k, _)| k == key));
    top.extend(own);
    Ok(top)
}

/// Whether the flag with this id was given on the command line or through the
/// environment (and so beats the file).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The command-line words for `key = value`: none when the flag was given already.
fn flags_for(
    command: &clap::Command,
    matches: &ArgMatches,
    key: &str,
    value: &toml::Value,
    path: &Path,
) -> Result<Vec<OsString>, clap::Error> {
    let arg = find_flag(command, key).expect("keys are checked to be flags");
    // `--in-history` and `--no-in-history`: either one given beats the file's setting of
    // the other.
    let negation = find_flag(command, &format!("no-{key}"));
    let partner = key.strip_prefix("no-").and_then(|k| find_flag(command, k));
    if [Some(arg), negation, partner]
        .into_iter()
        .flatten()
        .any(|a| given(matches, a.get_id().as_str()))
    {
        return Ok(Vec::new());
    }
    let bad = |what: &str| usage(format!("{}: `{key}` {what}", path.display()));
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![format!("--{key}").into()]),
            toml::Value::Boolean(false) => Ok(negation
                .map(|_| format!("--no-{key}").into())
                .into_iter()
                .collect()),
            _ => Err(bad("is a switch: give true or false")),
        };
    }
    let many = matches!(arg.get_action(), ArgAction::Append);
    let items: Vec<&toml::Value> = match value {
        toml::Value::Array(items) if many => items.iter().collect(),
        toml::Value::Array(_) => return Err(bad("takes one value, not a list")),
        single => vec![single],
    };
    items
        .into_iter()
        .map(|item| {
            let text = match item {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Datetime(d) => d.to_string(),
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    return Err(bad("takes a string or a number here"))
                }
            };
            Ok(format!("--{key}={text}").into())
        })
        .collect()
}

/// A parse error caused by a setting from the file, told with the key and the file
/// (and without the value); any other error as clap made it.
pub fn blame(error: clap::Error, applied: &Applied) -> clap::Error {
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let flag = arg.split([' ', '=']).next().unwrap_or("");
    let Some(key) = applied.keys.iter().find(|k| flag == format!("--{k}")) else {
        return error;
    };
    let reason = match (error.kind(), error.get(ContextKind::ValidValue)) {
        (ErrorKind::InvalidValue, Some(ContextValue::Strings(valid))) => {
            format!("must be one of: {}", valid.join(", "))
        }
        _ => std::error::Error::source(&error)
            .map(|e| e.to_string())
            .unwrap_or_else(|| error.kind().as_str().unwrap_or("not accepted").to_string()),
    };
    usage(format!(
        "{}: bad value for `{key}`: {reason}",
        applied.path.display()
    ))
}

#[cfg(test)]
mod tests;
