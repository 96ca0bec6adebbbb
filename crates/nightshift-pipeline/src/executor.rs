//! Running a plan's tasks with per-task retries, recorded in the run store.

use std::future::Future;
use std::pin::Pin;

use nightshift_lake::Warehouse;
use nightshift_runs::{
    Clock, ErrorClass, NewRun, Owner, RetryPolicy, RunId, RunStatus, RunStore, TaskOutcome,
    Trigger, classify_error, jitter_rng, seed_for,
};

use crate::error::{Error, Result};
use crate::infer::{PreparedInfer, features_and_infer};
use crate::model::LoadedModel;
use crate::plan::{RunPlan, Task};
use crate::{TaskReport, run_task};

/// How the executor waits between attempts (tokio's sleep in the CLI; instant in tests).
pub type Sleep<'a> =
    &'a (dyn Fn(std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Sync);

/// What a recorded run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's id in the run store (also in every row it wrote).
    pub run_id: String,
    /// Reports of the tasks that succeeded, in order.
    pub reports: Vec<TaskReport>,
    /// Attempts per task that ran (1 = no retry).
    pub attempts: Vec<(Task, u32)>,
    /// The run's final status.
    pub status: RunStatus,
    /// Why it failed, if it did.
    pub error: Option<Error>,
}

/// Records a run of `tasks` in `store`, runs them in order with the pipeline's retry policy
/// (exponential backoff with jitter; transient errors such as I/O are retried, permanent ones
/// such as bad SQL or a failed check are not) and stops at the first task that still fails. The
/// plan's `run_id` becomes the store's run id. Tasks after a failure stay `pending`, so
/// `nightshift runs retry` re-runs exactly the failed task and those after it.
///
/// When `infer` directly follows `features`, it predicts the rows as `features` streams them
/// ([`features_and_infer`]) and commits once `features` has committed and the features gate
/// has passed; a retry of either runs the task on its own.
#[allow(clippy::too_many_arguments)]
pub async fn execute_run(
    warehouse: &Warehouse,
    store: &RunStore,
    plan: &mut RunPlan,
    tasks: &[Task],
    model: Option<&LoadedModel>,
    trigger: Trigger,
    clock: &dyn Clock,
    sleep: Sleep<'_>,
) -> Result<RunOutcome> {
    check_inputs_done(store, plan, tasks)?;
    let names: Vec<&str> = tasks.iter().map(|t| t.name()).collect();
    let owner = Owner::current();
    let model_version = model.map(|m| format!("{}@{}", m.name(), m.version.version));
    let run = store.start_run(
        NewRun {
            pipeline: &plan.pipeline.name,
            logical_date: plan.logical_date,
            ds: &plan.ds,
            tasks: &names,
            trigger,
            owner: &owner,
            model: model_version.as_deref(),
        },
        clock.now(),
    )?;
    plan.run_id = run.id.to_string();
    tracing::info!(
        pipeline = %plan.pipeline.name,
        ds = %plan.ds,
        window_start = %plan.window.start,
        window_end = %plan.window.end,
        "run {} ({})",
        plan.run_id,
        names.join(" -> ")
    );
    // The tasks run while the run's lease is renewed beside them (`keep_alive`): a task or a
    // wait before a retry longer than the lease must not make the live run look abandoned.
    let plan: &RunPlan = plan;
    let done = run_tasks_recorded(warehouse, store, plan, tasks, model, &run.id, clock, sleep);
    let (reports, attempts, failure) = tokio::select! {
        done = done => done?,
        never = keep_alive(store, &run.id, clock) => match never {},
    };
    let status = store.finish_run(&run.id, clock.now())?;
    Ok(RunOutcome {
        run_id: run.id.to_string(),
        reports,
        attempts,
        status,
        error: failure,
    })
}

/// What a run's tasks did: their reports, the attempts of each, and the error that stopped
/// them, if one did.
type TasksDone = (Vec<TaskReport>, Vec<(Task, u32)>, Option<Error>);

