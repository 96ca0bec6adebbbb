use nightshift_pipeline::{Error, RunPlan, check};

use crate::{SQL, at, contacts, project, trips};

/// Two contacts in the window of logical date 2026-11-22 and one the day after (the table
/// complete past the window's end).
async fn three_contacts(wh: &nightshift_lake::Warehouse) {
    contacts(
        wh,
        &[
            (Some("a"), at(19, 1), Some("x"), "t"),
            (Some("b"), at(19, 2), Some("y"), "t"),
            (Some("c"), at(20, 1), Some("z"), "t"),
        ],
    )
    .await;
}

#[tokio::test]
async fn check_passes_when_every_table_has_data_past_the_window() {
    let (_dir, project, wh) = project(SQL).await;
    three_contacts(&wh).await;
    trips(&wh, &[("t", at(20, 3), "completed")]).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let report = check(&wh, &plan).await.expect("check passes");
    assert_eq!(report.tables[0].rows_in_window, Some(2));
    assert_eq!(report.tables[0].latest, Some(at(20, 1)));
}

#[tokio::test]
async fn check_refuses_a_window_whose_upstream_is_not_complete() {
    let (_dir, project, wh) = project(SQL).await;
    three_contacts(&wh).await;
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
    three_contacts(&wh).await;
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
    three_contacts(&wh).await;
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

/// A run waits longer than its lease (here for upstream data; a long task or a wait before a
/// retry alike): its lease is renewed beside the wait, so another process looking at the
/// runs meanwhile does not take it for abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waiting_longer_than_its_lease_is_not_taken_for_abandoned() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let toml = crate::PROJECT.replace("min_rows = 2", "min_rows = 2\nwait_for_data = \"10m\"");
    let (dir, project, wh) = crate::project_with(&toml, SQL).await;
    three_contacts(&wh).await;
    trips(&wh, &[("t", at(19, 23), "completed")]).await; // never fresh: the check waits
    let db = dir.path().join("runs.db");
    let lease = "3s".parse().expect("duration");
    let store = nightshift_runs::RunStore::open(&db)
        .expect("store")
        .with_run_lease(lease);
    // Another process's view of the runs, looking while this one waits.
    let other = Arc::new(
        nightshift_runs::RunStore::open(&db)
            .expect("store")
            .with_run_lease(lease),
    );
    let clock = Arc::new(nightshift_runs::ManualClock::new(at(22, 6)));
    let first = Arc::new(AtomicBool::new(true));
    let (c, o, f) = (clock.clone(), other.clone(), first.clone());
    let sleep = move |d: std::time::Duration| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let (c, o, f) = (c.clone(), o.clone(), f.clone());
        Box::pin(async move {
            // The wait outlasts the 3 s lease many times over (50 s a look).
            c.advance(chrono::TimeDelta::from_std(d).expect("delta"));
            if f.swap(false, Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
                let now = nightshift_runs::Clock::now(c.as_ref());
                let reaped = o.reap_abandoned(now).expect("reap");
                assert!(reaped.is_empty(), "a live run was reaped: {reaped:?}");
            }
        })
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
    .expect("the run kept its lease to the end");
    assert!(!first.load(Ordering::SeqCst), "the check waited");
    assert_eq!(outcome.status, nightshift_runs::RunStatus::Failed);
}

/// Writes `raw.trips` with `requested_at` as the given column (trip ids `t0`, `t1`, ...).
async fn trips_with_time(
    wh: &nightshift_lake::Warehouse,
    times: nightshift_lake::arrow::array::ArrayRef,
) {
    use std::sync::Arc;

    use nightshift_lake::arrow::array::{RecordBatch, StringArray};
    use nightshift_lake::arrow::datatypes::{Field, Schema};
    let n = times.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "trip_id",
            nightshift_lake::arrow::datatypes::DataType::Utf8,
            false,
        ),
        Field::new("requested_at", times.data_type().clone(), true),
    ]));
    let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(ids)), times]).expect("batch");
    wh.write(
        &nightshift_lake::TableRef::parse("raw.trips").expect("name"),
        vec![batch],
    )
    .execute()
    .await
    .expect("write trips");
}

