//! Writes into the warehouse: idempotent slice replacement, full overwrite, append.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, ArrayRef, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use deltalake::datafusion::prelude::{DataFrame, Expr, col, lit};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructType, normalize_for_delta};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::SaveMode;

use crate::DS_COLUMN;
use crate::error::{Error, Result};
use crate::fanout;
use crate::tee::TeeSender;
use crate::warehouse::{TableRef, Warehouse, dir_url};

/// How a [`TableWrite`] changes the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace exactly the rows with `ds = ds` (and `column = value` for each of `also`), in one
    /// Delta commit. Rows written must all belong to that slice; rows outside it are untouched.
    /// Writing no rows empties the slice.
    ReplaceSlice {
        /// The slice key.
        ds: String,
        /// More equality terms that narrow the slice, e.g. `("model_version", "3")`.
        also: Vec<(String, String)>,
    },
    /// Replace the whole table (schema included) in one commit.
    Overwrite,
    /// Add the rows in one commit.
    Append,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WriteMetrics {
    /// `schema.table`.
    pub table: String,
    /// Delta version created by the commit (`None` when nothing needed committing).
    pub version: Option<u64>,
    /// Rows written.
    pub rows: u64,
    /// Parquet files added.
    pub files_added: u64,
    /// Parquet files removed (replaced).
    pub files_removed: u64,
    /// Wall time of the write, in seconds.
    pub seconds: f64,
}

/// A write of record batches into one table; build with [`Warehouse::write`], run with
/// [`TableWrite::execute`].
#[must_use = "a TableWrite does nothing until executed"]
pub struct TableWrite<'a> {
    warehouse: &'a Warehouse,
    table: TableRef,
    batches: Vec<RecordBatch>,
    /// A query to stream into the table instead of `batches`.
    frame: Option<DataFrame>,
    mode: WriteMode,
    partition_columns: Vec<String>,
    metadata: Vec<(String, serde_json::Value)>,
    /// Also hand the streamed batches to another query (see [`crate::tee`]).
    tee: Option<TeeSender>,
}

impl Warehouse {
    /// Starts a write of `batches` into `table` (created on first write). Defaults to
    /// [`WriteMode::Append`] with no partitioning; see the builder methods.
    pub fn write(&self, table: &TableRef, batches: Vec<RecordBatch>) -> TableWrite<'_> {
        TableWrite {
            warehouse: self,
            table: table.clone(),
            batches,
            frame: None,
            mode: WriteMode::Append,
            partition_columns: Vec::new(),
            metadata: Vec::new(),
            tee: None,
        }
    }
}

impl Warehouse {
    /// Starts a write that streams the result of a query (planned in this warehouse's session,
    /// so it may use its tables and UDFs) into `table`: batches are written to Parquet as they
    /// are produced, so memory stays bounded whatever the row count. For slice replacements
    /// delta-rs refuses rows outside the slice.
    pub fn write_query(&self, table: &TableRef, frame: DataFrame) -> TableWrite<'_> {
        let mut write = self.write(table, Vec::new());
        write.frame = Some(frame);
        write
    }
}

/// A per-batch transformation for [`Warehouse::write_query_mapped`]: it may drop rows or
/// columns and must return batches of the declared output schema.
pub type BatchMap =
    Box<dyn FnMut(RecordBatch) -> std::result::Result<RecordBatch, BoxError> + Send + 'static>;

/// The error a [`BatchMap`] may return; it fails the write (nothing is committed).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Called once a mapped query has given its last batch, before anything is committed: an
/// error fails the write (e.g. when the map refused every row).
pub type StreamEnd = Box<dyn FnOnce() -> std::result::Result<(), BoxError> + Send + 'static>;