/// Runs `tasks` in order for the recorded run `run`, each retried on transient errors as the
/// pipeline's policy says, every attempt recorded in `store`; stops at the first failure.
#[allow(clippy::too_many_arguments)]
async fn run_tasks_recorded(
    warehouse: &Warehouse,
    store: &RunStore,
    plan: &RunPlan,
    tasks: &[Task],
    model: Option<&LoadedModel>,
    run: &RunId,
    clock: &dyn Clock,
    sleep: Sleep<'_>,
) -> Result<TasksDone> {
    let policy = RetryPolicy::from_spec(&plan.pipeline);
    let mut rng = jitter_rng(seed_for(&plan.run_id));
    let mut reports = Vec::new();
    let mut attempts = Vec::new();
    let mut failure = None;
    // Predictions made while `features` streamed, waiting for its commit (first attempts only).
    let mut prepared: Option<PreparedInfer<'_>> = None;
    'tasks: for (i, task) in tasks.iter().enumerate() {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            store.heartbeat(run, clock.now())?;
            store.task_started(run, task.name(), clock.now())?;
            // Taken by the first attempt of `infer`: a retry runs it on its own.
            let overlapped = if *task == Task::Infer {
                prepared.take()
            } else {
                None
            };
            let result = match (task, model, overlapped) {
                (Task::Check, ..) => {
                    check_waiting_for_data(warehouse, store, plan, run, clock, sleep).await
                }
                // `infer` next: it runs on the rows as `features` streams them.
                (Task::Features, Some(model), _)
                    if attempt == 1 && tasks.get(i + 1) == Some(&Task::Infer) =>
                {
                    let (features, infer) = features_and_infer(warehouse, plan, model).await;
                    prepared = infer;
                    features.map(TaskReport::Features)
                }
                (Task::Infer, Some(model), Some(infer)) => infer
                    .finish(warehouse, plan, model)
                    .await
                    .map(TaskReport::Infer),
                _ => run_task(warehouse, plan, *task, model).await,
            };
            match result {
                Ok(report) => {
                    store.task_succeeded(run, task.name(), outcome(&report), clock.now())?;
                    attempts.push((*task, attempt));
                    warn_of_rows_outside_the_window(plan, &reports, &report);
                    reports.push(report);
                    break;
                }
                Err(e) => {
                    let class = error_class(&e);
                    let transient = class == ErrorClass::Transient;
                    store.task_failed(
                        run,
                        task.name(),
                        &error_text(&e),
                        transient,
                        attempt,
                        clock.now(),
                    )?;
                    if transient && attempt < policy.max_attempts() {
                        let delay = policy.delay(attempt, &mut rng);
                        tracing::warn!(
                            task = task.name(),
                            attempt,
                            "transient failure, retrying in {:.1} s: {e}",
                            delay.as_secs_f64()
                        );
                        sleep(delay).await;
                        continue;
                    }
                    attempts.push((*task, attempt));
                    failure = Some(e);
                    break 'tasks;
                }
            }
        }
    }
    Ok((reports, attempts, failure))
}

/// Renews `run`'s lease every third of the lease, by the real clock, for as long as it is
/// polled (beside the run's tasks). Once the run is no longer running (reaped by another
/// process: this one stalled past its lease), it stops renewing; the tasks then find out at
/// their next update.
async fn keep_alive(store: &RunStore, run: &RunId, clock: &dyn Clock) -> std::convert::Infallible {
    let every = store.heartbeat_interval();
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = store.heartbeat(run, clock.now()) {
            tracing::warn!("run {run}: cannot renew its lease: {e}");
            return std::future::pending().await;
        }
    }
}

/// Warns when `features` took in more rows than `check` counted in the window of the driving
/// table: a query that does not filter on the window (those rows land in this slice and
/// again in their own date's), or a join that matches several rows (refused as duplicate
/// ids). Nothing to judge without a `check` in the same run.
fn warn_of_rows_outside_the_window(plan: &RunPlan, before: &[TaskReport], report: &TaskReport) {
    let TaskReport::Features(features) = report else {
        return;
    };
    let in_window = before.iter().find_map(|r| match r {
        TaskReport::Check(c) => c.tables.first().and_then(|t| t.rows_in_window),
        _ => None,
    });
    if let Some(in_window) = in_window
        && features.rows_in > in_window
    {
        let spec = &plan.pipeline;
        tracing::warn!(
            pipeline = %spec.name,
            ds = %plan.ds,
            "the features query returned {} rows, more than the {in_window} rows of `{}` in the \
             window: does {} keep only the window's rows ({{{{ window_start }}}} to \
             {{{{ window_end }}}}), and does each join match at most one row? Rows from outside \
             the window land in this slice and again in their own date's",
            features.rows_in,
            spec.reads.first().map_or("the driving table", |r| r.as_str()),
            spec.features_path.display()
        );
    }
}

