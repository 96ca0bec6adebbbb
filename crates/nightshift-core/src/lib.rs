//! Core of Nightshift: the project file and the time arithmetic every run is built on.
//! No query engine here.
//!
//! # What this crate owns
//!
//! | Module | Concept | Main items |
//! |---|---|---|
//! | [`config`] | `nightshift.toml`: schema, validation, diagnostics | [`load_project`], [`compile_project`], [`Project`], [`TableSpec`], [`PipelineSpec`], [`AlertSink`], [`ConfigErrors`] |
//! | [`duration`] | `90m`, `36h`, `2d`, `1w`, `1h30m` | [`Duration`] |
//! | [`window`] | the slice of event time a run processes | [`Window`], [`parse_logical_date`] |
//! | [`schedule`] | when pipelines run: `daily at 06:00`, `hourly at :15`, `every 15m`, cron | [`Schedule`] |
//! | [`cron`] | five-field cron expressions | [`CronExpr`] |
//! | [`timezone`] | `UTC` and fixed offsets like `+02:00` | [`parse_timezone`] |
//! | [`template`] | `{{ window_start }}`-style SQL templating | [`render`], [`variables`], [`TemplateVars`] |
//! | [`error`] | the crate's error type | [`Error`] |
//!
//! # Data flow
//!
//! ```text
//! nightshift.toml ──load_project──▶ Project { tables, pipelines, alerts }
//!                                      │ (or ConfigErrors: every problem, with file:line:col and a hint)
//!                                      ▼
//! PipelineSpec.schedule ──next_after──▶ logical date L of the next run
//! PipelineSpec.window_for(L) ─────────▶ Window [floor_W(L - max_sla) - W, floor_W(L - max_sla))
//! TemplateVars::new(&window, L) + features_sql ──render──▶ SQL for the query engine
//! ```
//!
//! Windows and `every` schedules are aligned to 1970-01-05T00:00Z (a Monday), so
//! daily windows start at midnight UTC, weekly ones on Mondays.

pub mod config;
pub mod cron;
pub mod duration;
pub mod error;
pub mod schedule;
pub mod template;
pub mod timezone;
pub mod window;

pub use config::{
    AlertSink, ConfigErrors, Diagnostic, EngineSpec, Gates, PROJECT_FILE, PipelineSpec, Project,
    TableSpec, compile_project, load_project, model_ref_problem,
};
pub use cron::CronExpr;
pub use duration::Duration;
pub use error::Error;
pub use schedule::Schedule;
pub use template::{TEMPLATE_VARIABLES, TemplateVars, render, variables};
pub use timezone::parse_timezone;
pub use window::{Window, parse_logical_date};
