//! Deadlines: the wall-clock time by which a logical date's output should be published.
//!
//! A deadline is a function of the logical date alone, never of when (or whether) a run
//! started, so it is missed even when no run for the date ever began.

use chrono::{DateTime, FixedOffset, NaiveTime, TimeDelta, Utc};
use nightshift_core::Schedule;

use crate::catchup::latest_fire_at_or_before;

/// The deadline instant of `logical_date`: the first time strictly after it at which the
/// wall clock in `tz` reads `deadline`. A daily 06:00 run with a 09:00 deadline is due at
/// 09:00 the same day; with a 05:00 (or 06:00) deadline, at that time the next day.
pub fn deadline_at(
    logical_date: DateTime<Utc>,
    deadline: NaiveTime,
    tz: FixedOffset,
) -> DateTime<Utc> {
    let shift = TimeDelta::seconds(i64::from(tz.local_minus_utc()));
    let local = logical_date + shift;
    let mut candidate = local.date_naive().and_time(deadline).and_utc();
    if candidate <= local {
        candidate += TimeDelta::days(1);
    }
    candidate - shift
}

/// Whether the deadline of `logical_date` has passed at `now` without its output being
/// `published`. At the deadline instant itself it is not missed yet.
pub fn deadline_missed(
    logical_date: DateTime<Utc>,
    deadline: NaiveTime,
    tz: FixedOffset,
    published: bool,
    now: DateTime<Utc>,
) -> bool {
    !published && now > deadline_at(logical_date, deadline, tz)
}

/// The alert dedup key of a missed deadline of the slice `ds`, e.g.
/// `deadline:root_cause:ds=2026-11-19`: a slice is late once, however many fire times of a
/// schedule finer than its window share it. Pass it to [`crate::RunStore::record_alert`].
pub fn deadline_slice_alert_key(pipeline: &str, ds: &str) -> String {
    format!("deadline:{pipeline}:ds={ds}")
}

/// The alert dedup key of a missed deadline by logical date, e.g.
/// `deadline:root_cause:2026-11-22` (`deadline:root_cause:2026-11-22T06:00` for a logical
/// date that is not midnight).
pub fn deadline_alert_key(pipeline: &str, logical_date: DateTime<Utc>) -> String {
    let when = if logical_date.time() == NaiveTime::MIN {
        logical_date.format("%Y-%m-%d")
    } else {
        logical_date.format("%Y-%m-%dT%H:%M")
    };
    format!("deadline:{pipeline}:{when}")
}

/// Scheduled logical dates in `(since, now]` whose deadline passed without being
/// published, oldest first, at most `max`. `published` answers for one date (e.g.
/// [`crate::RunStore::succeeded`]); dates no run ever started for are included.
pub fn missed_deadlines(
    schedule: &Schedule,
    tz: FixedOffset,
    deadline: NaiveTime,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    published: &mut dyn FnMut(DateTime<Utc>) -> bool,
    max: usize,
) -> Vec<DateTime<Utc>> {
    let mut missed = Vec::new();
    if latest_fire_at_or_before(schedule, tz, now).is_none() {
        return missed;
    }
    let mut t = schedule.next_after_in(since, tz);
    while t <= now && missed.len() < max {
        if now > deadline_at(t, deadline, tz) && !published(t) {
            missed.push(t);
        }
        t = schedule.next_after_in(t, tz);
    }
    missed
}
