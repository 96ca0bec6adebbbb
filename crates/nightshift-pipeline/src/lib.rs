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
//! [`run_tasks`] runs a sequence of tasks and stops at the first failure. Every task returns a
//! [`TaskReport`] with rows in / out and timings. [`Error`] is the crate's one error type.

mod check;
mod error;
mod features;
mod plan;
mod rejects;

pub use check::{CheckReport, TableFreshness, check};
pub use error::{Error, Result};
pub use features::{FeaturesReport, RejectCounts, features};
pub use plan::{RunPlan, Task};
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
}

/// Runs `tasks` in order for one plan; stops at (and returns) the first failure, with the
/// reports of the tasks that succeeded before it.
pub async fn run_tasks(
    warehouse: &Warehouse,
    plan: &RunPlan,
    tasks: &[Task],
) -> (Vec<TaskReport>, Option<Error>) {
    let mut reports = Vec::new();
    for task in tasks {
        let result = match task {
            Task::Check => check(warehouse, plan).await.map(TaskReport::Check),
            Task::Features => features(warehouse, plan).await.map(TaskReport::Features),
        };
        match result {
            Ok(report) => reports.push(report),
            Err(e) => return (reports, Some(e)),
        }
    }
    (reports, None)
}
