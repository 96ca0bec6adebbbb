//! Catch-up planning after downtime.

use chrono::{FixedOffset, NaiveTime, TimeDelta};
use nightshift_core::{Duration, PipelineSpec, Schedule};
use nightshift_runs::{
    NewRun, TaskOutcome, Trigger, due_dates, due_dates_for, latest_fire_at_or_before,
    next_fire_after,
};

use crate::{Db, TASKS, nov, owner};

pub(crate) fn spec(schedule: &str, catchup: bool) -> PipelineSpec {
    PipelineSpec {
        name: "root_cause".into(),
        schedule: schedule.parse().expect("schedule"),
        timezone: "UTC".into(),
        window: Duration::DAY,
        reads: vec!["raw.contacts".into()],
        max_sla: None,
        features_path: "features/root_cause.sql".into(),
        features_sql: "SELECT 1".into(),
        model: Some("root_cause@production".into()),
        id_column: "id".into(),
        text_column: "text".into(),
        max_text_chars: 10_000,
        min_rows: 1,
        retries: 3,
        retry_delay: Duration::MINUTE,
        deadline: NaiveTime::from_hms_opt(9, 0, 0),
        alerts: vec![],
        catchup,
        dimensions: vec![],
        top_k: 3,
        wait_for_data: None,
        gates: Default::default(),
    }
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("utc")
}

fn daily() -> Schedule {
    "daily at 06:00".parse().expect("schedule")
}

#[test]
fn three_missed_days_are_caught_up_oldest_first() {
    // Last success 2026-11-19 06:00; down until 2026-11-22 07:30.
    let now = nov(22, 7, 30);
    let dates = due_dates(&daily(), utc(), Some(nov(19, 6, 0)), now, true, 10);
    assert_eq!(dates, [nov(20, 6, 0), nov(21, 6, 0), nov(22, 6, 0)]);
    // Without catch-up only the latest runs.
    assert_eq!(
        due_dates(&daily(), utc(), Some(nov(19, 6, 0)), now, false, 10),
        [nov(22, 6, 0)]
    );
    // Bounded: the oldest two first.
    assert_eq!(
        due_dates(&daily(), utc(), Some(nov(19, 6, 0)), now, true, 2),
        [nov(20, 6, 0), nov(21, 6, 0)]
    );
    assert!(due_dates(&daily(), utc(), Some(nov(19, 6, 0)), now, true, 0).is_empty());
    // Through the PipelineSpec.
    assert_eq!(
        due_dates_for(&spec("daily at 06:00", true), Some(nov(19, 6, 0)), now, 10).len(),
        3
    );
    assert_eq!(
        due_dates_for(&spec("daily at 06:00", false), Some(nov(19, 6, 0)), now, 10),
        [nov(22, 6, 0)]
    );
}

#[test]
fn nothing_due_when_up_to_date_or_before_the_fire_time() {
    // Done today; now before tomorrow's fire.
    assert!(
        due_dates(
            &daily(),
            utc(),
            Some(nov(22, 6, 0)),
            nov(23, 5, 59),
            true,
            10
        )
        .is_empty()
    );
    // Exactly at the fire time it is due.
    assert_eq!(
        due_dates(
            &daily(),
            utc(),
            Some(nov(22, 6, 0)),
            nov(23, 6, 0),
            true,
            10
        ),
        [nov(23, 6, 0)]
    );
    // Never succeeded: only the latest fire time, no history.
    assert_eq!(
        due_dates(&daily(), utc(), None, nov(22, 5, 0), true, 10),
        [nov(21, 6, 0)]
    );
    assert_eq!(
        next_fire_after(&daily(), utc(), nov(22, 6, 0)),
        nov(23, 6, 0)
    );
}

#[test]
fn latest_fire_time_for_various_schedules() {
    let s = |x: &str| -> Schedule { x.parse().expect(x) };
    assert_eq!(
        latest_fire_at_or_before(&s("every 15m"), utc(), nov(22, 6, 7)),
        Some(nov(22, 6, 0))
    );
    assert_eq!(
        latest_fire_at_or_before(&s("hourly at :15"), utc(), nov(22, 6, 7)),
        Some(nov(22, 5, 15))
    );
    assert_eq!(
        latest_fire_at_or_before(&s("0 0 29 2 *"), utc(), nov(22, 0, 0)),
        Some(crate::t(2024, 2, 29, 0, 0))
    );
    // A fixed offset: 06:00 at +02:00 is 04:00 UTC.
    let plus2 = FixedOffset::east_opt(7200).expect("offset");
    assert_eq!(
        latest_fire_at_or_before(&daily(), plus2, nov(22, 5, 0)),
        Some(nov(22, 4, 0))
    );
    // Hourly catch-up over a 3 h outage.
    let dates = due_dates(
        &s("hourly at :15"),
        utc(),
        Some(nov(22, 2, 15)),
        nov(22, 5, 20),
        true,
        100,
    );
    assert_eq!(dates, [nov(22, 3, 15), nov(22, 4, 15), nov(22, 5, 15)]);
}

#[test]
fn catch_up_from_the_store_after_downtime() {
    let db = Db::new();
    let store = db.open();
    // Ran on the 19th, then the machine was off.
    let run = store
        .start_run(
            NewRun {
                pipeline: "root_cause",
                logical_date: nov(19, 6, 0),
                ds: "2026-11-19",
                tasks: TASKS,
                trigger: Trigger::Schedule,
                owner: &owner(),
                model: None,
            },
            nov(19, 6, 0),
        )
        .expect("start");
    for task in TASKS {
        store
            .task_started(&run.id, task, nov(19, 6, 1))
            .expect("start");
        store
            .task_succeeded(&run.id, task, TaskOutcome::default(), nov(19, 6, 2))
            .expect("succeed");
    }
    store.finish_run(&run.id, nov(19, 6, 3)).expect("finish");
    let last = store
        .last_completed("root_cause", "publish", nov(22, 7, 0))
        .expect("last");
    let now = nov(22, 7, 0) + TimeDelta::seconds(1);
    let due = due_dates_for(&spec("daily at 06:00", true), last, now, 10);
    assert_eq!(due, [nov(20, 6, 0), nov(21, 6, 0), nov(22, 6, 0)]);
}
