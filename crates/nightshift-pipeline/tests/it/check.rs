use nightshift_pipeline::{Error, RunPlan, check};

use crate::{SQL, at, contacts, project, trips};

#[tokio::test]
async fn check_passes_when_every_table_has_data_past_the_window() {
    let (_dir, project, wh) = project(SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("x"), "t"),
            (Some("b"), at(19, 2), Some("y"), "t"),
            (Some("c"), at(20, 1), Some("z"), "t"),
        ],
    )
    .await;
    trips(&wh, &[("t", at(20, 3), "completed")]).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let report = check(&wh, &plan).await.expect("check passes");
    assert_eq!(report.tables[0].rows_in_window, Some(2));
    assert_eq!(report.tables[0].latest, Some(at(20, 1)));
}

#[tokio::test]
async fn check_refuses_a_window_whose_upstream_is_not_complete() {
    let (_dir, project, wh) = project(SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("x"), "t"),
            (Some("b"), at(19, 2), Some("y"), "t"),
            (Some("c"), at(20, 1), Some("z"), "t"),
        ],
    )
    .await;
    trips(&wh, &[("t", at(19, 23), "completed")]).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = check(&wh, &plan)
        .await
        .expect_err("trips stop before the window end");
    assert!(matches!(err, Error::CheckFailed { .. }), "{err}");
    assert!(err.to_string().contains("raw.trips"), "{err}");
    assert!(err.hint().expect("hint").contains("not complete yet"));
}

#[tokio::test]
async fn check_refuses_fewer_rows_than_min_rows() {
    let (_dir, project, wh) = project(SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("x"), "t"),
            (Some("c"), at(20, 1), Some("z"), "t"),
        ],
    )
    .await;
    trips(&wh, &[("t", at(20, 3), "completed")]).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = check(&wh, &plan).await.expect_err("1 row < min_rows 2");
    assert!(err.to_string().contains("min_rows = 2"), "{err}");
}

#[tokio::test]
async fn check_refuses_a_missing_table() {
    let (_dir, project, wh) = project(SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("x"), "t"),
            (Some("b"), at(19, 2), Some("y"), "t"),
            (Some("c"), at(20, 1), Some("z"), "t"),
        ],
    )
    .await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = check(&wh, &plan).await.expect_err("no trips table");
    assert!(
        err.to_string().contains("`raw.trips` does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unknown_pipeline_lists_the_known_ones() {
    let (_dir, project, _wh) = project(SQL).await;
    let err = RunPlan::new(&project, "nope", at(22, 0), at(22, 6)).expect_err("unknown");
    assert_eq!(err.hint().as_deref(), Some("pipelines: rc"));
}

#[tokio::test]
async fn a_check_with_wait_for_data_polls_then_gives_up_with_the_reason() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let toml = crate::PROJECT.replace("min_rows = 2", "min_rows = 2\nwait_for_data = \"1h\"");
    let (dir, project, wh) = crate::project_with(&toml, SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("x"), "t"),
            (Some("b"), at(19, 2), Some("y"), "t"),
            (Some("c"), at(20, 1), Some("z"), "t"),
        ],
    )
    .await;
    trips(&wh, &[("t", at(19, 23), "completed")]).await; // trips stop before the window's end
    let store = nightshift_runs::RunStore::open(&dir.path().join("runs.db")).expect("store");
    let clock = Arc::new(nightshift_runs::ManualClock::new(at(22, 6)));
    let sleeps = Arc::new(AtomicUsize::new(0));
    let (c, n) = (clock.clone(), sleeps.clone());
    let sleep = move |d: std::time::Duration| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        n.fetch_add(1, Ordering::SeqCst);
        c.advance(chrono::TimeDelta::from_std(d).expect("delta"));
        Box::pin(async {})
    };
    let mut plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let outcome = nightshift_pipeline::execute_run(
        &wh,
        &store,
        &mut plan,
        &[nightshift_pipeline::Task::Check],
        None,
        nightshift_runs::Trigger::Manual,
        clock.as_ref(),
        &sleep,
    )
    .await
    .expect("recorded");
    let err = outcome.error.expect("still not fresh after an hour");
    assert!(err.to_string().contains("after waiting 1h"), "{err}");
    assert_eq!(
        sleeps.load(Ordering::SeqCst),
        12,
        "one look every 5 minutes for an hour"
    );
    assert_eq!(outcome.status, nightshift_runs::RunStatus::Failed);
}