impl Warehouse {
    /// Like [`Warehouse::write_query`], but every batch of `frame` goes through `map` on its
    /// way to the table (e.g. to refuse bad rows), still streaming: memory stays bounded by
    /// what `map` keeps. `map` sees the query's batches one at a time, partitions merged, and
    /// must return batches of `output_schema`. If `map` fails, or `end` (run once the query
    /// has given its last batch), nothing is committed.
    pub async fn write_query_mapped(
        &self,
        table: &TableRef,
        frame: DataFrame,
        output_schema: SchemaRef,
        map: BatchMap,
        end: StreamEnd,
    ) -> Result<TableWrite<'_>> {
        let source = OneShotStream {
            schema: output_schema.clone(),
            input: std::sync::Mutex::new(Some((frame, map, end))),
        };
        let provider = StreamingTable::try_new(output_schema, vec![Arc::new(source)])
            .map_err(|e| Error::Internal(format!("streaming source: {e}")))?;
        let mapped = self
            .context()
            .read_table(Arc::new(provider))
            .map_err(|e| Error::Internal(format!("streaming source: {e}")))?;
        Ok(self.write_query(table, mapped))
    }
}

/// A [`PartitionStream`] that runs a query once and maps its batches.
struct OneShotStream {
    schema: SchemaRef,
    input: std::sync::Mutex<Option<(DataFrame, BatchMap, StreamEnd)>>,
}

impl std::fmt::Debug for OneShotStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShotStream").finish_non_exhaustive()
    }
}

