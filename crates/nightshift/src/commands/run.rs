//! `nightshift run PIPELINE --date D [--only TASK]`.

use nightshift_lake::Warehouse;
use nightshift_pipeline::{RunPlan, Task, TaskReport, execute_run};
use nightshift_runs::{SystemClock, Trigger};

use crate::cli::{GlobalArgs, RunArgs, TaskArg};
use crate::failure::Failure;

#[allow(clippy::print_stdout)]
pub(crate) async fn run(global: &GlobalArgs, args: &RunArgs) -> Result<(), Failure> {
    let project = super::load_project(&global.project)?;
    let logical_date = nightshift_core::parse_logical_date(&args.date).map_err(|e| {
        let hint = match e {
            nightshift_core::Error::LogicalDateOutOfRange { .. } => {
                "a logical date is the day the run is for, e.g. --date 2026-11-22"
            }
            _ => "give --date as YYYY-MM-DD or 2026-11-22T06:00:00Z",
        };
        Failure::usage(e, Some(hint.into()))
    })?;
    let now = chrono::Utc::now();
    let mut plan = RunPlan::new(&project, &args.pipeline, logical_date, now)?;
    // A date ahead of now is not due: its window may not have started (it holds no data),
    // and a date done ahead would have moved the scheduler's catch-up past every date before
    // it (a typo'd year stopped the schedule).
    if plan.logical_date > now {
        let started = if plan.window.start > now {
            "which has not started yet"
        } else {
            "whose date is not due yet"
        };
        return Err(Failure::usage(
            format!(
                "--date {} is in the future (now {}), for the window [{}, {}) {started}",
                args.date,
                now.format("%Y-%m-%d %H:%M UTC"),
                plan.window.start.format("%Y-%m-%d %H:%M"),
                plan.window.end.format("%Y-%m-%d %H:%M")
            ),
            Some(
                "give a date up to now: a logical date is when the run is due, and it reads a window that ended before it (`nightshift runs list` shows the dates done)"
                    .into(),
            ),
        ));
    }
    // The window ends by the logical date (`freshness_sla` before it), which is not after now.
    debug_assert!(plan.window.end <= now);
    let tasks: Vec<Task> = if args.only.is_empty() {
        // Without a model the pipeline stops at features.
        if plan.pipeline.model.is_none() {
            tracing::warn!(
                "pipeline `{}` has no `model`: running check and features only (set model = \"name@production\" to predict)",
                plan.pipeline.name
            );
            vec![Task::Check, Task::Features]
        } else {
            Task::ALL.to_vec()
        }
    } else {
        Task::ALL
            .iter()
            .copied()
            .filter(|t| {
                args.only.iter().any(|o| {
                    matches!(
                        (o, t),
                        (TaskArg::Check, Task::Check)
                            | (TaskArg::Features, Task::Features)
                            | (TaskArg::Infer, Task::Infer)
                            | (TaskArg::Publish, Task::Publish)
                    )
                })
            })
            .collect()
    };
    // The model reference is resolved once, before any task runs, and recorded in every row.
    // Its bundle is read and verified on another thread while the warehouse opens; a model
    // that fails to load still stops the run before any task.
    let loading = tasks
        .iter()
        .any(|t| matches!(t, Task::Infer | Task::Publish))
        .then(|| {
            let (project, pipeline) = (project.clone(), plan.pipeline.clone());
            tokio::task::spawn_blocking(move || super::resolve_pipeline_model(&project, &pipeline))
        });
    let warehouse = Warehouse::open(&project).await;
    let model = match loading {
        Some(loading) => Some(
            loading
                .await
                .map_err(|e| Failure::work(anyhow::anyhow!("loading the model stopped: {e}")))??,
        ),
        None => None,
    };
    let warehouse = warehouse?;
    let store = super::open_run_store(&project)?;
    let outcome = execute_run(
        &warehouse,
        &store,
        &mut plan,
        &tasks,
        model.as_ref(),
        Trigger::Manual,
        &SystemClock,
        &|d| Box::pin(tokio::time::sleep(d)),
    )
    .await?;
    report_outcome(global, &plan, &tasks, model.as_ref(), outcome)
}

