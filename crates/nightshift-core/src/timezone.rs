//! Timezones a pipeline may be scheduled in: `UTC` or a fixed offset like `+02:00`.
//!
//! Named zones with daylight saving (`Europe/Paris`) are not supported yet;
//! they are rejected rather than silently treated as UTC.

use chrono::{FixedOffset, Offset, Utc};

use crate::Error;

/// The hint shown for an unsupported timezone.
pub const TIMEZONE_HINT: &str = "use `UTC` or a fixed offset like `+02:00` or `-05:30`";

/// Parses `"UTC"`, `"Z"` or a fixed offset `"+HH:MM"` / `"-HH:MM"` (also `"+HH"`).
pub fn parse_timezone(s: &str) -> Result<FixedOffset, Error> {
    let invalid = || Error::InvalidTimezone {
        input: s.to_string(),
    };
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" || t.eq_ignore_ascii_case("gmt") {
        return Ok(Utc.fix());
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(invalid()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "00"));
    let digits = |x: &str| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return Err(invalid());
    }
    let h: i32 = h.parse().map_err(|_| invalid())?;
    let m: i32 = m.parse().map_err(|_| invalid())?;
    if h > 18 || m > 59 {
        return Err(invalid());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse_timezone("UTC").expect("utc").local_minus_utc(), 0);
        assert_eq!(
            parse_timezone("+02:00").expect("+2").local_minus_utc(),
            7200
        );
        assert_eq!(
            parse_timezone("-05:30").expect("-5:30").local_minus_utc(),
            -19_800
        );
        assert_eq!(parse_timezone("+09").expect("+9").local_minus_utc(), 32_400);
        for bad in ["", "Europe/Paris", "+2", "+25:00", "+02:60", "02:00"] {
            let err = parse_timezone(bad).expect_err(bad);
            assert!(err.to_string().contains("fixed offsets"), "{err}");
        }
    }
}
