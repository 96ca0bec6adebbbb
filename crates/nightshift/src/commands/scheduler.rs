//! `nightshift scheduler`: cadence, catch-up, leases, alerts.

use chrono::{DateTime, TimeDelta, Utc};
use nightshift_core::{PipelineSpec, Project};
use nightshift_lake::{TableRef, Warehouse};
use nightshift_pipeline::alerts::{Alert, AlertEvent, deliver};
use nightshift_pipeline::{RunPlan, Task, execute_run};
use nightshift_runs::{Clock, Owner, RunStatus, RunStore, SystemClock, Trigger};

use crate::cli::{GlobalArgs, SchedulerArgs};
use crate::failure::Failure;

/// How long a scheduler holds a date before another may take it over, renewed every third
/// of it while the date runs (`keep_lease`): a holder that died, even one whose pid a new
/// process took (a container's PID 1 restarted), gives the date up within this time.
const LEASE_TTL_SECONDS: i64 = 15 * 60;

/// How far back a date the scheduler ran and that failed is run again once a later date is
/// done (with its backoff), in days.
const FAILED_DATES_RETRIED_DAYS: i64 = 7;

/// How long a tick's catch-up holds its alerts to group them before sending what it has.
const ALERT_FLUSH: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// One date a tick ran (or could not start), for `--once --json`.
#[derive(Debug, serde::Serialize)]
struct TickRun {
    pipeline: String,
    logical_date: DateTime<Utc>,
    /// `None` when no run was recorded: it could not start (e.g. its model failed to load),
    /// or the date waits to be retried.
    run_id: Option<String>,
    /// `succeeded`, `failed`, `not_started`, `waiting` (failed before; see `retry_at`),
    /// `waiting_for_data` (its upstream data is not there yet and `wait_for_data` has not
    /// passed; see `waiting_for` and `wait_until`) or `running_elsewhere` (another scheduler
    /// holds the date's lease).
    status: &'static str,
    /// The task that failed.
    failed_task: Option<String>,
    error: Option<String>,
    /// Set when the date was not run: it failed before and waits until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_at: Option<DateTime<Utc>>,
    /// `waiting_for_data`: what the check found missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting_for: Option<String>,
    /// `waiting_for_data`: when the scheduler stops waiting and runs the date (its check then
    /// fails if the data is still missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    wait_until: Option<DateTime<Utc>>,
}

impl TickRun {
    /// A date of `pipeline` the tick did not run to the end, with its status.
    fn new(pipeline: &str, logical_date: DateTime<Utc>, status: &'static str) -> TickRun {
        TickRun {
            pipeline: pipeline.to_string(),
            logical_date,
            run_id: None,
            status,
            failed_task: None,
            error: None,
            retry_at: None,
            waiting_for: None,
            wait_until: None,
        }
    }
}

/// How a tick's alert deliveries went: the sinks that could not be reached (by name: not
/// tried again until the next tick), and each failed delivery, which the tick reports.
#[derive(Default)]
struct SinksDown {
    unreachable: std::collections::BTreeSet<String>,
    /// `sink: error` of each delivery that failed, in order.
    failures: Vec<String>,
}

impl SinksDown {
    fn new() -> Self {
        Self::default()
    }

    fn contains(&self, sink: &str) -> bool {
        self.unreachable.contains(sink)
    }
}

/// When each date waiting for its upstream data (`wait_for_data`) is to be looked at again,
/// by pipeline and logical date. Kept across the ticks of one scheduler process; a new one
/// (`--once` from cron, a restart) looks at once.
type NextLooks = std::collections::HashMap<(String, DateTime<Utc>), (DateTime<Utc>, String)>;

/// A clock fixed at `--now`.
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

