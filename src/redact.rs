//! Secrets never reach a log line: every secret the process holds is registered
//! here, and everything written to stderr through [`RedactingStderr`] (all log
//! output, whatever crate or level it comes from: a websocket library at trace
//! level prints request URLs and frames) has them replaced by `<redacted>`.

use std::io::{self, Write};
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret: it and its URL-encoded form are scrubbed from all output.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in [secret.to_string(), encoded] {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Stops scrubbing a secret that is no longer used (a replaced access token, a
/// rotated refresh token), so the list does not grow for months.
pub fn forget(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    secrets.retain(|s| *s != secret && *s != encoded);
}

/// `text` with every registered secret replaced by `<redacted>`.
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "<redacted>");
        }
    }
    out
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
        let clean = scrub(&String::from_utf8_lossy(buf));
        io::stderr().lock().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_plain_and_encoded_forms() {
        register("p@ss/w0rd");
        assert_eq!(
            scrub("a p@ss/w0rd b p%40ss%2Fw0rd c"),
            "a <redacted> b <redacted> c"
        );
        assert_eq!(scrub("nothing here"), "nothing here");
    }
}
