//! Writing JSON values straight into an output buffer: strings escaped exactly as
//! serde_json escapes them, timestamps as `format_millis` writes them, and the
//! `null`s and numbers between. Message records are written field by field with
//! these, without building a value per field first.

use chrono::{DateTime, Datelike};

use crate::event::time::format_millis;

/// What each byte becomes inside a JSON string: 0 for itself, `u` for `\u00XX`, else
/// the letter after a backslash (serde_json's table).
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// A JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none needs escaping (most text).
        if let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if !may_need_escape(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let escape = ESCAPE[b as usize];
        if escape != 0 {
            out.extend_from_slice(&bytes[start..i]);
            if escape == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            } else {
                out.push(b'\\');
                out.push(escape);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any byte of `word` is below 0x20, a quote or a backslash (a `true` may be
/// wrong, and only sends the word through the byte-wise path; a `false` never is).
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below n (n <= 0x80) sets its high bit in (word - n * ONES) & !word; a
    // zero byte does in (x - ONES) & !x, and x ^ (c * ONES) has one where word has c.
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero(word ^ (ONES * u64::from(b'"')));
    let backslash = zero(word ^ (ONES * u64::from(b'\\')));
    (below_space | quote | backslash) & HIGH != 0
}

/// A JSON string, or `null`.
pub fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// An integer.
pub fn int(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

/// An integer, or `null`.
pub fn opt_int(out: &mut Vec<u8>, n: Option<i64>) {
    match n {
        Some(n) => int(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

/// `true` or `false`.
pub fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// A time (UTC ms) as the string `format_millis` makes: `2024-02-12T09:02:38.164Z`.
pub fn time(out: &mut Vec<u8>, millis: i64) {
    const DAY: i64 = 86_400_000;
    let day = millis.div_euclid(DAY);
    let Some(date) = date(day) else {
        return string(out, &format_millis(millis));
    };
    let ms = millis.rem_euclid(DAY) as u32;
    out.push(b'"');
    out.extend_from_slice(&date);
    out.push(b'T');
    digits(out, ms / 3_600_000, 2);
    out.push(b':');
    digits(out, ms / 60_000 % 60, 2);
    out.push(b':');
    digits(out, ms / 1000 % 60, 2);
    out.push(b'.');
    digits(out, ms % 1000, 3);
    out.extend_from_slice(b"Z\"");
}

/// `YYYY-MM-DD` of a day since the epoch, for years 0 to 9999; the last day asked for
/// is kept per thread (times come in runs of the same day).
fn date(day: i64) -> Option<[u8; 10]> {
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; 10])> =
            const { std::cell::Cell::new((i64::MIN, [0; 10])) };
    }
    let (last, date) = LAST.get();
    if last == day {
        return Some(date);
    }
    let t = DateTime::from_timestamp(day.checked_mul(86_400)?, 0)
        .filter(|t| (0..=9999).contains(&t.year()))?;
    let mut date = Vec::with_capacity(10);
    digits(&mut date, t.year() as u32, 4);
    date.push(b'-');
    digits(&mut date, t.month(), 2);
    date.push(b'-');
    digits(&mut date, t.day(), 2);
    let date: [u8; 10] = date.try_into().ok()?;
    LAST.set((day, date));
    Some(date)
}

/// A time, or `null`.
pub fn opt_time(out: &mut Vec<u8>, millis: Option<i64>) {
    match millis {
        Some(millis) => time(out, millis),
        None => out.extend_from_slice(b"null"),
    }
}

fn digits(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut buf = [b'0'; 4];
    let mut rest = n;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_byte = String::new();
        for c in (0u8..0x80).map(char::from) {
            every_byte.push(c);
        }
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash / tab \t newline \n nul \u{0} del \u{7f}",
            "é 김 陈 😀 \u{2028} \u{1f}",
            every_byte.as_str(),
            "a long line with a \"quote\" after eight bytes and a\\backslash, a tab\there, \
             and é accents 김 between plain runs of text\u{1}\u{1f}",
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
            // Every offset of every escape against the eight-byte steps.
            for pad in 0..9 {
                let padded = format!("{}{s}{}", "x".repeat(pad), "y".repeat(pad));
                let mut out = Vec::new();
                string(&mut out, &padded);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    serde_json::to_string(&padded).unwrap()
                );
            }
        }
    }

    #[test]
    fn times_match_format_millis() {
        for millis in [
            0,
            1,
            999,
            1_707_728_558_164,
            -1,
            -62_167_219_200_000, // 0000-01-01
            -62_167_219_200_001, // before year 0
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // year 10000
            i64::MAX,
            i64::MIN,
        ]
        .into_iter()
        // Runs within a day, across midnights, and back again (the day is cached).
        .chain((-40_000..40_000).map(|k: i64| k * 7_777_777 + (k % 3) * 86_400_000))
        {
            let mut out = Vec::new();
            time(&mut out, millis);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&format_millis(millis)).unwrap(),
                "{millis}"
            );
        }
    }

    #[test]
    fn integers_match_serde_json() {
        for n in [0, 7, -7, 10, 1_234_567_890, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            int(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }
}
