//! `spaces-archive generate --events N [--seed S] [--spaces K]`.

use std::io::{BufWriter, Write};

use clap::Args;

use super::Outcome;
use crate::generate::{write_stream, GenerateOptions};

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of payloads to write.
    #[arg(long, value_name = "N")]
    pub events: u64,
    /// Seed; the same seed gives the same stream.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Spaces at the start of the stream.
    #[arg(long, value_name = "K", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub spaces: u64,
    /// Also print, on stderr, the JSON tally of what an archive of the stream must hold.
    #[arg(long)]
    pub expected: bool,
}

/// Runs `generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<Outcome> {
    let options = GenerateOptions {
        events: args.events,
        seed: args.seed,
        spaces: args.spaces as usize,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let expected = match write_stream(options, &mut out) {
        Ok(expected) => expected,
        // A closed pipe (`generate | head`) is a normal way to stop.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Outcome::Success),
        Err(e) => return Err(e.into()),
    };
    out.flush().ok();
    if args.expected {
        eprintln!("{}", serde_json::to_string(&expected)?);
    }
    Ok(Outcome::Success)
}
