//! JSON as Node.js writes it. `JSON.stringify` escapes a lone UTF-16 surrogate (what
//! is left of a string cut inside an emoji) as `\ud83d`; serde_json refuses it,
//! since a Rust string cannot hold one. Such text is read as if each lone surrogate
//! escape were `\uFFFD` (U+FFFD, the replacement character); the caller keeps the
//! text as received. A high surrogate followed by a low one is a valid pair and is
//! left alone, and `\\ud83d` is an escaped backslash followed by text, not an escape.

use serde::de::DeserializeOwned;

/// `\u` followed by four hex digits at `at`: the code unit.
fn unit_at(bytes: &[u8], at: usize) -> Option<u16> {
    if bytes.get(at) != Some(&b'\\') || bytes.get(at + 1) != Some(&b'u') {
        return None;
    }
    let digits = bytes.get(at + 2..at + 6)?;
    let digits = std::str::from_utf8(digits).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(digits, 16).ok()
}

fn is_high(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

fn is_low(unit: u16) -> bool {
    (0xDC00..0xE000).contains(&unit)
}

/// `text` with each lone surrogate escape replaced by `\uFFFD` (same length, so
/// error positions do not move), and the code units replaced, in order; `None`
/// when there is none.
pub fn replace_lone_surrogates(text: &str) -> Option<(String, Vec<u16>)> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut lone = Vec::new();
    let mut i = 0;
    // Searched as bytes: an escape's second character may be any character, so
    // `i` can land inside a multi-byte one, where a `str` slice would panic.
    while let Some(found) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\\'))
    {
        i += found;
        let Some(unit) = unit_at(bytes, i) else {
            // Any other escape (`\\`, `\"`, `\n`…) is two characters.
            i += 2;
            if i >= bytes.len() {
                break;
            }
            continue;
        };
        let pair = is_high(unit) && unit_at(bytes, i + 6).is_some_and(is_low);
        if pair {
            i += 12;
        } else if is_high(unit) || is_low(unit) {
            // Every byte around is ASCII (a backslash, an escape's end): slicing
            // here is on character boundaries.
            out.push_str(&text[copied..i]);
            out.push_str("\\uFFFD");
            lone.push(unit);
            i += 6;
            copied = i;
        } else {
            i += 6;
        }
        if i >= bytes.len() {
            break;
        }
    }
    if lone.is_empty() {
        return None;
    }
    out.push_str(&text[copied..]);
    Some((out, lone))
}

/// Parses `text` as JSON; when that fails and the text holds lone surrogate
/// escapes, parses it again with each read as U+FFFD. Also returns the code units
/// so read (empty when the text parsed as it is).
pub fn from_str_lenient<T: DeserializeOwned>(
    text: &str,
) -> Result<(T, Vec<u16>), serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(value) => Ok((value, Vec::new())),
        Err(error) => match replace_lone_surrogates(text) {
            Some((fixed, lone)) => serde_json::from_str(&fixed).map(|value| (value, lone)),
            None => Err(error),
        },
    }
}

/// [`from_str_lenient`] over bytes that must be UTF-8.
pub fn from_slice_lenient<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, Vec<u16>), serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => from_str_lenient(text),
        // serde_json names the bad byte's position.
        Err(_) => serde_json::from_slice(bytes).map(|value| (value, Vec::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn text_of(json: &str) -> String {
        let (value, _): (Value, _) = from_str_lenient(json).unwrap();
        value["t"].as_str().unwrap().to_string()
    }

    #[test]
    fn a_lone_high_surrogate_reads_as_the_replacement_character() {
        let json = r#"{"t":"cut \ud83d here"}"#;
        assert!(serde_json::from_str::<Value>(json).is_err());
        assert_eq!(text_of(json), "cut \u{FFFD} here");
        assert_eq!(text_of(r#"{"t":"end \uD83D"}"#), "end \u{FFFD}");
        let (_, lone): (Value, _) = from_str_lenient(json).unwrap();
        assert_eq!(lone, vec![0xD83D]);
    }

    #[test]
    fn a_lone_low_surrogate_reads_as_the_replacement_character() {
        assert_eq!(text_of(r#"{"t":"\ude00 after"}"#), "\u{FFFD} after");
    }

    #[test]
    fn a_reversed_pair_is_two_lone_surrogates() {
        assert_eq!(text_of(r#"{"t":"\ude00\ud83d"}"#), "\u{FFFD}\u{FFFD}");
        // A high surrogate before a valid pair: the first is lone, the pair stays.
        assert_eq!(text_of(r#"{"t":"\ud83d\ud83d\ude00"}"#), "\u{FFFD}😀");
    }

    #[test]
    fn a_valid_pair_and_escaped_backslashes_are_untouched() {
        assert_eq!(replace_lone_surrogates(r#"{"t":"\ud83d\ude00"}"#), None);
        assert_eq!(text_of(r#"{"t":"\ud83d\ude00"}"#), "😀");
        assert_eq!(replace_lone_surrogates(r#"{"t":"\\ud83d"}"#), None);
        assert_eq!(text_of(r#"{"t":"\\ud83d"}"#), "\\ud83d");
        // An escaped backslash, then a real lone escape.
        assert_eq!(text_of(r#"{"t":"\\\ud83d é"}"#), "\\\u{FFFD} é");
    }

    #[test]
    fn other_errors_are_still_errors() {
        assert!(from_str_lenient::<Value>(r#"{"t":"\ud83d"#).is_err());
        assert!(from_str_lenient::<Value>("not json").is_err());
        assert!(from_str_lenient::<Value>(r#"{"t":"\u12"}"#).is_err());
        assert!(from_str_lenient::<Value>("\\").is_err());
        assert_eq!(replace_lone_surrogates("\\u"), None);
        assert_eq!(replace_lone_surrogates("x\\"), None);
    }

    #[test]
    fn a_backslash_before_a_multibyte_character_does_not_panic() {
        // The fuzzer's find: `\` then U+06DC, whose second byte an escape's
        // two-character skip lands on.
        let found = "/usme/\\\u{4}\0\u{3}//\u{1c}\\%/\u{1c}\\\u{6dc}c\u{b}";
        assert_eq!(replace_lone_surrogates(found), None);
        assert!(from_str_lenient::<Value>(found).is_err());
        // And a lone escape after one is still replaced, the text around kept.
        let json = "{\"t\":\"\\\u{e9}\\ud83d \u{6dc}\"}";
        let (fixed, lone) = replace_lone_surrogates(json).unwrap();
        assert_eq!(fixed, "{\"t\":\"\\\u{e9}\\uFFFD \u{6dc}\"}");
        assert_eq!(lone, vec![0xD83D]);
    }
}
