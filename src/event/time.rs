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
    fn formats_round_trip() {
        let ms = 1_594_899_595_232;
        assert_eq!(format_millis(ms), "2020-07-16T11:39:55.232Z");
        assert_eq!(parse_iso_millis(&format_millis(ms)), Some(ms));
    }
}