pub(crate) async fn scheduler(global: &GlobalArgs, args: &SchedulerArgs) -> Result<(), Failure> {
    // Runs for days: a worker's panic is logged when it happens, not held for the exit.
    crate::failure::log_panics_when_they_happen();
    let mut project = super::load_project(&global.project)?;
    let mut stamp = config_stamp(&project);
    let clock: Box<dyn Clock + Send + Sync> = match &args.now {
        Some(s) => Box::new(FixedClock(
            nightshift_core::parse_logical_date(s).map_err(|e| Failure::usage(e, None))?,
        )),
        None => Box::new(SystemClock),
    };
    if project.pipelines.is_empty() {
        return Err(Failure::usage(
            "the project has no pipelines to schedule",
            Some("add a [pipelines.NAME] section".into()),
        ));
    }
    if !args.no_vacuum && args.vacuum_retain.seconds() < super::vacuum::MIN_RETAIN_SECONDS {
        return Err(Failure::usage(
            format!(
                "--vacuum-retain {} is under one hour: the files of a run in progress could be \
                 deleted before their commit",
                args.vacuum_retain
            ),
            Some("keep --vacuum-retain at 1h or more, or pass --no-vacuum".into()),
        ));
    }
    let store = super::open_run_store(&project)?;
    let mut warehouse = Warehouse::open(&project).await?;
    // SIGTERM / SIGINT: the run in progress finishes, the tick stops before its next date,
    // and the scheduler exits; a second signal ends the process at once (the run left is
    // marked abandoned, its partial output never shows).
    let shutdown = shutdown_signal();
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down after the run in progress (again to stop at once)");
        let _ = stop_tx.send(true);
        shutdown_signal().await;
        tracing::warn!("stopped at once: the run in progress is left to be marked abandoned");
        std::process::exit(130);
    });
    let mut last_vacuum: Option<DateTime<Utc>> = None;
    let mut next_looks = NextLooks::new();
    loop {
        // An edited project file or features SQL applies from the next tick on, as long as
        // it loads; one that does not is reported, and the ticks go on with the last good one.
        let now_stamp = config_stamp(&project);
        if now_stamp != stamp {
            stamp = now_stamp;
            match super::load_project(&global.project) {
                Ok(reloaded) => {
                    warehouse = Warehouse::open(&reloaded).await?;
                    project = reloaded;
                    stamp = config_stamp(&project);
                    tracing::info!("{} changed: reloaded", project.file.display());
                }
                Err(f) => tracing::error!(
                    "{} changed but does not load, so the scheduler keeps the previous configuration: {:#}",
                    project.file.display(),
                    f.error
                ),
            }
        }
        let (runs, alert_failures) = tick(
            &project,
            &warehouse,
            &store,
            clock.as_ref(),
            args,
            &mut next_looks,
            &stop,
        )
        .await?;
        let failures = runs
            .iter()
            .filter(|r| matches!(r.status, "failed" | "not_started"))
            .count();
        // A date that could not start (its model did not load, say) has no run to list.
        let not_started = runs
            .iter()
            .filter_map(|r| (r.status == "not_started").then_some(r.error.as_deref()))
            .next();
        let now = clock.now();
        let mut vacuumed = None;
        if !args.no_vacuum && last_vacuum.is_none_or(|t| now - t >= TimeDelta::days(1)) {
            vacuumed = Some(vacuum_outputs(&project, &warehouse, args.vacuum_retain, now).await);
            last_vacuum = Some(now);
        }
        let report = serde_json::json!({
            "ok": failures == 0 && alert_failures.is_empty(),
            "now": now,
            "runs": runs,
            // Deliveries that failed (`sink: error`): the alerts no sink took go out again
            // at the next tick.
            "alert_failures": alert_failures,
            "vacuum": vacuumed.map(|(files, bytes)| serde_json::json!({
                "files_deleted": files,
                "bytes_deleted": bytes,
            })),
        });
        if !args.once && global.json {
            // Long-running: one line per tick (JSON lines), flushed for a reader that follows.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{report}").and_then(|()| out.flush());
        }
        if args.once {
            if global.json {
                super::print_json(&report)?;
            }
            return if failures == 0 && !alert_failures.is_empty() {
                // The runs went well, but someone relying on the alerts would not hear of a
                // failure: a cron job running the tick should.
                let mut failure = Failure::work(anyhow::anyhow!(
                    "{} alert delivery(ies) failed in this tick: {}",
                    alert_failures.len(),
                    alert_failures.join("; ")
                ))
                .hinted(
                    "check the sinks in [alerts] of nightshift.toml (a webhook that is down, a command that fails); the alerts no sink took are sent again at the next tick",
                );
                failure.json_printed = global.json;
                Err(failure)
            } else if failures == 0 {
                Ok(())
            } else {
                let hint = match not_started {
                    Some(error) => format!(
                        "a date that could not start may have no run to list ({}); \
                         `nightshift run PIPELINE --date D` shows the whole error",
                        error.unwrap_or("see the log above")
                    ),
                    None => "`nightshift runs list --status failed` shows them".into(),
                };
                let mut failure =
                    Failure::work(anyhow::anyhow!("{failures} run(s) failed in this tick"))
                        .hinted(hint);
                failure.json_printed = global.json;
                Err(failure)
            };
        }
        let now = clock.now();
        let next = project
            .pipelines
            .values()
            .map(|p| p.next_run_after(now))
            .min()
            .unwrap_or(now + TimeDelta::seconds(args.poll_seconds as i64));
        let wait = (next - now)
            .to_std()
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(args.poll_seconds.max(1)));
        tracing::info!(
            "next scheduled run at {next}; next check in {:.0} s",
            wait.as_secs_f64()
        );
        if *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {
                tracing::info!("shutting down: no run is in progress");
                return Ok(());
            }
        }
    }
}