/// A run without the task before one of its tasks (`run --only infer`, `--only publish`)
/// needs that task's slice: refused before anything is recorded unless some run got it done
/// for the same `ds` (else `infer` would "succeed" on nothing: 0 rows predicted).
fn check_inputs_done(store: &RunStore, plan: &RunPlan, tasks: &[Task]) -> Result<()> {
    let needs = |task: Task| match task {
        Task::Infer => Some(Task::Features),
        Task::Publish => Some(Task::Infer),
        Task::Check | Task::Features => None,
    };
    let done = |task: Task| store.task_done(&plan.pipeline.name, &plan.ds, task.name());
    for (i, &task) in tasks.iter().enumerate() {
        let Some(input) = needs(task) else {
            continue;
        };
        if tasks[..i].contains(&input) || done(input)? {
            continue;
        }
        // The tasks asked for, and each missing input up the chain (publish without infer
        // may lack features too): the hint's command then runs as it is pasted.
        let mut wanted = tasks.to_vec();
        let mut missing = Some(input);
        while let Some(t) = missing.filter(|t| !wanted.contains(t)) {
            wanted.push(t);
            missing = match needs(t) {
                Some(before) if !done(before)? => Some(before),
                _ => None,
            };
        }
        let only: Vec<&str> = Task::ALL
            .iter()
            .filter(|t| wanted.contains(t))
            .map(|t| t.name())
            .collect();
        let date = plan.logical_date.format("%Y-%m-%d");
        return Err(Error::Config {
            message: format!(
                "{} reads the {} slice {}, which no run has written yet",
                task.name(),
                input.name(),
                plan.ds
            ),
            hint: Some(format!(
                "run the tasks before it too: nightshift run {} --date {date} --only {}",
                plan.pipeline.name,
                only.join(",")
            )),
        });
    }
    Ok(())
}

/// The `check` task as a sensor: while the upstream data is not there yet and the pipeline's
/// `wait_for_data` has not passed, wait and look again (re-reading the tables' latest versions)
/// instead of failing at once, until [`RunPlan::wait_until`] (by default `wait_for_data` from
/// now). Without `wait_for_data`, a single check.
async fn check_waiting_for_data(
    warehouse: &Warehouse,
    store: &RunStore,
    plan: &RunPlan,
    run: &RunId,
    clock: &dyn Clock,
    sleep: Sleep<'_>,
) -> Result<TaskReport> {
    let Some(wait) = plan.pipeline.wait_for_data else {
        return run_task(warehouse, plan, Task::Check, None).await;
    };
    let give_up_at = plan
        .wait_until
        .unwrap_or_else(|| clock.now() + wait.as_chrono());
    // Look again every twelfth of the wait, between 10 s and 5 min.
    let interval = std::time::Duration::from_secs((wait.seconds() as u64 / 12).clamp(10, 300));
    loop {
        match run_task(warehouse, plan, Task::Check, None).await {
            Err(Error::CheckFailed { reason, .. }) if clock.now() < give_up_at => {
                tracing::info!(
                    pipeline = %plan.pipeline.name,
                    ds = %plan.ds,
                    "waiting for upstream data ({reason}); next look in {} s, giving up at {give_up_at}",
                    interval.as_secs()
                );
                store.heartbeat(run, clock.now())?;
                sleep(interval).await;
                warehouse.refresh().await?;
            }
            Err(Error::CheckFailed {
                pipeline,
                ds,
                reason,
                hint,
            }) => {
                // The scheduler looked at its ticks, since the date's time (`wait_until`);
                // `nightshift run` waited here.
                let waited = match plan.wait_until {
                    Some(_) => format!("its wait_for_data of {wait} after the date's time is over"),
                    None => format!("after waiting {wait} for it"),
                };
                return Err(Error::CheckFailed {
                    pipeline,
                    ds,
                    reason: format!("{reason} ({waited})"),
                    hint,
                });
            }
            other => return other,
        }
    }
}

/// Whether retrying can help. A check that refused the window and a features query of the
/// wrong shape are decisions about the data, not accidents: never retried.
fn error_class(e: &Error) -> ErrorClass {
    match e {
        Error::CheckFailed { .. }
        | Error::QualityGate { .. }
        | Error::FeaturesShape { .. }
        | Error::Config { .. }
        | Error::Template(_)
        | Error::Model { .. }
        | Error::Registry(_) => ErrorClass::Permanent,
        other => classify_error(other),
    }
}

fn error_text(e: &Error) -> String {
    match e.hint() {
        Some(hint) => format!("{e}\nhint: {hint}"),
        None => e.to_string(),
    }
}

fn outcome(report: &TaskReport) -> TaskOutcome {
    let (rows_in, rows_out, model_version) = match report {
        TaskReport::Check(c) => (
            c.tables.first().and_then(|t| t.rows_in_window).unwrap_or(0),
            0,
            None,
        ),
        TaskReport::Features(f) => (f.rows_in, f.rows_written, None),
        TaskReport::Infer(i) => (
            i.rows,
            i.rows,
            Some(format!("{}@{}", i.model_name, i.model_version)),
        ),
        TaskReport::Publish(p) => (
            p.contacts,
            p.rows,
            Some(format!("{}@{}", p.model_name, p.model_version)),
        ),
    };
    TaskOutcome {
        rows_in,
        rows_out,
        model_version,
        detail: serde_json::to_value(report).unwrap_or(serde_json::Value::Null),
    }
}

/// Reads a run id given on the command line.
pub fn run_id(s: &str) -> RunId {
    RunId::new(s)
}
