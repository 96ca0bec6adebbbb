//! The warehouse: one DataFusion session over a directory of Delta tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use deltalake::datafusion::physical_plan::{displayable, execute_stream};
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use deltalake::operations::vacuum::VacuumMode;
use nightshift_core::{EngineSpec, Project};
use url::Url;

use crate::error::{Error, Result};

/// Catalog name all warehouse schemas live in.
const CATALOG: &str = "datafusion";

/// A table address: `schema.table`, both lowercase identifiers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableRef {
    /// e.g. `raw`, `intermediate`, `output`.
    pub schema: String,
    /// e.g. `support_contacts`.
    pub table: String,
}

impl TableRef {
    /// Parses `schema.table`; both parts must be identifiers (`[a-z_][a-z0-9_]*`).
    pub fn parse(name: &str) -> Result<TableRef> {
        let mut parts = name.split('.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(schema), Some(table), None) if is_ident(schema) && is_ident(table) => {
                Ok(TableRef {
                    schema: schema.to_string(),
                    table: table.to_string(),
                })
            }
            _ => Err(Error::BadTableName(name.to_string())),
        }
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_lowercase())
        && chars.all(|c| c == '_' || c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// What [`Warehouse::vacuum`] did to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VacuumReport {
    /// `schema.table`.
    pub table: String,
    /// Files deleted (with `dry_run`: that would be deleted).
    pub files: u64,
    /// Their size in bytes.
    pub bytes: u64,
    /// Whether nothing was deleted, only counted.
    pub dry_run: bool,
}

/// A directory of Delta tables with a DataFusion session over them.
///
/// Tables are found at `<root>/<schema>/<table>` (any directory holding a `_delta_log`), plus any
/// table the project file declares at another path. The session sees each table's latest
/// version as of when it was registered; writes through [`crate::TableWrite`] re-register the
/// table they wrote, so later queries see the new data.
pub struct Warehouse {
    root: PathBuf,
    ctx: SessionContext,
    /// Tables whose location is not `<root>/<schema>/<table>`.
    declared: BTreeMap<TableRef, PathBuf>,
    /// Tables whose Delta log could not be read when (re-)registered, with why: left out of
    /// the session so that the other tables stay usable; a query that reads one gets
    /// [`Error::BrokenTable`], and a write to one fails opening it (it is never re-created).
    broken: std::sync::Mutex<BTreeMap<TableRef, String>>,
}

impl Warehouse {
    /// Opens the warehouse of a project: its directory, its declared tables and its engine settings.
    pub async fn open(project: &Project) -> Result<Warehouse> {
        let declared = project
            .tables
            .values()
            .map(|t| {
                (
                    TableRef {
                        schema: t.schema.clone(),
                        table: t.name.clone(),
                    },
                    t.path.clone(),
                )
            })
            .collect();
        Warehouse::open_at(&project.warehouse, &project.engine, declared).await
    }

