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
    /// Run a pipeline for one logical date: check, features, infer, publish (or some of them).
    #[command(
        after_help = "The date is the logical date D: the pipeline reads the window\n[floor(D - max_sla) - window, floor(D - max_sla)). Re-running a date replaces its slice.\n\nExamples:\n  nightshift run root_cause --date 2026-11-22\n  nightshift run root_cause --date 2026-11-22 --only check"
    )]
    Run(RunArgs),
    /// Run every pipeline on its schedule: catch up missed dates, retry, alert on failures and
    /// missed deadlines. Stops cleanly on Ctrl-C / SIGTERM.
    #[command(
        after_help = "Each tick: runs every due logical date (all missed ones after downtime when\n`catchup = true`, else the latest), oldest first, under a lease so two schedulers on the\nsame project never run the same date; alerts once per event to the pipeline's sinks.\nThen, at most once a day (each time with --once), deletes the files of the\npipelines' tables replaced more than --vacuum-retain ago (default 7d).\n\nExamples:\n  nightshift scheduler\n  nightshift scheduler --once     # one tick, then exit (for cron or CI)\n  nightshift --json scheduler --once   # ... and its report as one JSON document\n  nightshift --json scheduler     # long-running: one JSON line per tick on stdout\n  nightshift scheduler --vacuum-retain 2d"
    )]
    Scheduler(SchedulerArgs),
    /// The run history: list runs, show one, retry a failed one (only what failed is re-run).
    #[command(
        subcommand,
        after_help = "Examples:\n  nightshift runs list --status failed\n  nightshift runs show RUN_ID\n  nightshift runs retry RUN_ID"
    )]
    Runs(RunsCommand),
    /// Train, evaluate, inspect and promote models (the model registry).
    #[command(
        subcommand,
        after_help = "Examples:\n  nightshift models list\n  nightshift models show root_cause\n  nightshift models alias root_cause production 2 --reason \"better on November labels\""
    )]
    Models(ModelsCommand),
    /// One command tour: synthetic warehouse, model v1 trained on agent labels, every daily run.
    #[command(
        after_help = "Creates a project in --dir (default ./nightshift-demo), generates --days days of\nsupport contacts, trains root_cause version 1 on the agent labels of the first half,\npromotes it to `production`, runs the pipeline for every complete day and prints a summary.\n\nExample:\n  nightshift demo --days 14 --rows-per-day 20000"
    )]
    Demo(DemoArgs),
    /// Run SQL on the warehouse and print the result.
    #[command(
        after_help = "Tables are addressed as schema.table: raw.support_contacts, intermediate.root_cause_features,\noutput.root_cause_rejects ... `SHOW TABLES` lists them.\n\nExamples:\n  nightshift sql \"SELECT channel, count(*) FROM raw.support_contacts GROUP BY channel\"\n  nightshift sql --csv \"SELECT * FROM output.root_cause_rejects\" > rejects.csv"
    )]
    Sql(SqlArgs),
    /// Delete the table files no longer used: slices replaced by re-runs, files of killed runs.
    #[command(
        after_help = "Every re-run of a date replaces its slice with new files; the old ones stay on disk so\nthat recent versions remain readable (and a reader mid-query is never disturbed). Vacuum\ndeletes, in the tables Nightshift writes (intermediate.* and output.*; the others, such as\nthe upstream tables, only with --include-upstream), the files that the latest version does\nnot use and that are older than --retain; versions older than that can no longer be read.\n\nExamples:\n  nightshift vacuum --dry-run          # what would go, nothing deleted\n  nightshift vacuum --retain 2d\n  nightshift vacuum --include-upstream # also raw.*, e.g. after `generate` replaced them"
    )]
    Vacuum(VacuumArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Directory to create (must not already hold a nightshift.toml).
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Number of days of data (1 to 3660).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=3660))]
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
    /// Run only these tasks (comma-separated, run in pipeline order), e.g. `check,features`.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) only: Vec<TaskArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TaskArg {
    /// Upstream freshness and row-count gate.
    Check,
    /// Features SQL into the intermediate table (bad rows into rejects).
    Features,
    /// Model predictions for the slice.
    Infer,
    /// Rollups of the predictions, for the dashboard.
    Publish,
}

