//! Durations written the way people write them: `90m`, `36h`, `2d`, `1w`, `1h30m`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Units accepted in a duration, largest first, with their length in seconds.
const UNITS: [(char, i64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// The longest duration accepted: 100 years (36 500 days). Windows, SLAs and retentions are
/// days to months; far longer spans would only push timestamps out of range.
pub const MAX_DURATION_SECONDS: i64 = 36_500 * 86_400;

/// The hint shown whenever a duration cannot be parsed.
pub const DURATION_HINT: &str = "use a number and a unit: 90m, 36h, 2d, 1w";

/// A strictly positive span of time with one-second resolution.
///
/// Parsed from and displayed as compact text (`"2d"`, `"36h"`, `"1h30m"`);
/// see [`FromStr`](#impl-FromStr-for-Duration) for the accepted grammar.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    seconds: i64,
}

impl Duration {
    /// One second.
    pub const SECOND: Duration = Duration { seconds: 1 };
    /// One minute.
    pub const MINUTE: Duration = Duration { seconds: 60 };
    /// One hour.
    pub const HOUR: Duration = Duration { seconds: 3_600 };
    /// One day (86 400 s; UTC has no daylight saving).
    pub const DAY: Duration = Duration { seconds: 86_400 };
    /// One week.
    pub const WEEK: Duration = Duration {
        seconds: 7 * 86_400,
    };

    /// A duration of `s` seconds.
    ///
    /// # Panics
    ///
    /// Panics if `s <= 0`: a `Duration` is always positive. Use
    /// [`Duration::try_from_seconds`] for values that come from users.
    pub fn from_seconds(s: i64) -> Duration {
        match Self::try_from_seconds(s) {
            Some(d) => d,
            None => panic!("Duration must be positive, got {s} seconds"),
        }
    }

    /// A duration of `s` seconds, or `None` if `s <= 0`.
    pub fn try_from_seconds(s: i64) -> Option<Duration> {
        (s > 0).then_some(Duration { seconds: s })
    }

    /// Length in seconds (always `> 0`).
    pub fn seconds(&self) -> i64 {
        self.seconds
    }

    /// The same span as a [`chrono::TimeDelta`].
    pub fn as_chrono(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(self.seconds)
    }

    /// Whether this is a whole number of days.
    pub fn is_whole_days(&self) -> bool {
        self.seconds % Self::DAY.seconds == 0
    }
}

fn invalid(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidDuration {
        input: input.to_string(),
        reason: reason.into(),
    }
}

/// Parses one or more `<integer><unit>` parts, units `w d h m s`, largest unit
/// first and each at most once: `"2d"`, `"36h"`, `"90m"`, `"45s"`, `"1w"`, `"1h30m"`.
/// Surrounding whitespace is ignored; the total must be positive.
impl FromStr for Duration {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(invalid(input, "empty duration"));
        }
        if s.contains(char::is_whitespace) {
            return Err(invalid(input, "no spaces allowed"));
        }
        let mut total: i64 = 0;
        let mut rest = s;
        // Index into UNITS of the last unit used; the next must be smaller.
        let mut last_unit: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                let c = rest.chars().next().unwrap_or(' ');
                let reason = if c == '-' {
                    "durations must be positive".to_string()
                } else {
                    format!("expected a number before `{rest}`")
                };
                return Err(invalid(input, reason));
            }
            let (number, after) = rest.split_at(digits);
            let Some(unit) = after.chars().next() else {
                return Err(invalid(input, format!("missing unit after `{number}`")));
            };
            let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(invalid(input, format!("unknown unit `{unit}`")));
            };
            if last_unit.is_some_and(|prev| idx <= prev) {
                return Err(invalid(
                    input,
                    format!("unit `{unit}` out of order or repeated"),
                ));
            }
            last_unit = Some(idx);
            let value: i64 = number
                .parse()
                .map_err(|_| invalid(input, "number too large"))?;
            total = value
                .checked_mul(UNITS[idx].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| invalid(input, "duration too large (at most 36500d, 100 years)"))?;
            rest = &after[unit.len_utf8()..];
        }
        if total > MAX_DURATION_SECONDS {
            return Err(invalid(
                input,
                "duration too large (at most 36500d, 100 years)",
            ));
        }
        Duration::try_from_seconds(total)
            .ok_or_else(|| invalid(input, "duration must be greater than zero"))
    }
}

