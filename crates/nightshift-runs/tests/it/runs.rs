//! Starting runs, task updates, finishing, attempts numbering, listing and detail.

use chrono::TimeDelta;
use nightshift_runs::{
    Error, NewRun, RunFilter, RunId, RunStatus, RunStore, TaskOutcome, TaskState, Trigger,
};
use serde_json::json;

use crate::{Db, TASKS, nov, owner, start};

fn succeed_all(store: &RunStore, run: &RunId, now: chrono::DateTime<chrono::Utc>) {
    for (i, task) in TASKS.iter().enumerate() {
        store.task_started(run, task, now).expect("start task");
        let outcome = TaskOutcome {
            rows_in: 100 + i as u64,
            rows_out: 90 + i as u64,
            model_version: (*task == "infer").then(|| "root_cause@3".to_string()),
            detail: json!({"task": task}),
        };
        store
            .task_succeeded(run, task, outcome, now)
            .expect("succeed task");
    }
}

#[test]
fn run_ids_attempts_and_pending_tasks() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let run = start(&store, "root_cause", 22, now);
    assert_eq!(run.id.as_str(), "root_cause-2026-11-22-1");
    assert_eq!(run.attempt, 1);
    assert_eq!(run.tasks, TASKS);
    assert_eq!(run.lease_until, now + TimeDelta::minutes(5));

    let detail = store.get(&run.id, now).expect("get");
    assert_eq!(detail.run.status, RunStatus::Running);
    assert_eq!(detail.run.trigger, Trigger::Schedule);
    assert_eq!(detail.run.owner, owner());
    assert_eq!(detail.tasks.len(), 4);
    assert!(
        detail
            .tasks
            .iter()
            .all(|t| t.state == TaskState::Pending && t.attempts == 0)
    );

    // Second and third attempts of the same date; another date starts at 1 again.
    store.finish_run(&run.id, now).expect("finish");
    let second = start(&store, "root_cause", 22, now + TimeDelta::minutes(1));
    assert_eq!(
        (second.id.as_str(), second.attempt),
        ("root_cause-2026-11-22-2", 2)
    );
    store.finish_run(&second.id, now).expect("finish");
    let third = start(&store, "root_cause", 22, now + TimeDelta::minutes(2));
    assert_eq!(third.attempt, 3);
    let other = start(&store, "root_cause", 23, now + TimeDelta::minutes(3));
    assert_eq!(
        (other.id.as_str(), other.attempt),
        ("root_cause-2026-11-23-1", 1)
    );
    let other_pipeline = start(&store, "churn", 22, now + TimeDelta::minutes(4));
    assert_eq!(other_pipeline.attempt, 1);

    // Reopening the file keeps the numbering.
    drop(store);
    let store = db.open();
    let fourth = start(&store, "root_cause", 22, now + TimeDelta::minutes(5));
    assert_eq!(
        (fourth.id.as_str(), fourth.attempt),
        ("root_cause-2026-11-22-4", 4)
    );
}

#[test]
fn hourly_ds_makes_a_colon_free_id() {
    let db = Db::new();
    let store = db.open();
    let run = store
        .start_run(
            NewRun {
                pipeline: "clicks",
                logical_date: nov(22, 5, 15),
                ds: "2026-11-22T04:00",
                tasks: &["features", "infer"],
                trigger: Trigger::Manual,
                owner: &owner(),
                model: None,
            },
            nov(22, 5, 15),
        )
        .expect("start");
    assert_eq!(run.id.as_str(), "clicks-2026-11-22T0400-1");
}