#[derive(Debug, Args)]
pub(crate) struct SchedulerArgs {
    /// Run one tick and exit.
    #[arg(long)]
    pub(crate) once: bool,
    /// Most missed dates to catch up per pipeline and tick (0: run no date, only check
    /// deadlines and vacuum).
    #[arg(long, default_value_t = 30)]
    pub(crate) max_catchup: usize,
    /// Seconds between ticks at most (deadlines are checked every tick).
    #[arg(long, default_value_t = 60)]
    pub(crate) poll_seconds: u64,
    /// Pretend the time is this (RFC 3339); for tests and dry runs with --once.
    #[arg(long, hide = true)]
    pub(crate) now: Option<String>,
    /// After the runs of a tick (at most once a day unless --once), delete the files of the
    /// pipelines' own tables (features, predictions, rollups, rejects) that re-runs
    /// replaced or killed runs left, once they are older than this (e.g. 12h, 2d, 1w; at
    /// least 1h).
    #[arg(long, default_value = "7d", value_parser = parse_retain)]
    pub(crate) vacuum_retain: nightshift_core::Duration,
    /// Never delete replaced files (when `nightshift vacuum` runs from cron instead).
    #[arg(long)]
    pub(crate) no_vacuum: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// Runs, newest first.
    #[command(
        after_help = "Examples:\n  nightshift runs list\n  nightshift runs list --pipeline root_cause --status failed --json"
    )]
    List(RunsListArgs),
    /// One run: its tasks, their state, rows, attempts and errors.
    #[command(
        after_help = "Examples:\n  nightshift runs show root_cause-2026-11-19-3\n  nightshift --json runs show root_cause-2026-11-19-3   # the tasks' reports too"
    )]
    Show(RunIdArg),
    /// Re-run a failed or abandoned run: only its first unfinished task and those after it.
    #[command(after_help = "Example:\n  nightshift runs retry root_cause-2026-11-19-3")]
    Retry(RunIdArg),
}

#[derive(Debug, Args)]
pub(crate) struct RunsListArgs {
    /// Only this pipeline's runs.
    #[arg(long)]
    pub(crate) pipeline: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_parser = ["running", "succeeded", "failed", "abandoned"])]
    pub(crate) status: Option<String>,
    /// At most this many runs (1 or more).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) limit: u32,
}

#[derive(Debug, Args)]
pub(crate) struct RunIdArg {
    /// Run id, as `runs list` prints it.
    pub(crate) run_id: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// Train a new version of a model from a file or a query; prints the version.
    #[command(
        after_help = "Examples:\n  nightshift models train root_cause --data labels.csv \\\n      --text-column text --label-column subcategory --parent-column category\n  nightshift models train root_cause --alias production \\\n      --sql \"SELECT c.text, l.category, l.subcategory FROM raw.agent_labels l \\\n             JOIN raw.support_contacts c USING (contact_id)\" \\\n      --text-column text --label-column subcategory --parent-column category\n  # the linear model alone (--hidden 0): faster to train and to predict\n  nightshift models train intents --data train.tsv \\\n      --text-column text --label-column label --hidden 0"
    )]
    Train(TrainArgs),
    /// Score a model on labelled data: accuracy, macro-F1, parent accuracy, calibration.
    #[command(
        after_help = "Example:\n  nightshift models eval root_cause@production --data test.tsv \\\n      --text-column text --label-column label --json"
    )]
    Eval(EvalArgs),
    /// Predict one text.
    #[command(
        after_help = "Example:\n  nightshift models predict root_cause@production \\\n      --text \"I was charged twice for my ride\" --extra channel=chat\n\n--extra gives each structured input the model was trained with (--extra-columns);\n`models show` names them."
    )]
    Predict(PredictArgs),
    /// List models with their latest version and aliases.
    #[command(after_help = "Example:\n  nightshift models list")]
    List,
    /// Show the versions, aliases and metrics of a model, or of one of its versions.
    #[command(
        after_help = "Examples:\n  nightshift models show root_cause\n  nightshift models show root_cause@production   # the version the alias points at\n  nightshift --json models show root_cause@2     # with its metrics"
    )]
    Show(ShowArgs),
    /// Point an alias (production, staging, any name) at a version, or remove it; every move
    /// is recorded.
    #[command(
        after_help = "Examples:\n  nightshift models alias root_cause production 2 --reason \"better macro-F1 on November labels\"\n  nightshift models alias root_cause staging --remove --reason \"trial over\""
    )]
    Alias(AliasArgs),
    /// Every move of every alias of a model: from, to, when, who, why.
    #[command(after_help = "Example:\n  nightshift models history root_cause")]
    History(NameArg),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(false))]
