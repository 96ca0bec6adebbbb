use std::sync::Arc;

use nightshift_lake::TableRef;
use nightshift_lake::arrow::array::{RecordBatch, StringArray};
use nightshift_lake::arrow::datatypes::{DataType, Field, Schema};
use nightshift_pipeline::gates::gate_features;
use nightshift_pipeline::{Error, RunPlan};

use crate::{PROJECT, SQL, at, project_with};

/// Writes `rows` features rows for `ds`, with `nulls` of them missing their channel.
async fn slice(wh: &nightshift_lake::Warehouse, ds: &str, rows: usize, nulls: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("contact_id", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, true),
    ]));
    let ids: Vec<String> = (0..rows).map(|i| format!("{ds}-{i}")).collect();
    let channels: Vec<Option<&str>> = (0..rows).map(|i| (i >= nulls).then_some("chat")).collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(channels)),
        ],
    )
    .expect("batch");
    wh.write(
        &TableRef::parse("intermediate.rc_features").expect("name"),
        vec![batch],
    )
    .replace_slice(ds)
    .execute()
    .await
    .expect("write");
}

#[tokio::test]
async fn the_row_count_gate_compares_with_the_median_of_recent_days() {
    let toml = PROJECT.replace(
        "min_rows = 2",
        "min_rows = 2\nmin_row_ratio = 0.5\nmax_row_ratio = 2.0\nmax_null_rate = 0.2\ndimensions = [\"channel\"]",
    );
    let (_dir, project, wh) = project_with(&toml, SQL).await;
    for (day, rows) in [("2026-11-15", 100), ("2026-11-16", 120), ("2026-11-17", 90)] {
        slice(&wh, day, rows, 0).await;
    }
    // ds 2026-11-18 (logical date 11-21): 30 rows is 0.3x the median of 100.
    slice(&wh, "2026-11-18", 30, 0).await;
    let plan = RunPlan::new(&project, "rc", at(21, 0), at(21, 6)).expect("plan");
    let err = gate_features(&wh, &plan).await.expect_err("too few rows");
    assert!(matches!(err, Error::QualityGate { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("0.300x the median 100 of the 3 slices before, below min_row_ratio"),
        "{err}"
    );

    // A normal day passes; a day with 30% null channels does not.
    slice(&wh, "2026-11-18", 110, 0).await;
    gate_features(&wh, &plan).await.expect("normal volume");
    slice(&wh, "2026-11-18", 100, 30).await;
    let err = gate_features(&wh, &plan).await.expect_err("null channels");
    assert!(
        err.to_string().contains("30.0% of `channel` is null"),
        "{err}"
    );
}

#[tokio::test]
async fn gates_need_history_and_are_off_by_default() {
    let (_dir, project, wh) = project_with(
        &PROJECT.replace("min_rows = 2", "min_rows = 2\nmin_row_ratio = 0.5"),
        SQL,
    )
    .await;
    slice(&wh, "2026-11-17", 100, 0).await;
    slice(&wh, "2026-11-18", 1, 0).await;
    let plan = RunPlan::new(&project, "rc", at(21, 0), at(21, 6)).expect("plan");
    gate_features(&wh, &plan)
        .await
        .expect("one earlier slice is not enough history");

    let (_dir, project, wh) = project_with(PROJECT, SQL).await;
    slice(&wh, "2026-11-18", 1, 1).await;
    let plan = RunPlan::new(&project, "rc", at(21, 0), at(21, 6)).expect("plan");
    gate_features(&wh, &plan)
        .await
        .expect("no gates configured");
}
