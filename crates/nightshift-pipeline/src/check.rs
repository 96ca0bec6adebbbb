//! Task `check`: the gate before anything is computed.

use std::time::Instant;

use chrono::{DateTime, Utc};
use nightshift_lake::arrow::array::{Array, Int64Array};
use nightshift_lake::arrow::compute::cast;
use nightshift_lake::arrow::datatypes::DataType;
use nightshift_lake::{TableRef, Warehouse};

use crate::error::{Error, Result};
use crate::plan::RunPlan;

/// Freshness of one upstream table as seen by the check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableFreshness {
    /// `schema.table`.
    pub table: String,
    /// Latest value of its time column (`None`: empty table, or no time column).
    pub latest: Option<DateTime<Utc>>,
    /// Rows whose time column falls in the window (`None` without a time column).
    pub rows_in_window: Option<u64>,
}

/// What `check` saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    /// The window's slice key.
    pub ds: String,
    /// Window start (inclusive).
    pub window_start: DateTime<Utc>,
    /// Window end (exclusive).
    pub window_end: DateTime<Utc>,
    /// One entry per table read.
    pub tables: Vec<TableFreshness>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Refuses the run (with [`Error::CheckFailed`]) when an upstream table is missing, has no data
/// up to the window's end, or when the driving table (the first of `reads`) has fewer than
/// `min_rows` rows in the window. Reads only; writes nothing.
pub async fn check(warehouse: &Warehouse, plan: &RunPlan) -> Result<CheckReport> {
    let started = Instant::now();
    let fail = |reason: String, hint: Option<String>| Error::CheckFailed {
        pipeline: plan.pipeline.name.clone(),
        ds: plan.ds.clone(),
        reason,
        hint,
    };
    let start = plan.window.start;
    let end = plan.window.end;
    let mut tables = Vec::new();
    for (i, spec) in plan.reads.iter().enumerate() {
        let name = spec.sql_name();
        let table = TableRef::parse(&name)?;
        if !warehouse.has_table(&table) {
            return Err(fail(
                format!(
                    "upstream table `{name}` does not exist (expected at {})",
                    warehouse.location(&table).display()
                ),
                Some("load the table, or run `nightshift generate` for demo data".into()),
            ));
        }
        let Some(time_column) = &spec.time_column else {
            tables.push(TableFreshness {
                table: name,
                latest: None,
                rows_in_window: None,
            });
            continue;
        };
        let query = format!(
            "SELECT to_unixtime(max(\"{tc}\")) AS latest, \
             sum(CASE WHEN \"{tc}\" >= TIMESTAMP '{s}' AND \"{tc}\" < TIMESTAMP '{e}' THEN 1 ELSE 0 END) AS in_window \
             FROM {name}",
            tc = time_column,
            s = start.format("%Y-%m-%dT%H:%M:%SZ"),
            e = end.format("%Y-%m-%dT%H:%M:%SZ"),
        );
        let batches = warehouse.query(&query).await?;
        let (latest_seconds, in_window) = read_two_ints(&batches)?;
        let latest = latest_seconds.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
        let in_window = in_window.unwrap_or(0).max(0) as u64;
        let sla = spec
            .freshness_sla
            .map(|d| format!(" (freshness_sla {d})"))
            .unwrap_or_default();
        match latest {
            None => {
                return Err(fail(
                    format!("upstream table `{name}` is empty"),
                    Some("load data into it, or run `nightshift generate` for demo data".into()),
                ));
            }
            Some(latest) if latest < end => {
                return Err(fail(
                    format!(
                        "upstream table `{name}` has data only up to {latest}, the window needs it up to {end}{sla}"
                    ),
                    Some(format!(
                        "the data for ds {} is not complete yet: wait for upstream, or run an earlier --date",
                        plan.ds
                    )),
                ));
            }
            Some(_) => {}
        }
        if i == 0 && in_window < plan.pipeline.min_rows {
            return Err(fail(
                format!(
                    "`{name}` has {in_window} rows in the window [{start}, {end}), fewer than min_rows = {}",
                    plan.pipeline.min_rows
                ),
                Some(
                    "check the upstream load for that day, or lower `min_rows` in the project file"
                        .into(),
                ),
            ));
        }
        tables.push(TableFreshness {
            table: name,
            latest,
            rows_in_window: Some(in_window),
        });
    }
    Ok(CheckReport {
        ds: plan.ds.clone(),
        window_start: start,
        window_end: end,
        tables,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The two integer cells of a one-row result.
fn read_two_ints(
    batches: &[nightshift_lake::arrow::record_batch::RecordBatch],
) -> Result<(Option<i64>, Option<i64>)> {
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::Internal("aggregate query returned no row".into()))?;
    let cell = |i: usize| -> Result<Option<i64>> {
        let column = cast(batch.column(i), &DataType::Int64)?;
        let ints = column
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| Error::Internal("cast to Int64 failed".into()))?;
        Ok((!ints.is_null(0)).then(|| ints.value(0)))
    };
    Ok((cell(0)?, cell(1)?))
}