/// One pass over every pipeline: reap dead runs, run the due dates, send deadline alerts.
/// Returns the dates it ran, oldest first per pipeline, and the alert deliveries that failed.
async fn tick(
    project: &Project,
    warehouse: &Warehouse,
    store: &RunStore,
    clock: &(dyn Clock + Send + Sync),
    args: &SchedulerArgs,
    next_looks: &mut NextLooks,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<(Vec<TickRun>, Vec<String>), Failure> {
    let runs_err = |e: nightshift_runs::Error| Failure::from(nightshift_pipeline::Error::from(e));
    for reaped in store.reap_abandoned(clock.now()).map_err(runs_err)? {
        tracing::warn!(
            "run {} was abandoned ({})",
            reaped.id.as_str(),
            reaped.reason
        );
    }
    let owner = Owner::current();
    let mut ran = Vec::new();
    let mut sinks_down = SinksDown::new();
    for spec in project.pipelines.values() {
        if *stop.borrow() {
            break;
        }
        let now = clock.now();
        // Failures and recoveries are sent after the pipeline's dates, grouped; during a long
        // catch-up, also every ALERT_FLUSH of it, so that a failure is not held for hours.
        let mut pending: Vec<PendingAlert> = Vec::new();
        let mut flushed = std::time::Instant::now();
        let last = store
            .last_completed(&spec.name, last_task(spec), now)
            .map_err(runs_err)?;
        let due = due_not_done(store, spec, last, now, args.max_catchup).map_err(runs_err)?;
        match due.first() {
            Some(&first) => store
                .record_schedule_start(&spec.name, first)
                .map_err(runs_err)?,
            None => tracing::debug!(pipeline = %spec.name, "nothing due"),
        }
        // The dates' alerts go out even when the tick stops on an error halfway.
        let outcome: Result<(), Failure> = async {
        for date in due {
            if *stop.borrow() {
                tracing::info!(
                    pipeline = %spec.name,
                    "stopping before {date}: it and the dates after it are left to the next start"
                );
                break;
            }
            if flushed.elapsed() >= ALERT_FLUSH && !pending.is_empty() {
                send_grouped(project, store, spec, std::mem::take(&mut pending), clock, &mut sinks_down).await;
                flushed = std::time::Instant::now();
            }
            // A date that failed waits before it is run again (a permanent error would
            // otherwise re-run at every tick).
            let failed = store
                .list(
                    &nightshift_runs::RunFilter {
                        pipeline: Some(spec.name.clone()),
                        status: Some(RunStatus::Failed),
                        limit: Some(1000),
                    },
                    clock.now(),
                )
                .map_err(runs_err)?
                .into_iter()
                // Any failed run of the slice: fire times that share a `ds` share its failures.
                .filter(|r| r.ds == spec.window_for(date).ds())
                .collect::<Vec<_>>();
            let last_failure = failed.iter().filter_map(|r| r.finished_at).max();
            if let Some(at) = last_failure {
                let retry_at = at + failed_date_backoff(spec, failed.len());
                if clock.now() < retry_at {
                    tracing::info!(
                        pipeline = %spec.name,
                        %date,
                        "failed {} time(s), the last at {at}; next attempt at {retry_at}",
                        failed.len()
                    );
                    ran.push(TickRun {
                        retry_at: Some(retry_at),
                        ..TickRun::new(&spec.name, date, "waiting")
                    });
                    // Its failure alert, if the tick that ran it died before sending it (the
                    // key is the same: sent once).
                    if let Some(run) = failed
                        .iter()
                        .filter(|r| matches!(r.trigger, Trigger::Schedule))
                        .max_by_key(|r| r.finished_at)
                        && let Some(task) = &run.failed_task
                    {
                        // As the run's tick would have classed it (a gate's error says so).
                        let gate = run
                            .error
                            .as_deref()
                            .is_some_and(|e| e.starts_with("quality gate `"));
                        pending.push(PendingAlert {
                            event: if gate {
                                AlertEvent::QualityGateFailed
                            } else {
                                AlertEvent::TaskFailed
                            },
                            date: run.logical_date,
                            run_id: Some(run.id.as_str().to_string()),
                            message: format!(
                                "{}: task {task} failed after its retries: {}",
                                subject(spec, run.logical_date),
                                run.error.as_deref().unwrap_or("see `nightshift runs show`")
                            ),
                            key: format!(
                                "failed:{}:{}:{task}",
                                spec.name,
                                run.logical_date.to_rfc3339()
                            ),
                            task: Some(task.clone()),
                        });
                    }
                    continue;
                }
            }
            // Upstream data not there yet: looked at again at later ticks until
            // `wait_for_data` after the date's time, instead of waiting inside a run (which
            // held up the other dates and pipelines, their deadline alerts and a shutdown).
            let wait_until = spec.wait_for_data.map(|wait| date + wait.as_chrono());
            if let Some(until) = wait_until.filter(|&until| clock.now() < until)
                && let Some(waiting) = waiting_for_data(
                    project, warehouse, spec, date, until, clock, next_looks,
                )
                .await?
            {
                ran.push(waiting);
                // The later dates wait behind it: run first, one of them would move the
                // catch-up past it, and it would never run.
                break;
            }
            next_looks.remove(&(spec.name.clone(), date));
            let had_failed = !failed.is_empty();
            let ttl = nightshift_core::Duration::from_seconds(LEASE_TTL_SECONDS);
            let Some(lease) = store
                .acquire(&spec.name, date, &owner, ttl, clock.now())
                .map_err(runs_err)?
            else {
                tracing::info!(pipeline = %spec.name, %date, "another scheduler is running this date");
                ran.push(TickRun::new(&spec.name, date, "running_elsewhere"));
                continue;
            };
            let result = tokio::select! {
                result = run_date(project, warehouse, store, spec, date, wait_until, clock) => result,
                never = keep_lease(store, &lease, ttl, clock) => match never {},
            };
            let _ = store.release(&lease);
            match result {
                Ok((run_id, None)) => {
                    tracing::info!(pipeline = %spec.name, %date, "run {run_id} succeeded");
                    ran.push(TickRun {
                        run_id: Some(run_id.clone()),
                        ..TickRun::new(&spec.name, date, "succeeded")
                    });
                    if had_failed {
                        pending.push(PendingAlert {
                            event: AlertEvent::RunRecovered,
                            date,
                            run_id: Some(run_id),
                            task: None,
                            message: format!(
                                "{} succeeded after earlier failures",
                                subject(spec, date)
                            ),
                            key: recovered_key(spec, date),
                        });
                    }
                }
                Ok((run_id, Some((task, message, gate)))) => {
                    tracing::error!(pipeline = %spec.name, %date, "run {run_id} failed in {task}: {message}");
                    ran.push(TickRun {
                        run_id: Some(run_id.clone()),
                        failed_task: Some(task.clone()),
                        error: Some(message.clone()),
                        ..TickRun::new(&spec.name, date, "failed")
                    });
                    let key = format!("failed:{}:{}:{task}", spec.name, date.to_rfc3339());
                    let event = if gate {
                        AlertEvent::QualityGateFailed
                    } else {
                        AlertEvent::TaskFailed
                    };
                    pending.push(PendingAlert {
                        event,
                        date,
                        run_id: Some(run_id),
                        message: format!(
                            "{}: task {task} failed after its retries: {message}",
                            subject(spec, date)
                        ),
                        task: Some(task),
                        key,
                    });
                }
                Err(f) => {
                    let message = format!("{:#}", f.error);
                    tracing::error!(pipeline = %spec.name, %date, "cannot run: {message}");
                    ran.push(TickRun {
                        error: Some(message.clone()),
                        ..TickRun::new(&spec.name, date, "not_started")
                    });
                    pending.push(PendingAlert {
                        event: AlertEvent::TaskFailed,
                        date,
                        run_id: None,
                        task: None,
                        message: format!("{} could not start: {message}", subject(spec, date)),
                        key: format!("failed:{}:{}:start", spec.name, date.to_rfc3339()),
                    });
                }
            }
        }
            Ok(())
        }
        .await;
        match recovered_by_hand(store, spec, clock.now()) {
            Ok(recovered) => pending.extend(recovered),
            Err(e) => {
                tracing::error!(pipeline = %spec.name, "cannot look for dates fixed by hand: {e}")
            }
        }
        send_grouped(project, store, spec, pending, clock, &mut sinks_down).await;
        outcome?;
        deadline_alerts(project, store, spec, clock, &mut sinks_down).await?;
    }
    Ok((ran, sinks_down.failures))
}

/// `run_recovered` alerts for the slices of `spec` whose failure was alerted in the last 30
/// days and that are done now, by the scheduler or by hand (`runs retry`, `run`). They share
/// their key ([`recovered_key`]) with the scheduler's own recoveries, so a slice recovers
/// once.
fn recovered_by_hand(
    store: &RunStore,
    spec: &PipelineSpec,
    now: DateTime<Utc>,
) -> Result<Vec<PendingAlert>, nightshift_runs::Error> {
    let prefix = format!("failed:{}:", spec.name);
    // The failed dates by slice: fire times that share a `ds` recover together.
    let mut slices = std::collections::BTreeMap::new();
    for key in store.alerts_since(&prefix, now - TimeDelta::days(30))? {
        // failed:<pipeline>:<logical date, RFC 3339>:<task>
        let Some((date, _task)) = key[prefix.len()..].rsplit_once(':') else {
            continue;
        };
        if let Ok(date) = DateTime::parse_from_rfc3339(date) {
            let date = date.with_timezone(&Utc);
            slices.entry(spec.window_for(date).ds()).or_insert(date);
        }
    }
    let mut recovered = Vec::new();
    for (ds, date) in slices {
        // Recovered before recoveries were keyed by slice: the key of the date.
        let legacy = format!("recovered:{}:{}", spec.name, date.to_rfc3339());
        if store.completed(&spec.name, &ds, last_task(spec))? && !store.alert_recorded(&legacy)? {
            recovered.push(PendingAlert {
                event: AlertEvent::RunRecovered,
                date,
                run_id: None,
                task: None,
                message: format!("{} is done after earlier failures", subject(spec, date)),
                key: recovered_key(spec, date),
            });
        }
    }
    Ok(recovered)
}

/// The dedup key of a `run_recovered` alert: one per slice (`ds`), whichever fire time of it
/// succeeded and whoever ran it.
fn recovered_key(spec: &PipelineSpec, date: DateTime<Utc>) -> String {
    format!("recovered:{}:ds={}", spec.name, spec.window_for(date).ds())
}

/// Deletes the files that the pipelines' own tables no longer use, past `retain` (as
/// `nightshift vacuum` does for every table; upstream tables are left to their owners).
/// Housekeeping: a failure is logged and the scheduler goes on. Returns the files and bytes
/// deleted.
async fn vacuum_outputs(
    project: &Project,
    warehouse: &Warehouse,
    retain: nightshift_core::Duration,
    now: DateTime<Utc>,
) -> (u64, u64) {
    let mut tables: Vec<String> = project
        .pipelines
        .values()
        .flat_map(|p| {
            [
                p.features_table(),
                p.predictions_table(),
                p.rollups_table(),
                p.quality_table(),
                p.rejects_table(),
            ]
        })
        .collect();
    tables.sort();
    tables.dedup();
    let (mut files, mut bytes) = (0, 0);
    for name in tables {
        let result = async {
            let table = TableRef::parse(&name)?;
            warehouse
                .vacuum_as_of(&table, retain.as_chrono(), false, now)
                .await
        };
        match result.await {
            Ok(Some(report)) if report.files > 0 => {
                tracing::info!(
                    "vacuum: {name}: deleted {} files, {}",
                    report.files,
                    super::vacuum::mebibytes(report.bytes)
                );
                files += report.files;
                bytes += report.bytes;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("vacuum of {name} failed (tried again at the next vacuum): {e}")
            }
        }
    }
    tracing::info!(
        "vacuum: deleted {files} files, {} (replaced less than {retain} ago are kept)",
        super::vacuum::mebibytes(bytes)
    );
    (files, bytes)
}

/// How long a date waits after its `failures`-th failed run before the scheduler runs it
/// again: the pipeline's `retry_delay` doubled per failed run (2m: 4m, 8m, 16m ...), at most
/// six hours. Task retries within a run come first; this spaces out whole re-runs, which are
/// what recover a date once its upstream data lands or its error is fixed.
fn failed_date_backoff(spec: &PipelineSpec, failures: usize) -> TimeDelta {
    let cap = TimeDelta::hours(6);
    let doublings = u32::try_from(failures.min(20)).unwrap_or(20);
    spec.retry_delay
        .as_chrono()
        .checked_mul(1 << doublings)
        .map_or(cap, |d| d.min(cap))
}

/// The pipeline's last task: a date is done once a run through it succeeded (a run of only
/// its first tasks, `run --only check`, leaves the date due).
pub(crate) fn last_task(spec: &PipelineSpec) -> &'static str {
    if spec.model.is_some() {
        Task::Publish.name()
    } else {
        Task::Features.name()
    }
}

