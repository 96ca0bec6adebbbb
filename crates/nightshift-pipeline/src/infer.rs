//! Task `infer`: the features slice -> model predictions, streamed through DataFusion.

use std::time::Instant;

use nightshift_lake::predict::{PREDICT_UDF, PredictUdf};
use nightshift_lake::{TableRef, Warehouse, WriteMetrics};

use crate::error::{Error, Result};
use crate::model::LoadedModel;
use crate::plan::RunPlan;

/// What `infer` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InferReport {
    /// The slice written.
    pub ds: String,
    /// Model name.
    pub model_name: String,
    /// Model version (resolved once at run start).
    pub model_version: u32,
    /// Rows predicted and written.
    pub rows: u64,
    /// The predictions table write.
    pub write: WriteMetrics,
    /// Rows per second, end to end (read, predict, write).
    pub rows_per_second: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Predicts every row of the `ds` slice of `intermediate.<pipeline>_features` with `model` and
/// replaces exactly `ds = X AND model_version = V` of `output.<pipeline>_predictions` in one
/// Delta commit. Rows stream from the features table through the `nightshift_predict` UDF (on
/// all cores) into Parquet files, so memory does not grow with the slice. Other versions'
/// predictions for the same `ds` are kept, so versions can be compared.
pub async fn infer(
    warehouse: &Warehouse,
    plan: &RunPlan,
    model: &LoadedModel,
) -> Result<InferReport> {
    let started = Instant::now();
    let spec = &plan.pipeline;
    let features = TableRef::parse(&spec.features_table())?;
    if !warehouse.has_table(&features) {
        return Err(Error::Config {
            message: format!("{} does not exist yet", spec.features_table()),
            hint: Some(format!(
                "run the features task first: nightshift run {} --date {} --only features",
                spec.name,
                plan.logical_date.format("%Y-%m-%d")
            )),
        });
    }
    let frame = warehouse
        .sql(&format!("SELECT * FROM {} LIMIT 0", spec.features_table()))
        .await?;
    let available: Vec<String> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for column in std::iter::once(&spec.text_column)
        .chain(model.extra_columns())
        .chain(std::iter::once(&spec.id_column))
    {
        if !available.contains(column) {
            return Err(Error::Config {
                message: format!(
                    "model {}@{} needs column `{column}`, which {} does not have",
                    model.name(),
                    model.version.version,
                    spec.features_table()
                ),
                hint: Some(format!(
                    "add it to the features SQL ({}), or train a model on the columns there are: {}",
                    spec.features_path.display(),
                    available.join(", ")
                )),
            });
        }
    }

    let udf = PredictUdf::new(
        model.classifier.clone(),
        model.extra_columns().to_vec(),
        spec.top_k,
    );
    warehouse.context().register_udf(udf.into_udf());
    let quoted = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let mut args = vec![quoted(&spec.text_column)];
    args.extend(model.extra_columns().iter().map(|c| quoted(c)));
    let query = format!(
        "SELECT CAST({id} AS VARCHAR) AS id, \
                p['category'] AS category, p['subcategory'] AS subcategory, \
                p['confidence'] AS confidence, p['category_confidence'] AS category_confidence, \
                p['top_k'] AS top_k, \
                '{name}' AS model_name, CAST({version} AS BIGINT) AS model_version, \
                '{run_id}' AS run_id, \
                arrow_cast('{at}', 'Timestamp(Microsecond, Some(\"UTC\"))') AS predicted_at, \
                ds \
         FROM (SELECT {id}, ds, {PREDICT_UDF}({args}) AS p FROM {table} WHERE ds = '{ds}')",
        id = quoted(&spec.id_column),
        name = model.name().replace('\'', "''"),
        version = model.version.version,
        run_id = plan.run_id,
        at = plan.started_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        args = args.join(", "),
        table = spec.features_table(),
        ds = plan.ds,
    );
    tracing::debug!("infer query: {query}");
    let frame = warehouse.sql(&query).await?;
    let predictions = TableRef::parse(&spec.predictions_table())?;
    let write = warehouse
        .write_query(&predictions, frame)
        .replace_slice(&plan.ds)
        .also_matching("model_version", model.version.version.to_string())
        .with_commit_metadata("run_id", plan.run_id.clone().into())
        .with_commit_metadata("task", "infer".into())
        .with_commit_metadata(
            "model",
            format!("{}@{}", model.name(), model.version.version).into(),
        )
        .execute()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(InferReport {
        ds: plan.ds.clone(),
        model_name: model.name().to_string(),
        model_version: model.version.version,
        rows: write.rows,
        rows_per_second: if seconds > 0.0 {
            write.rows as f64 / seconds
        } else {
            0.0
        },
        write,
        seconds,
    })
}
