//! Data-quality gates between tasks: they stop a run before bad output is published.

use nightshift_lake::Warehouse;
use nightshift_lake::arrow::array::{Array, Float64Array, RecordBatch};
use nightshift_lake::arrow::compute::cast;
use nightshift_lake::arrow::datatypes::DataType;

use crate::error::{Error, Result};
use crate::plan::RunPlan;

/// How many earlier slices the row-count gate compares with, and how many it needs.
const RECENT_SLICES: usize = 7;
const MIN_HISTORY: usize = 3;

/// Before `infer`: the features slice's row count against the median of recent slices, and the
/// null rate of each of the pipeline's `dimensions`.
pub async fn gate_features(warehouse: &Warehouse, plan: &RunPlan) -> Result<()> {
    let gates = &plan.pipeline.gates;
    let table = plan.pipeline.features_table();
    if gates.min_row_ratio.is_some() || gates.max_row_ratio.is_some() {
        let rows = numbers(
            warehouse,
            &format!(
                "SELECT CAST(count(*) AS DOUBLE) FROM {table} WHERE ds = '{ds}' \
                 UNION ALL SELECT n FROM (SELECT CAST(count(*) AS DOUBLE) AS n, ds FROM {table} \
                 WHERE ds < '{ds}' GROUP BY ds ORDER BY ds DESC LIMIT {RECENT_SLICES})",
                ds = plan.ds
            ),
        )
        .await?;
        if let Some((&today, history)) = rows.split_first()
            && history.len() >= MIN_HISTORY
        {
            let mut sorted = history.to_vec();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            let ratio = if median > 0.0 {
                today / median
            } else {
                f64::INFINITY
            };
            let low = gates.min_row_ratio.is_some_and(|min| ratio < min);
            let high = gates.max_row_ratio.is_some_and(|max| ratio > max);
            if low || high {
                let bound = match (low, gates.min_row_ratio, gates.max_row_ratio) {
                    (true, Some(min), _) => format!("below min_row_ratio {min}"),
                    (_, _, Some(max)) => format!("above max_row_ratio {max}"),
                    _ => String::new(),
                };
                return Err(gate_failed(
                    plan,
                    "row count",
                    format!(
                        "{table} has {today} rows for ds {}, {ratio:.3}x the median {median} of the {} slices before, {bound}",
                        plan.ds,
                        history.len()
                    ),
                    "if the volume change is real, re-run after adjusting min_row_ratio / max_row_ratio",
                ));
            }
        }
    }
    if let Some(max) = gates.max_null_rate {
        for column in &plan.pipeline.dimensions {
            let quoted = format!("\"{}\"", column.replace('"', "\"\""));
            let rate = numbers(
                warehouse,
                &format!(
                    "SELECT CAST(sum(CASE WHEN {quoted} IS NULL THEN 1 ELSE 0 END) AS DOUBLE) / CAST(count(*) AS DOUBLE) \
                     FROM {table} WHERE ds = '{}'",
                    plan.ds
                ),
            )
            .await?;
            if let Some(&rate) = rate.first()
                && rate > max
            {
                return Err(gate_failed(
                    plan,
                    "null rate",
                    format!(
                        "{:.1}% of `{column}` is null in ds {}, more than max_null_rate {:.1}%",
                        rate * 100.0,
                        plan.ds,
                        max * 100.0
                    ),
                    "check the upstream join for that day",
                ));
            }
        }
    }
    Ok(())
}

/// Before `publish`: the predictions of the slice use enough distinct labels (a model that
/// answers the same thing for everyone is broken, whatever its confidence).
pub async fn gate_predictions(
    warehouse: &Warehouse,
    plan: &RunPlan,
    model_name: &str,
    model_version: u32,
) -> Result<()> {
    let Some(min) = plan.pipeline.gates.min_distinct_labels else {
        return Ok(());
    };
    let distinct = numbers(
        warehouse,
        &format!(
            "SELECT CAST(count(DISTINCT subcategory) AS DOUBLE) FROM {} WHERE ds = '{}' AND {}",
            plan.pipeline.predictions_table(),
            plan.ds,
            crate::publish::model_filter("", model_name, model_version)
        ),
    )
    .await?;
    let distinct = distinct.first().copied().unwrap_or(0.0);
    if distinct < min as f64 {
        return Err(gate_failed(
            plan,
            "distinct labels",
            format!(
                "model {model_name}@{model_version} predicted only {distinct} distinct labels for ds {}, fewer than min_distinct_labels {min}",
                plan.ds
            ),
            "look at the features of that day and at the model; the rollups were not updated",
        ));
    }
    Ok(())
}

fn gate_failed(plan: &RunPlan, gate: &str, message: String, hint: &str) -> Error {
    Error::QualityGate {
        pipeline: plan.pipeline.name.clone(),
        gate: gate.to_string(),
        message,
        hint: Some(hint.to_string()),
    }
}

/// The first column of a query's rows, as numbers (nulls skipped).
async fn numbers(warehouse: &Warehouse, sql: &str) -> Result<Vec<f64>> {
    let batches: Vec<RecordBatch> = warehouse.query(sql).await?;
    let mut out = Vec::new();
    for batch in &batches {
        let column = cast(batch.column(0), &DataType::Float64)?;
        let values = column
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| Error::Internal("cast to Float64 failed".into()))?;
        out.extend(
            (0..values.len())
                .filter(|i| !values.is_null(*i))
                .map(|i| values.value(i)),
        );
    }
    Ok(out)
}