/// Looks whether the upstream data of a date whose `wait_for_data` lasts `until` is there
/// (the `check` task, which writes nothing), at most once per look interval (a twelfth of the
/// wait, between 10 s and 5 min, as `nightshift run` looks). `Some` (the date's entry for the
/// tick) while the data is missing; `None` once the date can run.
async fn waiting_for_data(
    project: &Project,
    warehouse: &Warehouse,
    spec: &PipelineSpec,
    date: DateTime<Utc>,
    until: DateTime<Utc>,
    clock: &(dyn Clock + Send + Sync),
    next_looks: &mut NextLooks,
) -> Result<Option<TickRun>, Failure> {
    let key = (spec.name.clone(), date);
    let now = clock.now();
    let waiting = |reason: String| TickRun {
        waiting_for: Some(reason),
        wait_until: Some(until),
        ..TickRun::new(&spec.name, date, "waiting_for_data")
    };
    if let Some((at, reason)) = next_looks.get(&key)
        && now < *at
    {
        return Ok(Some(waiting(reason.clone())));
    }
    // An error here (the plan, the tables) is left to the run, which reports it as it
    // would without wait_for_data, instead of stopping the tick.
    let Ok(plan) = RunPlan::new(project, &spec.name, date, now) else {
        return Ok(None);
    };
    if warehouse.refresh().await.is_err() {
        return Ok(None);
    }
    match nightshift_pipeline::check(warehouse, &plan).await {
        Err(nightshift_pipeline::Error::CheckFailed { reason, .. }) => {
            let wait = spec.wait_for_data.map_or(0, |w| w.seconds());
            let interval = TimeDelta::seconds((wait / 12).clamp(10, 300));
            next_looks.insert(key, (now + interval, reason.clone()));
            tracing::info!(
                pipeline = %spec.name,
                %date,
                "waiting for upstream data ({reason}); looking again from {}, giving up at {until}",
                now + interval
            );
            Ok(Some(waiting(reason)))
        }
        // There, or an error the run reports.
        _ => Ok(None),
    }
}

