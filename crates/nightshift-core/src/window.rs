//! Windows: the slice of event time one pipeline run processes.
//!
//! A run for logical date `L` with window width `W` and largest freshness SLA
//! `S` among its inputs processes `[floor_W(L - S) - W, floor_W(L - S))`: the
//! most recent whole window whose data is complete by `L`.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};

use crate::{Duration, Error};

/// Origin every window and `every` schedule is aligned to: 1970-01-05T00:00Z, a Monday.
/// Daily windows start at midnight UTC, weekly ones on Mondays, hourly ones on the hour.
pub const ALIGNMENT_ORIGIN_SECONDS: i64 = 4 * 86_400;

/// Rounds `t` down to a multiple of `width` counted from [`ALIGNMENT_ORIGIN_SECONDS`].
/// Sub-second precision is dropped.
pub fn floor_to(t: DateTime<Utc>, width: Duration) -> DateTime<Utc> {
    let w = width.seconds();
    let since_origin = t.timestamp() - ALIGNMENT_ORIGIN_SECONDS;
    let floored = since_origin.div_euclid(w) * w + ALIGNMENT_ORIGIN_SECONDS;
    // Out-of-range timestamps only arise for dates near chrono's limits.
    DateTime::from_timestamp(floored, 0).unwrap_or(t)
}

/// A half-open interval `[start, end)` of event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// First instant inside the window.
    pub start: DateTime<Utc>,
    /// First instant after the window.
    pub end: DateTime<Utc>,
}

impl Window {
    /// The window a run with logical date `logical` processes:
    /// `window_end = floor_W(logical - max_sla)`, `window_start = window_end - W`.
    ///
    /// Floors are aligned to 1970-01-05T00:00Z (a Monday), so daily windows start
    /// at midnight UTC, weekly windows on Mondays, hourly on the hour; a width
    /// that does not divide a day (e.g. 36h) is aligned to that same origin.
    /// For inputs without an SLA use [`Window::for_logical_date_opt`] with `None`.
    pub fn for_logical_date(logical: DateTime<Utc>, width: Duration, max_sla: Duration) -> Window {
        Self::for_logical_date_opt(logical, width, Some(max_sla))
    }

    /// Like [`Window::for_logical_date`], with `None` meaning no SLA (zero delay).
    pub fn for_logical_date_opt(
        logical: DateTime<Utc>,
        width: Duration,
        max_sla: Option<Duration>,
    ) -> Window {
        let delay = max_sla.map_or(TimeDelta::zero(), |d| d.as_chrono());
        let shifted = logical.checked_sub_signed(delay).unwrap_or(logical);
        let end = floor_to(shifted, width);
        let start = end.checked_sub_signed(width.as_chrono()).unwrap_or(end);
        Window { start, end }
    }

    /// Width of the window (`end - start`).
    pub fn width(&self) -> TimeDelta {
        self.end - self.start
    }

    /// Partition key of the slice: `"YYYY-MM-DD"` when the window starts at
    /// midnight UTC and its width is a whole number of days, else
    /// `"YYYY-MM-DDTHH:MM"` (the start).
    pub fn ds(&self) -> String {
        let width = self.width();
        let whole_days = width.num_seconds() > 0 && width.num_seconds() % 86_400 == 0;
        if whole_days && self.start.time() == NaiveTime::MIN {
            self.start.format("%Y-%m-%d").to_string()
        } else {
            self.start.format("%Y-%m-%dT%H:%M").to_string()
        }
    }

