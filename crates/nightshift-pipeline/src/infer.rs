//! Task `infer`: the features slice -> model predictions, streamed through DataFusion.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use nightshift_lake::arrow::array::{Array, Int64Array};
use nightshift_lake::arrow::compute::cast;
use nightshift_lake::arrow::datatypes::DataType;
use nightshift_lake::datafusion::prelude::DataFrame;
use nightshift_lake::predict::{PREDICT_UDF, PredictUdf};
use nightshift_lake::{
    PreparedWrite, TableRef, TableWrite, TeeSource, Warehouse, WriteMetrics, tee,
};

use crate::error::{Error, Result};
use crate::features::{FeaturesReport, features_teed};
use crate::gates;
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
    /// Whether the rows came straight from the `features` task's stream while it ran
    /// (`features_and_infer`) rather than read back from the committed slice.
    pub overlapped: bool,
}

/// Predicts every row of the `ds` slice of `intermediate.<pipeline>_features` with `model` and
/// replaces exactly `ds = X AND model_name = N AND model_version = V` of
/// `output.<pipeline>_predictions` in one Delta commit. Rows stream from the features table
/// through the `nightshift_predict` UDF (on all cores) into Parquet files, so memory does not
/// grow with the slice. Other models' and versions' predictions for the same `ds` are kept, so
/// they can be compared.
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
    let frame =
        predictions_query(warehouse, plan, model, &spec.features_table(), &available).await?;
    warn_of_null_inputs(warehouse, plan, model).await?;
    let write = predictions_write(warehouse, plan, model, frame)?
        .execute()
        .await?;
    Ok(report(plan, model, write, started, false))
}

/// Warns of each input column of `model` that is null in every row of the slice: the table
/// keeps a column an earlier features query returned, so a query that no longer returns it
/// (run with `--only features`, without the model that would have refused it) leaves it
/// null, and the predictions are made without it.
async fn warn_of_null_inputs(
    warehouse: &Warehouse,
    plan: &RunPlan,
    model: &LoadedModel,
) -> Result<()> {
    let extras = model.extra_columns();
    if extras.is_empty() {
        return Ok(());
    }
    let quoted = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let counts: Vec<String> = extras
        .iter()
        .map(|c| format!("count({})", quoted(c)))
        .collect();
    let batches = warehouse
        .query(&format!(
            "SELECT count(*), {} FROM {} WHERE ds = '{}'",
            counts.join(", "),
            plan.pipeline.features_table(),
            plan.ds
        ))
        .await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(());
    };
    let value = |i: usize| {
        cast(batch.column(i), &DataType::Int64)
            .ok()
            .and_then(|a| a.as_any().downcast_ref::<Int64Array>().map(|a| a.value(0)))
            .unwrap_or(0)
    };
    let rows = value(0);
    for (i, column) in extras.iter().enumerate() {
        if rows > 0 && value(i + 1) == 0 {
            tracing::warn!(
                pipeline = %plan.pipeline.name,
                ds = %plan.ds,
                "`{column}`, an input of the model {}@{}, is null in all {rows} rows of ds {} of {}: \
                 its predictions are made without it (does the features query still return it?)",
                model.name(),
                model.version.version,
                plan.ds,
                plan.pipeline.features_table()
            );
        }
    }
    Ok(())
}

/// Runs `features` and, at the same time, `infer` on the rows `features` writes as they
/// stream (through a `nightshift_lake::tee`): the model works while the features query joins
/// and encodes, instead of after it, and the slice is not read back. The predictions are
/// written but **not committed**: [`PreparedInfer::finish`] runs the features gate and then
/// commits them, so they land after the features slice they come from, exactly as
/// `features` then `infer` would have written them.
///
/// The infer half is `None` when it could not run alongside (the features write or the
/// predictions table needs delta-rs' own write, or the infer half failed, which is logged):
/// run [`infer`] once `features` has committed, as usual.
pub async fn features_and_infer<'a>(
    warehouse: &'a Warehouse,
    plan: &RunPlan,
    model: &LoadedModel,
) -> (Result<FeaturesReport>, Option<PreparedInfer<'a>>) {
    let (tee, source) = tee();
    let (features, prepared) = tokio::join!(
        features_teed(warehouse, plan, Some(tee), Some(model)),
        prepare_on_stream(warehouse, plan, model, source)
    );
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            if features.is_ok() {
                tracing::info!(
                    pipeline = %plan.pipeline.name,
                    "infer did not run alongside features ({e}); it runs on the written slice"
                );
            }
            None
        }
    };
    let prepared = prepared.filter(|_| features.is_ok());
    (features, prepared)
}

