//! `nightshift vacuum`: delete the files no table version still uses, past a retention.

use nightshift_lake::{TableRef, Warehouse};

use crate::cli::{GlobalArgs, VacuumArgs};
use crate::failure::Failure;

/// The schemas of the tables Nightshift writes (features; predictions, rollups, rejects).
const OWN_SCHEMAS: [&str; 2] = ["intermediate", "output"];

/// Shortest retention allowed without `--force` (and by the scheduler).
pub(crate) const MIN_RETAIN_SECONDS: i64 = 3600;

/// Vacuums the tables Nightshift writes (the others only with `--include-upstream`) and prints
/// what went (stdout is the report).
#[allow(clippy::print_stdout)]
pub(crate) async fn vacuum(global: &GlobalArgs, args: &VacuumArgs) -> Result<(), Failure> {
    if args.retain.seconds() < MIN_RETAIN_SECONDS && !args.force && !args.dry_run {
        return Err(Failure::usage(
            format!(
                "--retain {} is under one hour: the files of a run in progress could be deleted \
                 before their commit",
                args.retain
            ),
            Some("keep --retain at 1h or more, or pass --force when no run is in progress".into()),
        ));
    }
    let project = super::load_project(&global.project)?;
    let warehouse = Warehouse::open(&project).await?;
    // Nightshift writes the tables of its own schemas (`intermediate`, `output`; those of
    // pipelines since removed too). Every other table, declared in [tables] or only sitting
    // in the warehouse (written by another job, read through `nightshift sql`), belongs to
    // the job that writes it, its history too, as for the scheduler's vacuum: only with
    // --include-upstream.
    let upstream: Vec<String> = project.tables.values().map(|t| t.sql_name()).collect();
    let mut skipped = 0;
    let mut reports = Vec::new();
    // A directory declared under two names (two [tables] with one `path`) is one table.
    let mut seen = std::collections::HashSet::new();
    for name in warehouse.table_names() {
        let table = TableRef::parse(&name)?;
        let location = warehouse.location(&table);
        if !seen.insert(location.canonicalize().unwrap_or(location)) {
            continue;
        }
        let written_by_nightshift =
            OWN_SCHEMAS.contains(&table.schema.as_str()) && !upstream.contains(&name);
        if !args.include_upstream && !written_by_nightshift {
            skipped += 1;
            continue;
        }
        if let Some(report) = warehouse
            .vacuum(&table, args.retain.as_chrono(), args.dry_run)
            .await?
        {
            reports.push(report);
        }
    }
    if global.json {
        return super::print_json(&reports);
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let width = reports.iter().map(|r| r.table.len()).max().unwrap_or(0);
    for r in &reports {
        outln!(
            "{:width$}  {verb} {} files, {}",
            r.table,
            r.files,
            mebibytes(r.bytes)
        );
    }
    let (files, bytes) = reports
        .iter()
        .fold((0, 0), |(f, b), r| (f + r.files, b + r.bytes));
    outln!(
        "{} tables: {verb} {files} files, {} (files removed less than {} ago are kept)",
        reports.len(),
        mebibytes(bytes),
        args.retain
    );
    if skipped > 0 {
        outln!(
            "{skipped} tables Nightshift does not write (raw.* and other upstream tables) left to \
             their owners (--include-upstream to vacuum them too)"
        );
    }
    Ok(())
}

pub(crate) fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
