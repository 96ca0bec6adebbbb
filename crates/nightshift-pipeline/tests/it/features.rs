use nightshift_pipeline::{Error, RejectReason, RunPlan, features};

use crate::{SQL, at, contacts, pairs, project, scalar, trips};

/// Contacts around the window of logical date 2026-11-22 (window [11-19, 11-20) with a 2d SLA).
async fn seed(wh: &nightshift_lake::Warehouse) {
    let long = "x".repeat(41);
    contacts(
        wh,
        &[
            (Some("c1"), at(18, 23), Some("before the window"), "t1"),
            (Some("c2"), at(19, 0), Some("refund please"), "t1"),
            (Some("c3"), at(19, 12), Some("driver cancelled on me"), "t2"),
            (Some("c4"), at(19, 13), None, "t2"),
            (Some("c5"), at(19, 14), Some("   "), "t9"),
            (Some("c6"), at(19, 15), Some(long.as_str()), "t1"),
            (Some("c3"), at(19, 16), Some("same id again"), "t2"),
            (None, at(19, 17), Some("no id"), "t2"),
            (Some("c7"), at(19, 23), Some("app crashes"), "t404"),
            (Some("c8"), at(20, 0), Some("after the window"), "t1"),
            (Some("c9"), at(21, 8), Some("later"), "t1"),
        ],
    )
    .await;
    trips(
        wh,
        &[
            ("t1", at(18, 10), "completed"),
            ("t2", at(19, 9), "cancelled_by_driver"),
            ("t9", at(21, 9), "completed"),
        ],
    )
    .await;
}

#[tokio::test]
async fn features_writes_the_window_rejects_bad_rows_and_is_idempotent() {
    let (_dir, project, wh) = project(SQL).await;
    seed(&wh).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    assert_eq!(plan.ds, "2026-11-19");

    let first = features(&wh, &plan).await.expect("features");
    assert_eq!(
        first.rows_in, 8,
        "exactly the rows created in [11-19, 11-20)"
    );
    assert_eq!(first.rows_written, 3);
    let reasons: Vec<_> = first.rejected.iter().map(|(r, n)| (*r, *n)).collect();
    assert_eq!(
        reasons,
        vec![
            (RejectReason::NullId, 1),
            (RejectReason::DuplicateId, 1),
            (RejectReason::NullText, 1),
            (RejectReason::EmptyText, 1),
            (RejectReason::OversizedText, 1),
        ]
    );

    // Re-running the same date leaves the same rows: no duplicates in either table.
    let plan2 = RunPlan::new(&project, "rc", at(22, 0), at(22, 7)).expect("plan");
    features(&wh, &plan2).await.expect("re-run");
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM intermediate.rc_features").await,
        3
    );
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.rc_rejects").await,
        5
    );
    assert_eq!(
        pairs(
            &wh,
            "SELECT contact_id, trip_status FROM intermediate.rc_features ORDER BY contact_id"
        )
        .await,
        vec![
            ("c2".into(), "completed".into()),
            ("c3".into(), "cancelled_by_driver".into()),
            ("c7".into(), "NULL".into()),
        ],
        "the join with trips is applied; the first c3 row is kept"
    );
    assert_eq!(
        pairs(
            &wh,
            "SELECT reason, ds FROM output.rc_rejects WHERE id = 'c6'"
        )
        .await,
        vec![("oversized_text".into(), "2026-11-19".into())]
    );
    let row = pairs(
        &wh,
        "SELECT reason, \"row\" FROM output.rc_rejects WHERE reason = 'duplicate_id'",
    )
    .await;
    assert!(
        row[0].1.contains("same id again"),
        "the refused row is kept as JSON: {row:?}"
    );
    assert_eq!(
        scalar(&wh, "SELECT count(DISTINCT run_id) FROM output.rc_rejects").await,
        1,
        "the re-run replaced the first run's rejects"
    );
}