pub(crate) struct DataArgs {
    /// Data file: .csv, .tsv, .parquet or .jsonl (CSV/TSV with a header line).
    #[arg(long, group = "source")]
    pub(crate) data: Option<PathBuf>,
    /// SQL query on the warehouse that returns the rows.
    #[arg(long, group = "source")]
    pub(crate) sql: Option<String>,
    /// Column holding the text.
    #[arg(long)]
    pub(crate) text_column: String,
    /// Column holding the label (the subcategory, for hierarchical models).
    #[arg(long)]
    pub(crate) label_column: String,
    /// Column holding the parent label (the category).
    #[arg(long)]
    pub(crate) parent_column: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Model name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Structured columns used as extra features (comma-separated), e.g. channel,trip_status.
    #[arg(long, value_delimiter = ',')]
    pub(crate) extra_columns: Vec<String>,
    /// Random seed (training is deterministic for a seed).
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Hidden units of a second, non-linear model (a ReLU hidden layer on the same
    /// features) whose logits are averaged with the linear model's. 0 = the linear model
    /// alone: 5-12x faster to train and about 1.6x faster to predict, 0.3-1.2 accuracy
    /// points lower on intent data sets. Default: 128 (96 for at most 32 labels: as accurate
    /// there, and faster), or 0 when the texts average over 150 words (long documents: the
    /// hidden layer trains about 20x slower there, for about the same accuracy; give
    /// --hidden 128 to have it anyway). 0 to 1024; a few units do worse than none. Training
    /// needs feature rows x UNITS x 8 bytes of memory (at most 1 GiB at 128).
    #[arg(long, value_name = "UNITS",
          value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub(crate) hidden: Option<u16>,
    /// Also point this alias at the new version.
    #[arg(long)]
    pub(crate) alias: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Model reference: name, name@VERSION or name@ALIAS.
    pub(crate) model: String,
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// Model reference: name, name@VERSION or name@ALIAS.
    pub(crate) model: String,
    /// The text to classify.
    #[arg(long)]
    pub(crate) text: String,
    /// A structured input, as COLUMN=VALUE (repeat for several).
    #[arg(long = "extra", value_name = "COLUMN=VALUE")]
    pub(crate) extras: Vec<String>,
    /// How many labels to show (1 or more).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) top_k: u16,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Model name (every version), or one version: name@3, name@production, name@latest.
    pub(crate) model: String,
}

#[derive(Debug, Args)]
pub(crate) struct NameArg {
    /// Model name.
    pub(crate) name: String,
}

#[derive(Debug, Args)]
pub(crate) struct AliasArgs {
    /// Model name.
    pub(crate) name: String,
    /// Alias, e.g. production.
    pub(crate) alias: String,
    /// Version to point it at.
    #[arg(required_unless_present = "remove")]
    pub(crate) version: Option<u32>,
    /// Remove the alias instead (`NAME@ALIAS` then resolves to nothing); kept in the history.
    #[arg(long, conflicts_with = "version")]
    pub(crate) remove: bool,
    /// Why (kept in the history).
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Directory of the demo project (created; an earlier demo there is replaced).
    #[arg(long, default_value = "nightshift-demo")]
    pub(crate) dir: PathBuf,
    /// Days of data.
    #[arg(long, default_value_t = 14)]
    pub(crate) days: u32,
    /// Support contacts per day.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) rows_per_day: usize,
    /// Don't start the dashboard at the end (the dashboard is not built yet: the demo prints
    /// SQL queries to explore the results instead).
    #[arg(long)]
    pub(crate) no_serve: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VacuumArgs {
    /// Keep files removed less than this long ago (e.g. 12h, 2d, 1w).
    #[arg(long, default_value = "7d", value_parser = parse_retain)]
    pub(crate) retain: nightshift_core::Duration,
    /// Only count the files that would be deleted.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Allow a retention under one hour. A run in progress writes its files before it commits
    /// them: a retention shorter than the run deletes them and breaks its commit.
    #[arg(long)]
    pub(crate) force: bool,
    /// Vacuum every table of the warehouse, upstream ones too (by default only the tables
    /// Nightshift writes, in `intermediate` and `output`: the others' history belongs to the
    /// jobs that write them).
    #[arg(long)]
    pub(crate) include_upstream: bool,
}

fn parse_retain(s: &str) -> Result<nightshift_core::Duration, String> {
    s.parse().map_err(|e: nightshift_core::Error| e.to_string())
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The query.
    pub(crate) query: String,
    /// Print CSV (with a header) instead of a table.
    #[arg(long)]
    pub(crate) csv: bool,
}
