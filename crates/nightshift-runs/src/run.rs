//! What a run is: its id, trigger, status, tasks and the records read back from the store.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::owner::Owner;

/// A run's id, `<pipeline>-<ds>-<n>` (e.g. `root_cause-2026-11-22-1`), where `n` counts
/// the runs of that pipeline and ds and `:` is dropped from an hourly ds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// Wraps an id as printed (e.g. from the command line); it is checked when used.
    pub fn new(id: impl Into<String>) -> RunId {
        RunId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a run was started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Trigger {
    /// `nightshift run` by a person.
    Manual,
    /// The scheduler, at the logical date's fire time (or catching up on it).
    Schedule,
    /// A retry of an earlier run that did not succeed.
    Retry {
        /// The run retried.
        of: RunId,
    },
    /// `nightshift backfill` over a range of dates.
    Backfill,
}

impl Trigger {
    /// `manual`, `schedule`, `retry` or `backfill`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Retry { .. } => "retry",
            Trigger::Backfill => "backfill",
        }
    }
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The lowercase name, as stored and printed.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!(
                        "`{s}` is not one of {}",
                        [$($text),*].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum! {
    /// Where a run stands.
    RunStatus {
        /// Started and not finished; its owner holds a lease renewed by heartbeats.
        Running = "running",
        /// Every task succeeded or was skipped.
        Succeeded = "succeeded",
        /// A task failed.
        Failed = "failed",
        /// Its owner died or stopped heartbeating, or it finished with tasks never run.
        Abandoned = "abandoned",
    }
}

text_enum! {
    /// Where one task of a run stands.
    TaskState {
        /// Not started yet.
        Pending = "pending",
        /// Started, not finished.
        Running = "running",
        /// Finished and its output is in place.
        Succeeded = "succeeded",
        /// Its last attempt failed.
        Failed = "failed",
        /// Deliberately not run (counts as done).
        Skipped = "skipped",
        /// Was running when the run was abandoned.
        Abandoned = "abandoned",
    }
}

/// What a task that succeeded reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TaskOutcome {
    /// Rows read.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// The model version used, e.g. `root_cause@3`, for `infer`.
    pub model_version: Option<String>,
    /// Anything else worth keeping (JSON object), e.g. reject counts.
    pub detail: serde_json::Value,
}

/// A run to record: see [`crate::RunStore::start_run`].
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The logical date (the schedule's fire time).
    pub logical_date: DateTime<Utc>,
    /// The partition the run writes (`Window::ds`).
    pub ds: &'a str,
    /// The tasks to run, in order, e.g. `["check", "features", "infer", "publish"]`.
    pub tasks: &'a [&'a str],
    /// Why it runs.
    pub trigger: Trigger,
    /// The process running it.
    pub owner: &'a Owner,
    /// The model version (`name@N`) its tasks use, resolved at its start; `None` for runs
    /// that use no model. A retry of the run uses this version again.
    pub model: Option<&'a str>,
}

/// A run just started: its id and what it will do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    /// Its id.
    pub id: RunId,
    /// The pipeline.
    pub pipeline: String,
    /// The logical date.
    pub logical_date: DateTime<Utc>,
    /// The partition it writes.
    pub ds: String,
    /// 1 + the number of earlier runs of this pipeline and logical date.
    pub attempt: u32,
    /// Its tasks, in order.
    pub tasks: Vec<String>,
    /// Until when its lease holds without a heartbeat.
    pub lease_until: DateTime<Utc>,
}

/// One run as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// Its id.
    pub id: RunId,
    /// The pipeline.
    pub pipeline: String,
    /// The logical date.
    pub logical_date: DateTime<Utc>,
    /// The partition it writes.
    pub ds: String,
    /// 1 + the number of earlier runs of this pipeline and logical date.
    pub attempt: u32,
    /// Why it ran.
    pub trigger: Trigger,
    /// Where it stands.
    pub status: RunStatus,
    /// Who ran it.
    pub owner: Owner,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished (or was reaped); `None` while running.
    pub finished_at: Option<DateTime<Utc>>,
    /// The first task that failed or was abandoned, if any.
    pub failed_task: Option<String>,
    /// That task's error.
    pub error: Option<String>,
    /// Why the run was marked abandoned, if it was reaped.
    pub note: Option<String>,
    /// The model version (`name@N`) it resolved at its start, if it used one.
    pub model: Option<String>,
}

/// One task of a run as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskRecord {
    /// The task's name.
    pub name: String,
    /// Where it stands.
    pub state: TaskState,
    /// How many times it was attempted within this run.
    pub attempts: u32,
    /// When it first started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows read, once succeeded.
    pub rows_in: Option<u64>,
    /// Rows written, once succeeded.
    pub rows_out: Option<u64>,
    /// The model version (`name@N`) used; `model` in JSON, as the run's own (the task's
    /// `detail` holds the version number as `model_version`, as the tables do).
    #[serde(rename = "model")]
    pub model_version: Option<String>,
    /// Detail reported on success (or the skip reason); `Null` if none.
    pub detail: serde_json::Value,
    /// The last error, while failed or abandoned.
    pub error: Option<String>,
    /// Whether that error was judged transient.
    pub transient: Option<bool>,
}

/// A run with its tasks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunDetail {
    /// The run.
    pub run: RunSummary,
    /// Until when its lease holds (while running).
    pub lease_until: Option<DateTime<Utc>>,
    /// Its tasks, in order.
    pub tasks: Vec<TaskRecord>,
}

/// Which runs [`crate::RunStore::list`] returns. The default lists everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this pipeline.
    pub pipeline: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// At most this many (newest first).
    pub limit: Option<usize>,
}

/// What retrying a run re-does: see [`crate::RunStore::retry_plan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetryPlan {
    /// The run retried.
    pub of: RunId,
    /// Its pipeline.
    pub pipeline: String,
    /// Its logical date.
    pub logical_date: DateTime<Utc>,
    /// Its partition.
    pub ds: String,
    /// Tasks to run: the first one not done and every one after it, in order.
    pub tasks: Vec<String>,
    /// Tasks before it that succeeded (or were skipped); their output is reused.
    pub reused: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_states_round_trip_as_text() {
        for s in [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Abandoned,
        ] {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
        assert_eq!("skipped".parse::<TaskState>(), Ok(TaskState::Skipped));
        let err = "done".parse::<TaskState>().unwrap_err();
        assert!(err.contains("pending, running"), "{err}");
        assert_eq!(
            serde_json::to_value(Trigger::Retry {
                of: RunId::new("a-1")
            })
            .expect("json"),
            serde_json::json!({"kind": "retry", "of": "a-1"})
        );
    }
}
