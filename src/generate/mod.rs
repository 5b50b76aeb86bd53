//! `generate`: a deterministic stream of realistic `MESSAGE_SENT` payloads for tests,
//! the simulator and benchmarks. Besides the payloads it keeps an independent tally
//! ([`Expected`]) of what an archive of the stream must hold.

mod model;
pub mod text;

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

pub use model::Generator;

/// Options of a generated stream.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    /// Number of payloads.
    pub events: u64,
    /// Seed: the same seed gives the same stream.
    pub seed: u64,
    /// Spaces at the start (more appear through `app.event.topic.new`).
    pub spaces: usize,
}

/// What an archive of the whole stream must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// Payloads.
    pub events: u64,
    /// Payloads by category.
    pub categories: BTreeMap<String, u64>,
    /// Payloads identical to an earlier one (a preference toggled back carries no
    /// time, so it repeats an earlier payload byte for byte).
    pub duplicates: u64,
    /// Payloads of categories the archive does not normalize.
    pub unknown: u64,
    /// Distinct spaces named.
    pub spaces: u64,
    /// Distinct people named.
    pub people: u64,
    /// Chat messages (replies included).
    pub chat: u64,
    /// Posts.
    pub post: u64,
    /// Tasks.
    pub task: u64,
    /// Removed messages.
    pub removed: u64,
    /// Message versions (each create, update and removal is a distinct state).
    pub versions: u64,
    /// Attachments of the messages' current versions.
    pub attachments: u64,
}

/// Tally kept while generating.
#[derive(Default)]
struct Tally {
    expected: Expected,
    spaces: HashSet<String>,
    people: HashSet<String>,
    preferences: HashSet<String>,
}

impl Tally {
    fn category(&mut self, category: &str) {
        self.expected.events += 1;
        *self
            .expected
            .categories
            .entry(category.to_string())
            .or_default() += 1;
    }

    fn finish(&self) -> Expected {
        Expected {
            spaces: self.spaces.len() as u64,
            people: self.people.len() as u64,
            ..self.expected.clone()
        }
    }
}

/// Writes the stream as JSON lines and returns the tally.
pub fn write_stream(
    options: GenerateOptions,
    out: &mut impl std::io::Write,
) -> std::io::Result<Expected> {
    let mut generator = Generator::new(options);
    for payload in generator.by_ref() {
        serde_json::to_writer(&mut *out, &payload)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(generator.expected())
}

/// The whole stream in memory (for tests).
pub fn stream(options: GenerateOptions) -> (Vec<Value>, Expected) {
    let mut generator = Generator::new(options);
    let payloads = generator.by_ref().collect();
    (payloads, generator.expected())
}
