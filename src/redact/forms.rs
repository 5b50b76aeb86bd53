//! The forms a secret can take in a library's output: as it is, URL-encoded (as
//! the socket URL and namespace connect carry it), JSON-escaped, and each of those
//! as hex (lower and upper case, as tungstenite dumps frame payloads) and as base64
//! (standard and URL-safe alphabets). Base64 text depends on where the secret
//! starts inside the encoded bytes, so for each of the three byte alignments the
//! form is the run of characters fully determined by the secret's own bytes: it is
//! in every base64 text that holds the secret, padded or not.

/// Derived forms shorter than this are not scrubbed: a short run of hex or base64
/// would match unrelated text (the secret itself is always scrubbed).
const MIN_DERIVED: usize = 8;

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every form of `secret` to scrub, without repeats; empty for an empty secret.
pub fn forms(secret: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if secret.is_empty() {
        return out;
    }
    let mut push = |form: String, derived: bool| {
        if (!derived || form.len() >= MIN_DERIVED) && !out.contains(&form) {
            out.push(form);
        }
    };
    for base in textual(secret) {
        let bytes = base.as_bytes();
        push(hex(bytes, false), true);
        push(hex(bytes, true), true);
        for alphabet in [STANDARD, URL_SAFE] {
            for alignment in 0..3 {
                push(base64_core(bytes, alignment, alphabet), true);
            }
        }
        push(base, false);
    }
    out
}

/// The secret as text: plain, URL-encoded (`+` for spaces and upper-case escapes, as
/// `url` writes it; lower-case escapes, as some clients write them) and JSON-escaped.
fn textual(secret: &str) -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let lower = lower_escapes(&encoded);
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(secret)
        .to_string();
    let mut bases = vec![secret.to_string()];
    for form in [encoded, lower, json] {
        if !bases.contains(&form) {
            bases.push(form);
        }
    }
    bases
}

/// `%2F` → `%2f` in a URL-encoded text.
fn lower_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut left = 0;
    for c in encoded.chars() {
        if c == '%' {
            left = 2;
            out.push(c);
        } else if left > 0 {
            left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Hex digits of `bytes`.
pub fn hex(bytes: &[u8], upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 15)]));
    }
    out
}

/// The base64 characters fully determined by `bytes` when they start `alignment`
/// (0, 1 or 2) bytes into a 3-byte group: the characters whose 6 bits all come from
/// `bytes`, whatever comes before and after them.
pub fn base64_core(bytes: &[u8], alignment: usize, alphabet: &[u8; 64]) -> String {
    let alignment = alignment % 3;
    let bits = |i: usize| -> u8 {
        // Bit i (0 = most significant of the first byte) of `alignment` zero bytes
        // followed by `bytes`.
        let byte = i / 8;
        if byte < alignment {
            return 0;
        }
        bytes
            .get(byte - alignment)
            .map_or(0, |b| (b >> (7 - i % 8)) & 1)
    };
    let start_bit = alignment * 8;
    let end_bit = start_bit + bytes.len() * 8;
    let first = start_bit.div_ceil(6);
    let last = end_bit / 6; // exclusive
    let mut out = String::with_capacity(last.saturating_sub(first));
    for char_index in first..last {
        let value = (0..6).fold(0u8, |v, k| (v << 1) | bits(char_index * 6 + k));
        out.push(char::from(alphabet[usize::from(value)]));
    }
    out
}

/// Plain base64 of `bytes` (padded), for tests.
#[cfg(test)]
pub fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for k in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * k)) & 63) as usize]));
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_reference_vectors() {
        assert_eq!(base64(b"", STANDARD), "");
        assert_eq!(base64(b"f", STANDARD), "Zg==");
        assert_eq!(base64(b"fo", STANDARD), "Zm8=");
        assert_eq!(base64(b"foobar", STANDARD), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff], STANDARD), "+/8=");
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE), "-_8=");
    }

    /// The core of each alignment is inside the base64 of the secret behind any
    /// prefix of that length modulo 3, and followed by anything.
    #[test]
    fn each_alignment_core_is_inside_every_encoding() {
        let secret = b"tok/3fd+9a1c=SECRET";
        for prefix in ["", "a", "ab", "abc", "abcd", "{\"token\":\""] {
            for suffix in ["", "x", "xy", "\"}"] {
                let text = [prefix.as_bytes(), secret, suffix.as_bytes()].concat();
                for alphabet in [STANDARD, URL_SAFE] {
                    let encoded = base64(&text, alphabet);
                    let core = base64_core(secret, prefix.len() % 3, alphabet);
                    assert!(core.len() >= 22, "{core}");
                    assert!(
                        encoded.contains(&core),
                        "{prefix:?} {suffix:?}: {core} in {encoded}"
                    );
                    assert!(encoded.trim_end_matches('=').contains(&core));
                }
            }
        }
    }

    #[test]
    fn lists_every_form_once() {
        let secret = "p@ss/w0rd+";
        let all = forms(secret);
        let mut want = vec![
            secret.to_string(),
            "p%40ss%2Fw0rd%2B".to_string(),
            "p%40ss%2fw0rd%2b".to_string(),
        ];
        for base in ["p@ss/w0rd+", "p%40ss%2Fw0rd%2B", "p%40ss%2fw0rd%2b"] {
            want.push(hex(base.as_bytes(), false));
            want.push(hex(base.as_bytes(), true));
            for alignment in 0..3 {
                want.push(base64_core(base.as_bytes(), alignment, STANDARD));
                want.push(base64_core(base.as_bytes(), alignment, URL_SAFE));
            }
        }
        for form in &want {
            assert!(all.contains(form), "{form} missing from {all:?}");
        }
        assert_eq!(hex(b"p@", false), "7040");
        assert_eq!(hex(&[0x2f, 0xff], true), "2FFF");
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
        assert!(forms("").is_empty());
        // A short secret is scrubbed as it is; its short encodings are not.
        assert_eq!(forms("abc"), vec!["abc".to_string()]);
    }

    #[test]
    fn json_escaped_form_is_listed_when_it_differs() {
        assert!(forms("a\"b\\c-long-secret").contains(&"a\\\"b\\\\c-long-secret".to_string()));
    }
}