#[test]
fn successful_run_records_rows_and_model() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let run = start(&store, "root_cause", 22, now);
    succeed_all(&store, &run.id, now + TimeDelta::minutes(3));
    let status = store
        .finish_run(&run.id, now + TimeDelta::minutes(4))
        .expect("finish");
    assert_eq!(status, RunStatus::Succeeded);

    let detail = store.get(&run.id, now + TimeDelta::hours(1)).expect("get");
    assert_eq!(detail.run.status, RunStatus::Succeeded);
    assert_eq!(detail.run.finished_at, Some(now + TimeDelta::minutes(4)));
    assert_eq!(detail.lease_until, None);
    let infer = &detail.tasks[2];
    assert_eq!(infer.name, "infer");
    assert_eq!(infer.state, TaskState::Succeeded);
    assert_eq!((infer.rows_in, infer.rows_out), (Some(102), Some(92)));
    assert_eq!(infer.model_version.as_deref(), Some("root_cause@3"));
    assert_eq!(infer.detail, json!({"task": "infer"}));
    assert_eq!(infer.attempts, 1);
    assert_eq!(infer.started_at, Some(now + TimeDelta::minutes(3)));

    assert_eq!(
        store
            .last_completed("root_cause", "publish", nov(30, 0, 0))
            .expect("last"),
        Some(nov(22, 6, 0))
    );
    assert_eq!(
        store
            .last_completed("root_cause", "publish", nov(22, 5, 59))
            .expect("last"),
        None,
        "a date after now does not count"
    );
    assert!(
        store
            .completed("root_cause", "2026-11-22", "publish")
            .expect("succeeded")
    );
    assert!(
        !store
            .completed("root_cause", "2026-11-21", "publish")
            .expect("succeeded")
    );
    // A later date run only up to `check` succeeds, but its output is not there: it does not
    // count as done (catch-up and deadlines still see the date as due), unless asked about
    // a pipeline whose last task it ran.
    let partial = store
        .start_run(
            NewRun {
                pipeline: "root_cause",
                logical_date: nov(23, 6, 0),
                ds: "2026-11-23",
                tasks: &["check"],
                trigger: Trigger::Manual,
                owner: &owner(),
                model: None,
            },
            now + TimeDelta::hours(1),
        )
        .expect("start");
    store
        .task_started(&partial.id, "check", now + TimeDelta::hours(1))
        .expect("started");
    store
        .task_succeeded(
            &partial.id,
            "check",
            TaskOutcome::default(),
            now + TimeDelta::hours(1),
        )
        .expect("succeeded");
    assert_eq!(
        store
            .finish_run(&partial.id, now + TimeDelta::hours(1))
            .expect("finish"),
        RunStatus::Succeeded
    );
    assert_eq!(
        store
            .last_completed("root_cause", "publish", nov(30, 0, 0))
            .expect("last"),
        Some(nov(22, 6, 0))
    );
    assert!(
        !store
            .completed("root_cause", "2026-11-23", "publish")
            .expect("completed")
    );
    assert!(
        store
            .completed("root_cause", "2026-11-23", "check")
            .expect("completed")
    );

    // A finished run cannot be updated any more.
    let err = store
        .task_started(&run.id, "infer", now + TimeDelta::hours(2))
        .expect_err("finished");
    assert!(
        matches!(
            err,
            Error::RunNotRunning {
                status: RunStatus::Succeeded,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn transient_failures_then_success_count_attempts() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let run = start(&store, "root_cause", 22, now);
    for attempt in 1..=2 {
        store.task_started(&run.id, "check", now).expect("start");
        store
            .task_failed(&run.id, "check", "connection reset", true, attempt, now)
            .expect("fail");
    }
    let detail = store.get(&run.id, now).expect("get");
    assert_eq!(detail.tasks[0].state, TaskState::Failed);
    assert_eq!(detail.tasks[0].error.as_deref(), Some("connection reset"));
    assert_eq!(detail.tasks[0].transient, Some(true));
    assert_eq!(detail.run.failed_task.as_deref(), Some("check"));

    store.task_started(&run.id, "check", now).expect("start");
    store
        .task_succeeded(&run.id, "check", TaskOutcome::default(), now)
        .expect("succeed");
    let check = &store.get(&run.id, now).expect("get").tasks[0];
    assert_eq!(check.state, TaskState::Succeeded);
    assert_eq!(check.attempts, 3);
    assert_eq!(check.error, None);
    assert_eq!(check.detail, serde_json::Value::Null);
}

#[test]
fn finish_computes_status_from_tasks() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);

    let failed = start(&store, "a", 22, now);
    store.task_started(&failed.id, "check", now).expect("start");
    store
        .task_failed(&failed.id, "check", "SQL error: syntax", false, 1, now)
        .expect("fail");
    assert_eq!(
        store.finish_run(&failed.id, now).expect("finish"),
        RunStatus::Failed
    );

    let skipped = start(&store, "b", 22, now);
    for task in TASKS {
        store
            .task_skipped(&skipped.id, task, "no new rows", now)
            .expect("skip");
    }
    assert_eq!(
        store.finish_run(&skipped.id, now).expect("finish"),
        RunStatus::Succeeded
    );
    let detail = store.get(&skipped.id, now).expect("get");
    assert_eq!(detail.tasks[3].detail, json!({"skipped": "no new rows"}));

    let stopped = start(&store, "c", 22, now);
    store
        .task_started(&stopped.id, "check", now)
        .expect("start");
    assert_eq!(
        store.finish_run(&stopped.id, now).expect("finish"),
        RunStatus::Abandoned
    );
    let detail = store.get(&stopped.id, now).expect("get");
    assert_eq!(detail.tasks[0].state, TaskState::Abandoned);
    assert_eq!(detail.tasks[1].state, TaskState::Pending);

    // Finishing twice is refused.
    assert!(matches!(
        store.finish_run(&stopped.id, now),
        Err(Error::RunNotRunning { .. })
    ));
}