#[tokio::test]
async fn another_date_writes_another_slice() {
    let (_dir, project, wh) = project(SQL).await;
    seed(&wh).await;
    for day in [21, 22] {
        let plan = RunPlan::new(&project, "rc", at(day, 0), at(22, 6)).expect("plan");
        features(&wh, &plan).await.expect("features");
    }
    assert_eq!(
        pairs(&wh, "SELECT ds, CAST(count(*) AS VARCHAR) FROM intermediate.rc_features GROUP BY ds ORDER BY ds").await,
        vec![("2026-11-18".into(), "1".into()), ("2026-11-19".into(), "3".into())]
    );
}

/// A `CASE` of a string literal and a string column: DataFusion declares it Utf8 and
/// produces Utf8View; the slice is written with the declared type, on creation and after.
#[tokio::test]
async fn a_case_of_a_string_literal_and_a_column_is_written() {
    let (_dir, project, wh) = project(
        "SELECT contact_id, created_at, text, \
         CASE WHEN text LIKE 'refund%' THEN 'money' ELSE text END AS topic \
         FROM raw.contacts \
         WHERE created_at >= TIMESTAMP '{{ window_start }}' AND created_at < TIMESTAMP '{{ window_end }}'",
    )
    .await;
    seed(&wh).await;
    for hour in [6, 7] {
        let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, hour)).expect("plan");
        let report = features(&wh, &plan).await.expect("features");
        assert_eq!(report.rows_written, 3);
    }
    assert_eq!(
        pairs(
            &wh,
            "SELECT contact_id, topic FROM intermediate.rc_features ORDER BY contact_id"
        )
        .await,
        vec![
            ("c2".into(), "money".into()),
            ("c3".into(), "driver cancelled on me".into()),
            ("c7".into(), "app crashes".into()),
        ]
    );
}

#[tokio::test]
async fn a_missing_id_column_is_a_clear_error_with_the_columns_returned() {
    let (_dir, project, wh) = project("SELECT text FROM raw.contacts").await;
    seed(&wh).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = features(&wh, &plan).await.expect_err("no id column");
    assert!(matches!(err, Error::FeaturesShape { .. }), "{err}");
    assert!(err.to_string().contains("contact_id"), "{err}");
    assert!(
        err.hint()
            .expect("hint")
            .contains("the query returns: text")
    );
}

#[tokio::test]
async fn a_composite_id_is_refused_with_a_way_to_build_one() {
    let (_dir, project, wh) = project(
        "SELECT named_struct('a', contact_id, 'b', text) AS contact_id, text FROM raw.contacts",
    )
    .await;
    seed(&wh).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = features(&wh, &plan).await.expect_err("a struct id");
    assert!(matches!(err, Error::FeaturesShape { .. }), "{err}");
    assert!(err.to_string().contains("an id must be one value"), "{err}");
    assert!(err.hint().is_some_and(|h| h.contains("concat(")), "{err}");
}

#[tokio::test]
async fn bad_sql_fails_without_writing() {
    let (dir, project, wh) =
        project("SELECT contact_id, text FROM raw.contacts WHERE nope > 1").await;
    seed(&wh).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = features(&wh, &plan).await.expect_err("bad column");
    assert!(matches!(err, Error::FeaturesSql { .. }), "{err}");
    assert!(err.to_string().contains("(file "), "names its file: {err}");
    assert!(err.hint().is_some_and(|h| h.contains("DESCRIBE")), "{err}");
    assert!(!crate::exists(
        &dir.path().join("warehouse/intermediate/rc_features")
    ));
}

