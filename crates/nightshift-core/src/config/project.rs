//! The compiled, validated project: what the rest of Nightshift works from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, NaiveTime, Offset, Utc};

use crate::{Duration, Schedule, Window};

/// A validated `nightshift.toml`, with paths resolved and defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Directory holding `nightshift.toml` (absolute if given absolute).
    pub root: PathBuf,
    /// Path of `nightshift.toml`.
    pub file: PathBuf,
    /// `project.name`.
    pub name: String,
    /// `root.join(project.warehouse)`; `warehouse` defaults to `"warehouse"`.
    pub warehouse: PathBuf,
    /// `[engine]`, all optional.
    pub engine: EngineSpec,
    /// `[tables.NAME]`, by name.
    pub tables: BTreeMap<String, TableSpec>,
    /// `[pipelines.NAME]`, by name.
    pub pipelines: BTreeMap<String, PipelineSpec>,
    /// `[alerts.NAME]`, by name.
    pub alerts: BTreeMap<String, AlertSink>,
}

/// `[engine]`: how queries are executed. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineSpec {
    /// A remote engine to use instead of the in-process one.
    pub url: Option<String>,
    /// Parallelism of query execution.
    pub target_partitions: Option<usize>,
    /// Memory limit for query execution, in MiB.
    pub memory_limit_mb: Option<u64>,
}

/// `[tables.NAME]`: one Delta table of the warehouse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// The key in `[tables.NAME]`.
    pub name: String,
    /// SQL schema the table is registered under; `"raw"` unless `schema = "..."`.
    pub schema: String,
    /// `warehouse.join(path)`; `path` defaults to `"<schema>/<name>"`, absolute paths are kept.
    pub path: PathBuf,
    /// Event-time column; `None` for dimension tables.
    pub time_column: Option<String>,
    /// How long after the fact a window's data is complete; `None` means immediately.
    pub freshness_sla: Option<Duration>,
}

impl TableSpec {
    /// Qualified SQL name, e.g. `"raw.support_contacts"`.
    pub fn sql_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// `[pipelines.NAME]`: one scheduled batch-inference job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineSpec {
    /// The key in `[pipelines.NAME]`.
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// Timezone of `schedule` and `deadline`: `"UTC"` (default) or a fixed offset like `"+02:00"`.
    pub timezone: String,
    /// Width of the slice of event time each run processes.
    pub window: Duration,
    /// Names of the tables the features query reads (keys of [`Project::tables`]).
    pub reads: Vec<String>,
    /// Largest `freshness_sla` among `reads`; `None` if none has one.
    pub max_sla: Option<Duration>,
    /// `root.join(features)`.
    pub features_path: PathBuf,
    /// The features SQL file's contents (a template, unrendered).
    pub features_sql: String,
    /// Model reference such as `"root_cause@production"`.
    pub model: Option<String>,
    /// Column identifying a row; default `"id"`.
    pub id_column: String,
    /// Column holding the text sent to the model; default `"text"`.
    pub text_column: String,
    /// Rows whose text is longer (in characters) go to the rejects table; default 10 000.
    pub max_text_chars: usize,
    /// A run with fewer feature rows fails; default 1.
    pub min_rows: u64,
    /// Retries of a failed run; default 3.
    pub retries: u32,
    /// Delay between retries; default 1m.
    pub retry_delay: Duration,
    /// Wall-clock time (in `timezone`) by which a run should have succeeded.
    pub deadline: Option<NaiveTime>,
    /// Names of alert sinks (keys of [`Project::alerts`]).
    pub alerts: Vec<String>,
    /// Whether missed runs are run later; default true.
    pub catchup: bool,
    /// Columns of the features table the rollups are grouped by (besides ds, category,
    /// subcategory and model version), e.g. `["channel", "city"]`; default none.
    pub dimensions: Vec<String>,
    /// How many most probable labels each prediction keeps in `top_k`; default 3.
    pub top_k: usize,
    /// How long a run waits for upstream data (the `check` task is re-tried while its tables
    /// are not fresh enough) before it fails; `None` (default): fail at once.
    pub wait_for_data: Option<Duration>,
    /// Quality gates between tasks; all off by default.
    pub gates: Gates,
}

/// Data-quality gates that stop a run before bad output is published.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gates {
    /// Before `infer`: the slice must hold at least this share of the median row count of the
    /// last 7 slices (checked once 3 earlier slices exist).
    pub min_row_ratio: Option<f64>,
    /// Before `infer`: at most this multiple of that median.
    pub max_row_ratio: Option<f64>,
    /// Before `infer`: largest share of nulls allowed in each of the pipeline's `dimensions`.
    pub max_null_rate: Option<f64>,
    /// Before `publish`: the slice's predictions must use at least this many distinct labels.
    pub min_distinct_labels: Option<u64>,
}

impl Eq for Gates {}

impl PipelineSpec {
    /// The window a run with logical date `logical` processes (`max_sla` `None` = 0).
    pub fn window_for(&self, logical: DateTime<Utc>) -> Window {
        Window::for_logical_date_opt(logical, self.window, self.max_sla)
    }

    /// The fixed offset of [`PipelineSpec::timezone`] (validated when the project compiled).
    pub fn utc_offset(&self) -> FixedOffset {
        crate::parse_timezone(&self.timezone).unwrap_or_else(|_| Utc.fix())
    }

    /// First scheduled run strictly after `after`, in the pipeline's timezone.
    pub fn next_run_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        self.schedule.next_after_in(after, self.utc_offset())
    }

    /// `"intermediate.<name>_features"`.
    pub fn features_table(&self) -> String {
        format!("intermediate.{}_features", self.name)
    }

    /// `"output.<name>_predictions"`.
    pub fn predictions_table(&self) -> String {
        format!("output.{}_predictions", self.name)
    }

    /// `"output.<name>_rollups"`.
    pub fn rollups_table(&self) -> String {
        format!("output.{}_rollups", self.name)
    }

    /// `"output.<name>_quality"`.
    pub fn quality_table(&self) -> String {
        format!("output.{}_quality", self.name)
    }

    /// `"output.<name>_rejects"`.
    pub fn rejects_table(&self) -> String {
        format!("output.{}_rejects", self.name)
    }
}

/// `[alerts.NAME]`: where alerts go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertSink {
    /// `webhook = "https://..."`: POST a JSON body.
    Webhook {
        /// The URL.
        url: String,
    },
    /// `command = ["prog", "arg"]` (or `"prog arg"`): run a program.
    Command {
        /// The program to run.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// `log = true`: write to Nightshift's log.
    Log,
}