/// Runs every task of one date; its `check` does not wait for data past `wait_until` (the
/// tick has looked for it before). `Ok((run_id, Some((task, error, quality_gate))))` when a
/// task failed.
async fn run_date(
    project: &Project,
    warehouse: &Warehouse,
    store: &RunStore,
    spec: &PipelineSpec,
    date: DateTime<Utc>,
    wait_until: Option<DateTime<Utc>>,
    clock: &(dyn Clock + Send + Sync),
) -> Result<(String, Option<(String, String, bool)>), Failure> {
    let mut plan = RunPlan::new(project, &spec.name, date, clock.now())?;
    plan.wait_until = wait_until.map(|until| until.min(clock.now()));
    let (tasks, model) = if spec.model.is_some() {
        (
            Task::ALL.to_vec(),
            Some(super::resolve_pipeline_model(project, spec)?),
        )
    } else {
        (vec![Task::Check, Task::Features], None)
    };
    warehouse.refresh().await?;
    let outcome = execute_run(
        warehouse,
        store,
        &mut plan,
        &tasks,
        model.as_ref(),
        Trigger::Schedule,
        clock,
        &|d| Box::pin(tokio::time::sleep(d)),
    )
    .await?;
    let failed = outcome.error.map(|e| {
        let task = tasks
            .get(outcome.reports.len())
            .map(|t| t.name())
            .unwrap_or("?")
            .to_string();
        let gate = matches!(e, nightshift_pipeline::Error::QualityGate { .. });
        (task, e.to_string(), gate)
    });
    Ok((outcome.run_id, failed))
}

