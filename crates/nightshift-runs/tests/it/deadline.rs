//! Deadlines, including for dates no run ever started for.

use chrono::{FixedOffset, NaiveTime};
use nightshift_core::Schedule;
use nightshift_runs::{deadline_alert_key, deadline_at, deadline_missed, missed_deadlines};

use crate::{Db, nov};

fn nine() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).expect("time")
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("utc")
}

#[test]
fn deadline_instant_follows_the_logical_date() {
    assert_eq!(deadline_at(nov(22, 6, 0), nine(), utc()), nov(22, 9, 0));
    // A deadline earlier in the day than the run is the next day's.
    let five = NaiveTime::from_hms_opt(5, 0, 0).expect("time");
    assert_eq!(deadline_at(nov(22, 6, 0), five, utc()), nov(23, 5, 0));
    // 09:00 at +02:00 is 07:00 UTC.
    let plus2 = FixedOffset::east_opt(7200).expect("offset");
    assert_eq!(deadline_at(nov(22, 4, 0), nine(), plus2), nov(22, 7, 0));
}

#[test]
fn missed_only_after_the_deadline_and_when_unpublished() {
    let db = Db::new();
    let store = db.open();
    let date = nov(22, 6, 0);
    // No run exists at all for the date.
    let published = store
        .completed("root_cause", "2026-11-22", "publish")
        .expect("succeeded");
    assert!(!published);
    assert!(!deadline_missed(
        date,
        nine(),
        utc(),
        published,
        nov(22, 8, 59)
    ));
    assert!(!deadline_missed(
        date,
        nine(),
        utc(),
        published,
        nov(22, 9, 0)
    ));
    assert!(deadline_missed(
        date,
        nine(),
        utc(),
        published,
        nov(22, 9, 1)
    ));
    // Published in time (or late): not missed.
    assert!(!deadline_missed(date, nine(), utc(), true, nov(22, 9, 1)));

    // One alert per missed date, however often the scheduler checks.
    let key = deadline_alert_key("root_cause", date);
    assert_eq!(key, "deadline:root_cause:2026-11-22T06:00");
    assert!(store.record_alert(&key, nov(22, 9, 1)).expect("alert"));
    assert!(!store.record_alert(&key, nov(22, 9, 2)).expect("alert"));
}

#[test]
fn missed_deadlines_come_from_the_schedule_not_from_runs() {
    let daily: Schedule = "daily at 06:00".parse().expect("schedule");
    // Only the 21st was published; now is 22nd 10:00.
    let mut published = |d| d == nov(21, 6, 0);
    let missed = missed_deadlines(
        &daily,
        utc(),
        nine(),
        nov(19, 6, 0),
        nov(22, 10, 0),
        &mut published,
        10,
    );
    assert_eq!(missed, [nov(20, 6, 0), nov(22, 6, 0)]);
    // Before today's deadline, today is not missed yet.
    let missed = missed_deadlines(
        &daily,
        utc(),
        nine(),
        nov(21, 6, 0),
        nov(22, 8, 0),
        &mut |_| false,
        10,
    );
    assert!(missed.is_empty());
}

/// Deadlines are watched from the first run of a pipeline, but a backfill (the demo's history)
/// computed past dates whose deadlines nobody watched: it does not start the watch.
#[test]
fn a_backfill_does_not_start_the_deadline_watch() {
    use nightshift_runs::{NewRun, Trigger};

    use crate::{TASKS, owner};
    let db = Db::new();
    let store = db.open();
    let run = |day: u32, trigger: Trigger| {
        let ds = format!("2026-11-{day:02}");
        store
            .start_run(
                NewRun {
                    pipeline: "p",
                    logical_date: nov(day, 6, 0),
                    ds: &ds,
                    tasks: TASKS,
                    trigger,
                    owner: &owner(),
                    model: None,
                },
                nov(22, 10, 0),
            )
            .expect("start");
    };
    run(10, Trigger::Backfill);
    assert_eq!(store.first_logical_date("p").expect("read"), None);
    run(20, Trigger::Manual);
    run(12, Trigger::Backfill);
    assert_eq!(
        store.first_logical_date("p").expect("read"),
        Some(nov(20, 6, 0))
    );
}
