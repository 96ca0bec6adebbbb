//! When a pipeline runs: `daily at 06:00`, `hourly at :15`, `every 15m`, or cron.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveTime, Offset, TimeDelta, Timelike, Utc};

use crate::cron::CronExpr;
use crate::{Duration, Error};

/// The hint shown whenever a schedule cannot be parsed.
pub const SCHEDULE_HINT: &str = "accepted forms: `daily at 06:00`, `hourly at :15`, `hourly`, `every 15m`, or 5-field cron like `0 6 * * *`";

/// A recurring fire time. Parse with [`FromStr`], print with [`Display`](fmt::Display).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Once a day at a wall-clock time (`daily at 06:00`; plain `daily` is midnight).
    Daily {
        /// Time of day, minute precision.
        at: NaiveTime,
    },
    /// Once an hour at a minute past the hour (`hourly at :15`; plain `hourly` is `:00`).
    Hourly {
        /// Minute past the hour, 0-59.
        minute: u32,
    },
    /// At every multiple of a duration, aligned like windows (to 1970-01-05T00:00,
    /// a Monday): `every 15m` fires at :00, :15, :30, :45; `every 1w` on Mondays at midnight.
    Every(Duration),
    /// A five-field cron expression (`0 6 * * *`).
    Cron(CronExpr),
}

fn invalid(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSchedule {
        input: input.to_string(),
        reason: reason.into(),
    }
}

fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// Parses `"HH:MM"` (24-hour) as used by `daily at` and pipeline deadlines.
pub fn parse_time_of_day(s: &str) -> Option<NaiveTime> {
    parse_hhmm(s.trim())
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = input.split_whitespace().collect();
        match words[..] {
            [] => Err(invalid(input, "empty schedule")),
            ["daily"] => Ok(Schedule::Daily { at: NaiveTime::MIN }),
            ["daily", "at", time] => parse_hhmm(time)
                .map(|at| Schedule::Daily { at })
                .ok_or_else(|| invalid(input, format!("`{time}` is not a time like 06:00"))),
            ["hourly"] => Ok(Schedule::Hourly { minute: 0 }),
            ["hourly", "at", minute] => {
                let digits = minute.strip_prefix(':').unwrap_or(minute);
                match digits.parse::<u32>() {
                    Ok(m) if m < 60 && digits.len() <= 2 => Ok(Schedule::Hourly { minute: m }),
                    _ => Err(invalid(
                        input,
                        format!("`{minute}` is not a minute like :15"),
                    )),
                }
            }
            ["every", duration] => duration
                .parse::<Duration>()
                .map(Schedule::Every)
                .map_err(|_| invalid(input, format!("`{duration}` is not a duration like 15m"))),
            [_, _, _, _, _] => CronExpr::parse(input).map(Schedule::Cron),
            _ => Err(invalid(input, "not a schedule")),
        }
    }
}

/// Canonical text: `daily at 06:00`, `hourly at :15`, `every 15m`, or the cron fields.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Daily { at } => write!(f, "daily at {}", at.format("%H:%M")),
            Schedule::Hourly { minute } => write!(f, "hourly at :{minute:02}"),
            Schedule::Every(d) => write!(f, "every {d}"),
            Schedule::Cron(c) => write!(f, "{c}"),
        }
    }
}