/// A time column kept as text works (ISO 8601); a value that is not a timestamp, or a null,
/// is counted as a row in no window instead of failing every date; a column of numbers is
/// refused naming the table and column, with a hint.
#[tokio::test]
async fn time_columns_of_text_are_read_and_their_bad_values_counted_not_fatal() {
    use std::sync::Arc;

    use nightshift_lake::arrow::array::{Int64Array, StringArray};
    let (_dir, project, wh) = project(SQL).await;
    three_contacts(&wh).await;
    trips_with_time(
        &wh,
        Arc::new(StringArray::from(vec![
            Some("2026-11-19 08:00:00"),
            Some("11/01/2026 03:30"),
            None,
            Some("2026-11-20T03:00:00Z"),
        ])),
    )
    .await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let report = check(&wh, &plan).await.expect("check passes");
    let trips = &report.tables[1];
    assert_eq!(trips.latest, Some(at(20, 3)));
    assert_eq!(trips.rows_in_window, Some(1));
    assert_eq!(
        trips.rows_without_time,
        Some(2),
        "the unparsable value and the null"
    );
    assert_eq!(report.tables[0].rows_without_time, Some(0));

    let (_dir2, project2, wh) = crate::project(SQL).await;
    three_contacts(&wh).await;
    trips_with_time(&wh, Arc::new(Int64Array::from(vec![1_795_000_000_000]))).await;
    let plan = RunPlan::new(&project2, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = check(&wh, &plan).await.expect_err("epoch numbers");
    assert!(
        err.to_string()
            .contains("the time_column `requested_at` of `raw.trips` is Int64"),
        "{err}"
    );
    assert!(err.hint().is_some_and(|h| h.contains("timestamp")), "{err}");

    // Dates: a row dated the 19th is data for the whole 19th, so the window [19th, 20th)
    // is complete.
    let (_dir4, project4, wh) = crate::project(SQL).await;
    three_contacts(&wh).await;
    trips_with_time(
        &wh,
        Arc::new(nightshift_lake::arrow::array::Date32Array::from(vec![
            20_775, 20_776,
        ])),
    )
    .await;
    let plan = RunPlan::new(&project4, "rc", at(22, 0), at(22, 6)).expect("plan");
    let report = check(&wh, &plan).await.expect("a date covers its day");
    assert_eq!(report.tables[1].latest, Some(at(20, 0)));
    assert_eq!(report.tables[1].rows_in_window, Some(1));

    // Text of which no value is a timestamp (US dates, say): said so, not "empty".
    let (_dir3, project3, wh) = crate::project(SQL).await;
    three_contacts(&wh).await;
    trips_with_time(
        &wh,
        Arc::new(StringArray::from(vec![
            "11/19/2026 08:00",
            "11/20/2026 09:00",
        ])),
    )
    .await;
    let plan = RunPlan::new(&project3, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = check(&wh, &plan).await.expect_err("no valid time");
    assert!(
        err.to_string().contains(
            "none of the 2 rows of upstream table `raw.trips` has a valid `requested_at`"
        ),
        "{err}"
    );
}

/// Date-only ISO 8601 text stands for its whole day, as a date does; and text the table is
/// partitioned by (Hive-style `day = '2026-11-19'` directories, read back dictionary-encoded)
/// is read like any text.
#[tokio::test]
async fn date_only_text_covers_its_day_even_as_a_partition_column() {
    use std::sync::Arc;

    use nightshift_lake::arrow::array::{RecordBatch, StringArray};
    use nightshift_lake::arrow::datatypes::{DataType, Field, Schema};
    for partitioned in [false, true] {
        let (_dir, project, wh) = crate::project(SQL).await;
        three_contacts(&wh).await;
        let schema = Arc::new(Schema::new(vec![
            Field::new("trip_id", DataType::Utf8, false),
            Field::new("requested_at", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["t1", "t2", "t3"])),
                Arc::new(StringArray::from(vec![
                    "2026-11-18",
                    "2026-11-19",
                    "2026-11-19",
                ])),
            ],
        )
        .expect("batch");
        let mut write = wh.write(
            &nightshift_lake::TableRef::parse("raw.trips").expect("name"),
            vec![batch],
        );
        if partitioned {
            write = write.with_partition_columns(&["requested_at"]);
        }
        write.execute().await.expect("write trips");
        let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
        let report = check(&wh, &plan)
            .await
            .unwrap_or_else(|e| panic!("partitioned {partitioned}: {e}"));
        let trips = &report.tables[1];
        assert_eq!(trips.latest, Some(at(20, 0)), "partitioned {partitioned}");
        assert_eq!(trips.rows_in_window, Some(2), "partitioned {partitioned}");
    }
}
