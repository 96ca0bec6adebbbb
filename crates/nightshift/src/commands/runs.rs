//! `nightshift runs list | show | retry`.

use std::str::FromStr;

use nightshift_lake::Warehouse;
use nightshift_pipeline::{RunPlan, Task, execute_run};
use nightshift_runs::{RunFilter, RunId, RunStatus, SystemClock, Trigger};

use crate::cli::{GlobalArgs, RunIdArg, RunsCommand, RunsListArgs};
use crate::failure::Failure;

pub(crate) async fn runs(global: &GlobalArgs, command: &RunsCommand) -> Result<(), Failure> {
    let project = super::load_project(&global.project)?;
    let store = super::open_run_store(&project)?;
    let fail = |e: nightshift_runs::Error| Failure::from(nightshift_pipeline::Error::from(e));
    match command {
        RunsCommand::List(args) => {
            // A pipeline removed from the project keeps its history; one never known is a typo.
            if let Some(name) = &args.pipeline
                && !project.pipelines.contains_key(name)
            {
                let any = RunFilter {
                    pipeline: Some(name.clone()),
                    status: None,
                    limit: Some(1),
                };
                if store
                    .list(&any, chrono::Utc::now())
                    .map_err(fail)?
                    .is_empty()
                {
                    let known: Vec<&str> = project.pipelines.keys().map(String::as_str).collect();
                    return Err(Failure::usage(
                        format!("no pipeline named `{name}`, and no runs of one"),
                        Some(format!("the project's pipelines: {}", known.join(", "))),
                    ));
                }
            }
            list(global, &store, args).map_err(fail)
        }
        RunsCommand::Show(args) => show(global, &store, args).map_err(fail),
        RunsCommand::Retry(args) => retry(global, &project, &store, args).await,
    }
}

