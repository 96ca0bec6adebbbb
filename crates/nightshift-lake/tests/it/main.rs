//! Integration tests of the warehouse: real Delta tables in a temp dir, real DataFusion.
//! One test binary, so DataFusion is linked once.

mod files;
mod format;
mod joins;
mod slices;
mod streamed;
mod vacuum;

use std::collections::BTreeMap;
use std::sync::Arc;

use nightshift_core::EngineSpec;
use nightshift_lake::Warehouse;
use nightshift_lake::arrow::array::{Int64Array, RecordBatch, StringArray};
use nightshift_lake::arrow::datatypes::{DataType, Field, Schema};

/// A warehouse in a fresh temp dir (kept alive by the returned guard).
pub(crate) async fn warehouse() -> (tempfile::TempDir, Warehouse) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = Warehouse::open_at(
        &dir.path().join("warehouse"),
        &EngineSpec::default(),
        BTreeMap::new(),
    )
    .await
    .expect("open warehouse");
    (dir, wh)
}

/// The warehouse in `dir` (from [`warehouse`]) opened again, as a new process would.
pub(crate) async fn reopen(dir: &tempfile::TempDir) -> Warehouse {
    Warehouse::open_at(
        &dir.path().join("warehouse"),
        &EngineSpec::default(),
        BTreeMap::new(),
    )
    .await
    .expect("the warehouse opens")
}

/// Rows `(id, ds, model_version)` as a batch.
pub(crate) fn rows(rows: &[(i64, &str, &str)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("ds", DataType::Utf8, false),
        Field::new("model_version", DataType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("batch")
}

/// The single integer a query returns.
pub(crate) async fn scalar(wh: &Warehouse, sql: &str) -> i64 {
    let batches = wh.query(sql).await.expect(sql);
    let column = nightshift_lake::arrow::compute::cast(batches[0].column(0), &DataType::Int64)
        .expect("cast");
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("int64")
        .value(0)
}

/// Every Parquet file under a directory.
pub(crate) fn parquet_files(dir: &std::path::Path) -> usize {
    let mut found = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found += 1;
            }
        }
    }
    found
}