impl PartitionStream for OneShotStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        use futures::StreamExt;
        let taken = self.input.lock().map(|mut g| g.take()).unwrap_or(None);
        let schema = self.schema.clone();
        let stream = futures::stream::once(async move {
            let Some((frame, mut map, end)) = taken else {
                let e = DataFusionError::Internal("the mapped query can only run once".into());
                return futures::stream::once(async move { Err(e) }).boxed();
            };
            match crate::warehouse::execute_logged(frame).await {
                Ok(input) => {
                    let end = futures::stream::once(async move { end() }).filter_map(|r| async {
                        r.err().map(|e| Err(DataFusionError::External(e)))
                    });
                    input
                        .map(move |batch| {
                            batch.and_then(|b| map(b).map_err(DataFusionError::External))
                        })
                        .chain(end)
                        .boxed()
                }
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten();
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }
}

impl<'a> TableWrite<'a> {
    /// Replace exactly the slice `ds = ds` (partitioned by `ds`). A batch without a `ds`
    /// column gets one holding `ds`.
    pub fn replace_slice(mut self, ds: impl Into<String>) -> Self {
        self.mode = WriteMode::ReplaceSlice {
            ds: ds.into(),
            also: Vec::new(),
        };
        self.partition_columns = vec![DS_COLUMN.to_string()];
        self
    }

    /// Narrows a slice replacement to the rows where `column = value` (compared as text).
    /// No effect in the other modes.
    pub fn also_matching(mut self, column: impl Into<String>, value: impl Into<String>) -> Self {
        if let WriteMode::ReplaceSlice { also, .. } = &mut self.mode {
            also.push((column.into(), value.into()));
        }
        self
    }

    /// Sets the mode explicitly.
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        if matches!(mode, WriteMode::ReplaceSlice { .. }) && self.partition_columns.is_empty() {
            self.partition_columns = vec![DS_COLUMN.to_string()];
        }
        self.mode = mode;
        self
    }

    /// Partition columns used when the table is created.
    pub fn with_partition_columns(mut self, columns: &[&str]) -> Self {
        self.partition_columns = columns.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Key/value pairs recorded in the Delta commit (e.g. `run_id`, `task`).
    pub fn with_commit_metadata(mut self, key: &str, value: serde_json::Value) -> Self {
        self.metadata.push((key.to_string(), value));
        self
    }

    /// Hands every batch of a streamed write, as encoded for the table, to `tee` too (see
    /// [`crate::tee`]); only writes through the per-core writers do, others drop it unused.
    pub fn with_tee(mut self, tee: TeeSender) -> Self {
        self.tee = Some(tee);
        self
    }

    /// Commits the write and re-registers the table in the warehouse session.
    pub async fn execute(self) -> Result<WriteMetrics> {
        let (metrics, ()) = self.execute_with(|| async { Ok::<_, Error>(()) }).await?;
        Ok(metrics)
    }

    /// [`Self::execute`], with `before_commit` run once the rows are written and before they
    /// are committed: for a write that must land first, such as the rejects the stream
    /// refused, which then never miss from a committed slice; an error from `before_commit`
    /// then commits nothing (the written files are deleted). The exception: a write that
    /// needs delta-rs' own write (a table with constraints, a schema change), which writes
    /// and commits in one step, runs `before_commit` right after its commit.
    pub async fn execute_with<T, E, F, Fut>(
        self,
        before_commit: F,
    ) -> std::result::Result<(WriteMetrics, T), E>
    where
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, E>>,
    {
        match self.begin().await? {
            Begun::Fanout(staging) => {
                let prepared = staging.stage().await?;
                let first = before_commit().await?;
                Ok((prepared.commit().await?, first))
            }
            Begun::Delta(write, opened) => {
                let metrics = write.execute_delta(opened).await?;
                Ok((metrics, before_commit().await?))
            }
        }
    }

    /// Runs a streamed write up to its commit: the query streams into Parquet files that no
    /// version of the table references yet; [`PreparedWrite::commit`] commits them (one
    /// commit, as [`TableWrite::execute`] would have made), and dropping the prepared write
    /// deletes them. This lets a caller order the commits of two writes that stream at the
    /// same time (e.g. one fed by the other's [`crate::tee`]).
    ///
    /// `Ok(None)` when the write cannot be split so (a batch write, an overwrite, or a table
    /// that needs delta-rs' own write): nothing ran; use [`TableWrite::execute`] instead. A
    /// new table is created (empty) either way.
    pub async fn prepare(self) -> Result<Option<PreparedWrite<'a>>> {
        if self.frame.is_none() {
            return Ok(None);
        }
        match self.begin().await? {
            Begun::Fanout(staging) => staging.stage().await.map(Some),
            Begun::Delta(..) => Ok(None),
        }
    }

    /// What every write does first: checks the slice of batch writes, opens (or creates) the
    /// table, and decides between the per-core writers and delta-rs' write.
    async fn begin(mut self) -> Result<Begun<'a>> {
        let started = Instant::now();
        let name = self.table.to_string();
        let path = self.warehouse.location(&self.table);
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let delta_err = |e| Error::delta(&name, &path, e);

        let mut batches = std::mem::take(&mut self.batches);
        let mut predicate: Option<Expr> = None;
        if let WriteMode::ReplaceSlice { ds, also } = &self.mode {
            let slice = describe_slice(ds, also);
            if self.frame.is_none() {
                batches = batches
                    .into_iter()
                    .map(|b| with_ds_column(b, ds))
                    .collect::<Result<_>>()?;
                for batch in &batches {
                    check_in_slice(batch, DS_COLUMN, ds, &name, &slice)?;
                    for (column, value) in also {
                        check_in_slice(batch, column, value, &name, &slice)?;
                    }
                }
            }
            let schema: Option<Schema> = match &self.frame {
                Some(frame) => Some(frame.schema().as_arrow().clone()),
                None => batches.first().map(|b| b.schema().as_ref().clone()),
            };
            let mut expr = col(DS_COLUMN).eq(lit(ds.clone()));
            for (column, value) in also {
                let column_type = schema
                    .as_ref()
                    .and_then(|s| s.field_with_name(column).ok().cloned())
                    .map(|f| f.data_type().clone());
                let value_expr = match column_type {
                    Some(DataType::Int64) => {
                        value.parse::<i64>().map(lit).map_err(|_| Error::Slice {
                            table: name.clone(),
                            slice: slice.clone(),
                            message: format!("`{column}` is an integer column, `{value}` is not"),
                        })?
                    }
                    _ => lit(value.clone()),
                };
                expr = expr.and(col(format!("\"{column}\"")).eq(value_expr));
            }
            predicate = Some(expr);
        }
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();

        let mut exists = path.join("_delta_log").is_dir();
        let mut table = if exists {
            deltalake::open_table(dir_url(&path)?)
                .await
                .map_err(delta_err)?
        } else {
            // A new table: don't try to load a log that isn't there (delta-rs logs that as an error).
            deltalake::DeltaTableBuilder::from_url(dir_url(&path)?)
                .and_then(|b| b.build())
                .map_err(delta_err)?
        };
        // A streamed write that creates its table: create it empty first (the schema
        // delta-rs' own write would give it, but every column nullable: below), so that the
        // rows go through the per-core writers below. Should the query fail, the table stays,
        // empty. A write of no rows creates its table empty too (delta-rs would write
        // nothing), so that the table exists for queries from the first write on.
        let create_with = match &self.frame {
            _ if exists || self.mode == WriteMode::Overwrite => None,
            Some(frame) => Some(Arc::new(frame.schema().as_arrow().clone())),
            None if rows == 0 => batches.first().map(|b| b.schema()),
            None => None,
        };
        if let Some(arrow) = create_with {
            // Every column nullable: a query's NOT NULL (inherited from an upstream column)
            // would otherwise hold for the table's life, and the first slice with a null there
            // fail every later write.
            let nullable: Vec<_> = arrow
                .fields()
                .iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
                .collect();
            let arrow = normalize_for_delta(&Arc::new(Schema::new_with_metadata(
                nullable,
                arrow.metadata().clone(),
            )));
            let schema: StructType = arrow.try_into_kernel().map_err(|e| delta_err(e.into()))?;
            table = CreateBuilder::new()
                .with_log_store(table.log_store())
                .with_columns(schema.fields().cloned())
                .with_partition_columns(self.partition_columns.clone())
                .with_commit_properties(commit_properties(&self.metadata))
                .await
                .map_err(delta_err)?;
            self.warehouse.register_delta(&self.table, &table).await?;
            exists = true;
        }

        // A streamed write into an existing table: one Parquet writer per core when the
        // result is the same as delta-rs' (see `fanout`).
        if exists
            && let Some(frame) = &self.frame
            && let Some(plan) = fanout::plan(&table, frame, &self.mode).await?
        {
            let state = self.warehouse.context().state();
            let options = state.config_options();
            let sizes = (
                options.execution.target_partitions,
                options.execution.parquet.max_row_group_size,
            );
            let described = match &self.mode {
                WriteMode::ReplaceSlice { ds, also } => Some(describe_slice(ds, also)),
                _ => None,
            };
            let frame = frame.clone();
            return Ok(Begun::Fanout(Staging {
                plan,
                table,
                name,
                path,
                frame,
                sizes,
                described,
                started,
                write: self,
            }));
        }
        // Not streamed through the per-core writers: nothing goes to a tee.
        self.tee = None;
        Ok(Begun::Delta(
            self,
            Opened {
                name,
                path,
                table,
                exists,
                batches,
                predicate,
                rows,
                started,
            },
        ))
    }

    /// The write through delta-rs (batch writes, overwrites, tables the per-core writers
    /// do not handle).
    async fn execute_delta(self, opened: Opened) -> Result<WriteMetrics> {
        let Opened {
            name,
            path,
            table,
            exists,
            batches,
            predicate,
            rows,
            started,
        } = opened;
        let delta_err = |e| Error::delta(&name, &path, e);
        if rows == 0 && self.frame.is_none() {
            // Nothing to add: an empty slice replacement deletes the slice; other modes are no-ops.
            let version = match (&predicate, exists) {
                (Some(pred), true) => {
                    let (table, metrics) = table
                        .delete()
                        .with_predicate(pred.clone())
                        .with_commit_properties(commit_properties(&self.metadata))
                        .await
                        .map_err(delta_err)?;
                    self.warehouse.register_delta(&self.table, &table).await?;
                    return Ok(WriteMetrics {
                        table: name,
                        version: table.version(),
                        rows: 0,
                        files_added: metrics.num_added_files as u64,
                        files_removed: metrics.num_removed_files as u64,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                }
                _ => table.version(),
            };
            return Ok(WriteMetrics {
                table: name,
                version,
                rows: 0,
                files_added: 0,
                files_removed: 0,
                seconds: started.elapsed().as_secs_f64(),
            });
        }

        let save_mode = match self.mode {
            WriteMode::Append => SaveMode::Append,
            WriteMode::Overwrite | WriteMode::ReplaceSlice { .. } => SaveMode::Overwrite,
        };
        let streamed = self.frame.is_some();
        let mut builder = match self.frame {
            Some(frame) => table
                .write(Vec::new())
                .with_input_plan(frame.logical_plan().clone())
                .with_session_state(Arc::new(self.warehouse.context().state())),
            None => table.write(batches),
        };
        builder = builder
            .with_save_mode(save_mode)
            .with_commit_properties(commit_properties(&self.metadata));
        if !self.partition_columns.is_empty() {
            builder = builder.with_partition_columns(self.partition_columns.clone());
        }
        if let Some(pred) = predicate {
            builder = builder.with_replace_where(pred);
        }
        builder = builder.with_schema_mode(match self.mode {
            WriteMode::Overwrite => deltalake::operations::write::SchemaMode::Overwrite,
            // A query that gained a column adds it to the table (null in the earlier rows);
            // one that lost a column writes nulls into it.
            WriteMode::Append | WriteMode::ReplaceSlice { .. } => {
                deltalake::operations::write::SchemaMode::Merge
            }
        });
        let table = builder.await.map_err(delta_err)?;
        let metrics = last_write_metrics(&table).await;
        self.warehouse.register_delta(&self.table, &table).await?;
        Ok(WriteMetrics {
            table: name,
            version: table.version(),
            rows: if streamed { metrics.2 } else { rows },
            files_added: metrics.0,
            files_removed: metrics.1,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Where [`TableWrite::begin`] leads.
enum Begun<'a> {
    /// Through the per-core writers.
    Fanout(Staging<'a>),
    /// Through delta-rs' own write.
    Delta(TableWrite<'a>, Opened),
}

/// A write opened for delta-rs' own write.
struct Opened {
    name: String,
    path: PathBuf,
    table: DeltaTable,
    exists: bool,
    batches: Vec<RecordBatch>,
    predicate: Option<Expr>,
    rows: u64,
    started: Instant,
}

/// A streamed write planned for the per-core writers.
struct Staging<'a> {
    plan: fanout::Fanout,
    table: DeltaTable,
    name: String,
    path: PathBuf,
    frame: DataFrame,
    /// Writers, Parquet row group size.
    sizes: (usize, usize),
    /// The slice, in words, for errors and the commit's predicate.
    described: Option<String>,
    started: Instant,
    write: TableWrite<'a>,
}

impl<'a> Staging<'a> {
    async fn stage(self) -> Result<PreparedWrite<'a>> {
        let Staging {
            plan,
            table,
            name,
            path,
            frame,
            sizes,
            described,
            started,
            mut write,
        } = self;
        let tee = write.tee.take();
        let staged = fanout::stage(
            plan,
            &table,
            (&name, &path),
            frame,
            &write.mode,
            sizes,
            described,
            tee,
        )
        .await?;
        Ok(PreparedWrite {
            warehouse: write.warehouse,
            table_ref: write.table,
            table,
            name,
            path,
            metadata: write.metadata,
            staged: Some(staged),
            started,
        })
    }
}

/// A streamed write whose files are written but not committed ([`TableWrite::prepare`]).
/// Dropped without [`PreparedWrite::commit`], it deletes its files: the table is unchanged.
#[must_use = "a prepared write changes nothing until committed"]
pub struct PreparedWrite<'a> {
    warehouse: &'a Warehouse,
    table_ref: TableRef,
    table: DeltaTable,
    name: String,
    path: PathBuf,
    metadata: Vec<(String, serde_json::Value)>,
    /// `None` once committed.
    staged: Option<fanout::Staged>,
    started: Instant,
}

impl std::fmt::Debug for PreparedWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedWrite")
            .field("table", &self.name)
            .field("rows", &self.rows())
            .finish_non_exhaustive()
    }
}

impl PreparedWrite<'_> {
    /// Rows written (to be committed).
    pub fn rows(&self) -> u64 {
        self.staged.as_ref().map_or(0, fanout::Staged::rows)
    }

    /// Commits the files (and the removal of the slice's old ones) in one Delta commit and
    /// re-registers the table in the warehouse session.
    pub async fn commit(mut self) -> Result<WriteMetrics> {
        let staged = self
            .staged
            .take()
            .ok_or_else(|| Error::Internal("a prepared write committed twice".into()))?;
        let metrics = fanout::commit(
            staged,
            &mut self.table,
            (&self.name, &self.path),
            &self.metadata,
        )
        .await?;
        self.warehouse
            .register_delta(&self.table_ref, &self.table)
            .await?;
        Ok(WriteMetrics {
            table: self.name.clone(),
            version: metrics.version,
            rows: metrics.rows,
            files_added: metrics.files_added,
            files_removed: metrics.files_removed,
            seconds: self.started.elapsed().as_secs_f64(),
        })
    }
}

