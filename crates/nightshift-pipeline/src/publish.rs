//! Task `publish`: predictions -> the small rollups table the dashboard reads.

use std::time::Instant;

use nightshift_lake::{TableRef, Warehouse, WriteMetrics};

use crate::check::read_ints;
use crate::error::Result;
use crate::plan::RunPlan;

/// What `publish` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishReport {
    /// The slice written.
    pub ds: String,
    /// Model whose predictions were rolled up.
    pub model_name: String,
    /// Its version.
    pub model_version: u32,
    /// Rollup rows written.
    pub rows: u64,
    /// Predictions rolled up: the sum of the rollups' `contacts`, read back from the slice
    /// written (the predictions of `model_version` in `ds` that have their features row).
    pub contacts: u64,
    /// The rollups table write.
    pub write: WriteMetrics,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Aggregates the `ds` slice of the predictions of model `model_name` version `model_version`
/// by category, subcategory and the pipeline's `dimensions` (columns of the features table):
/// contacts, mean confidence and low-confidence count. Replaces `ds = X AND model_name = N
/// AND model_version = V` of `output.<pipeline>_rollups` in one commit.
pub async fn publish(
    warehouse: &Warehouse,
    plan: &RunPlan,
    model_name: &str,
    model_version: u32,
) -> Result<PublishReport> {
    let started = Instant::now();
    let spec = &plan.pipeline;
    // Nothing of this version to roll up while the slice has rows: infer has not run with
    // it (the alias moved since, `--only publish`); rollups of nothing would pass for done.
    let count = |sql: String| async move {
        Ok::<_, crate::Error>(read_ints::<1>(&warehouse.query(&sql).await?)?[0].unwrap_or(0))
    };
    let this_model = model_filter("", model_name, model_version);
    let predicted = count(format!(
        "SELECT count(*) FROM {} WHERE ds = '{}' AND {this_model}",
        spec.predictions_table(),
        plan.ds
    ))
    .await?;
    if predicted == 0 {
        let features = count(format!(
            "SELECT count(*) FROM {} WHERE ds = '{}'",
            spec.features_table(),
            plan.ds
        ))
        .await?;
        if features > 0 {
            return Err(crate::Error::Config {
                message: format!(
                    "no predictions of model {model_name}@{model_version} in ds {} to publish ({features} features rows)",
                    plan.ds
                ),
                hint: Some(format!(
                    "run infer with it first: nightshift run {} --date {} --only infer,publish",
                    spec.name,
                    plan.logical_date.format("%Y-%m-%d")
                )),
            });
        }
    }
    let quoted = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let dims: Vec<String> = spec
        .dimensions
        .iter()
        .map(|d| format!("CAST(f.{} AS VARCHAR) AS {}", quoted(d), quoted(d)))
        .collect();
    let group: Vec<String> = spec
        .dimensions
        .iter()
        .map(|d| format!("f.{}", quoted(d)))
        .collect();
    let select_dims = if dims.is_empty() {
        String::new()
    } else {
        format!("{}, ", dims.join(", "))
    };
    let group_dims = if group.is_empty() {
        String::new()
    } else {
        format!(", {}", group.join(", "))
    };
    let query = format!(
        "SELECT p.model_name, p.model_version, p.category, p.subcategory, {select_dims}\
                count(*) AS contacts, \
                avg(p.confidence) AS mean_confidence, \
                sum(CASE WHEN p.confidence < 0.5 THEN 1 ELSE 0 END) AS low_confidence, \
                p.ds \
         FROM {predictions} p \
         JOIN {features} f ON CAST(f.{id} AS VARCHAR) = p.id AND f.ds = p.ds \
         WHERE p.ds = '{ds}' AND {model} AND f.ds = '{ds}' \
         GROUP BY p.ds, p.model_name, p.model_version, p.category, p.subcategory{group_dims}",
        predictions = spec.predictions_table(),
        features = spec.features_table(),
        id = quoted(&spec.id_column),
        ds = plan.ds,
        model = model_filter("p.", model_name, model_version),
    );
    let frame = warehouse.sql(&query).await?;
    let rollups = TableRef::parse(&spec.rollups_table())?;
    let write = warehouse
        .write_query(&rollups, frame)
        .replace_slice(&plan.ds)
        .also_matching("model_name", model_name)
        .also_matching("model_version", model_version.to_string())
        .with_commit_metadata("run_id", plan.run_id.clone().into())
        .with_commit_metadata("task", "publish".into())
        .execute()
        .await?;
    let [contacts] = read_ints(
        &warehouse
            .query(&format!(
                "SELECT sum(contacts) FROM {rollups} WHERE ds = '{ds}' AND {this_model}",
                rollups = spec.rollups_table(),
                ds = plan.ds,
            ))
            .await?,
    )?;
    Ok(PublishReport {
        ds: plan.ds.clone(),
        model_name: model_name.to_string(),
        model_version,
        rows: write.rows,
        contacts: contacts.unwrap_or(0).max(0) as u64,
        write,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The SQL condition selecting one model version's rows (`prefix` qualifies the columns, e.g.
/// `p.`): a model's slice of the predictions and rollups is its name and version, since two
/// models (a pipeline switched to a challenger) may each have a version 1.
pub(crate) fn model_filter(prefix: &str, model_name: &str, model_version: u32) -> String {
    format!(
        "{prefix}model_name = '{}' AND {prefix}model_version = {model_version}",
        model_name.replace('\'', "''")
    )
}
