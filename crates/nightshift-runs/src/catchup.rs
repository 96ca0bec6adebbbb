//! Catch-up planning: which logical dates are due after downtime.
//!
//! Logical dates are the schedule's fire times. Dates are planned from the schedule
//! alone, so a date is due whether or not a run for it ever started.

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use nightshift_core::{PipelineSpec, Schedule};

/// Longest gap between fire times searched for by [`latest_fire_at_or_before`]
/// (a cron like `0 0 29 2 *` can go 8 years without firing).
const MAX_LOOKBACK_DAYS: i64 = 366 * 9;

/// The next fire time strictly after `now`, wall-clock times read in `tz`.
pub fn next_fire_after(schedule: &Schedule, tz: FixedOffset, now: DateTime<Utc>) -> DateTime<Utc> {
    schedule.next_after_in(now, tz)
}

/// The latest fire time at or before `t`, or `None` if there is none within 9 years.
pub fn latest_fire_at_or_before(
    schedule: &Schedule,
    tz: FixedOffset,
    t: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut lookback = TimeDelta::minutes(1);
    while lookback <= TimeDelta::days(MAX_LOOKBACK_DAYS) * 2 {
        let from = t.checked_sub_signed(lookback)?;
        let mut current = schedule.next_after_in(from, tz);
        if current <= t {
            loop {
                let next = schedule.next_after_in(current, tz);
                if next > t {
                    return Some(current);
                }
                current = next;
            }
        }
        lookback = lookback * 2;
    }
    None
}

/// The logical dates due at `now`, oldest first, at most `max`:
///
/// - every fire time in `(last_done, now]` when `catchup` is true (the oldest `max`
///   of them; plan again once they are done for the rest);
/// - only the latest fire time in `(last_done, now]` when `catchup` is false;
/// - only the latest fire time at or before `now` when nothing succeeded yet
///   (`last_done` is `None`): history is filled by an explicit backfill, not by catch-up.
///
/// Empty when nothing is due or `max` is 0.
pub fn due_dates(
    schedule: &Schedule,
    tz: FixedOffset,
    last_done: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    catchup: bool,
    max: usize,
) -> Vec<DateTime<Utc>> {
    if max == 0 {
        return Vec::new();
    }
    let Some(latest) = latest_fire_at_or_before(schedule, tz, now) else {
        return Vec::new();
    };
    match last_done {
        Some(done) if done >= latest => Vec::new(),
        Some(done) if catchup => {
            let mut dates = Vec::new();
            let mut t = schedule.next_after_in(done, tz);
            while t <= now && dates.len() < max {
                dates.push(t);
                t = schedule.next_after_in(t, tz);
            }
            dates
        }
        _ => vec![latest],
    }
}

/// [`due_dates`] for a pipeline: its schedule, timezone and `catchup` setting.
pub fn due_dates_for(
    spec: &PipelineSpec,
    last_done: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    max: usize,
) -> Vec<DateTime<Utc>> {
    due_dates(
        &spec.schedule,
        spec.utc_offset(),
        last_done,
        now,
        spec.catchup,
        max,
    )
}