#[allow(clippy::print_stdout)]
fn list(
    global: &GlobalArgs,
    store: &nightshift_runs::RunStore,
    args: &RunsListArgs,
) -> Result<(), nightshift_runs::Error> {
    let filter = RunFilter {
        pipeline: args.pipeline.clone(),
        status: args
            .status
            .as_deref()
            .and_then(|s| RunStatus::from_str(s).ok()),
        limit: Some(args.limit as usize),
    };
    let runs = store.list(&filter, chrono::Utc::now())?;
    if global.json {
        let _ = super::print_json(&runs);
        return Ok(());
    }
    if runs.is_empty() {
        if filter.pipeline.is_some() || filter.status.is_some() {
            outln!("no runs match");
        } else {
            outln!("no runs yet");
        }
        return Ok(());
    }
    // Columns as wide as their longest value: ids and hourly ds (`2026-11-28T00:00`) vary.
    let id_width = runs
        .iter()
        .map(|r| r.id.as_str().len())
        .max()
        .unwrap_or(0)
        .max(36);
    let ds_width = runs.iter().map(|r| r.ds.len()).max().unwrap_or(0).max(12);
    outln!(
        "{:<id_width$} {:<ds_width$} {:<11} {:>7} {:<20} failed task",
        "run",
        "ds",
        "status",
        "attempt",
        "started"
    );
    for r in runs {
        outln!(
            "{:<id_width$} {:<ds_width$} {:<11} {:>7} {:<20} {}",
            r.id.as_str(),
            r.ds,
            r.status.as_str(),
            r.attempt,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.failed_task.unwrap_or_default()
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
fn show(
    global: &GlobalArgs,
    store: &nightshift_runs::RunStore,
    args: &RunIdArg,
) -> Result<(), nightshift_runs::Error> {
    let detail = store.get(&RunId::new(args.run_id.as_str()), chrono::Utc::now())?;
    if global.json {
        let _ = super::print_json(&detail);
        return Ok(());
    }
    let s = &detail.run;
    outln!("run       {}", s.id.as_str());
    outln!(
        "pipeline  {}  logical date {}  ds {}",
        s.pipeline,
        s.logical_date.format("%Y-%m-%d %H:%M"),
        s.ds
    );
    outln!(
        "status    {}  attempt {}  trigger {}",
        s.status.as_str(),
        s.attempt,
        s.trigger.kind()
    );
    if let Some(model) = &s.model {
        outln!("model     {model}");
    }
    for t in &detail.tasks {
        outln!(
            "  {:<9} {:<10} attempts {}  rows in {:>9}  out {:>9}  {}",
            t.name,
            t.state.as_str(),
            t.attempts,
            t.rows_in
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            t.rows_out
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            t.model_version.clone().unwrap_or_default()
        );
        if let Some(e) = &t.error {
            for line in e.lines() {
                outln!("            {line}");
            }
        }
    }
    Ok(())
}

async fn retry(
    global: &GlobalArgs,
    project: &nightshift_core::Project,
    store: &nightshift_runs::RunStore,
    args: &RunIdArg,
) -> Result<(), Failure> {
    let id = RunId::new(args.run_id.as_str());
    let retry = store
        .retry_plan(&id, chrono::Utc::now())
        .map_err(|e| Failure::from(nightshift_pipeline::Error::from(e)))?;
    // A later run (the scheduler's, or by hand) may have completed the date since; an
    // earlier success does not count (a failed re-run of a done date is worth retrying).
    let started_at = store
        .get(&id, chrono::Utc::now())
        .map_err(|e| Failure::from(nightshift_pipeline::Error::from(e)))?
        .run
        .started_at;
    if let Some(spec) = project.pipelines.get(&retry.pipeline)
        && store
            .completed_since(
                &retry.pipeline,
                &retry.ds,
                super::scheduler::last_task(spec),
                started_at,
            )
            .map_err(|e| Failure::from(nightshift_pipeline::Error::from(e)))?
    {
        return Err(Failure::usage(
            format!(
                "run {} failed, but its slice (ds {}) was completed by a later run",
                id.as_str(),
                retry.ds
            ),
            Some(format!(
                "`nightshift runs list --pipeline {}` shows it; to compute the date again anyway, run it: `nightshift run {} --date {}`",
                retry.pipeline,
                retry.pipeline,
                retry.logical_date.to_rfc3339()
            )),
        ));
    }
    let tasks: Vec<Task> = retry
        .tasks
        .iter()
        .map(|t| {
            Task::from_str(t)
                .map_err(|e| Failure::work(anyhow::anyhow!("run {}: {e}", id.as_str())))
        })
        .collect::<Result<_, _>>()?;
    tracing::info!(
        "retrying {} ({}; reusing {})",
        id.as_str(),
        retry.tasks.join(" -> "),
        if retry.reused.is_empty() {
            "nothing".to_string()
        } else {
            retry.reused.join(", ")
        }
    );
    let mut plan = RunPlan::new(
        project,
        &retry.pipeline,
        retry.logical_date,
        chrono::Utc::now(),
    )?;
    // The window comes from the project file as it is now: after an edit of the pipeline's
    // window or a table's freshness_sla the date reads another slice, which the run's tasks
    // that succeeded never wrote.
    if plan.ds != retry.ds {
        return Err(Failure::usage(
            format!(
                "run {} wrote ds {}, but with {} as it is now its logical date {} reads ds {}: \
                 the window or a freshness_sla changed since",
                id.as_str(),
                retry.ds,
                project.file.display(),
                retry.logical_date.to_rfc3339(),
                plan.ds
            ),
            Some(format!(
                "run the date whole with the current file instead: `nightshift run {} --date {}`",
                retry.pipeline,
                retry.logical_date.to_rfc3339()
            )),
        ));
    }
    let model =
        if tasks
            .iter()
            .any(|t| matches!(t, Task::Infer | Task::Publish))
        {
            // The retry uses the model version its run resolved, wherever the alias points
            // now: `infer` replaces that version's predictions the run may have written, and
            // `publish` publishes the predictions its `infer` wrote.
            let mut pipeline = plan.pipeline.clone();
            let pinned = store
                .retried_model(&id)
                .map_err(|e| Failure::from(nightshift_pipeline::Error::from(e)))?;
            if let Some(version) = &pinned {
                tracing::info!("using {version}, as the run did");
                pipeline.model = Some(version.clone());
            }
            let loaded = super::resolve_pipeline_model(project, &pipeline).map_err(|mut failure| {
            // A new version or fewer tasks (the general hint) cannot help a retry.
            if let Some(version) = &pinned {
                failure.hint = Some(format!(
                    "a retry uses the model version its run resolved, {version}: restore that \
                     version's bundle under {}, or run the date again with the model the \
                     project names now: `nightshift run {} --date {}`",
                    nightshift_pipeline::model::registry_paths(project).1.display(),
                    retry.pipeline,
                    retry.logical_date.format("%Y-%m-%d")
                ));
            }
            failure
        })?;
            Some(loaded)
        } else {
            None
        };
    let warehouse = Warehouse::open(project).await?;
    let outcome = execute_run(
        &warehouse,
        store,
        &mut plan,
        &tasks,
        model.as_ref(),
        Trigger::Retry { of: id },
        &SystemClock,
        &|d| Box::pin(tokio::time::sleep(d)),
    )
    .await?;
    super::run::report_outcome(global, &plan, &tasks, model.as_ref(), outcome)
}