#[test]
fn list_is_newest_first_and_filters() {
    let db = Db::new();
    let store = db.open();
    let base = nov(22, 6, 0);
    let r1 = start(&store, "root_cause", 20, base);
    succeed_all(&store, &r1.id, base);
    store.finish_run(&r1.id, base).expect("finish");
    let r2 = start(&store, "churn", 20, base + TimeDelta::minutes(1));
    store.task_started(&r2.id, "check", base).expect("start");
    store
        .task_failed(&r2.id, "check", "No field named x", false, 1, base)
        .expect("fail");
    store.finish_run(&r2.id, base).expect("finish");
    let r3 = start(&store, "root_cause", 21, base + TimeDelta::minutes(2));
    let now = base + TimeDelta::minutes(3);

    let ids = |filter: RunFilter| -> Vec<String> {
        store
            .list(&filter, now)
            .expect("list")
            .into_iter()
            .map(|r| r.id.to_string())
            .collect()
    };
    assert_eq!(
        ids(RunFilter::default()),
        [r3.id.to_string(), r2.id.to_string(), r1.id.to_string()]
    );
    assert_eq!(
        ids(RunFilter {
            pipeline: Some("root_cause".into()),
            ..RunFilter::default()
        }),
        [r3.id.to_string(), r1.id.to_string()]
    );
    assert_eq!(
        ids(RunFilter {
            status: Some(RunStatus::Failed),
            ..RunFilter::default()
        }),
        [r2.id.to_string()]
    );
    assert_eq!(
        ids(RunFilter {
            pipeline: Some("root_cause".into()),
            status: Some(RunStatus::Running),
            limit: None,
        }),
        [r3.id.to_string()]
    );
    assert_eq!(
        ids(RunFilter {
            limit: Some(2),
            ..RunFilter::default()
        }),
        [r3.id.to_string(), r2.id.to_string()]
    );
    assert!(
        ids(RunFilter {
            pipeline: Some("nope".into()),
            ..RunFilter::default()
        })
        .is_empty()
    );

    let failed = &store
        .list(
            &RunFilter {
                status: Some(RunStatus::Failed),
                ..RunFilter::default()
            },
            now,
        )
        .expect("list")[0];
    assert_eq!(failed.failed_task.as_deref(), Some("check"));
    assert_eq!(failed.error.as_deref(), Some("No field named x"));
    assert_eq!(failed.pipeline, "churn");
}

#[test]
fn bad_input_is_rejected_with_errors_not_panics() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let o = owner();
    let new = |pipeline: &'static str, tasks: &'static [&'static str]| NewRun {
        pipeline,
        logical_date: now,
        ds: "2026-11-22",
        tasks,
        trigger: Trigger::Manual,
        owner: &o,
        model: None,
    };
    assert!(matches!(
        store.start_run(new("", TASKS), now),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        store.start_run(new("p", &[]), now),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        store.start_run(new("p", &["infer", "infer"]), now),
        Err(Error::InvalidInput { .. })
    ));
    let missing = NewRun {
        trigger: Trigger::Retry {
            of: RunId::new("p-2026-11-22-9"),
        },
        ..new("p", TASKS)
    };
    let err = store
        .start_run(missing, now)
        .expect_err("unknown retried run");
    assert!(matches!(err, Error::UnknownRun { .. }), "{err}");
    assert!(err.hint().expect("hint").contains("runs list"));

    let run = start(&store, "p", 22, now);
    let err = store
        .task_started(&run.id, "train", now)
        .expect_err("unknown task");
    assert_eq!(
        err.to_string(),
        "run `p-2026-11-22-1` has no task `train` (its tasks: check, features, infer, publish)"
    );
    assert!(matches!(
        store.get(&RunId::new("nope"), now),
        Err(Error::UnknownRun { .. })
    ));
}