/// Alerts once for every recent logical date whose output was not published by the deadline,
/// including dates for which no run ever started.
async fn deadline_alerts(
    project: &Project,
    store: &RunStore,
    spec: &PipelineSpec,
    clock: &(dyn Clock + Send + Sync),
    sinks_down: &mut SinksDown,
) -> Result<(), Failure> {
    let Some(deadline) = spec.deadline else {
        return Ok(());
    };
    let now = clock.now();
    // Published by the deadline: a slice a catch-up published after it still missed it.
    let mut published = |d: DateTime<Utc>| {
        let by = nightshift_runs::deadline_at(d, deadline, spec.utc_offset());
        store
            .completed_by(&spec.name, &spec.window_for(d).ds(), last_task(spec), by)
            .unwrap_or(false)
    };
    let missed = nightshift_runs::missed_deadlines(
        &spec.schedule,
        spec.utc_offset(),
        deadline,
        now - TimeDelta::days(3),
        now,
        &mut published,
        100,
    );
    // Only dates from the pipeline's first run or first planned date on, or, before either,
    // the latest due (a new project's first tick runs only that one: the days before are not
    // late); and one alert per slice (fire times of a schedule finer than its window share
    // one).
    let runs_err = |e: nightshift_runs::Error| Failure::from(nightshift_pipeline::Error::from(e));
    let first_run = store.first_logical_date(&spec.name).map_err(runs_err)?;
    let first_planned = store.schedule_start(&spec.name).map_err(runs_err)?;
    let from = match (first_run, first_planned) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .or_else(|| nightshift_runs::latest_fire_at_or_before(&spec.schedule, spec.utc_offset(), now));
    let mut slices = std::collections::BTreeSet::new();
    let pending = missed
        .into_iter()
        .filter(|date| from.is_some_and(|f| *date >= f))
        .filter(|date| slices.insert(spec.window_for(*date).ds()))
        .map(|date| {
            let at = nightshift_runs::deadline_at(date, deadline, spec.utc_offset());
            let late = store
                .completed(&spec.name, &spec.window_for(date).ds(), last_task(spec))
                .unwrap_or(false);
            PendingAlert {
                event: AlertEvent::DeadlineMissed,
                date,
                run_id: None,
                task: None,
                message: format!(
                    "{}: output not published by its deadline {}{}",
                    subject(spec, date),
                    at.format("%Y-%m-%d %H:%M UTC"),
                    if late { " (published since, late)" } else { "" }
                ),
                key: nightshift_runs::deadline_slice_alert_key(
                    &spec.name,
                    &spec.window_for(date).ds(),
                ),
            }
        })
        .collect();
    send_grouped(project, store, spec, pending, clock, sinks_down).await;
    Ok(())
}