    /// Opens a warehouse directory (created if missing) with explicit settings.
    pub async fn open_at(
        root: &Path,
        engine: &EngineSpec,
        declared: BTreeMap<TableRef, PathBuf>,
    ) -> Result<Warehouse> {
        std::fs::create_dir_all(root).map_err(|source| Error::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let io = |source| Error::Io {
            path: root.to_path_buf(),
            source,
        };
        let given_root = std::path::absolute(root).map_err(io)?;
        let root = root.canonicalize().map_err(io)?;
        // Declared tables are addressed by absolute paths (a project opened by a relative path
        // gives relative ones, and Delta needs a URL); those at their default place are left
        // to discovery.
        let declared = declared
            .into_iter()
            .filter_map(|(t, path)| {
                let path = std::path::absolute(&path).unwrap_or(path);
                let path = path.canonicalize().unwrap_or(path);
                let default = |root: &Path| root.join(&t.schema).join(&t.table);
                (path != default(&root) && path != default(&given_root)).then_some((t, path))
            })
            .collect();
        let warehouse = Warehouse {
            ctx: new_session(engine)?,
            root,
            declared,
            broken: Default::default(),
        };
        warehouse.refresh().await?;
        Ok(warehouse)
    }

    /// The warehouse directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The DataFusion session (for callers that build plans directly).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Re-registers every table at its latest version (and finds tables created since the
    /// warehouse was opened, e.g. by another process). Long-running processes call this before
    /// each run.
    pub async fn refresh(&self) -> Result<()> {
        let dirs = self.table_dirs()?;
        self.register_all(discover(&dirs)).await?;
        self.note_plain_directories(&dirs);
        Ok(())
    }

    /// Marks as unreadable the table directories that hold files but no Delta log (a copy of
    /// Parquet files, say), so that a query of one says so instead of "table not found".
    fn note_plain_directories(&self, dirs: &[(TableRef, PathBuf)]) {
        let mut broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        broken.retain(|_, reason| !reason.contains(NOT_DELTA));
        for (table, path) in dirs {
            if path.join("_delta_log").is_dir() || broken.contains_key(table) {
                continue;
            }
            if std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some()) {
                broken.insert(
                    table.clone(),
                    format!(
                        "{} {NOT_DELTA} (it has no _delta_log directory)",
                        path.display()
                    ),
                );
            }
        }
    }

