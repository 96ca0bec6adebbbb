//! Command-line arguments only: what the user can type. No behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Nightshift: scheduled offline batch inference over your warehouse.
///
/// Every day, Nightshift turns the last window of warehouse data into model predictions that are
/// fresh, idempotent and versioned. A project is a directory with a `nightshift.toml` file and a
/// warehouse of Delta tables.
#[derive(Debug, Parser)]
#[command(
    name = "nightshift",
    version,
    after_help = "Examples:\n  nightshift init support && cd support\n  nightshift generate --days 6 --rows-per-day 100000 --end-date 2026-11-20\n  nightshift run root_cause --date 2026-11-22 --only features\n  nightshift sql \"SELECT ds, count(*) FROM intermediate.root_cause_features GROUP BY ds\"\n\nExit codes: 0 success, 1 the work failed, 2 bad usage or bad configuration."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Project directory (holding nightshift.toml).
    #[arg(long, global = true, env = "NIGHTSHIFT_PROJECT", default_value = ".")]
    pub(crate) project: PathBuf,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logs on stderr (-v debug, -vv trace). `RUST_LOG` also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a new project: nightshift.toml and the root-cause features SQL.
    #[command(
        after_help = "Example:\n  nightshift init support\n  nightshift --project support generate --days 6 --rows-per-day 20000 --end-date 2026-11-20"
    )]
    Init(InitArgs),
    /// Generate realistic synthetic support data into the raw tables (replaces them).
    #[command(
        after_help = "Writes raw.support_contacts, raw.trips, raw.orders and raw.agent_labels for the\n--days days ending on --end-date. Deterministic for a given --seed.\n\nExample:\n  nightshift generate --days 14 --rows-per-day 20000 --end-date 2026-11-20"
    )]
    Generate(GenerateArgs),
    /// Run a pipeline for one logical date: check, then features (or only one task).
    #[command(
        after_help = "The date is the logical date D: the pipeline reads the window\n[floor(D - max_sla) - window, floor(D - max_sla)). Re-running a date replaces its slice.\n\nExamples:\n  nightshift run root_cause --date 2026-11-22\n  nightshift run root_cause --date 2026-11-22 --only check"
    )]
    Run(RunArgs),
    /// Run SQL on the warehouse and print the result.
    #[command(
        after_help = "Tables are addressed as schema.table: raw.support_contacts, intermediate.root_cause_features,\noutput.root_cause_rejects ... `SHOW TABLES` lists them.\n\nExamples:\n  nightshift sql \"SELECT channel, count(*) FROM raw.support_contacts GROUP BY channel\"\n  nightshift sql --csv \"SELECT * FROM output.root_cause_rejects\" > rejects.csv"
    )]
    Sql(SqlArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Directory to create (must not already hold a nightshift.toml).
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Number of days of data.
    #[arg(long, default_value_t = 14)]
    pub(crate) days: u32,
    /// Support contacts per day (trips: as many; orders: half).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) rows_per_day: usize,
    /// Last day of data (YYYY-MM-DD, UTC). Default: yesterday.
    #[arg(long)]
    pub(crate) end_date: Option<String>,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// First day of the drift (a new issue surging). Default: 3 days before --end-date.
    #[arg(long, conflicts_with = "no_drift")]
    pub(crate) drift_from: Option<String>,
    /// Generate no drift.
    #[arg(long)]
    pub(crate) no_drift: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Pipeline name (a [pipelines.NAME] section of nightshift.toml).
    pub(crate) pipeline: String,
    /// Logical date: YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
    #[arg(long)]
    pub(crate) date: String,
    /// Run only this task.
    #[arg(long, value_enum)]
    pub(crate) only: Option<TaskArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TaskArg {
    /// Upstream freshness and row-count gate.
    Check,
    /// Features SQL into the intermediate table (bad rows into rejects).
    Features,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The query.
    pub(crate) query: String,
    /// Print CSV (with a header) instead of a table.
    #[arg(long)]
    pub(crate) csv: bool,
}