/// `infer`'s predictions of a features stream, written and not yet committed.
#[derive(Debug)]
pub struct PreparedInfer<'a> {
    write: PreparedWrite<'a>,
    started: Instant,
}

impl PreparedInfer<'_> {
    /// Once the features slice is committed: checks it against the features gate (as
    /// `infer` would before reading it) and commits the predictions. On a failed gate nothing
    /// is committed and the written files are deleted.
    pub async fn finish(
        self,
        warehouse: &Warehouse,
        plan: &RunPlan,
        model: &LoadedModel,
    ) -> Result<InferReport> {
        gates::gate_features(warehouse, plan).await?;
        let write = self.write.commit().await?;
        Ok(report(plan, model, write, self.started, true))
    }
}

/// The infer half of [`features_and_infer`].
async fn prepare_on_stream<'a>(
    warehouse: &'a Warehouse,
    plan: &RunPlan,
    model: &LoadedModel,
    source: TeeSource,
) -> Result<Option<PreparedInfer<'a>>> {
    let started = Instant::now();
    let Some(table) = source.into_table(STREAM_PARTITIONS).await? else {
        return Ok(None);
    };
    let available: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // Registered under a name of its own only while the query is planned (the plan keeps
    // the table).
    static STREAMS: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "nightshift_features_stream_{}",
        STREAMS.fetch_add(1, Ordering::Relaxed)
    );
    let context = warehouse.context();
    context
        .register_table(name.as_str(), table)
        .map_err(|e| Error::Internal(format!("registering the features stream: {e}")))?;
    let frame = predictions_query(warehouse, plan, model, &name, &available).await;
    context
        .deregister_table(name.as_str())
        .map_err(|e| Error::Internal(format!("dropping the features stream: {e}")))?;
    let write = predictions_write(warehouse, plan, model, frame?)?
        .prepare()
        .await?;
    Ok(write.map(|write| PreparedInfer { write, started }))
}

/// Partitions of the features stream as a table: one, because the model already predicts
/// each batch on all cores (rayon); more would only have several tokio workers wait on it.
const STREAM_PARTITIONS: usize = 1;

/// The predictions query over `table` (the features slice, or its stream), after checking
/// that its columns (`available`) hold what the model needs.
async fn predictions_query(
    warehouse: &Warehouse,
    plan: &RunPlan,
    model: &LoadedModel,
    table: &str,
    available: &[String],
) -> Result<DataFrame> {
    let spec = &plan.pipeline;
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
        "SELECT arrow_cast({id}, 'Utf8') AS id, \
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
        ds = plan.ds,
    );
    tracing::debug!("infer query: {query}");
    Ok(warehouse.sql(&query).await?)
}

/// The write of the predictions: exactly `ds = X AND model_name = N AND model_version = V`,
/// one commit (another model's version `V` is another slice).
fn predictions_write<'a>(
    warehouse: &'a Warehouse,
    plan: &RunPlan,
    model: &LoadedModel,
    frame: DataFrame,
) -> Result<TableWrite<'a>> {
    let predictions = TableRef::parse(&plan.pipeline.predictions_table())?;
    Ok(warehouse
        .write_query(&predictions, frame)
        .replace_slice(&plan.ds)
        .also_matching("model_name", model.name())
        .also_matching("model_version", model.version.version.to_string())
        .with_commit_metadata("run_id", plan.run_id.clone().into())
        .with_commit_metadata("task", "infer".into())
        .with_commit_metadata(
            "model",
            format!("{}@{}", model.name(), model.version.version).into(),
        ))
}

fn report(
    plan: &RunPlan,
    model: &LoadedModel,
    write: WriteMetrics,
    started: Instant,
    overlapped: bool,
) -> InferReport {
    let seconds = started.elapsed().as_secs_f64();
    InferReport {
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
        overlapped,
    }
}
