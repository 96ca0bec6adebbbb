//! `nightshift demo`: the whole product on synthetic data, in one command.

use std::path::Path;
use std::time::Instant;

use chrono::{Days, NaiveDate, TimeZone, Utc};
use nightshift_lake::Warehouse;
use nightshift_models::{TrainConfig, default_hidden_units};
use nightshift_pipeline::model::{self, Columns};
use nightshift_pipeline::{RunPlan, Task, TaskReport, execute_run};
use nightshift_runs::{SystemClock, Trigger};

use crate::cli::{DemoArgs, GlobalArgs};
use crate::failure::Failure;

/// Marks a directory as made by `demo`, so a later demo may replace it.
const MARKER: &str = ".nightshift-demo";
const PIPELINE: &str = "root_cause";
const MODEL: &str = "root_cause";

#[allow(clippy::print_stdout)]
pub(crate) async fn demo(global: &GlobalArgs, args: &DemoArgs) -> Result<(), Failure> {
    if args.days < 4 || args.rows_per_day < 100 {
        return Err(Failure::usage(
            "the demo needs --days of at least 4 and --rows-per-day of at least 100",
            Some("leave them out for the defaults (14 days of 20 000 contacts), or e.g. --days 4 --rows-per-day 1000".into()),
        ));
    }
    let started = Instant::now();
    let dir = &args.dir;
    if global.project != std::path::Path::new(".") {
        tracing::warn!(
            "the demo makes its own project in {} (--dir); --project (or NIGHTSHIFT_PROJECT) {} is not used",
            dir.display(),
            global.project.display()
        );
    }
    prepare_dir(dir)?;
    super::init::create_project(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "made by `nightshift demo`; a later demo replaces this directory\n",
    )
    .map_err(|e| Failure::work(anyhow::anyhow!("{}: {e}", dir.display())))?;
    let project = super::load_project(dir)?;
    let warehouse = Warehouse::open(&project).await?;
    let say = |line: String| {
        if !global.quiet {
            tracing::info!("{line}");
        }
    };

    // 1. A synthetic warehouse ending yesterday, with an issue surging over the last days.
    let end = Utc::now().date_naive() - Days::new(1);
    let first = end - Days::new(u64::from(args.days) - 1);
    let config =
        super::generate::synth_config(42, args.rows_per_day, end, Some(end - Days::new(3)))?;
    say(format!(
        "generating {} days of support contacts ({} per day) ...",
        args.days, args.rows_per_day
    ));
    let (_, generated) =
        super::generate::write_days(&project, &warehouse, &config, first, end, global.quiet)
            .await?;

    // 2. Version 1, trained on the agent labels of the first half of the days the demo runs
    //    (those whose logical date has come: the last days' are due later).
    let dates = complete_dates(&project, first, end, Utc::now());
    let cutoff =
        dates
            .get(dates.len() / 2)
            .map_or(first + Days::new(u64::from(args.days) / 2), |d| {
                project.pipelines[PIPELINE]
                    .window_for(*d)
                    .start
                    .date_naive()
            });
    let training_sql = format!(
        "SELECT c.text, l.category, l.subcategory, c.channel, t.status AS trip_status, o.status AS order_status \
         FROM raw.agent_labels l \
         JOIN raw.support_contacts c ON c.contact_id = l.contact_id \
         LEFT JOIN raw.trips t ON t.trip_id = c.trip_id \
         LEFT JOIN raw.orders o ON o.order_id = c.order_id \
         WHERE c.created_at < TIMESTAMP '{cutoff} 00:00:00' \
         ORDER BY l.contact_id"
    );
    let columns = Columns {
        text: "text".into(),
        label: "subcategory".into(),
        parent: Some("category".into()),
        extras: vec![
            "channel".into(),
            "trip_status".into(),
            "order_status".into(),
        ],
    };
    let batches = warehouse.query(&training_sql).await?;
    let rows = model::labelled_rows(&batches, &columns, "agent labels")?;
    let registry = model::open_registry(&project)?;
    say(format!(
        "training {MODEL} v1 on {} agent labels before {cutoff} ...",
        rows.texts.len()
    ));
    let trained = tokio::task::block_in_place(|| {
        model::train_model(
            &registry,
            MODEL,
            &rows,
            &columns,
            &training_sql,
            &TrainConfig {
                hidden: default_hidden_units(
                    rows.labels
                        .iter()
                        .collect::<std::collections::HashSet<_>>()
                        .len(),
                ),
                ..TrainConfig::default()
            },
            &Utc::now,
            Some(nightshift_registry::AliasRequest {
                alias: "production",
                actor: "nightshift demo",
                reason: Some("first model"),
            }),
        )
    })?;
    let loaded = super::resolve_pipeline_model(&project, &project.pipelines[PIPELINE])?;

    // 3. Every logical date whose window lies inside the generated days and that has come.
    let bar = crate::progress::bar(dates.len() as u64, "daily runs", global.quiet);
    let mut predicted = 0u64;
    let mut rejected = 0u64;
    let store = super::open_run_store(&project)?;
    for date in &dates {
        let mut plan = RunPlan::new(&project, PIPELINE, *date, Utc::now())?;
        let outcome = execute_run(
            &warehouse,
            &store,
            &mut plan,
            Task::ALL,
            Some(&loaded),
            Trigger::Backfill,
            &SystemClock,
            &|d| Box::pin(tokio::time::sleep(d)),
        )
        .await?;
        if let Some(e) = outcome.error {
            bar.abandon();
            return Err(Failure::from(e));
        }
        for r in outcome.reports {
            match r {
                TaskReport::Infer(i) => predicted += i.rows,
                TaskReport::Features(f) => rejected += f.rejected.values().sum::<u64>(),
                _ => {}
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    // 4. How good is it? Compare with the agent labels the model did not train on.
    let quality = warehouse
        .query(&format!(
            "SELECT count(*) AS labelled, \
                    avg(CASE WHEN p.subcategory = l.subcategory THEN 1.0 ELSE 0.0 END) AS accuracy, \
                    avg(CASE WHEN p.category = l.category THEN 1.0 ELSE 0.0 END) AS category_accuracy \
             FROM output.{PIPELINE}_predictions p JOIN raw.agent_labels l ON l.contact_id = p.id \
             WHERE p.model_version = {v} AND p.ds >= '{cutoff}'",
            v = loaded.version.version
        ))
        .await?;
    let (labelled, accuracy, category_accuracy) = three_numbers(&quality);
    let seconds = started.elapsed().as_secs_f64();
    let root = dir.display();

    if global.json {
        return super::print_json(&serde_json::json!({
            "ok": true,
            "project": dir,
            "days": { "from": first, "to": end },
            "generated_rows": { "support_contacts": generated[0], "trips": generated[1], "orders": generated[2], "agent_labels": generated[3] },
            "model": { "name": MODEL, "version": loaded.version.version, "training_rows": rows.texts.len(), "report": trained.report },
            "runs": dates.len(),
            "predicted_rows": predicted,
            "rejected_rows": rejected,
            "held_out_labels": labelled,
            "accuracy": accuracy,
            "category_accuracy": category_accuracy,
            "seconds": seconds,
        }));
    }
    outln!("Nightshift demo: {root}  ({seconds:.1} s)");
    outln!();
    outln!(
        "  data        {} support contacts over {} days ({first} .. {end}), {} agent labels",
        generated[0],
        args.days,
        generated[3]
    );
    outln!(
        "  model       {MODEL}@{} (alias production), trained on {} labels before {cutoff}",
        loaded.version.version,
        rows.texts.len()
    );
    outln!(
        "  runs        {} daily runs (check -> features -> infer -> publish)",
        dates.len()
    );
    outln!(
        "  predicted   {predicted} contacts, each row carrying model_version {}",
        loaded.version.version
    );
    outln!("  rejected    {rejected} bad rows (see output.{PIPELINE}_rejects)");
    outln!(
        "  accuracy    {:.1}% subcategory, {:.1}% category, on {labelled} agent labels from {cutoff} on (not used for training)",
        accuracy * 100.0,
        category_accuracy * 100.0
    );
    outln!();
    outln!("Look at the results:");
    // Filtered on the version: once another version predicts the same days, both sit side by
    // side and an unfiltered sum would count each contact twice.
    let v = loaded.version.version;
    outln!(
        "  nightshift --project {root} sql \"SELECT ds, category, sum(contacts) AS contacts FROM output.{PIPELINE}_rollups WHERE model_version = {v} GROUP BY ds, category ORDER BY ds, contacts DESC\""
    );
    outln!(
        "  nightshift --project {root} sql \"SELECT ds, sum(contacts) AS card_declined FROM output.{PIPELINE}_rollups WHERE model_version = {v} AND subcategory = 'card_declined' GROUP BY ds ORDER BY ds\""
    );
    outln!(
        "  nightshift --project {root} sql \"SELECT id, category, subcategory, confidence FROM output.{PIPELINE}_predictions LIMIT 10\""
    );
    outln!("  nightshift --project {root} models show {MODEL}");
    outln!(
        "  nightshift --project {root} run {PIPELINE} --date {}   # re-run a day: same rows, no duplicates",
        dates
            .last()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    );
    if !args.no_serve {
        outln!();
        outln!(
            "(The dashboard is not part of this version yet; the queries above show the same numbers.)"
        );
    }
    Ok(())
}

/// Refuses to touch a directory that is not empty and was not made by an earlier demo.
fn prepare_dir(dir: &Path) -> Result<(), Failure> {
    if !dir.exists() {
        return Ok(());
    }
    if dir.join(MARKER).is_file() {
        return std::fs::remove_dir_all(dir).map_err(|e| {
            Failure::work(anyhow::anyhow!(
                "cannot replace the earlier demo in {}: {e}",
                dir.display()
            ))
        });
    }
    let empty = std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(false);
    if empty {
        Ok(())
    } else {
        Err(Failure::usage(
            format!(
                "{} exists and was not made by `nightshift demo`",
                dir.display()
            ),
            Some("pass --dir with a new or empty directory".into()),
        ))
    }
}

/// Logical dates (midnight UTC) whose window lies inside the complete generated days
/// `[first, end]`: the check would refuse the others.
/// The logical dates, at most `now` (as `nightshift run` allows), whose windows lie inside
/// the days `first..=end`, the last day's data running to its end.
fn complete_dates(
    project: &nightshift_core::Project,
    first: NaiveDate,
    end: NaiveDate,
    now: chrono::DateTime<Utc>,
) -> Vec<chrono::DateTime<Utc>> {
    let spec = &project.pipelines[PIPELINE];
    let start = Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).unwrap_or_default());
    let limit = Utc.from_utc_datetime(&end.and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut dates = Vec::new();
    let mut d = start;
    let horizon = limit + chrono::TimeDelta::days(30);
    while d <= horizon {
        let w = spec.window_for(d);
        // The last day's data runs to its end; the check needs data up to the window's end.
        if w.start >= start && w.end <= limit && d <= now {
            dates.push(d);
        }
        d += chrono::TimeDelta::days(1);
    }
    dates
}

fn three_numbers(batches: &[nightshift_lake::arrow::array::RecordBatch]) -> (i64, f64, f64) {
    use nightshift_lake::arrow::array::{Array, Float64Array, Int64Array};
    use nightshift_lake::arrow::compute::cast;
    use nightshift_lake::arrow::datatypes::DataType;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return (0, 0.0, 0.0);
    };
    let int = |i: usize| {
        cast(batch.column(i), &DataType::Int64)
            .ok()
            .and_then(|a| {
                a.as_any()
                    .downcast_ref::<Int64Array>()
                    .filter(|a| !a.is_null(0))
                    .map(|a| a.value(0))
            })
            .unwrap_or(0)
    };
    let float = |i: usize| {
        cast(batch.column(i), &DataType::Float64)
            .ok()
            .and_then(|a| {
                a.as_any()
                    .downcast_ref::<Float64Array>()
                    .filter(|a| !a.is_null(0))
                    .map(|a| a.value(0))
            })
            .unwrap_or(0.0)
    };
    (int(0), float(1), float(2))
}
