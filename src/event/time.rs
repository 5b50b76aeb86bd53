//! Times on the wire and in the archive: ISO-8601 strings or epoch milliseconds in,
//! UTC milliseconds since the epoch stored, ISO-8601 (UTC, millisecond precision) out.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Parses an ISO-8601 / RFC 3339 date-time (a missing offset means UTC) or a bare
/// date into UTC milliseconds since the epoch. Returns `None` for anything else.
pub fn parse_iso_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Utc.from_utc_datetime(&naive).timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|naive| Utc.from_utc_datetime(&naive).timestamp_millis())
}

/// Formats UTC milliseconds since the epoch as ISO-8601 with milliseconds and `Z`.
pub fn format_millis(millis: i64) -> String {
    match Utc.timestamp_millis_opt(millis).single() {
        Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => millis.to_string(),
    }
}

/// Parses a time given on the command line: an ISO-8601 date-time or date, or a time
/// relative to `now` such as `30m`, `12h`, `7d`, `2w` (that long ago).
pub fn parse_time_arg(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if let Some(ms) = parse_iso_millis(text) {
        return Some(ms);
    }
    parse_span_millis(text).and_then(|ago| now.checked_sub(ago))
}

/// Parses a length of time such as `90s`, `30m`, `12h`, `7d`, `2w`, in milliseconds.
pub fn parse_span_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let amount: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let unit_ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    amount.checked_mul(unit_ms)
}

/// The current time in UTC milliseconds since the epoch.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wire_format() {
        assert_eq!(
            parse_iso_millis("2020-07-16T11:39:55.232Z"),
            Some(1_594_899_595_232)
        );
        assert_eq!(
            parse_iso_millis("2020-07-16T13:39:55.232+02:00"),
            Some(1_594_899_595_232)
        );
        assert_eq!(
            parse_iso_millis("2020-07-16T11:39:55.232"),
            Some(1_594_899_595_232)
        );
        assert_eq!(parse_iso_millis("2020-07-16"), Some(1_594_857_600_000));
        assert_eq!(parse_iso_millis("yesterday"), None);
        assert_eq!(parse_iso_millis(""), None);
    }

    #[test]
    fn parses_command_line_times() {
        let now = 1_000_000_000_000;
        assert_eq!(parse_time_arg("7d", now), Some(now - 7 * 86_400_000));
        assert_eq!(parse_time_arg("90m", now), Some(now - 90 * 60_000));
        assert_eq!(parse_time_arg("2020-07-16", now), Some(1_594_857_600_000));
        assert_eq!(parse_time_arg("7x", now), None);
        assert_eq!(parse_time_arg("d", now), None);
        assert_eq!(parse_time_arg("é", now), None);
    }

    #[test]
    fn formats_round_trip() {
        let ms = 1_594_899_595_232;
        assert_eq!(format_millis(ms), "2020-07-16T11:39:55.232Z");
        assert_eq!(parse_iso_millis(&format_millis(ms)), Some(ms));
    }
}