impl Drop for PreparedWrite<'_> {
    fn drop(&mut self) {
        let Some(staged) = self.staged.take() else {
            return;
        };
        let Ok(root) = dir_url(&self.path) else {
            return;
        };
        for added in staged.added_paths() {
            // Log paths are URL-encoded and relative to the table.
            let file = root.join(added).ok().and_then(|u| u.to_file_path().ok());
            if let Some(file) = file
                && let Err(e) = std::fs::remove_file(&file)
            {
                tracing::debug!("could not delete uncommitted {}: {e}", file.display());
            }
        }
    }
}

fn commit_properties(metadata: &[(String, serde_json::Value)]) -> CommitProperties {
    CommitProperties::default().with_metadata(metadata.iter().cloned())
}

/// Files added, files removed and rows added by the table's last commit, from its operation
/// metrics.
async fn last_write_metrics(table: &DeltaTable) -> (u64, u64, u64) {
    use futures::StreamExt;
    let Some(Ok(info)) = table.history(Some(1)).next().await else {
        return (0, 0, 0);
    };
    let get = |key: &str| {
        info.info
            .get("operationMetrics")
            .and_then(|m| m.get(key))
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0)
    };
    (
        get("num_added_files"),
        get("num_removed_files"),
        get("num_added_rows"),
    )
}