/// The due dates of `spec` at `now` whose slice is not done yet, oldest first, at most `max`
/// (see `nightshift_runs::due_dates`), one per slice: fire times that share a `ds` (a
/// schedule finer than its window) write the same slice, and a `ds` already done (by a hand
/// run at another hour, say) does not use up one of the `max`.
fn due_not_done(
    store: &RunStore,
    spec: &PipelineSpec,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    max: usize,
) -> Result<Vec<DateTime<Utc>>, nightshift_runs::Error> {
    /// Fire times planned at a time.
    const BATCH: usize = 1024;
    /// Fire times looked at in one tick, at most: a schedule firing every minute over a
    /// year of done dates is 525 600 of them (and 365 slices).
    const SCAN: usize = 1 << 20;
    let mut due = Vec::new();
    if max == 0 {
        return Ok(due);
    }
    let mut seen = std::collections::HashSet::new();
    // Before any date is done, from the first date the scheduler planned (a new pipeline's
    // first date, failed, waiting for its data or not started, stays due once the next one
    // is); before that, the latest only.
    let start = match last {
        Some(last) => Some(last),
        None => store
            .schedule_start(&spec.name)?
            .map(|first| first - TimeDelta::seconds(1)),
    };
    // Dates the scheduler ran and that failed, before the catch-up start (a later date of
    // the same catch-up succeeded): run again (after their backoff) rather than left as gaps.
    if spec.catchup {
        let mut failed: Vec<(DateTime<Utc>, String)> = store
            .list(
                &nightshift_runs::RunFilter {
                    pipeline: Some(spec.name.clone()),
                    status: Some(RunStatus::Failed),
                    limit: Some(1000),
                },
                now,
            )?
            .into_iter()
            .filter(|r| matches!(r.trigger, Trigger::Schedule))
            .filter(|r| r.logical_date > now - TimeDelta::days(FAILED_DATES_RETRIED_DAYS))
            .filter(|r| start.is_some_and(|s| r.logical_date <= s))
            .map(|r| (r.logical_date, r.ds))
            .collect();
        failed.sort();
        for (date, ds) in failed {
            if seen.insert(ds.clone()) && !store.completed(&spec.name, &ds, last_task(spec))? {
                due.push(date);
                if due.len() == max {
                    return Ok(due);
                }
            }
        }
    }
    let (mut after, mut scanned) = (start, 0);
    loop {
        let planned = nightshift_runs::due_dates_for(spec, after, now, BATCH);
        for &date in &planned {
            let ds = spec.window_for(date).ds();
            if seen.insert(ds.clone()) && !store.completed(&spec.name, &ds, last_task(spec))? {
                due.push(date);
                if due.len() == max {
                    return Ok(due);
                }
            }
        }
        scanned += planned.len();
        // Fewer than a batch: there are no more (or only the latest was due).
        if planned.len() < BATCH || after.is_none() || !spec.catchup {
            return Ok(due);
        }
        if scanned >= SCAN {
            tracing::warn!(
                pipeline = %spec.name,
                "looked at {scanned} due times in this tick; the rest wait for the next one"
            );
            return Ok(due);
        }
        after = planned.last().copied();
    }
}