#[test]
fn newer_schema_is_refused() {
    let db = Db::new();
    drop(db.open());
    let conn = rusqlite_conn(&db.path);
    conn.pragma_update(None, "user_version", 99)
        .expect("pragma");
    drop(conn);
    let err = RunStore::open(&db.path).expect_err("newer schema");
    assert!(
        matches!(
            err,
            Error::NewerSchema {
                found: 99,
                supported: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.hint().is_some());
}

#[test]
fn a_database_of_schema_1_is_migrated_and_its_runs_have_no_model() {
    let db = Db::new();
    let now = nov(22, 6, 0);
    let store = db.open();
    let old = start(&store, "p", 22, now);
    drop(store);
    // Back to schema 1: runs without the model column, no schedule starts.
    let conn = rusqlite_conn(&db.path);
    conn.execute_batch(
        "ALTER TABLE runs DROP COLUMN model; DROP TABLE schedule_starts; \
         ALTER TABLE alerts DROP COLUMN sent_at; PRAGMA user_version = 1;",
    )
    .expect("downgrade");
    drop(conn);
    let store = db.open();
    let listed = store.list(&RunFilter::default(), now).expect("list");
    assert_eq!(listed[0].id, old.id);
    assert_eq!(listed[0].model, None);
    let o = owner();
    let new = store
        .start_run(
            NewRun {
                pipeline: "p",
                logical_date: nov(23, 6, 0),
                ds: "2026-11-23",
                tasks: TASKS,
                trigger: Trigger::Manual,
                owner: &o,
                model: Some("m@3"),
            },
            now,
        )
        .expect("start");
    let detail = store.get(&new.id, now).expect("get");
    assert_eq!(detail.run.model.as_deref(), Some("m@3"));
    assert_eq!(
        store.retried_model(&new.id).expect("model").as_deref(),
        Some("m@3")
    );
}

fn rusqlite_conn(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open sqlite")
}

/// A re-run of a done date killed or failed after it rewrote part of the slice (its
/// features and predictions, not the rollups) leaves the slice's tables from two runs: the
/// date is not done again until a run completes it (then the scheduler runs it again).
#[test]
fn a_later_run_that_rewrote_part_of_the_slice_undoes_the_date_until_one_completes_it() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let done = |at| {
        (
            store
                .completed("root_cause", "2026-11-22", "publish")
                .expect("completed"),
            store
                .last_completed("root_cause", "publish", at)
                .expect("last"),
        )
    };
    let first = start(&store, "root_cause", 22, now);
    succeed_all(&store, &first.id, now);
    store.finish_run(&first.id, now).expect("finish");
    assert_eq!(done(nov(30, 0, 0)), (true, Some(nov(22, 6, 0))));

    // A re-run checks and fails: it wrote nothing, the date stays done.
    let later = now + TimeDelta::hours(1);
    let checked = start(&store, "root_cause", 22, later);
    store
        .task_started(&checked.id, "check", later)
        .expect("start");
    store
        .task_failed(&checked.id, "check", "not fresh", false, 1, later)
        .expect("fail");
    store.finish_run(&checked.id, later).expect("finish");
    assert_eq!(done(nov(30, 0, 0)), (true, Some(nov(22, 6, 0))));

    // Another writes the features and the predictions, then fails in publish.
    let later = now + TimeDelta::hours(2);
    let rerun = start(&store, "root_cause", 22, later);
    for task in ["check", "features", "infer"] {
        store.task_started(&rerun.id, task, later).expect("start");
        store
            .task_succeeded(&rerun.id, task, TaskOutcome::default(), later)
            .expect("succeed");
    }
    store
        .task_started(&rerun.id, "publish", later)
        .expect("start");
    store
        .task_failed(&rerun.id, "publish", "gate", false, 1, later)
        .expect("fail");
    store.finish_run(&rerun.id, later).expect("finish");
    assert_eq!(done(nov(30, 0, 0)), (false, None));

    // Its retry publishes: done again.
    let later = now + TimeDelta::hours(3);
    let retry = store
        .start_run(
            NewRun {
                pipeline: "root_cause",
                logical_date: nov(22, 6, 0),
                ds: "2026-11-22",
                tasks: &["publish"],
                trigger: Trigger::Retry {
                    of: rerun.id.clone(),
                },
                owner: &owner(),
                model: None,
            },
            later,
        )
        .expect("start");
    store
        .task_started(&retry.id, "publish", later)
        .expect("start");
    store
        .task_succeeded(&retry.id, "publish", TaskOutcome::default(), later)
        .expect("succeed");
    store.finish_run(&retry.id, later).expect("finish");
    assert_eq!(done(nov(30, 0, 0)), (true, Some(nov(22, 6, 0))));
}