/// Prints what a run did (text or JSON) and turns its failure into the exit code.
#[allow(clippy::print_stdout)]
pub(crate) fn report_outcome(
    global: &GlobalArgs,
    plan: &RunPlan,
    tasks: &[Task],
    model: Option<&nightshift_pipeline::LoadedModel>,
    outcome: nightshift_pipeline::RunOutcome,
) -> Result<(), Failure> {
    let reports = outcome.reports;
    let error = outcome.error;
    let error_text = error.as_ref().map(|e| e.to_string());
    let hint = error.as_ref().and_then(|e| e.hint());
    let failed = error.is_some();
    let failure = error.map(Failure::from);

    if global.json {
        super::print_json(&serde_json::json!({
            "ok": !failed,
            "run_id": plan.run_id,
            "pipeline": plan.pipeline.name,
            "logical_date": plan.logical_date,
            "ds": plan.ds,
            "model": model.map(|m| format!("{}@{}", m.name(), m.version.version)),
            "status": outcome.status.as_str(),
            "attempts": outcome.attempts.iter().map(|(t, n)| serde_json::json!({"task": t.name(), "attempts": n})).collect::<Vec<_>>(),
            "window_start": plan.window.start,
            "window_end": plan.window.end,
            "tasks": reports,
            "failed_task": failed.then(|| tasks.get(reports.len()).map(|t| t.name())).flatten(),
            "error": error_text,
            // As in every error document: the exit code and the hint (also on stderr).
            "exit_code": failure.as_ref().map_or(0, |f| f.code),
            "hint": hint.as_deref().map(crate::failure::pasteable),
        }))?;
    } else {
        outln!(
            "run {}  pipeline {}  ds {}  window [{}, {})",
            plan.run_id,
            plan.pipeline.name,
            plan.ds,
            plan.window.start.format("%Y-%m-%d %H:%M"),
            plan.window.end.format("%Y-%m-%d %H:%M"),
        );
        for (report, (_, attempts)) in reports.iter().zip(&outcome.attempts) {
            let retried = if *attempts > 1 {
                format!("  [{attempts} attempts]")
            } else {
                String::new()
            };
            outln!("  {}{retried}", describe(report));
        }
        if failed {
            let failed = tasks.get(reports.len()).map(|t| t.name()).unwrap_or("?");
            let attempts = outcome.attempts.last().map(|(_, n)| *n).unwrap_or(1);
            outln!(
                "{}",
                crate::failure::pasteable(&format!(
                    "  {failed:<9} FAILED after {attempts} attempt(s); `nightshift runs retry {}` re-runs it",
                    plan.run_id
                ))
            );
        }
    }
    match failure {
        None => Ok(()),
        // --json already printed the document; the failure still goes to stderr with its hint.
        Some(mut failure) => {
            failure.json_printed = global.json;
            Err(failure)
        }
    }
}

fn describe(report: &TaskReport) -> String {
    match report {
        TaskReport::Check(c) => {
            let tables: Vec<String> = c
                .tables
                .iter()
                .map(|t| match (t.rows_in_window, t.latest) {
                    (Some(n), Some(latest)) => {
                        format!(
                            "{} {n} rows in window, latest {}",
                            t.table,
                            latest.format("%Y-%m-%d %H:%M")
                        )
                    }
                    _ => format!("{} (no time column)", t.table),
                })
                .collect();
            format!("check     ok  {}  ({:.2} s)", tables.join("; "), c.seconds)
        }
        TaskReport::Infer(i) => format!(
            "infer     ok  {} rows predicted by {}@{} -> {} (version {})  ({:.2} s, {:.0} rows/s)",
            i.rows,
            i.model_name,
            i.model_version,
            i.write.table,
            i.write
                .version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            i.seconds,
            i.rows_per_second
        ),
        TaskReport::Publish(p) => format!(
            "publish   ok  {} rollup rows of {} predictions -> {}  ({:.2} s)",
            p.rows, p.contacts, p.write.table, p.seconds
        ),
        TaskReport::Features(f) => {
            let rejected: u64 = f.rejected.values().sum();
            let reasons: Vec<String> = f
                .rejected
                .iter()
                .map(|(r, n)| format!("{} {n}", r.as_str()))
                .collect();
            let rejected = if rejected == 0 {
                "0 rejected".to_string()
            } else {
                format!(
                    "{rejected} rejected ({}) -> {}",
                    reasons.join(", "),
                    f.rejects_write.table
                )
            };
            format!(
                "features  ok  {} rows in, {} written to {} (version {}), {rejected}  ({:.2} s)",
                f.rows_in,
                f.rows_written,
                f.features_write.table,
                f.features_write
                    .version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                f.seconds
            )
        }
    }
}