impl Schedule {
    /// First fire time strictly after `after`, with wall-clock times read in UTC.
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        self.next_after_in(after, Utc.fix())
    }

    /// First fire time strictly after `after`, with wall-clock times (`06:00`,
    /// cron fields, `every` alignment) read in the fixed offset `tz`
    /// (see [`crate::parse_timezone`]).
    pub fn next_after_in(&self, after: DateTime<Utc>, tz: FixedOffset) -> DateTime<Utc> {
        let shift = TimeDelta::seconds(i64::from(tz.local_minus_utc()));
        // Work on wall-clock time represented as a UTC value, then shift back.
        let local = after + shift;
        let next_local = match self {
            Schedule::Daily { at } => {
                let today = local.date_naive().and_time(*at).and_utc();
                if today > local {
                    today
                } else {
                    today + TimeDelta::days(1)
                }
            }
            Schedule::Hourly { minute } => {
                let this_hour = local
                    .with_minute(*minute)
                    .and_then(|t| t.with_second(0))
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(local);
                if this_hour > local {
                    this_hour
                } else {
                    this_hour + TimeDelta::hours(1)
                }
            }
            Schedule::Every(d) => crate::window::floor_to(local, *d) + d.as_chrono(),
            Schedule::Cron(c) => c.next_after(local),
        };
        next_local - shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_logical_date;

    fn at(s: &str) -> DateTime<Utc> {
        parse_logical_date(s).expect(s)
    }

    fn next(schedule: &str, after: &str) -> String {
        let s: Schedule = schedule.parse().expect(schedule);
        s.next_after(at(after)).format("%Y-%m-%dT%H:%M").to_string()
    }

    /// The next `n` fire times after `after`.
    fn nexts(schedule: &str, after: &str, n: usize) -> Vec<String> {
        let s: Schedule = schedule.parse().expect(schedule);
        let mut t = at(after);
        (0..n)
            .map(|_| {
                t = s.next_after(t);
                t.format("%Y-%m-%dT%H:%M").to_string()
            })
            .collect()
    }

    #[test]
    fn daily() {
        assert_eq!(
            next("daily at 06:00", "2026-11-22T05:59:00Z"),
            "2026-11-22T06:00"
        );
        assert_eq!(
            next("daily at 06:00", "2026-11-22T06:00:00Z"),
            "2026-11-23T06:00"
        );
        assert_eq!(
            next("daily at 06:00", "2026-12-31T07:00:00Z"),
            "2027-01-01T06:00"
        );
        assert_eq!(next("daily", "2026-02-28T01:00:00Z"), "2026-03-01T00:00");
    }

    #[test]
    fn hourly() {
        assert_eq!(
            next("hourly at :15", "2026-11-22T06:14:59Z"),
            "2026-11-22T06:15"
        );
        assert_eq!(
            next("hourly at :15", "2026-11-22T06:15:00Z"),
            "2026-11-22T07:15"
        );
        assert_eq!(next("hourly", "2026-12-31T23:30:00Z"), "2027-01-01T00:00");
    }

    #[test]
    fn every() {
        assert_eq!(
            nexts("every 15m", "2026-11-22T06:07:30Z", 3),
            ["2026-11-22T06:15", "2026-11-22T06:30", "2026-11-22T06:45"]
        );
        assert_eq!(
            next("every 15m", "2026-11-22T06:15:00Z"),
            "2026-11-22T06:30"
        );
        // Weekly is aligned to Mondays.
        assert_eq!(next("every 1w", "2026-11-22T06:00:00Z"), "2026-11-23T00:00");
    }

    #[test]
    fn cron_basic_and_steps() {
        assert_eq!(
            next("0 6 * * *", "2026-11-22T06:00:00Z"),
            "2026-11-23T06:00"
        );
        assert_eq!(
            nexts("*/20 9-10 * * *", "2026-11-22T08:59:00Z", 7),
            [
                "2026-11-22T09:00",
                "2026-11-22T09:20",
                "2026-11-22T09:40",
                "2026-11-22T10:00",
                "2026-11-22T10:20",
                "2026-11-22T10:40",
                "2026-11-23T09:00"
            ]
        );
        assert_eq!(
            nexts("5/20 0 * * *", "2026-11-22T00:00:00Z", 3),
            ["2026-11-22T00:05", "2026-11-22T00:25", "2026-11-22T00:45"]
        );
        assert_eq!(
            nexts("0 0-12/6 * * *", "2026-11-22T00:00:00Z", 3),
            ["2026-11-22T06:00", "2026-11-22T12:00", "2026-11-23T00:00"]
        );
    }

    #[test]
    fn cron_lists_and_names() {
        assert_eq!(
            nexts("0,30 8,17 * * *", "2026-11-22T08:00:00Z", 4),
            [
                "2026-11-22T08:30",
                "2026-11-22T17:00",
                "2026-11-22T17:30",
                "2026-11-23T08:00"
            ]
        );
        // 2026-11-22 is a Sunday.
        assert_eq!(
            next("0 9 * * mon-fri", "2026-11-21T10:00:00Z"),
            "2026-11-23T09:00"
        );
        assert_eq!(
            next("0 9 * jan *", "2026-11-21T10:00:00Z"),
            "2027-01-01T09:00"
        );
    }

    #[test]
    fn cron_sunday_is_0_and_7() {
        assert_eq!(
            next("0 0 * * 0", "2026-11-18T00:00:00Z"),
            "2026-11-22T00:00"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-11-18T00:00:00Z"),
            "2026-11-22T00:00"
        );
    }

    #[test]
    fn cron_dom_dow_or_rule() {
        // Day 1 of the month OR any Friday (2026-11-27 is a Friday, 2026-12-01 a Tuesday).
        assert_eq!(
            nexts("0 0 1 * 5", "2026-11-22T00:00:00Z", 3),
            ["2026-11-27T00:00", "2026-12-01T00:00", "2026-12-04T00:00"]
        );
        // With `*` day-of-week only day-of-month counts; with `*/1` it is AND.
        assert_eq!(
            next("0 0 1 * *", "2026-11-22T00:00:00Z"),
            "2026-12-01T00:00"
        );
        assert_eq!(
            next("0 0 1 * */1", "2026-11-22T00:00:00Z"),
            "2026-12-01T00:00"
        );
        // Day-of-month with a star-step is not "restricted": AND with Friday.
        assert_eq!(
            next("0 0 */10 * 5", "2026-11-22T00:00:00Z"),
            "2026-12-11T00:00"
        );
    }

    #[test]
    fn cron_month_end_and_year_rollover() {
        assert_eq!(
            nexts("0 12 31 * *", "2026-11-22T00:00:00Z", 3),
            ["2026-12-31T12:00", "2027-01-31T12:00", "2027-03-31T12:00"]
        );
        assert_eq!(
            next("59 23 31 12 *", "2026-12-31T23:59:00Z"),
            "2027-12-31T23:59"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-01-01T00:00:00Z"),
            "2028-02-29T00:00"
        );
        assert_eq!(
            next("* * * * *", "2026-12-31T23:59:30Z"),
            "2027-01-01T00:00"
        );
    }

    #[test]
    fn fixed_offset_timezone() {
        let s: Schedule = "daily at 06:00".parse().expect("schedule");
        let tz = crate::parse_timezone("+02:00").expect("tz");
        let t = s.next_after_in(at("2026-11-22T03:00:00Z"), tz);
        assert_eq!(t, at("2026-11-22T04:00:00Z"));
        let t = s.next_after_in(at("2026-11-22T04:00:00Z"), tz);
        assert_eq!(t, at("2026-11-23T04:00:00Z"));
        let c: Schedule = "0 6 * * *".parse().expect("cron");
        assert_eq!(
            c.next_after_in(at("2026-11-22T03:00:00Z"), tz),
            at("2026-11-22T04:00:00Z")
        );
    }

    #[test]
    fn display_round_trips() {
        for (input, shown) in [
            ("daily at 06:00", "daily at 06:00"),
            ("daily at 6:05", "daily at 06:05"),
            ("daily", "daily at 00:00"),
            ("hourly", "hourly at :00"),
            ("hourly at :15", "hourly at :15"),
            ("every 90m", "every 1h30m"),
            ("0  6 * *  *", "0 6 * * *"),
        ] {
            let s: Schedule = input.parse().expect(input);
            assert_eq!(s.to_string(), shown);
            assert_eq!(shown.parse::<Schedule>().expect(shown), s);
        }
    }

    #[test]
    fn rejects_bad_schedules_with_hint() {
        for bad in [
            "",
            "daily at 25:00",
            "daily at 6",
            "hourly at :60",
            "every 0m",
            "every day",
            "weekly",
            "0 6 * *",
            "60 6 * * *",
            "0 24 * * *",
            "0 6 0 * *",
            "0 6 * 13 *",
            "0 6 * * 8",
            "*/0 * * * *",
            "0 6 5-1 * *",
            "0 0 30 2 *",
            "a b c d e",
        ] {
            let err = bad.parse::<Schedule>().expect_err(bad).to_string();
            assert!(err.contains("daily at 06:00"), "{bad}: {err}");
        }
        let err = "0 0 30 2 *".parse::<Schedule>().unwrap_err().to_string();
        assert!(err.contains("never fires"), "{err}");
        let err = "61 * * * *".parse::<Schedule>().unwrap_err().to_string();
        assert!(
            err.contains("minute field: 61 is out of range 0-59"),
            "{err}"
        );
    }
}