pub(crate) fn describe_slice(ds: &str, also: &[(String, String)]) -> String {
    let mut s = format!("ds = '{ds}'");
    for (c, v) in also {
        s.push_str(&format!(" AND {c} = '{v}'"));
    }
    s
}

/// Adds a `ds` column holding `ds` when the batch has none.
fn with_ds_column(batch: RecordBatch, ds: &str) -> Result<RecordBatch> {
    if batch.schema().field_with_name(DS_COLUMN).is_ok() {
        return Ok(batch);
    }
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(DS_COLUMN, DataType::Utf8, false)));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![ds; batch.num_rows()])));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Refuses rows whose `column` is not `expected`: a write must stay inside its slice.
pub(crate) fn check_in_slice(
    batch: &RecordBatch,
    column: &str,
    expected: &str,
    table: &str,
    slice: &str,
) -> Result<()> {
    let Ok(index) = batch.schema().index_of(column) else {
        return Err(Error::Slice {
            table: table.to_string(),
            slice: slice.to_string(),
            message: format!("the data has no column `{column}`"),
        });
    };
    let as_text = cast(batch.column(index), &DataType::Utf8)?;
    let values = as_text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| Error::Internal("cast to Utf8 did not give a StringArray".into()))?;
    for i in 0..values.len() {
        if values.is_null(i) || values.value(i) != expected {
            let found = if values.is_null(i) {
                "NULL".to_string()
            } else {
                format!("'{}'", values.value(i))
            };
            return Err(Error::Slice {
                table: table.to_string(),
                slice: slice.to_string(),
                message: format!("row {i} has {column} = {found}, outside the slice"),
            });
        }
    }
    Ok(())
}