    /// Registers `tables`, their logs read and replayed at once (each on its own task, so on
    /// all cores), then registered in order.
    async fn register_all(&self, tables: Vec<TableRef>) -> Result<()> {
        let opening: Vec<_> = tables
            .into_iter()
            .map(|table| {
                let (name, path) = (table.clone(), self.location(&table));
                let task = tokio::spawn(async move { open_delta(&name, path).await });
                (table, task)
            })
            .collect();
        for (table, task) in opening {
            let opened = task
                .await
                .map_err(|e| Error::Internal(format!("opening {table}: {e}")))?;
            let opened = match opened {
                Ok(Some(delta)) => self.register_delta(&table, &delta).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            let mut broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
            match opened {
                Ok(()) => {
                    broken.remove(&table);
                }
                Err(Error::Delta { source, .. }) => {
                    let source = crate::error::without_backtrace(&source.to_string()).to_string();
                    tracing::warn!("{table} cannot be opened; queries that read it fail: {source}");
                    let reference =
                        TableReference::partial(table.schema.as_str(), table.table.as_str());
                    let _ = self.ctx.deregister_table(reference);
                    broken.insert(table, source);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Where a table lives on disk, whether or not it exists yet.
    pub fn location(&self, table: &TableRef) -> PathBuf {
        self.declared
            .get(table)
            .cloned()
            .unwrap_or_else(|| self.root.join(&table.schema).join(&table.table))
    }

    /// Names (`schema.table`) of the tables registered in the session, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if let Some(catalog) = self.ctx.catalog(CATALOG) {
            for schema in catalog.schema_names() {
                if schema == "information_schema" {
                    continue;
                }
                if let Some(provider) = catalog.schema(&schema) {
                    for table in provider.table_names() {
                        names.push(format!("{schema}.{table}"));
                    }
                }
            }
        }
        names.sort();
        names
    }

    /// Whether a table exists: registered, or there but unreadable (see [`Self::sql`]).
    pub fn has_table(&self, table: &TableRef) -> bool {
        self.ctx
            .catalog(CATALOG)
            .and_then(|c| c.schema(&table.schema))
            .is_some_and(|s| s.table_exist(&table.table))
            || self
                .broken
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(table)
    }

    /// The error of a query that failed to plan because it reads a table whose log could not
    /// be read: that table and why, rather than "table not found".
    fn broken_in(&self, query: &str) -> Option<Error> {
        let query = query.to_lowercase();
        let broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        broken
            .iter()
            .find(|(t, _)| query.contains(&t.to_string()))
            .map(|(t, reason)| Error::BrokenTable {
                table: t.to_string(),
                path: self.location(t),
                reason: reason.clone(),
            })
    }

    /// Plans a query; errors name the tables that do exist. Only queries are accepted: a
    /// statement that would change something (DDL, `INSERT`, `COPY`, `SET` ...) is refused
    /// with [`Error::NotAQuery`] before anything runs, so nothing can bypass the slices'
    /// idempotent writes or the session's settings.
    pub async fn sql(&self, query: &str) -> Result<DataFrame> {
        let sql = |e| Error::sql(e, self.table_names());
        let plan = match self.ctx.state().create_logical_plan(query).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.broken_in(query).unwrap_or_else(|| sql(e))),
        };
        if let Some(what) = change_in(&plan) {
            return Err(Error::NotAQuery { what });
        }
        self.ctx.execute_logical_plan(plan).await.map_err(sql)
    }

    /// `frame` sorted by those of `columns` it has (ascending, nulls last), for rows in one
    /// order whatever the partitions did; a column it lacks is left for the caller to report.
    pub fn sorted_by(&self, frame: DataFrame, columns: &[&str]) -> Result<DataFrame> {
        let keys: Vec<_> = columns
            .iter()
            .filter(|c| frame.schema().field_with_unqualified_name(c).is_ok())
            .map(|c| deltalake::datafusion::prelude::ident(*c).sort(true, false))
            .collect();
        if keys.is_empty() {
            return Ok(frame);
        }
        frame
            .sort(keys)
            .map_err(|e| Error::sql(e, self.table_names()))
    }

    /// Runs a query and collects its result.
    pub async fn query(&self, query: &str) -> Result<Vec<RecordBatch>> {
        self.collect(self.sql(query).await?).await
    }

    /// Runs a planned query (from [`Self::sql`]) and collects its result.
    pub async fn collect(&self, frame: DataFrame) -> Result<Vec<RecordBatch>> {
        frame
            .collect()
            .await
            .map_err(|e| Error::sql(e, self.table_names()))
    }

    /// Deletes the files of `table` that its latest version no longer uses and that are older
    /// than `retain`: slices replaced by a later run, and files of a write that died before its
    /// commit (Delta `VACUUM`, full mode: the table's directory is listed). Versions older than
    /// `retain` can no longer be read (time travel); files younger than it are kept, so a run in
    /// progress or a reader of a recent version is never disturbed. With `dry_run`, only counts
    /// them. `None` if the table was never written.
    pub async fn vacuum(
        &self,
        table: &TableRef,
        retain: chrono::Duration,
        dry_run: bool,
    ) -> Result<Option<VacuumReport>> {
        self.vacuum_as_of(table, retain, dry_run, chrono::Utc::now())
            .await
    }

    /// [`Self::vacuum`] with the time injected: a file is older than `retain` when it was
    /// removed (or, not in the log, last modified) before `now - retain`.
    pub async fn vacuum_as_of(
        &self,
        table: &TableRef,
        retain: chrono::Duration,
        dry_run: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<VacuumReport>> {
        let Some(delta) = self.delta_table(table).await? else {
            return Ok(None);
        };
        let path = self.location(table);
        let before = data_files(&path)?;
        let (delta, metrics) = delta
            .vacuum()
            .with_clock(Arc::new(FixedClock(now.timestamp_millis())))
            .with_retention_period(retain)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_dry_run(dry_run)
            .await
            .map_err(|e| Error::delta(&table.to_string(), &path, e))?;
        let (files, bytes) = if dry_run {
            // delta-rs lists the files of expired `remove` actions even when an earlier vacuum
            // deleted them: count those still there.
            metrics
                .files_deleted
                .iter()
                .map(|f| path.join(f.trim_start_matches('/')))
                .filter_map(|f| std::fs::metadata(f).ok())
                .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
        } else {
            // Vacuum records itself in the log: the session moves to that version.
            self.register_delta(table, &delta).await?;
            let after = data_files(&path)?;
            (
                before.0 - after.0.min(before.0),
                before.1 - after.1.min(before.1),
            )
        };
        Ok(Some(VacuumReport {
            table: table.to_string(),
            files,
            bytes,
            dry_run,
        }))
    }

    /// Opens the Delta table behind a name; `None` if it was never written.
    pub async fn delta_table(&self, table: &TableRef) -> Result<Option<DeltaTable>> {
        open_delta(table, self.location(table)).await
    }

    /// (Re-)registers a table's latest version in the session. A table that does not exist
    /// yet is skipped.
    pub async fn register(&self, table: &TableRef) -> Result<()> {
        let Some(delta) = self.delta_table(table).await? else {
            return Ok(());
        };
        self.register_delta(table, &delta).await
    }

    pub(crate) async fn register_delta(&self, table: &TableRef, delta: &DeltaTable) -> Result<()> {
        let path = self.location(table);
        let delta_err = |e| Error::delta(&table.to_string(), &path, e);
        delta
            .update_datafusion_session(&self.ctx.state())
            .map_err(delta_err)?;
        let provider = delta
            .table_provider()
            .await
            .map_err(|e| Error::delta(&table.to_string(), &path, e.into()))?;
        let catalog = self
            .ctx
            .catalog(CATALOG)
            .ok_or_else(|| Error::Internal("default catalog missing".into()))?;
        if catalog.schema(&table.schema).is_none() {
            catalog
                .register_schema(&table.schema, Arc::new(MemorySchemaProvider::new()))
                .map_err(|e| Error::sql(e, vec![]))?;
        }
        let reference = TableReference::partial(table.schema.as_str(), table.table.as_str());
        // Registering over an existing name is an error in DataFusion: swap the provider.
        self.ctx
            .deregister_table(reference.clone())
            .map_err(|e| Error::sql(e, vec![]))?;
        self.ctx
            .register_table(reference, provider)
            .map_err(|e| Error::sql(e, vec![]))?;
        Ok(())
    }

    /// The directories tables may live in: the declared tables' own, then every
    /// `<root>/<schema>/<table>` whose names are identifiers (Delta tables or not).
    fn table_dirs(&self) -> Result<Vec<(TableRef, PathBuf)>> {
        let mut dirs: Vec<(TableRef, PathBuf)> = self
            .declared
            .iter()
            .map(|(t, p)| (t.clone(), p.clone()))
            .collect();
        for schema in read_dir_names(&self.root)? {
            let schema_dir = self.root.join(&schema);
            if !is_ident(&schema) || !schema_dir.is_dir() {
                continue;
            }
            for table in read_dir_names(&schema_dir)? {
                if is_ident(&table) {
                    let path = schema_dir.join(&table);
                    let table = TableRef {
                        schema: schema.clone(),
                        table,
                    };
                    dirs.push((table, path));
                }
            }
        }
        Ok(dirs)
    }
}

/// The Delta tables among `dirs` (from `Warehouse::table_dirs`): every one under
/// `<root>/<schema>/<table>` plus the declared ones that exist, each once, sorted.
fn discover(dirs: &[(TableRef, PathBuf)]) -> Vec<TableRef> {
    let mut found: Vec<TableRef> = Vec::new();
    for (table, path) in dirs {
        if path.join("_delta_log").is_dir() && !found.contains(table) {
            found.push(table.clone());
        }
    }
    found.sort();
    found
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// Plans and starts a query, logging its physical plan with the optimiser's row and byte
/// estimates at debug level (`RUST_LOG=nightshift_lake=debug`): the place to see which side
/// of each join is held in memory.
pub(crate) async fn execute_logged(
    frame: DataFrame,
) -> std::result::Result<SendableRecordBatchStream, DataFusionError> {
    let task = Arc::new(frame.task_ctx());
    let plan = frame.create_physical_plan().await?;
    if tracing::enabled!(tracing::Level::DEBUG) {
        let shown = displayable(plan.as_ref())
            .set_show_statistics(true)
            .indent(false);
        tracing::debug!("physical plan:\n{shown}");
    }
    execute_stream(plan, task)
}

/// Opens the Delta table at `path` (named `table` in errors); `None` if it was never written.
async fn open_delta(table: &TableRef, path: PathBuf) -> Result<Option<DeltaTable>> {
    if !path.join("_delta_log").is_dir() {
        return Ok(None);
    }
    let url = dir_url(&path)?;
    let delta = deltalake::open_table(url)
        .await
        .map_err(|e| Error::delta(&table.to_string(), &path, e))?;
    Ok(Some(delta))
}

/// Count and total size of the files under a table's directory, its log excluded.
fn data_files(dir: &Path) -> Result<(u64, u64)> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io)? {
            let entry = entry.map_err(io)?;
            let meta = entry.metadata().map_err(io)?;
            if meta.is_dir() {
                if entry.file_name() != "_delta_log" {
                    stack.push(entry.path());
                }
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok((files, bytes))
}

/// The time a vacuum runs at, for delta-rs.
#[derive(Debug)]
struct FixedClock(i64);

impl deltalake::operations::vacuum::Clock for FixedClock {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

/// `file://` URL of a directory (which must be absolute).
pub(crate) fn dir_url(path: &Path) -> Result<Url> {
    Url::from_directory_path(path)
        .map_err(|()| Error::Internal(format!("cannot make a URL of {}", path.display())))
}

/// A DataFusion session tuned the way delta-rs tunes its own, but keeping standard SQL
/// identifier normalisation (unquoted names are case-insensitive, as users expect).
/// How an unreadable table that is a plain directory is described (and recognised).
const NOT_DELTA: &str = "is not a Delta table";

/// What in `plan` would change something rather than read (the first such node, named for
/// the user), or `None` for a query.
fn change_in(plan: &LogicalPlan) -> Option<String> {
    let mut found = None;
    let _ = plan.apply(|node| {
        found = match node {
            LogicalPlan::Dml(dml) => Some(format!("{} {}", dml.op, dml.table_name)),
            LogicalPlan::Copy(copy) => Some(format!("COPY TO {}", copy.output_url)),
            LogicalPlan::Ddl(ddl) => Some(ddl.name().to_string()),
            LogicalPlan::Statement(statement) => Some(statement.name().to_string()),
            _ => None,
        };
        Ok(if found.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

fn new_session(engine: &EngineSpec) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.schema_force_view_types", true)
        // delta-rs' workaround: hash-join IN-list pushdown can panic on dictionary join keys.
        .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_size", 0)
        .set_usize(
            "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
            0,
        )
        // Streamed writes use the session's Parquet settings: row groups of 128k rows (not
        // 1M) let the next task scan one file on all cores.
        .set_usize(
            "datafusion.execution.parquet.max_row_group_size",
            128 * 1024,
        )
        // Batches of 16k rows (not 8k): half the per-batch work of every operator, of the
        // model's calls and of the Parquet writers, for a few more MiB in flight. End to end
        // at 1M contacts with the next setting, 12 alternating runs: 2.24 -> 2.19 s,
        // +36 MiB peak.
        .set_usize("datafusion.execution.batch_size", 16 * 1024)
        // A hash join reads up to 16 MiB of its probe side while its table is being built:
        // a features query's lookups (and their narrowing semi-joins) are built one after
        // another, each on one thread; buffering starts them all at once and keeps the
        // other cores busy meanwhile.
        .set_usize(
            "datafusion.execution.hash_join_buffering_capacity",
            16 * 1024 * 1024,
        );
    if let Some(partitions) = engine.target_partitions {
        config = config.with_target_partitions(partitions.max(1));
    }
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(mb) = engine.memory_limit_mb {
        let bytes = usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(bytes)));
    }
    let runtime = runtime.build_arc().map_err(|e| Error::sql(e, vec![]))?;
    // Our join-side rule goes right after DataFusion's join selection (it must run before the
    // rules that add repartitions and dynamic filters).
    let mut rules = PhysicalOptimizer::new().rules;
    let at = rules
        .iter()
        .position(|r| r.name() == "join_selection")
        .map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(crate::joins::BuildOnFewerBytes));
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_physical_optimizer_rules(rules)
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new())
        .build();
    Ok(SessionContext::new_with_state(state))
}
