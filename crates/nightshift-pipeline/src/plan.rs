//! The plan of one run: pipeline x logical date -> window, ds, SQL variables.

use chrono::{DateTime, Utc};
use nightshift_core::{PipelineSpec, Project, TableSpec, TemplateVars, Window};

use crate::error::{Error, Result};

/// The tasks a run is made of, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Upstream freshness and row-count gate.
    Check,
    /// Features SQL -> intermediate slice (+ rejects).
    Features,
    /// Model predictions for the slice.
    Infer,
    /// Rollups of the predictions.
    Publish,
}

impl Task {
    /// All tasks, in run order.
    pub const ALL: &'static [Task] = &[Task::Check, Task::Features, Task::Infer, Task::Publish];

    /// The task's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Task::Check => "check",
            Task::Features => "features",
            Task::Infer => "infer",
            Task::Publish => "publish",
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Task, String> {
        Task::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Task::ALL.iter().map(|t| t.name()).collect();
                format!("unknown task `{s}` (tasks: {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything a task needs to know about its run. Built once per run; tasks never look at the
/// clock to decide what to read.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The pipeline, as compiled from the project file.
    pub pipeline: PipelineSpec,
    /// Tables the pipeline reads, in `reads` order.
    pub reads: Vec<TableSpec>,
    /// The logical date the run is for.
    pub logical_date: DateTime<Utc>,
    /// The window of data it reads.
    pub window: Window,
    /// The slice key it writes.
    pub ds: String,
    /// Identifier of this run, recorded with its output.
    pub run_id: String,
    /// When the run started (injected, for exact tests).
    pub started_at: DateTime<Utc>,
    /// Until when `check` waits for upstream data (with `wait_for_data`): `None` waits
    /// `wait_for_data` from the run's start, as `nightshift run` does. The scheduler, which
    /// looks for the data at its ticks instead of waiting inside a run, sets a time already
    /// past, so that its run checks once.
    pub wait_until: Option<DateTime<Utc>>,
}

impl RunPlan {
    /// Plans a run of `pipeline` for `logical_date`, started at `now`.
    pub fn new(
        project: &Project,
        pipeline: &str,
        logical_date: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RunPlan> {
        let spec = project.pipelines.get(pipeline).ok_or_else(|| {
            let names: Vec<_> = project.pipelines.keys().cloned().collect();
            Error::Config {
                message: format!(
                    "no pipeline named `{pipeline}` in {}",
                    project.file.display()
                ),
                hint: Some(if names.is_empty() {
                    "the project file defines no [pipelines.NAME] section".into()
                } else {
                    format!("pipelines: {}", names.join(", "))
                }),
            }
        })?;
        let reads = spec
            .reads
            .iter()
            .map(|name| {
                project.tables.get(name).cloned().ok_or_else(|| {
                    Error::Internal(format!("validated pipeline reads unknown table {name}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let window = spec.window_for(logical_date);
        let ds = window.ds();
        let run_id = format!(
            "{}-{}-{}",
            spec.name,
            ds.replace([':', '-'], ""),
            now.format("%Y%m%dT%H%M%S%3fZ")
        );
        Ok(RunPlan {
            pipeline: spec.clone(),
            reads,
            logical_date,
            window,
            ds,
            run_id,
            started_at: now,
            wait_until: None,
        })
    }

    /// The variables the features SQL sees.
    pub fn template_vars(&self) -> TemplateVars {
        TemplateVars::new(&self.window, self.logical_date)
    }
}
