//! Flag values checked while the command line is parsed (clap value parsers), so
//! that a bad one is bad usage (exit 2), named by clap with the flag, before any
//! work starts: lengths of time, points in time, rates.

use std::time::Duration;

use crate::event::time::{now_millis, parse_span_millis, parse_time_arg};

const DURATION_FORMS: &str = "give seconds (900, 0.5) or a number and a unit (90s, 30m, 12h, 7d)";

/// A length of time ≥ 0: seconds (`900`, `0.5`), or a whole number and a unit
/// (`90s`, `30m`, `12h`, `7d`, `2w`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_nan() || seconds.is_infinite() {
            return Err(format!("not a length of time: {DURATION_FORMS}"));
        }
        if seconds < 0.0 {
            return Err("a length of time cannot be negative".into());
        }
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("too long a time: {DURATION_FORMS}"));
    }
    match parse_span_millis(text) {
        Some(ms) if ms < 0 => Err("a length of time cannot be negative".into()),
        Some(ms) => Ok(Duration::from_millis(ms as u64)),
        None => Err(format!("not a length of time: {DURATION_FORMS}")),
    }
}

/// A length of time above zero (see [`duration`]).
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("the length of time must be above zero".into()),
        d => Ok(d),
    }
}

/// A point in time, as UTC ms: an ISO-8601 date-time (no offset: UTC) or date, or a
/// time ago (`30m`, `12h`, `7d`, `2w`), from now.
pub fn time(text: &str) -> Result<i64, String> {
    parse_time_arg(text, now_millis()).ok_or_else(|| {
        "not a time: use a date (2024-05-01), a date-time (2024-05-01T12:00:00Z) or a time \
         ago (30m, 12h, 7d, 2w)"
            .into()
    })
}

/// A finite number ≥ 0 (a rate).
pub fn rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        Ok(_) => Err("must be a finite number ≥ 0".into()),
        Err(_) => Err("not a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in [
            "-5", "-0.1", "-3m", "NaN", "inf", "-inf", "1e400", "soon", "", "5x",
        ] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert!(duration("-5").unwrap_err().contains("negative"));
        assert!(positive_duration("0").is_err());
        assert!(positive_duration("0s").is_err());
        assert_eq!(positive_duration("24h"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn times_and_rates() {
        assert_eq!(time("2020-07-16"), Ok(1_594_857_600_000));
        let ago = now_millis() - time("7d").unwrap();
        assert!((7 * 86_400_000..7 * 86_400_000 + 60_000).contains(&ago));
        assert!(time("yesterday").is_err());
        assert!(time("2024-13-01").is_err());
        assert_eq!(rate("0"), Ok(0.0));
        assert_eq!(rate("200.5"), Ok(200.5));
        for bad in ["-1", "NaN", "inf", "fast"] {
            assert!(rate(bad).is_err(), "{bad:?}");
        }
    }
}