    /// Whether `t` lies inside `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// Parses a logical date given on the command line: `"2026-11-22"` (midnight
/// UTC) or RFC 3339 such as `"2026-11-22T06:00:00Z"` or `"2026-11-22T08:00:00+02:00"`,
/// in the years 1900 to 2199.
pub fn parse_logical_date(s: &str) -> Result<DateTime<Utc>, Error> {
    let t = s.trim();
    let date = match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        Ok(date) => date.and_time(NaiveTime::MIN).and_utc(),
        Err(e) if e.kind() == chrono::format::ParseErrorKind::OutOfRange => {
            return Err(Error::NoSuchDay {
                input: s.to_string(),
            });
        }
        Err(_) => DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| Error::InvalidLogicalDate {
                input: s.to_string(),
            })?,
    };
    // Windows reach back from the date by at most two hundred years of durations
    // (`MAX_DURATION_SECONDS` each for the window and the SLA), which keeps every window
    // inside the nanosecond timestamps of the warehouse (1677-2262) and of the run store.
    if !(1900..=2199).contains(&date.year()) {
        return Err(Error::LogicalDateOutOfRange {
            input: s.to_string(),
        });
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_logical_date(s).expect(s)
    }

    fn dur(s: &str) -> Duration {
        s.parse().expect(s)
    }

    fn win(logical: &str, w: &str, sla: Option<&str>) -> Window {
        Window::for_logical_date_opt(at(logical), dur(w), sla.map(dur))
    }

    #[test]
    fn daily_window_with_sla() {
        let w = win("2026-11-22T06:00:00Z", "1d", Some("2d"));
        assert_eq!(w.start, at("2026-11-19"));
        assert_eq!(w.end, at("2026-11-20"));
        assert_eq!(w.ds(), "2026-11-19");
        assert_eq!(
            Window::for_logical_date(at("2026-11-22T06:00:00Z"), dur("1d"), dur("2d")),
            w
        );
    }

    #[test]
    fn daily_window_without_sla_is_yesterday() {
        let w = win("2026-11-22T06:00:00Z", "1d", None);
        assert_eq!((w.start, w.end), (at("2026-11-21"), at("2026-11-22")));
        // Logical date exactly on a boundary: that boundary is the end.
        let w = win("2026-11-22", "1d", None);
        assert_eq!((w.start, w.end), (at("2026-11-21"), at("2026-11-22")));
    }

    #[test]
    fn sla_not_multiple_of_width() {
        // 06:00 minus 36h = 2026-11-20T18:00 -> floor to 2026-11-20.
        let w = win("2026-11-22T06:00:00Z", "1d", Some("36h"));
        assert_eq!((w.start, w.end), (at("2026-11-19"), at("2026-11-20")));
        // 20:00 minus 36h = 2026-11-21T08:00 -> floor to 2026-11-21.
        let w = win("2026-11-22T20:00:00Z", "1d", Some("36h"));
        assert_eq!((w.start, w.end), (at("2026-11-20"), at("2026-11-21")));
    }

    #[test]
    fn hourly_window() {
        let w = win("2026-11-22T06:15:00Z", "1h", Some("30m"));
        assert_eq!(w.start, at("2026-11-22T04:00:00Z"));
        assert_eq!(w.end, at("2026-11-22T05:00:00Z"));
        assert_eq!(w.ds(), "2026-11-22T04:00");
        assert!(w.contains(at("2026-11-22T04:59:59Z")));
        assert!(!w.contains(at("2026-11-22T05:00:00Z")));
    }

    #[test]
    fn weekly_window_starts_on_monday() {
        // 2026-11-22 is a Sunday; the last full Monday-to-Monday week before it.
        let w = win("2026-11-22T06:00:00Z", "1w", None);
        assert_eq!((w.start, w.end), (at("2026-11-09"), at("2026-11-16")));
        assert_eq!(w.start.format("%A").to_string(), "Monday");
        assert_eq!(w.ds(), "2026-11-09");
        let w = win("2026-11-23T00:00:00Z", "1w", None);
        assert_eq!((w.start, w.end), (at("2026-11-16"), at("2026-11-23")));
    }

    #[test]
    fn width_not_dividing_a_day_is_aligned_to_origin() {
        // 36h windows from 1970-01-05: boundaries every 1.5 days.
        let w = win("2026-11-22T06:00:00Z", "36h", None);
        assert_eq!(w.width(), TimeDelta::hours(36));
        let offset = (w.end.timestamp() - ALIGNMENT_ORIGIN_SECONDS) % (36 * 3600);
        assert_eq!(offset, 0);
        assert!(w.end <= at("2026-11-22T06:00:00Z"));
        assert!(w.end + TimeDelta::hours(36) > at("2026-11-22T06:00:00Z"));
        // Whole-day check is about width: 36h never gets a date-only ds.
        assert!(w.ds().contains('T'), "{}", w.ds());
    }

    #[test]
    fn month_and_year_ends() {
        let w = win("2026-03-01T06:00:00Z", "1d", Some("1d"));
        assert_eq!((w.start, w.end), (at("2026-02-27"), at("2026-02-28")));
        let w = win("2026-03-01T06:00:00Z", "1d", None);
        assert_eq!(w.ds(), "2026-02-28");
        let w = win("2024-03-01T00:30:00Z", "1d", None);
        assert_eq!(w.ds(), "2024-02-29");
        let w = win("2027-01-01T06:00:00Z", "1d", None);
        assert_eq!((w.start, w.end), (at("2026-12-31"), at("2027-01-01")));
        assert_eq!(w.ds(), "2026-12-31");
        let w = win("2027-01-01T00:10:00Z", "1h", None);
        assert_eq!(w.ds(), "2026-12-31T23:00");
        let w = win("2027-01-02T06:00:00Z", "2d", Some("1d"));
        assert_eq!(w.width(), TimeDelta::days(2));
        assert_eq!(w.start.time(), NaiveTime::MIN);
        assert_eq!(w.ds(), w.start.format("%Y-%m-%d").to_string());
    }

    #[test]
    fn logical_dates() {
        assert_eq!(at("2026-11-22").to_rfc3339(), "2026-11-22T00:00:00+00:00");
        assert_eq!(
            at("2026-11-22T06:00:00Z").to_rfc3339(),
            "2026-11-22T06:00:00+00:00"
        );
        assert_eq!(at("2026-11-22T08:00:00+02:00"), at("2026-11-22T06:00:00Z"));
        for bad in [
            "",
            "2026-13-01",
            "22/11/2026",
            "2026-11-22 06:00",
            "yesterday",
        ] {
            assert!(parse_logical_date(bad).is_err(), "{bad}");
        }
        // A date of the right shape that the calendar lacks says so.
        for missing in ["2026-02-30", "2026-04-31", "2025-02-29"] {
            let err = parse_logical_date(missing).expect_err(missing);
            assert!(matches!(err, Error::NoSuchDay { .. }), "{missing}: {err}");
        }
        // Years whose windows would leave the warehouse's timestamps are refused as such.
        assert_eq!(at("1900-01-01").to_rfc3339(), "1900-01-01T00:00:00+00:00");
        assert_eq!(at("2199-12-31T23:59:59Z").year(), 2199);
        for far in [
            "+10000-01-01",
            "0000-01-01",
            "1899-12-31",
            "2200-01-01",
            "9999-12-31T00:00:00Z",
        ] {
            let err = parse_logical_date(far).expect_err(far);
            assert!(
                matches!(err, Error::LogicalDateOutOfRange { .. }),
                "{far}: {err}"
            );
            assert!(
                err.to_string().contains("1900-01-01 to 2199-12-31"),
                "{err}"
            );
        }
    }
}