/// A window whose rows are all refused fails the task (a quality gate) and writes nothing:
/// the slice an earlier run wrote stays, and so do its rejects.
#[tokio::test]
async fn a_window_of_only_bad_rows_fails_and_keeps_the_earlier_slice() {
    let (_dir, project, wh) = project(SQL).await;
    seed(&wh).await;
    let good = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    features(&wh, &good).await.expect("features");
    // Then the query loses its text (a broken edit): every row of the window is refused.
    let broken_sql = "SELECT contact_id, CAST(NULL AS VARCHAR) AS text FROM raw.contacts \
         WHERE created_at >= TIMESTAMP '{{ window_start }}' AND created_at < TIMESTAMP '{{ window_end }}'";
    let mut plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 7)).expect("plan");
    plan.pipeline.features_sql = broken_sql.to_string();
    let err = features(&wh, &plan).await.expect_err("every row refused");
    assert!(matches!(err, Error::QualityGate { .. }), "{err}");
    assert!(err.to_string().contains("null_text"), "{err}");
    assert!(
        err.hint().expect("hint").contains("features query"),
        "{err}"
    );
    assert_eq!(
        pairs(
            &wh,
            "SELECT contact_id, ds FROM intermediate.rc_features ORDER BY contact_id"
        )
        .await,
        vec![
            ("c2".into(), "2026-11-19".into()),
            ("c3".into(), "2026-11-19".into()),
            ("c7".into(), "2026-11-19".into()),
        ],
        "the earlier slice is untouched"
    );
    assert_eq!(
        scalar(&wh, "SELECT count(DISTINCT run_id) FROM output.rc_rejects").await,
        1,
        "the earlier run's rejects stay"
    );
}

/// A query that returns no row though `min_rows` asks for some (an inner join with a lookup
/// table its owner emptied) fails the task and writes nothing: the earlier slice stays. With
/// `min_rows = 0` the empty slice is what was asked for.
#[tokio::test]
async fn a_query_returning_no_row_fails_and_keeps_the_earlier_slice() {
    let (_dir, project, wh) = project(SQL).await;
    seed(&wh).await;
    let good = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    features(&wh, &good).await.expect("features");
    let empty_sql = format!("SELECT * FROM ({}) WHERE false", SQL);
    let mut plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 7)).expect("plan");
    plan.pipeline.features_sql = empty_sql.clone();
    let err = features(&wh, &plan).await.expect_err("no rows");
    assert!(matches!(err, Error::QualityGate { .. }), "{err}");
    assert!(
        err.to_string().contains("returned no row") && err.to_string().contains("min_rows = 2"),
        "{err}"
    );
    assert!(err.hint().expect("hint").contains("min_rows = 0"), "{err}");
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM intermediate.rc_features").await,
        3,
        "the earlier slice is untouched"
    );
    plan.pipeline.min_rows = 0;
    let report = features(&wh, &plan)
        .await
        .expect("an empty slice, as asked");
    assert_eq!(report.rows_written, 0);
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM intermediate.rc_features").await,
        0
    );
}

/// With nothing to refuse the rejects table is still written (empty for the slice), so that
/// monitoring queries on it work from the first run.
#[tokio::test]
async fn the_rejects_table_exists_even_when_nothing_was_refused() {
    let (_dir, project, wh) = project(SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("refund please"), "t1"),
            (Some("b"), at(19, 2), Some("app crashes"), "t1"),
        ],
    )
    .await;
    trips(&wh, &[("t1", at(19, 0), "completed")]).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let report = features(&wh, &plan).await.expect("features");
    assert!(report.rejected.is_empty());
    assert_eq!(report.rejects_write.rows, 0);
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.rc_rejects").await,
        0
    );
}

#[tokio::test]
async fn the_features_slice_is_not_committed_before_its_rejects() {
    // The rejects commit comes first: when it fails (here the rejects table's directory is a
    // file), the features slice stays as it was and the written files are gone, so a
    // committed slice never lacks its refused rows.
    let (_dir, project, wh) = project(SQL).await;
    seed(&wh).await;
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    features(&wh, &plan).await.expect("features");
    let features_dir = project.warehouse.join("intermediate").join("rc_features");
    let files = |ext: &str| {
        walk(&features_dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .count()
    };
    let (commits, parquet) = (files("json"), files("parquet"));

    let rejects_dir = project.warehouse.join("output").join("rc_rejects");
    std::fs::remove_dir_all(&rejects_dir).expect("remove");
    std::fs::write(&rejects_dir, "not a table").expect("file");
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 7)).expect("plan");
    features(&wh, &plan)
        .await
        .expect_err("the rejects cannot be written");
    assert_eq!(files("json"), commits, "no features commit");
    assert_eq!(files("parquet"), parquet, "its files deleted");
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM intermediate.rc_features").await,
        3
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
