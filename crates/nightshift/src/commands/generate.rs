//! `nightshift generate`: the synthetic support warehouse.

use std::time::Instant;

use chrono::{Days, NaiveDate, TimeZone, Utc};
use nightshift_lake::{TableRef, Warehouse, WriteMode};
use nightshift_synth::{Drift, SynthConfig, generate_day};

use crate::cli::{GenerateArgs, GlobalArgs};
use crate::failure::Failure;

/// The raw tables `generate` writes, in the order of [`nightshift_synth::DayBatches`]' fields.
/// The issue that surges in the generated data (see `--drift-from`).
const DRIFT_SUBCATEGORY: &str = "payments/card_declined";

const TABLES: [&str; 4] = ["support_contacts", "trips", "orders", "agent_labels"];

#[allow(clippy::print_stdout)]
pub(crate) async fn generate(global: &GlobalArgs, args: &GenerateArgs) -> Result<(), Failure> {
    let project = super::load_project(&global.project)?;
    if args.days == 0 || args.rows_per_day == 0 {
        return Err(Failure::usage(
            "--days and --rows-per-day must be at least 1",
            Some("e.g. nightshift generate --days 6 --rows-per-day 10000".into()),
        ));
    }
    let end_date = match &args.end_date {
        Some(s) => parse_date(s, "--end-date")?,
        None => Utc::now().date_naive() - Days::new(1),
    };
    let first = end_date - Days::new(u64::from(args.days) - 1);
    let drift_from = match (&args.drift_from, args.no_drift) {
        (_, true) => None,
        (Some(s), false) => Some(parse_date(s, "--drift-from")?),
        (None, false) => Some(end_date - Days::new(3)),
    };
    if end_date > Utc::now().date_naive() {
        tracing::warn!(
            "--end-date {end_date} is after today: the contacts of days to come are generated, \
             and `run` refuses those dates until they come"
        );
    }
    if let Some(drift) = drift_from
        && (drift < first || drift > end_date)
    {
        tracing::warn!(
            "--drift-from {drift} is outside the days generated ({first} to {end_date}): {}",
            if drift > end_date {
                "no day has the drift"
            } else {
                "every day has it"
            }
        );
    }
    let config = synth_config(args.seed, args.rows_per_day, end_date, drift_from)?;

    let warehouse = Warehouse::open(&project).await?;
    let started = Instant::now();
    let (tables, rows) =
        write_days(&project, &warehouse, &config, first, end_date, global.quiet).await?;
    let seconds = started.elapsed().as_secs_f64();

    let summary: Vec<serde_json::Value> = tables
        .iter()
        .zip(rows)
        .map(|(t, n)| serde_json::json!({ "table": t.to_string(), "rows": n, "path": warehouse.location(t) }))
        .collect();
    if global.json {
        return super::print_json(&serde_json::json!({
            "ok": true,
            "from": first,
            "to": end_date,
            "seed": args.seed,
            "tables": summary,
            "seconds": seconds,
        }));
    }
    outln!(
        "generated {} days ({first} .. {end_date}, seed {}) in {seconds:.1} s",
        args.days,
        args.seed
    );
    for (table, n) in tables.iter().zip(rows) {
        outln!(
            "  {:<24} {:>10} rows  {}",
            table.to_string(),
            n,
            warehouse.location(table).display()
        );
    }
    Ok(())
}

/// The generator's settings for data ending on `end_date` (the warehouse snapshot is the end of
/// that day: later arrivals are left out), with the drift starting on `drift_from`.
pub(crate) fn synth_config(
    seed: u64,
    rows_per_day: usize,
    end_date: NaiveDate,
    drift_from: Option<NaiveDate>,
) -> Result<SynthConfig, Failure> {
    let snapshot = Utc.from_utc_datetime(
        &(end_date + Days::new(1))
            .and_hms_opt(0, 0, 0)
            .ok_or_else(|| Failure::usage("--end-date is out of range", None))?,
    );
    Ok(SynthConfig {
        seed,
        rows_per_day,
        // An app update breaks card payments: card_declined surges, with new wording.
        drift: drift_from.map(|from| Drift::new(from, DRIFT_SUBCATEGORY)),
        snapshot,
        ..SynthConfig::default()
    })
}

/// Generates the days `first..=last` and writes them to the raw tables: the first day replaces
/// each table (so the tables hold exactly these days), the others are appended, one atomic
/// commit per table per day. Returns the tables and the rows written to each.
pub(crate) async fn write_days(
    project: &nightshift_core::Project,
    warehouse: &Warehouse,
    config: &SynthConfig,
    first: NaiveDate,
    last: NaiveDate,
    quiet: bool,
) -> Result<(Vec<TableRef>, [u64; 4]), Failure> {
    let tables: Vec<TableRef> = TABLES
        .iter()
        .map(|name| match project.tables.get(*name) {
            Some(spec) => TableRef {
                schema: spec.schema.clone(),
                table: spec.name.clone(),
            },
            None => TableRef {
                schema: "raw".into(),
                table: (*name).into(),
            },
        })
        .collect();
    let days = (last - first).num_days().max(0) as u64 + 1;
    let bar = crate::progress::bar(days, "generating days", quiet);
    let mut rows = [0u64; 4];
    let mut day = first;
    let mut index = 0u32;
    while day <= last {
        let cfg = config.clone();
        let batches = tokio::task::spawn_blocking(move || generate_day(&cfg, day))
            .await
            .map_err(|e| Failure::work(anyhow::anyhow!("generator thread failed: {e}")))?
            .map_err(|e| Failure::work(anyhow::anyhow!("generating {day}: {e}")))?;
        let per_table = [
            batches.contacts,
            batches.trips,
            batches.orders,
            batches.agent_labels,
        ];
        for (i, (table, batch)) in tables.iter().zip(per_table).enumerate() {
            rows[i] += batch.num_rows() as u64;
            // The first day replaces the whole table: `generate` always leaves exactly the
            // requested days, whatever was there before. Each commit is atomic.
            let mode = if index == 0 {
                WriteMode::Overwrite
            } else {
                WriteMode::Append
            };
            warehouse
                .write(table, vec![batch])
                .with_mode(mode)
                .with_partition_columns(&["ds"])
                .with_commit_metadata("generator_seed", config.seed.into())
                .execute()
                .await?;
        }
        tracing::debug!(%day, "generated");
        bar.inc(1);
        index += 1;
        day = day + Days::new(1);
    }
    bar.finish_and_clear();
    Ok((tables, rows))
}

/// A day given on the command line, read as `run --date` reads dates (YYYY-MM-DD or RFC 3339,
/// in UTC; years 1900-2199), with the same errors.
fn parse_date(s: &str, flag: &str) -> Result<NaiveDate, Failure> {
    nightshift_core::parse_logical_date(s)
        .map(|d| d.date_naive())
        .map_err(|e| {
            Failure::usage(
                format!("{flag}: {e}"),
                Some("use YYYY-MM-DD, e.g. 2026-11-20".into()),
            )
        })
}
