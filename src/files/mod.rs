//! Attachments: the fetch queue, the content-addressed store, and text extraction.
//!
//! The writer queues every file an archived version names (`files` table, see
//! [`crate::store::files`]); the [`fetch`] task asks for download URLs, downloads
//! ([`download`]) into the content-addressed store ([`content`]), extracts text
//! ([`extract`]) and sends the outcome back to the writer. [`samples`] makes the
//! documents the simulator serves.

pub mod content;
pub mod download;
pub mod extract;
pub mod fetch;
pub mod samples;
pub mod verify;

/// Parses a size such as `512MiB`, `20KiB`, `1GiB`, `1000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is not a size: give a number and KiB, MiB or GiB, such as 512MiB"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            format!("{text:?} is not a size: give a number and KiB, MiB or GiB, such as 512MiB")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("20KiB"), Ok(20 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("7 MiB"), Ok(7 << 20));
        for bad in [
            "",
            "MiB",
            "5MB",
            "-1KiB",
            "99999999999999999999GiB",
            "1.5GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