/// When the project file and each pipeline's features SQL were last modified (a file that
/// cannot be read counts as changed when it can be again).
fn config_stamp(project: &Project) -> Vec<Option<std::time::SystemTime>> {
    std::iter::once(&project.file)
        .chain(project.pipelines.values().map(|p| &p.features_path))
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// `<pipeline> for <date>`, how an alert names the date it is about.
fn subject(spec: &PipelineSpec, date: DateTime<Utc>) -> String {
    format!("{} for {}", spec.name, date.format("%Y-%m-%d %H:%M"))
}

/// An alert about one date, held until the tick has gone through the pipeline's dates.
struct PendingAlert {
    event: AlertEvent,
    date: DateTime<Utc>,
    run_id: Option<String>,
    /// The task that failed; `None` for a run that could not start, a recovery, a deadline.
    task: Option<String>,
    /// What happened to this date, in words.
    message: String,
    key: String,
}

/// Sends the tick's alerts about `spec`, each date's once (by key: retries and later ticks do
/// not repeat it); the new ones of the same event and task go out as one alert naming their
/// dates, so a catch-up over many failing dates pages once, not once per date.
async fn send_grouped(
    project: &Project,
    store: &RunStore,
    spec: &PipelineSpec,
    pending: Vec<PendingAlert>,
    clock: &(dyn Clock + Send + Sync),
    down: &mut SinksDown,
) {
    let mut pending = pending;
    // Oldest first within a group, whatever found them (runs, hand fixes, deadlines).
    pending.sort_by_key(|p| p.date);
    let mut groups: Vec<Vec<PendingAlert>> = Vec::new();
    for p in pending {
        match store.record_alert(&p.key, clock.now()) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!("cannot record alert {}: {e}", p.key);
                continue;
            }
        }
        match groups
            .iter_mut()
            .find(|g| g[0].event == p.event && g[0].task == p.task)
        {
            Some(group) => group.push(p),
            None => groups.push(vec![p]),
        }
    }
    for mut group in groups {
        let keys: Vec<String> = group.iter().map(|p| p.key.clone()).collect();
        let alert = if group.len() == 1 {
            let p = group.remove(0);
            Alert {
                event: p.event,
                pipeline: spec.name.clone(),
                logical_date: p.date,
                message: p.message,
                run_id: p.run_id,
                task: p.task,
                at: clock.now(),
                key: p.key,
                dates: Vec::new(),
            }
        } else {
            let (first, last) = (&group[0], &group[group.len() - 1]);
            let span = format!(
                "{} dates, {} to {}",
                group.len(),
                first.date.format("%Y-%m-%d %H:%M"),
                last.date.format("%Y-%m-%d %H:%M")
            );
            let message = match first.event {
                AlertEvent::RunRecovered => {
                    format!("{}: {span}, succeeded after earlier failures", spec.name)
                }
                AlertEvent::DeadlineMissed => format!(
                    "{}: {span}, not published by their deadlines; the latest: {}",
                    spec.name, last.message
                ),
                AlertEvent::TaskFailed | AlertEvent::QualityGateFailed => {
                    format!(
                        "{}: {span}, failed; the latest: {}",
                        spec.name, last.message
                    )
                }
            };
            Alert {
                event: first.event,
                pipeline: spec.name.clone(),
                logical_date: first.date,
                run_id: None,
                task: first.task.clone(),
                message,
                at: clock.now(),
                key: first.key.clone(),
                dates: group.iter().map(|p| p.date).collect(),
            }
        };
        if send(project, spec, &alert, down).await {
            // Taken: no later tick sends it again (until then, a claim a dead process left
            // is taken over once stale).
            for key in &keys {
                if let Err(e) = store.mark_alert_sent(key, clock.now()) {
                    tracing::error!("cannot mark alert {key} sent: {e}");
                }
            }
        } else {
            // No sink took it: the next tick sends it again (a sink that is down for a
            // while still gets the alert once it is back).
            for key in &keys {
                if let Err(e) = store.forget_alert(key) {
                    tracing::error!("cannot forget undelivered alert {key}: {e}");
                }
            }
        }
    }
}

/// Delivers `alert` to every sink of `spec` at once (a warning when it has none), but those
/// that could not be reached earlier in this tick (`down`: a webhook that hangs costs its
/// timeout once per tick, not once per alert and sink). Returns whether any sink took it
/// (or there is none to take it).
async fn send(project: &Project, spec: &PipelineSpec, alert: &Alert, down: &mut SinksDown) -> bool {
    if spec.alerts.is_empty() {
        tracing::warn!(
            "{} (no alert sinks configured for {})",
            alert.message,
            spec.name
        );
        return true;
    }
    let mut deliveries = tokio::task::JoinSet::new();
    for name in &spec.alerts {
        let Some(sink) = project.alerts.get(name) else {
            continue;
        };
        if down.contains(name) {
            tracing::debug!(
                "alert sink `{name}` was unreachable earlier in this tick: not tried again"
            );
            continue;
        }
        let (name, sink, alert) = (name.clone(), sink.clone(), alert.clone());
        deliveries.spawn(async move { (deliver(&sink, &alert).await, name) });
    }
    let mut delivered = false;
    while let Some(joined) = deliveries.join_next().await {
        match joined {
            Ok((Ok(()), _)) => delivered = true,
            Ok((Err(e), name)) => {
                tracing::error!(
                    "alert sink `{name}` failed: {e} (an alert no sink took is sent again next tick)"
                );
                down.failures.push(format!("{name}: {e}"));
                // Only a sink that cannot be reached is skipped for the rest of the tick; one
                // that refused this alert may take the next.
                if e.unreachable {
                    down.unreachable.insert(name);
                }
            }
            Err(e) => {
                tracing::error!("an alert delivery failed: {e}");
                down.failures.push(format!("delivery: {e}"));
            }
        }
    }
    delivered
}

/// Renews `lease` every third of `ttl`, by the real clock, for as long as it is polled (beside
/// the date's run); once it cannot (another scheduler took it over), it stops renewing.
async fn keep_lease(
    store: &RunStore,
    lease: &nightshift_runs::Lease,
    ttl: nightshift_core::Duration,
    clock: &(dyn Clock + Send + Sync),
) -> std::convert::Infallible {
    let every = std::time::Duration::from_secs((ttl.seconds() as u64 / 3).max(1));
    let mut lease = lease.clone();
    loop {
        tokio::time::sleep(every).await;
        match store.renew(&lease, ttl, clock.now()) {
            Ok(renewed) => lease = renewed,
            Err(e) => {
                tracing::warn!("cannot renew the lease of {}: {e}", lease.pipeline);
                return std::future::pending().await;
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called,
/// not when it is first polled: a signal during the first tick (a long catch-up) must wait
/// for the tick's run, not kill the process and leave the run abandoned.
fn shutdown_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            return Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            });
        }
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
