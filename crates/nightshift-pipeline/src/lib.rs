//! # nightshift-pipeline: the tasks of a run
//!
//! One run = one pipeline x one logical date. [`RunPlan::new`] turns a pipeline of the project
//! file and a logical date into the run's window, slice key (`ds`) and SQL template variables;
//! nothing else decides which rows a run reads, so re-running a date always reads the same rows.
//! The tasks run in order and each is separately runnable (`nightshift run --only TASK`):
//!
//! 1. [`check`] — the quality gate / sensor: every upstream table the pipeline reads must have
//!    data up to the window's end, and the driving table (the first of `reads`) at least
//!    `min_rows` rows in the window. A failed check writes nothing.
//! 2. [`features`] — renders the pipeline's features SQL, runs it on DataFusion (joins and all),
//!    splits bad rows (null id, duplicate id, null / empty / oversized text) into
//!    `output.<pipeline>_rejects` with a reason, and replaces the
//!    `intermediate.<pipeline>_features` slice for `ds` in one Delta commit.
//!
//! 3. [`infer`] — streams the features slice through the model (the `nightshift_predict` UDF)
//!    into `output.<pipeline>_predictions`, replacing exactly `ds = X AND model_name = N AND
//!    model_version = V`.
//! 4. [`publish`] — aggregates that slice into `output.<pipeline>_rollups` for the dashboard.
//!
//! [`gates`] stop a run between tasks before bad output is published: before `infer`, the
//! slice's row count against recent days and the null rate of its dimensions; before
//! `publish`, the number of distinct labels predicted.
//!
//! [`model`] trains, loads and evaluates models through the registry. The model reference is
//! resolved once per run, before the tasks start, and every output row carries its version.
//!
//! [`executor::execute_run`] runs a plan's tasks with retries (exponential backoff, jitter,
//! transient errors only) and records every attempt in the run store (`nightshift-runs`).
//! Where `infer` directly follows `features`, it runs them overlapped ([`features_and_infer`]):
//! the model predicts the features rows as they are written, and the predictions are committed
//! after the features slice and its gate.
//! [`run_tasks`] runs a sequence of tasks and stops at the first failure. Every task returns a
//! [`TaskReport`] with rows in / out and timings. [`Error`] is the crate's one error type.

pub mod alerts;
mod check;
mod error;
pub mod executor;
mod features;
pub mod gates;
mod infer;
pub mod model;
mod plan;
mod publish;
mod rejects;

pub use check::{CheckReport, TableFreshness, check};
pub use error::{Error, Result};
pub use executor::{RunOutcome, execute_run};
pub use features::{FeaturesReport, RejectCounts, features};
pub use infer::{InferReport, PreparedInfer, features_and_infer, infer};
pub use model::LoadedModel;
pub use plan::{RunPlan, Task};
pub use publish::{PublishReport, publish};
pub use rejects::RejectReason;

use nightshift_lake::Warehouse;

/// What one task did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum TaskReport {
    /// See [`check`].
    Check(CheckReport),
    /// See [`features`].
    Features(FeaturesReport),
    /// See [`infer`].
    Infer(InferReport),
    /// See [`publish`].
    Publish(PublishReport),
}

/// Runs one task of a plan.
pub async fn run_task(
    warehouse: &Warehouse,
    plan: &RunPlan,
    task: Task,
    model: Option<&LoadedModel>,
) -> Result<TaskReport> {
    match (task, model) {
        (Task::Check, _) => check(warehouse, plan).await.map(TaskReport::Check),
        // With the run's model, the query is checked for the model's inputs too.
        (Task::Features, _) => features::features_teed(warehouse, plan, None, model)
            .await
            .map(TaskReport::Features),
        (Task::Infer, Some(m)) => {
            gates::gate_features(warehouse, plan).await?;
            infer(warehouse, plan, m).await.map(TaskReport::Infer)
        }
        (Task::Publish, Some(m)) => {
            gates::gate_predictions(warehouse, plan, m.name(), m.version.version).await?;
            publish(warehouse, plan, m.name(), m.version.version)
                .await
                .map(TaskReport::Publish)
        }
        (Task::Infer | Task::Publish, None) => Err(Error::Config {
            message: format!("pipeline `{}` has no model to run", plan.pipeline.name),
            hint: Some("set `model = \"name@production\"` in its [pipelines] section".into()),
        }),
    }
}

/// Runs `tasks` in order for one plan; stops at (and returns) the first failure, with the
/// reports of the tasks that succeeded before it.
/// `model` is the version resolved at run start; the model tasks fail without one.
pub async fn run_tasks(
    warehouse: &Warehouse,
    plan: &RunPlan,
    tasks: &[Task],
    model: Option<&LoadedModel>,
) -> (Vec<TaskReport>, Option<Error>) {
    let mut reports = Vec::new();
    for task in tasks {
        let result = run_task(warehouse, plan, *task, model).await;
        match result {
            Ok(report) => reports.push(report),
            Err(e) => return (reports, Some(e)),
        }
    }
    (reports, None)
}
