//! What a retry re-does.

use nightshift_runs::{Error, NewRun, RunStatus, TaskOutcome, TaskState, Trigger};

use crate::{Db, nov, owner, start};

#[test]
fn retry_after_infer_failed_reruns_infer_and_publish_only() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let run = start(&store, "root_cause", 22, now);
    for task in ["check", "features"] {
        store.task_started(&run.id, task, now).expect("start");
        store
            .task_succeeded(&run.id, task, TaskOutcome::default(), now)
            .expect("succeed");
    }
    store.task_started(&run.id, "infer", now).expect("start");
    store
        .task_failed(&run.id, "infer", "model file not found", false, 1, now)
        .expect("fail");
    assert_eq!(
        store.finish_run(&run.id, now).expect("finish"),
        RunStatus::Failed
    );

    let plan = store.retry_plan(&run.id, now).expect("plan");
    assert_eq!(plan.tasks, ["infer", "publish"]);
    assert_eq!(plan.reused, ["check", "features"]);
    assert_eq!(plan.of, run.id);
    assert_eq!(plan.logical_date, nov(22, 6, 0));
    assert_eq!(plan.ds, "2026-11-22");

    // The retry is attempt 2 of the date, with only the remaining tasks.
    let tasks: Vec<&str> = plan.tasks.iter().map(String::as_str).collect();
    let owner = owner();
    let start_retry = || {
        store.start_run(
            NewRun {
                pipeline: &plan.pipeline,
                logical_date: plan.logical_date,
                ds: &plan.ds,
                tasks: &tasks,
                trigger: Trigger::Retry { of: run.id.clone() },
                owner: &owner,
                model: None,
            },
            now,
        )
    };
    let retry = start_retry().expect("start retry");
    assert_eq!(retry.attempt, 2);
    assert_eq!(retry.tasks, ["infer", "publish"]);
    let detail = store.get(&retry.id, now).expect("get");
    assert_eq!(detail.run.trigger, Trigger::Retry { of: run.id.clone() });
    // A second retry while this one runs is refused (two `runs retry` at once).
    let err = start_retry().expect_err("being retried");
    assert!(
        matches!(&err, Error::BeingRetried { by, .. } if *by == retry.id.to_string()),
        "{err}"
    );
    assert!(err.hint().is_some_and(|h| h.contains("runs show")), "{err}");

    // A retry of a succeeded run is refused.
    for task in ["infer", "publish"] {
        store.task_started(&retry.id, task, now).expect("start");
        store
            .task_succeeded(&retry.id, task, TaskOutcome::default(), now)
            .expect("succeed");
    }
    store.finish_run(&retry.id, now).expect("finish");
    let err = store.retry_plan(&retry.id, now).expect_err("succeeded");
    assert!(matches!(err, Error::NothingToRetry { .. }), "{err}");
    // So is a second retry of the failed run: its retry already completed it.
    let err = store.retry_plan(&run.id, now).expect_err("already retried");
    assert!(
        matches!(&err, Error::AlreadyRetried { by, .. } if *by == retry.id.to_string()),
        "{err}"
    );
}

#[test]
fn retry_of_a_crashed_run_starts_at_the_abandoned_task() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let run = start(&store, "root_cause", 22, now);
    store.task_started(&run.id, "check", now).expect("start");
    store
        .task_succeeded(&run.id, "check", TaskOutcome::default(), now)
        .expect("succeed");
    store.task_started(&run.id, "features", now).expect("start");

    // Still running: no plan yet.
    assert!(matches!(
        store.retry_plan(&run.id, now),
        Err(Error::RunStillRunning { .. })
    ));
    // After the lease expires it is reaped and the plan starts at `features`.
    let later = now + chrono::TimeDelta::minutes(6);
    let plan = store.retry_plan(&run.id, later).expect("plan");
    assert_eq!(plan.tasks, ["features", "infer", "publish"]);
    assert_eq!(plan.reused, ["check"]);
    let detail = store.get(&run.id, later).expect("get");
    assert_eq!(detail.tasks[1].state, TaskState::Abandoned);
    assert_eq!(detail.tasks[2].state, TaskState::Pending);
}
