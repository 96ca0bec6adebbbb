//! Integration tests of the pipeline tasks on real Delta tables and DataFusion.

mod check;
mod features;
mod gates;
mod infer;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use nightshift_core::Project;
use nightshift_lake::arrow::array::{
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use nightshift_lake::arrow::compute::cast;
use nightshift_lake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use nightshift_lake::{TableRef, Warehouse};

pub(crate) const PROJECT: &str = r#"
[project]
name = "t"

[tables.contacts]
time_column = "created_at"
freshness_sla = "2d"

[tables.trips]
time_column = "requested_at"
freshness_sla = "1d"

[pipelines.rc]
schedule = "daily at 06:00"
window = "1d"
reads = ["contacts", "trips"]
features = "features.sql"
id_column = "contact_id"
text_column = "text"
max_text_chars = 40
min_rows = 2
"#;

pub(crate) const SQL: &str = "
SELECT c.contact_id, c.created_at, c.text, t.status AS trip_status
FROM raw.contacts c LEFT JOIN raw.trips t ON t.trip_id = c.trip_id
WHERE c.created_at >= TIMESTAMP '{{ window_start }}' AND c.created_at < TIMESTAMP '{{ window_end }}'
";

/// A project in a temp dir with the given SQL, and its warehouse.
pub(crate) async fn project(sql: &str) -> (tempfile::TempDir, Project, Warehouse) {
    project_with(PROJECT, sql).await
}

pub(crate) async fn project_with(toml: &str, sql: &str) -> (tempfile::TempDir, Project, Warehouse) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("nightshift.toml"), toml).expect("toml");
    std::fs::write(dir.path().join("features.sql"), sql).expect("sql");
    let project = nightshift_core::load_project(dir.path()).expect("project compiles");
    let warehouse = Warehouse::open(&project).await.expect("warehouse");
    (dir, project, warehouse)
}

pub(crate) fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .expect("time")
}

/// A contact row: `(id, created_at, text, trip_id)`.
pub(crate) type ContactRow<'a> = (Option<&'a str>, DateTime<Utc>, Option<&'a str>, &'a str);

/// Writes `raw.contacts` rows.
pub(crate) async fn contacts(wh: &Warehouse, rows: &[ContactRow<'_>]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("contact_id", DataType::Utf8, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("text", DataType::Utf8, true),
        Field::new("trip_id", DataType::Utf8, true),
        Field::new("ds", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(
                    rows.iter()
                        .map(|r| r.1.timestamp_micros())
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|r| r.1.format("%Y-%m-%d").to_string())
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("batch");
    wh.write(&TableRef::parse("raw.contacts").expect("name"), vec![batch])
        .with_partition_columns(&["ds"])
        .execute()
        .await
        .expect("write contacts");
}

/// Writes `raw.trips` rows `(trip_id, requested_at, status)`.
pub(crate) async fn trips(wh: &Warehouse, rows: &[(&str, DateTime<Utc>, &str)]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("trip_id", DataType::Utf8, false),
        Field::new(
            "requested_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("status", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(
                    rows.iter()
                        .map(|r| r.1.timestamp_micros())
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("batch");
    wh.write(&TableRef::parse("raw.trips").expect("name"), vec![batch])
        .execute()
        .await
        .expect("write trips");
}

/// The single integer a query returns.
pub(crate) async fn scalar(wh: &Warehouse, sql: &str) -> i64 {
    let batches = wh.query(sql).await.expect(sql);
    let column = cast(batches[0].column(0), &DataType::Int64).expect("cast");
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("int64")
        .value(0)
}

/// Rows of a two-column text result, as pairs.
pub(crate) async fn pairs(wh: &Warehouse, sql: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for batch in wh.query(sql).await.expect(sql) {
        let a = cast(batch.column(0), &DataType::Utf8).expect("cast");
        let b = cast(batch.column(1), &DataType::Utf8).expect("cast");
        let a = a.as_any().downcast_ref::<StringArray>().expect("utf8");
        let b = b.as_any().downcast_ref::<StringArray>().expect("utf8");
        for i in 0..batch.num_rows() {
            let get = |s: &StringArray| {
                if s.is_null(i) {
                    "NULL".to_string()
                } else {
                    s.value(i).to_string()
                }
            };
            out.push((get(a), get(b)));
        }
    }
    out
}

pub(crate) fn exists(path: &Path) -> bool {
    path.join("_delta_log").is_dir()
}

use nightshift_lake::arrow::array::Array as _;
