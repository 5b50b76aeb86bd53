//! Secrets never reach a log line. Every secret the process holds (access and
//! refresh tokens, the OAuth client secret, the simulator's token) is registered
//! here, and everything written to stderr through [`RedactingStderr`] (all log
//! output, whatever crate or level it comes from) has each of them replaced by
//! `<redacted>` in every form a library may print it: as it is, URL-encoded, hex
//! and base64 (see [`forms`]). This is the second line of defence: the first is at
//! the source, where `cli::init_tracing` keeps the websocket libraries' frame dumps
//! out of the log.

mod forms;

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use aho_corasick::{AhoCorasick, MatchKind};

pub use forms::forms;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// The secrets registered, every form of them (longest first), and one automaton
/// finding them all in one pass.
struct Registry {
    secrets: Vec<String>,
    patterns: Vec<String>,
    matcher: Option<AhoCorasick>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    secrets: Vec::new(),
    patterns: Vec::new(),
    matcher: None,
});

/// Whether any secret is registered: lets [`scrub`] return at once (no lock) in
/// the commands that hold none.
static ANY: AtomicBool = AtomicBool::new(false);

/// Registers a secret: it is scrubbed, in all its forms, from all output.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if !registry.secrets.iter().any(|s| s == secret) {
        registry.secrets.push(secret.to_string());
        rebuild(&mut registry);
    }
}

/// Stops scrubbing a secret that is no longer used (a replaced access token, a
/// rotated refresh token), so the list does not grow for months.
pub fn forget(secret: &str) {
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let before = registry.secrets.len();
    registry.secrets.retain(|s| s != secret);
    if registry.secrets.len() != before {
        rebuild(&mut registry);
    }
}

/// Builds the automaton over every form of every registered secret. Longest match
/// first, so a form containing another is replaced whole.
fn rebuild(registry: &mut Registry) {
    let mut patterns: Vec<String> = Vec::new();
    for secret in &registry.secrets {
        for form in forms(secret) {
            if !patterns.contains(&form) {
                patterns.push(form);
            }
        }
    }
    patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
    // Building fails only past limits far beyond a few hundred short patterns;
    // should it, `scrub` replaces the patterns one by one instead.
    registry.matcher = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&patterns)
        .ok();
    ANY.store(!patterns.is_empty(), Ordering::Release);
    registry.patterns = patterns;
}

/// `text` with every registered secret, in any of its forms, replaced by
/// `<redacted>`.
pub fn scrub(text: &str) -> String {
    scrub_cow(text).into_owned()
}

/// [`scrub`] without a copy when there is nothing to replace.
pub fn scrub_cow(text: &str) -> Cow<'_, str> {
    if !ANY.load(Ordering::Acquire) {
        return Cow::Borrowed(text);
    }
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let Some(matcher) = &registry.matcher else {
        let mut out = Cow::Borrowed(text);
        for pattern in &registry.patterns {
            if out.contains(pattern.as_str()) {
                out = Cow::Owned(out.replace(pattern.as_str(), REDACTED));
            }
        }
        return out;
    };
    if !matcher.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    matcher.replace_all_with(text, &mut out, |_, _, out| {
        out.push_str(REDACTED);
        true
    });
    Cow::Owned(out)
}

/// A `tracing` writer to stderr that scrubs registered secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingStderr
    }
}

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter writes each event in one call, so a secret is never split.
        let mut stderr = io::stderr().lock();
        if !ANY.load(Ordering::Acquire) {
            stderr.write_all(buf)?;
        } else {
            let text = String::from_utf8_lossy(buf);
            stderr.write_all(scrub_cow(&text).as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests;
