//! Five-field cron expressions: `minute hour day-of-month month day-of-week`.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};

use crate::Error;

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DOW_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// How many days ahead [`CronExpr::next_after`] searches before concluding an
/// expression never fires again (parsing already rejects impossible dates such
/// as `30 2`, so this only bounds pathological combinations).
const SEARCH_DAYS: i64 = 366 * 100;

/// A parsed five-field cron expression.
///
/// Supports `*`, single values, lists (`1,15`), ranges (`1-5`), steps (`*/15`,
/// `10-50/10`, `5/20`), month names (`jan`) and day-of-week names (`mon`);
/// day-of-week is 0-7 with both 0 and 7 meaning Sunday. As in standard cron,
/// when both day-of-month and day-of-week are restricted (neither starts with
/// `*`), a day matches if *either* matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronExpr {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    dom_restricted: bool,
    dow_restricted: bool,
    text: String,
}

fn field_error(input: &str, field: &str, reason: impl fmt::Display) -> Error {
    Error::InvalidSchedule {
        input: input.to_string(),
        reason: format!("cron {field} field: {reason}"),
    }
}

/// Parses one field into a bit set over `min..=max`.
fn parse_field(
    input: &str,
    field: &str,
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<u64, Error> {
    let value = |s: &str| -> Result<u32, Error> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + name_base);
        }
        let v: u32 = s
            .parse()
            .map_err(|_| field_error(input, field, format_args!("`{s}` is not a number")))?;
        if v < min || v > max {
            return Err(field_error(
                input,
                field,
                format_args!("{v} is out of range {min}-{max}"),
            ));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| {
                    field_error(input, field, format_args!("step `{s}` is not a number"))
                })?;
                if step == 0 {
                    return Err(field_error(input, field, "step must be at least 1"));
                }
                (r, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(field_error(
                    input,
                    field,
                    format_args!("range `{range}` goes backwards"),
                ));
            }
            (a, b)
        } else {
            let a = value(range)?;
            // `5/20` means "from 5, every 20", as in Vixie cron.
            (a, if step.is_some() { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step.unwrap_or(1);
        }
    }
    Ok(bits)
}

fn has(bits: u64, v: u32) -> bool {
    bits & (1 << v) != 0
}

fn first_at_or_after(bits: u64, from: u32, max: u32) -> Option<u32> {
    (from..=max).find(|v| has(bits, *v))
}

impl CronExpr {
    /// Parses a five-field expression such as `"0 6 * * *"` or `"*/15 9-17 * * mon-fri"`.
    pub fn parse(input: &str) -> Result<CronExpr, Error> {
        let fields: Vec<&str> = input.split_whitespace().collect();
        let [min, hour, dom, month, dow] = fields[..] else {
            return Err(Error::InvalidSchedule {
                input: input.to_string(),
                reason: format!("cron needs 5 fields, got {}", fields.len()),
            });
        };
        let mut days_of_week = parse_field(input, "day-of-week", dow, 0, 7, &DOW_NAMES, 0)?;
        if has(days_of_week, 7) {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        let expr = CronExpr {
            minutes: parse_field(input, "minute", min, 0, 59, &[], 0)?,
            hours: parse_field(input, "hour", hour, 0, 23, &[], 0)?,
            days_of_month: parse_field(input, "day-of-month", dom, 1, 31, &[], 0)?,
            months: parse_field(input, "month", month, 1, 12, &MONTH_NAMES, 1)?,
            days_of_week,
            dom_restricted: !dom.starts_with('*'),
            dow_restricted: !dow.starts_with('*'),
            text: fields.join(" "),
        };
        if expr.dom_restricted && !expr.dow_restricted {
            // Longest each month can be (February counts its leap day).
            const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let possible = (1..=12u32).any(|m| {
                has(expr.months, m)
                    && (1..=MONTH_DAYS[m as usize - 1]).any(|d| has(expr.days_of_month, d))
            });
            if !possible {
                return Err(Error::InvalidSchedule {
                    input: input.to_string(),
                    reason: "no month selected has any of the selected days, so it never fires"
                        .to_string(),
                });
            }
        }
        Ok(expr)
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if !has(self.months, date.month()) {
            return false;
        }
        let dom = has(self.days_of_month, date.day());
        let dow = has(self.days_of_week, date.weekday().num_days_from_sunday());
        if self.dom_restricted && self.dow_restricted {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// First matching minute strictly after `after`, reading `after` as wall-clock time.
    ///
    /// Returns [`DateTime::<Utc>::MAX_UTC`] if nothing matches within a century
    /// (only possible for exotic day-of-week/leap-day combinations).
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let start = after
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(after)
            + TimeDelta::minutes(1);
        let first_day = start.date_naive();
        for offset in 0..SEARCH_DAYS {
            let Some(date) = first_day.checked_add_signed(TimeDelta::days(offset)) else {
                break;
            };
            if !self.day_matches(date) {
                continue;
            }
            let (from_hour, from_minute) = if offset == 0 {
                (start.hour(), start.minute())
            } else {
                (0, 0)
            };
            let mut hour = from_hour;
            while let Some(h) = first_at_or_after(self.hours, hour, 23) {
                let min_from = if h == from_hour && offset == 0 {
                    from_minute
                } else {
                    0
                };
                if let Some(m) = first_at_or_after(self.minutes, min_from, 59)
                    && let Some(time) = NaiveTime::from_hms_opt(h, m, 0)
                {
                    return date.and_time(time).and_utc();
                }
                hour = h + 1;
            }
        }
        DateTime::<Utc>::MAX_UTC
    }
}

/// The expression with fields separated by single spaces.
impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