/// Canonical form: a single unit when the duration is a whole number of weeks,
/// days or hours (`"1w"`, `"2d"`, `"36h"`), otherwise hours, minutes and seconds
/// (`"1h30m"`, `"45s"`). Round-trips through [`FromStr`].
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, len) in &UNITS[..3] {
            if self.seconds % len == 0 {
                return write!(f, "{}{unit}", self.seconds / len);
            }
        }
        let h = self.seconds / 3_600;
        let m = (self.seconds % 3_600) / 60;
        let s = self.seconds % 60;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> i64 {
        match s.parse::<Duration>() {
            Ok(d) => d.seconds(),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_single_units() {
        assert_eq!(d("2d"), 2 * 86_400);
        assert_eq!(d("36h"), 36 * 3_600);
        assert_eq!(d("90m"), 5_400);
        assert_eq!(d("45s"), 45);
        assert_eq!(d("1w"), 604_800);
        assert_eq!(d(" 3h "), 10_800);
    }

    #[test]
    fn parses_compound() {
        assert_eq!(d("1h30m"), 5_400);
        assert_eq!(d("1d12h"), 36 * 3_600);
        assert_eq!(
            d("1w2d3h4m5s"),
            604_800 + 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5
        );
    }

    #[test]
    fn rejects_bad_input_listing_units() {
        for bad in [
            "",
            "0d",
            "-1d",
            "2x",
            "d",
            "1.5h",
            "2 days",
            "2",
            "1m1h",
            "1h1h",
            "0h0m",
            "99999999999999999999d",
            "9999999999999999w",
            "99999999999999d",
            "36501d",
            "5215w",
        ] {
            let err = bad.parse::<Duration>().expect_err(bad).to_string();
            assert!(err.contains("90m, 36h, 2d, 1w"), "{bad}: {err}");
            assert!(err.contains("w = weeks"), "{bad}: {err}");
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
        let err = "2x".parse::<Duration>().unwrap_err().to_string();
        assert!(err.contains("unknown unit `x`"), "{err}");
        let err = "-1d".parse::<Duration>().unwrap_err().to_string();
        assert!(err.contains("positive"), "{err}");
        // A hundred years is the most: longer spans overflow the timestamps of a window.
        let err = "36501d".parse::<Duration>().unwrap_err().to_string();
        assert!(err.contains("at most 36500d"), "{err}");
        assert_eq!(d("36500d"), MAX_DURATION_SECONDS);
    }

    #[test]
    fn displays_canonically_and_round_trips() {
        for (input, shown) in [
            ("2d", "2d"),
            ("36h", "36h"),
            ("1h30m", "1h30m"),
            ("90m", "1h30m"),
            ("7d", "1w"),
            ("14d", "2w"),
            ("24h", "1d"),
            ("45s", "45s"),
            ("90s", "1m30s"),
            ("1d1s", "24h1s"),
            ("60m", "1h"),
        ] {
            let parsed: Duration = input.parse().expect(input);
            let text = parsed.to_string();
            assert_eq!(text, shown, "{input}");
            assert_eq!(text.parse::<Duration>().expect(&text), parsed);
        }
    }

    #[test]
    fn constructors() {
        assert_eq!(Duration::from_seconds(60), Duration::MINUTE);
        assert_eq!(Duration::try_from_seconds(0), None);
        assert_eq!(Duration::try_from_seconds(-5), None);
        assert_eq!(Duration::DAY.as_chrono(), chrono::TimeDelta::days(1));
        assert!(Duration::WEEK.is_whole_days());
        assert!(!Duration::from_seconds(36 * 3600).is_whole_days());
        assert!(Duration::HOUR < Duration::DAY);
    }
}
