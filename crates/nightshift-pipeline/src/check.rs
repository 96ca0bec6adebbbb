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
    /// Rows of the whole table whose time column is null or (text) not a timestamp: they
    /// fall in no window (`None` without a time column).
    pub rows_without_time: Option<u64>,
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
                Some("write it as a Delta table there (Spark, dbt, Python `deltalake`), point `path` in [tables] at it, or run `nightshift generate` for demo data".into()),
            ));
        }
        let Some(time_column) = &spec.time_column else {
            tables.push(TableFreshness {
                table: name,
                latest: None,
                rows_in_window: None,
                rows_without_time: None,
            });
            continue;
        };
        let (time, covered) = time_expression(warehouse, &name, time_column, &fail).await?;
        let query = format!(
            "SELECT to_unixtime(max(c)) AS latest, \
             sum(CASE WHEN t >= TIMESTAMP '{s}' AND t < TIMESTAMP '{e}' THEN 1 ELSE 0 END) AS in_window, \
             sum(CASE WHEN t IS NULL THEN 1 ELSE 0 END) AS without_time \
             FROM (SELECT t, {covered} AS c FROM (SELECT {time} AS t, {raw} AS raw FROM {name}))",
            raw = quote_ident(time_column),
            s = start.format("%Y-%m-%dT%H:%M:%SZ"),
            e = end.format("%Y-%m-%dT%H:%M:%SZ"),
        );
        let batches = warehouse.query(&query).await?;
        let [latest_seconds, in_window, without_time] = read_ints(&batches)?;
        let without_time = without_time.unwrap_or(0).max(0) as u64;
        if without_time > 0 {
            tracing::warn!(
                pipeline = %plan.pipeline.name,
                "{without_time} rows of {name} have no valid `{time_column}` (null, or text that \
                 is not a timestamp): they fall in no window and are never processed"
            );
        }
        let latest = latest_seconds.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
        let in_window = in_window.unwrap_or(0).max(0) as u64;
        let sla = spec
            .freshness_sla
            .map(|d| format!(" (freshness_sla {d})"))
            .unwrap_or_default();
        match latest {
            None if without_time > 0 => {
                return Err(fail(
                    format!(
                        "none of the {without_time} rows of upstream table `{name}` has a valid \
                         `{time_column}` (null, or text that is not a timestamp)"
                    ),
                    Some(format!(
                        "`time_column` must name a timestamp, a date, or ISO 8601 text such as \
                         2026-11-22 06:00:00; check `{time_column}` with \
                         `nightshift sql \"SELECT {time_column} FROM {name} LIMIT 5\"`, or store it as a timestamp"
                    )),
                ));
            }
            None => {
                return Err(fail(
                    format!("upstream table `{name}` is empty"),
                    Some(
                        "load data into it (or, in a demo project, run `nightshift generate`)"
                            .into(),
                    ),
                ));
            }
            Some(latest) if latest < end => {
                return Err(fail(
                    format!(
                        "upstream table `{name}` has data only up to {latest}, the window needs it up to {end}{sla}"
                    ),
                    Some(format!(
                        "the data for ds {} is not complete yet: wait for upstream, or run an earlier --date \
                         (to process it anyway, run the other tasks: --only features,infer,publish)",
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
            rows_without_time: Some(without_time),
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

/// The SQL expression of `table`'s time column as a timestamp: the column itself for a
/// timestamp, cast for a date, and for text (a text partition column too) `TRY_CAST`, so
/// that a value that is not a timestamp counts as missing instead of failing every date; and
/// the expression, over that timestamp `t` and the column's value `raw`, of the instant up to
/// which a row's data reaches (a date's, and a date-only text's, is the next midnight). A
/// column of another type, or none, refuses the run naming the table and column.
async fn time_expression(
    warehouse: &Warehouse,
    table: &str,
    column: &str,
    fail: &dyn Fn(String, Option<String>) -> Error,
) -> Result<(String, String)> {
    let quoted = quote_ident(column);
    let frame = warehouse
        .sql(&format!("SELECT * FROM {table} LIMIT 0"))
        .await?;
    let schema = frame.schema().as_arrow();
    let Ok(field) = schema.field_with_name(column) else {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(fail(
            format!("upstream table `{table}` has no column `{column}` (its time_column)"),
            Some(format!(
                "its columns: {}; set `time_column` in [tables] to one of them",
                names.join(", ")
            )),
        ));
    };
    // A date stands for its whole day: data dated the 19th is data up to the 20th, 00:00; so
    // does ISO 8601 text that is a date alone (10 characters).
    let next_day = "t + INTERVAL '1 day'";
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    Ok(match field.data_type() {
        DataType::Timestamp(..) => (quoted, "t".into()),
        DataType::Date32 | DataType::Date64 => {
            (format!("CAST({quoted} AS TIMESTAMP)"), next_day.into())
        }
        // Text, and text partition columns (read dictionary-encoded).
        t if text(t) || matches!(t, DataType::Dictionary(_, values) if text(values)) => (
            format!("TRY_CAST(CAST({quoted} AS VARCHAR) AS TIMESTAMP)"),
            format!("CASE WHEN length(trim(CAST(raw AS VARCHAR))) = 10 THEN {next_day} ELSE t END"),
        ),
        other => {
            return Err(fail(
                format!(
                    "the time_column `{column}` of `{table}` is {other}: a time column must be a timestamp, a date or ISO 8601 text"
                ),
                Some(
                    "write it as a timestamp upstream (epoch numbers: e.g. pandas.to_datetime(x, unit=\"ms\") before writing the table)"
                        .into(),
                ),
            ));
        }
    })
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn read_ints<const N: usize>(
    batches: &[nightshift_lake::arrow::record_batch::RecordBatch],
) -> Result<[Option<i64>; N]> {
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
    let mut out = [None; N];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = cell(i)?;
    }
    Ok(out)
}
