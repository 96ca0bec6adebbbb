//! Streamed writes into an existing table with one Parquet writer per core (a streamed write
//! that creates its table creates it empty first, in `write`, and then comes here).
//!
//! delta-rs routes each partition value of a write to a single writer task, so replacing one
//! `ds` slice encodes every Parquet page on one core however many cores the query ran on. Here
//! the query's batches are handed to `target_partitions` writers (at most 8; delta-rs'
//! [`RecordBatchWriter`], which computes the file statistics), and the files they produce plus
//! the removal of the slice's old files go into **one** Delta commit, as delta-rs'
//! `replace_where` would have made. A crash before that commit leaves only unreferenced files.
//!
//! This path is taken only where its result is exactly the delta-rs one: an existing table
//! without constraints, the query's columns equal to the table's (string encodings aside), and
//! — for a slice narrowed by a non-partition column such as `model_version` — every old file of
//! the slice holding a single value of that column (its statistics say so). Anything else goes
//! back to the delta-rs write.

use std::path::Path;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::DataFrame;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode as DeltaWriteMode};
use futures::StreamExt;
use indexmap::IndexMap;
use tokio::sync::{Mutex, mpsc};

use crate::DS_COLUMN;
use crate::error::{Error, Result};
use crate::tee::TeeSender;
use crate::write::{WriteMode, check_in_slice};

/// Most writers of one write, whatever the core count: each writes at least one file per slice.
const MAX_WRITERS: usize = 8;

/// Batches queued per writer before the query waits.
const QUEUE_PER_WRITER: usize = 2;

/// What [`plan`] found: the old files to remove and how to shape each batch.
pub(crate) struct Fanout {
    removes: Vec<Remove>,
    /// Per table column, the query column holding it and the table's type (batches may
    /// carry `Utf8View` for `Utf8`, or other names of list items: they are cast).
    columns: Vec<(usize, DataType)>,
    schema: SchemaRef,
    partition_columns: Vec<String>,
}

/// Decides whether `frame` can be written by [`write`] into `table` under `mode`; `Ok(None)`
/// means "use the delta-rs write" (never an error of its own).
pub(crate) async fn plan(
    table: &DeltaTable,
    frame: &DataFrame,
    mode: &WriteMode,
) -> Result<Option<Fanout>> {
    let fallback = |why: String| {
        tracing::debug!("streamed write through delta-rs' single writer: {why}");
        Ok(None)
    };
    let Ok(state) = table.snapshot() else {
        return fallback("no snapshot".into());
    };
    let snapshot = state.snapshot();
    let metadata = snapshot.metadata();
    if metadata
        .configuration()
        .keys()
        .any(|k| k.starts_with("delta.constraints."))
    {
        return fallback("the table has constraints".into());
    }
    let partition_columns = metadata.partition_columns().to_vec();
    let table_schema = snapshot.arrow_schema();
    let query_schema = frame.schema().as_arrow();
    if table_schema.fields().len() != query_schema.fields().len() {
        return fallback("the query's columns are not the table's".into());
    }
    let mut columns = Vec::with_capacity(table_schema.fields().len());
    for want in table_schema.fields() {
        let Ok(index) = query_schema.index_of(want.name()) else {
            return fallback(format!("the query has no column `{}`", want.name()));
        };
        let got = query_schema.field(index).data_type();
        if same_shape(got, want.data_type()) {
            columns.push((index, want.data_type().clone()));
        } else {
            return fallback(format!(
                "column `{}` is {} in the query, {} in the table",
                want.name(),
                got,
                want.data_type()
            ));
        }
    }

    if let Err(e) = RecordBatchWriter::for_table(table) {
        return fallback(format!("its writer refuses the table: {e}"));
    }
    let removes = match mode {
        WriteMode::Append => Vec::new(),
        WriteMode::Overwrite => return fallback("an overwrite may change the schema".into()),
        WriteMode::ReplaceSlice { ds, also } => {
            if partition_columns != [DS_COLUMN] {
                return fallback(format!("the table is partitioned by {partition_columns:?}"));
            }
            // What each narrowing value is in the table's type; other types fall back.
            let mut keys = Vec::with_capacity(also.len());
            for (column, value) in also {
                let Ok(field) = table_schema.field_with_name(column) else {
                    return fallback(format!("the table has no column `{column}`"));
                };
                let key = match field.data_type() {
                    t if t.is_integer() => match value.parse::<i64>() {
                        Ok(v) => Key::Int(v),
                        Err(_) => return fallback(format!("`{value}` is not an integer")),
                    },
                    // Parquet may truncate long strings in statistics.
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                        if value.len() < STATS_SAFE_TEXT =>
                    {
                        Key::Text(value.clone())
                    }
                    t => return fallback(format!("`{column}` is {t}")),
                };
                keys.push((column, key));
            }
            let mut removes = Vec::new();
            let mut files = snapshot.file_views(table.log_store().as_ref(), None);
            while let Some(file) = files.next().await {
                let file = match file {
                    Ok(file) => file,
                    Err(e) => return fallback(format!("listing files: {e}")),
                };
                let partition = file.partition_values_map();
                if partition.get(DS_COLUMN).cloned().flatten().as_deref() != Some(ds.as_str()) {
                    continue;
                }
                let stats: Option<serde_json::Value> =
                    file.stats().and_then(|s| serde_json::from_str(&s).ok());
                let mut inside = true;
                for (column, key) in &keys {
                    match single_value(stats.as_ref(), column).and_then(|v| key.matches(v)) {
                        Some(true) => {}
                        Some(false) => inside = false,
                        // Mixed or unknown: only a rewrite of the file could split it.
                        None => {
                            return fallback(format!(
                                "{} holds several values of `{column}`",
                                file.path()
                            ));
                        }
                    }
                }
                if inside {
                    removes.push(file.remove_action(true));
                }
            }
            removes
        }
    };
    Ok(Some(Fanout {
        removes,
        columns,
        schema: table_schema,
        partition_columns,
    }))
}

/// Whether values of type `a` cast losslessly to `b`: the same type up to string encodings
/// (dictionary-encoded strings included),
/// the names of nested fields and nullability.
fn same_shape(a: &DataType, b: &DataType) -> bool {
    fn string(t: &DataType) -> bool {
        match t {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => true,
            // Partition columns read back from Delta are dictionary-encoded.
            DataType::Dictionary(_, values) => string(values),
            _ => false,
        }
    }
    match (a, b) {
        _ if string(a) && string(b) => true,
        (DataType::List(x), DataType::List(y)) => same_shape(x.data_type(), y.data_type()),
        (DataType::Struct(x), DataType::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(f, g)| f.name() == g.name() && same_shape(f.data_type(), g.data_type()))
        }
        _ => a == b,
    }
}

/// Strings at least this long are not trusted to be whole in file statistics.
const STATS_SAFE_TEXT: usize = 32;

/// A narrowing value of a slice, typed as its column.
enum Key {
    Int(i64),
    Text(String),
}

impl Key {
    /// Whether a file whose column holds the single value `v` (from its statistics) is
    /// inside the slice; `None` when the statistics cannot say.
    fn matches(&self, v: &serde_json::Value) -> Option<bool> {
        match (self, v) {
            (Key::Int(k), serde_json::Value::Number(n)) => n.as_i64().map(|n| n == *k),
            (Key::Text(k), serde_json::Value::String(s)) if s.len() < STATS_SAFE_TEXT => {
                Some(s == k)
            }
            _ => None,
        }
    }
}

/// The one value `column` takes in a file, when its statistics show min = max and no nulls.
fn single_value<'a>(
    stats: Option<&'a serde_json::Value>,
    column: &str,
) -> Option<&'a serde_json::Value> {
    let stats = stats?;
    let min = stats.get("minValues")?.get(column)?;
    let max = stats.get("maxValues")?.get(column)?;
    let nulls = stats
        .get("nullCount")
        .and_then(|n| n.get(column))
        .and_then(|n| n.as_u64());
    (min == max && nulls == Some(0)).then_some(min)
}

/// What [`commit`] committed.
pub(crate) struct FanoutMetrics {
    pub(crate) version: Option<u64>,
    pub(crate) rows: u64,
    pub(crate) files_added: u64,
    pub(crate) files_removed: u64,
}

/// A write whose files are written and not yet committed: only [`commit`] makes them part of
/// the table; until then they are unreferenced files, as after a crash.
pub(crate) struct Staged {
    adds: Vec<Add>,
    removes: Vec<Remove>,
    rows: u64,
    partition_columns: Vec<String>,
    save_mode: SaveMode,
    predicate: Option<String>,
}

impl Staged {
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// The table-relative paths of the files written (URL-encoded, as in the log).
    pub(crate) fn added_paths(&self) -> impl Iterator<Item = &str> {
        self.adds.iter().map(|a| a.path.as_str())
    }
}

/// Streams `frame` through `writers` (at most [`MAX_WRITERS`]) Parquet writers; each batch is
/// also handed to `tee`, when given. Nothing is committed: see [`commit`].
#[allow(clippy::too_many_arguments)]
pub(crate) async fn stage(
    fanout: Fanout,
    table: &DeltaTable,
    (name, path): (&str, &Path),
    frame: DataFrame,
    mode: &WriteMode,
    (writers, max_row_group_size): (usize, usize),
    predicate: Option<String>,
    tee: Option<TeeSender>,
) -> Result<Staged> {
    let delta_err = |e| Error::delta(name, path, e);
    let writers = writers.clamp(1, MAX_WRITERS);
    let (tx, rx) = mpsc::channel::<RecordBatch>(QUEUE_PER_WRITER * writers);
    let rx = Arc::new(Mutex::new(rx));
    let mut tasks = tokio::task::JoinSet::new();
    // In a slice replacement every batch lies in the one `ds` slice (`produce` checks each
    // before queueing it, and `plan` that `ds` is the only partition column): it goes to
    // that partition as it is, where `write` would sort and copy each batch by partition.
    let one_partition = matches!(mode, WriteMode::ReplaceSlice { .. });
    for _ in 0..writers {
        let mut writer = RecordBatchWriter::for_table(table).map_err(delta_err)?;
        let rx = rx.clone();
        tasks.spawn(async move {
            let mut first = true;
            loop {
                // The lock is held only while waiting for the next batch.
                let next = rx.lock().await.recv().await;
                let Some(batch) = next else { break };
                if first {
                    // Nothing is written yet: the file's settings follow its first batch.
                    writer = writer
                        .with_writer_properties(writer_properties(&batch, max_row_group_size));
                    first = false;
                }
                match slice_partition(&batch, one_partition) {
                    Some(partition) => {
                        writer
                            .write_partition(batch, &partition, DeltaWriteMode::Default)
                            .await?;
                    }
                    None => writer.write(batch).await?,
                }
            }
            writer.flush().await
        });
    }

    // A failed query is reported before a failed writer; the query stops early only when no
    // writer is left to take its batches.
    let started = std::time::Instant::now();
    let produced = produce(&fanout, name, frame, mode, predicate.as_deref(), tx, tee).await;
    tracing::debug!(
        table = name,
        "query streamed in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let mut adds: Vec<Add> = Vec::new();
    let mut written: Result<()> = Ok(());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(files)) => adds.extend(files),
            Ok(Err(e)) if written.is_ok() => written = Err(delta_err(e)),
            Err(e) if written.is_ok() => {
                written = Err(Error::Internal(format!("Parquet writer task: {e}")))
            }
            _ => {}
        }
    }
    tracing::debug!(
        table = name,
        "files written in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    // On any error, what was written is unreferenced: the table is unchanged.
    let rows = produced?;
    written?;
    Ok(Staged {
        adds,
        removes: fanout.removes,
        rows,
        partition_columns: fanout.partition_columns,
        save_mode: match mode {
            WriteMode::Append => SaveMode::Append,
            _ => SaveMode::Overwrite,
        },
        predicate,
    })
}

/// The `ds` partition of a batch that lies in one slice (`one_partition`), as delta-rs reads
/// it from the first row; `None` otherwise, or if that value cannot be read (then
/// `RecordBatchWriter::write` splits the batch itself). Generic because delta-rs does not
/// export its kernel's `Scalar` by name: the caller's `write_partition` fixes the type.
fn slice_partition<S: ScalarExt>(
    batch: &RecordBatch,
    one_partition: bool,
) -> Option<IndexMap<String, S>> {
    if !one_partition || batch.num_rows() == 0 {
        return None;
    }
    let column = batch.column_by_name(DS_COLUMN)?;
    let value = S::from_array(column.as_ref(), 0)?;
    Some(IndexMap::from([(DS_COLUMN.to_string(), value)]))
}

/// Commits a staged write (its files and the planned removals) in one Delta commit carrying
/// `metadata`; `table` is brought to the new version.
pub(crate) async fn commit(
    staged: Staged,
    table: &mut DeltaTable,
    (name, path): (&str, &Path),
    metadata: &[(String, serde_json::Value)],
) -> Result<FanoutMetrics> {
    let delta_err = |e| Error::delta(name, path, e);
    let Staged {
        adds,
        removes,
        rows,
        partition_columns,
        save_mode,
        predicate,
    } = staged;
    let files_added = adds.len() as u64;
    let files_removed = removes.len() as u64;
    if adds.is_empty() && removes.is_empty() {
        return Ok(FanoutMetrics {
            version: table.version(),
            rows,
            files_added,
            files_removed,
        });
    }
    let bytes_added: i64 = adds.iter().map(|a| a.size).sum();
    let mut actions: Vec<Action> = removes.into_iter().map(Action::Remove).collect();
    actions.extend(adds.into_iter().map(Action::Add));
    let operation = DeltaOperation::Write {
        mode: save_mode,
        partition_by: (!partition_columns.is_empty()).then_some(partition_columns),
        predicate,
    };
    let operation_metrics = serde_json::json!({
        "num_added_files": files_added,
        "num_removed_files": files_removed,
        "num_added_rows": rows,
        "num_added_bytes": bytes_added,
    });
    let properties = CommitProperties::default().with_metadata(
        metadata
            .iter()
            .cloned()
            .chain([("operationMetrics".to_string(), operation_metrics)]),
    );
    let snapshot = table.snapshot().map_err(delta_err)?.clone();
    let commit = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(&snapshot), table.log_store(), operation)
        .await
        .map_err(delta_err)?;
    let version = commit.version();
    table
        .update_incremental(Some(version))
        .await
        .map_err(delta_err)?;
    Ok(FanoutMetrics {
        version: Some(version),
        rows,
        files_added,
        files_removed,
    })
}

/// Values of a file's first batch looked at to tell whether a column repeats.
const DICTIONARY_SAMPLE: usize = 4096;

/// Fewest non-null values in the sample that say anything about repeats.
const DICTIONARY_MIN_SAMPLE: usize = 256;

/// The Parquet settings of a file whose first batch is `first`: Snappy, row groups of
/// `max_row_group_size` rows, and dictionary encoding except for the string, number and time
/// columns whose values mostly differ (ids, free text, amounts, timestamps, the
/// probabilities inside a list of structs), judged on the first non-null values of each
/// column, top-level or nested. Parquet would try a dictionary for those too and give up
/// once it passed its size limit in each row group, after hashing and comparing every value
/// up to there; the file's contents are the same either way.
fn writer_properties(first: &RecordBatch, max_row_group_size: usize) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_created_by(format!("nightshift {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(max_row_group_size.max(1)));
    let mut unique = Vec::new();
    for (field, column) in first.schema().fields().iter().zip(first.columns()) {
        mostly_unique_leaves(vec![field.name().clone()], column, &mut unique);
    }
    for path in unique {
        builder = builder.set_column_dictionary_enabled(ColumnPath::new(path), false);
    }
    builder.build()
}

/// Appends to `out` the Parquet paths of the leaf columns under `path` (holding `column`)
/// whose sampled non-null values mostly differ. Lists are `<name>.list.<element>` in
/// Parquet, struct fields `<name>.<field>`.
fn mostly_unique_leaves(path: Vec<String>, column: &ArrayRef, out: &mut Vec<Vec<String>>) {
    let child = |name: &str| {
        let mut p = path.clone();
        p.push(name.to_string());
        p
    };
    let list = match column.data_type() {
        DataType::Struct(fields) => {
            let columns = column.as_struct().columns();
            for (field, c) in fields.iter().zip(columns) {
                mostly_unique_leaves(child(field.name()), c, out);
            }
            return;
        }
        DataType::List(element) => Some((element, row_values(column.as_list::<i32>()))),
        DataType::LargeList(element) => Some((element, row_values(column.as_list::<i64>()))),
        _ => None,
    };
    if let Some((element, values)) = list {
        let mut p = child("list");
        p.push(element.name().clone());
        return mostly_unique_leaves(p, &values, out);
    }
    let Some((values, distinct)) = sampled_distinct(column) else {
        return;
    };
    if values >= DICTIONARY_MIN_SAMPLE && distinct * 2 > values {
        out.push(path);
    }
}

/// The values of the rows of `list` (a slice of a list array keeps all of its parent's).
fn row_values<O: OffsetSizeTrait>(list: &GenericListArray<O>) -> ArrayRef {
    let offsets = list.value_offsets();
    let (start, end) = (offsets[0].as_usize(), offsets[list.len()].as_usize());
    list.values().slice(start, end - start)
}

/// `(non-null values, distinct values)` among the first [`DICTIONARY_SAMPLE`] non-null values
/// of a string, number or time column; `None` for other types.
fn sampled_distinct(column: &ArrayRef) -> Option<(usize, usize)> {
    let t = column.data_type();
    Some(match t {
        DataType::Utf8 => distinct_values(column.as_string::<i32>().iter()),
        DataType::LargeUtf8 => distinct_values(column.as_string::<i64>().iter()),
        DataType::Utf8View => distinct_values(column.as_string_view().iter()),
        // Numbers and times: a dictionary of 4- or 8-byte values that mostly differ is as
        // large as the values.
        t if t.is_primitive() => {
            let data = column.to_data();
            let values = data.buffers().first()?;
            let valid = |i: usize| column.is_valid(i);
            match t.primitive_width() {
                Some(4) => distinct_values(
                    values.typed_data::<u32>()[data.offset()..][..column.len()]
                        .iter()
                        .enumerate()
                        .map(|(i, v)| valid(i).then_some(v)),
                ),
                Some(8) => distinct_values(
                    values.typed_data::<u64>()[data.offset()..][..column.len()]
                        .iter()
                        .enumerate()
                        .map(|(i, v)| valid(i).then_some(v)),
                ),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// `(non-null values, distinct values)` among the first [`DICTIONARY_SAMPLE`] non-null ones.
fn distinct_values<T: Eq + std::hash::Hash>(
    values: impl Iterator<Item = Option<T>>,
) -> (usize, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut n = 0;
    for v in values.flatten().take(DICTIONARY_SAMPLE) {
        seen.insert(v);
        n += 1;
    }
    (n, seen.len())
}

/// Runs the query, checks and shapes each batch, and queues it for the writers; returns the
/// row count; in a slice replacement (`slice` describes it) rows outside it are refused.
/// Dropping `tx` at the end tells the writers to finish.
async fn produce(
    fanout: &Fanout,
    name: &str,
    frame: DataFrame,
    mode: &WriteMode,
    slice: Option<&str>,
    tx: mpsc::Sender<RecordBatch>,
    mut tee: Option<TeeSender>,
) -> Result<u64> {
    if let Some(tee) = &mut tee {
        tee.schema(fanout.schema.clone()).await;
    }
    let mut stream = crate::warehouse::execute_logged(frame)
        .await
        .map_err(|e| Error::sql(e, vec![]))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::sql(e, vec![]))?;
        if batch.num_rows() == 0 {
            continue;
        }
        let batch = shape(fanout, name, batch)?;
        if let (WriteMode::ReplaceSlice { ds, also }, Some(slice)) = (mode, slice) {
            check_in_slice(&batch, DS_COLUMN, ds, name, slice)?;
            for (column, value) in also {
                check_in_slice(&batch, column, value, name, slice)?;
            }
        }
        rows += batch.num_rows() as u64;
        if let Some(tee) = &mut tee {
            tee.batch(&batch).await;
        }
        if tx.send(batch).await.is_err() {
            // A writer failed; its error is reported by the caller (and the tee, dropped
            // without its end mark, fails its reader).
            return Ok(rows);
        }
    }
    if let Some(tee) = tee {
        tee.end().await;
    }
    Ok(rows)
}

/// Puts the batch's columns in the table's order and encoding, under the table's schema
/// (`name`'s), whose NOT NULL columns must hold no null.
fn shape(fanout: &Fanout, name: &str, batch: RecordBatch) -> Result<RecordBatch> {
    let columns = fanout
        .columns
        .iter()
        .enumerate()
        .map(|(i, (index, want))| {
            let column = batch.column(*index);
            let got = column.data_type();
            if got == want {
                Ok(column.clone())
            } else if same_shape(got, want) {
                Ok(cast(column, want)?)
            } else {
                // The plan declared a compatible type; the batch disagrees.
                Err(Error::Internal(format!(
                    "column `{}` arrived as {got}, the table stores {want}",
                    fanout.schema.field(i).name()
                )))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    for (field, column) in fanout.schema.fields().iter().zip(&columns) {
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(Error::NullInNotNull {
                table: name.to_string(),
                column: field.name().clone(),
            });
        }
    }
    Ok(RecordBatch::try_new(fanout.schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{
        Float32Array, Float64Array, Int64Array, ListArray, StringArray, StructArray,
    };
    use deltalake::arrow::buffer::OffsetBuffer;
    use deltalake::arrow::datatypes::{Field, Fields, Schema};

    /// Columns whose values mostly differ are written without a dictionary, nested ones too
    /// and judged on their non-null values; the others, and every column of a batch too
    /// small to tell, keep it.
    #[test]
    fn dictionaries_only_where_values_repeat() {
        let n = 1000;
        let ids: Vec<String> = (0..n).map(|i| format!("contact-{i}")).collect();
        let channels: Vec<&str> = (0..n).map(|i| ["chat", "email"][i % 2]).collect();
        let amounts: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        let versions: Vec<i64> = vec![3; n];
        // 70% nulls: the 300 others all differ.
        let trips: Vec<Option<String>> = (0..n)
            .map(|i| (i % 10 < 3).then(|| format!("trip-{i}")))
            .collect();
        // Three (label, probability) pairs per row: labels repeat, probabilities do not.
        let entry = Fields::from(vec![
            Field::new("label", DataType::Utf8, false),
            Field::new("confidence", DataType::Float32, false),
        ]);
        let labels: Vec<&str> = (0..3 * n)
            .map(|i| ["refund", "late", "app"][i % 3])
            .collect();
        let probabilities: Vec<f32> = (0..3 * n).map(|i| 1.0 / (i as f32 + 2.0)).collect();
        let entries = StructArray::new(
            entry.clone(),
            vec![
                Arc::new(StringArray::from(labels)) as ArrayRef,
                Arc::new(Float32Array::from(probabilities)),
            ],
            None,
        );
        let element = Arc::new(Field::new("element", DataType::Struct(entry), false));
        let top_k = ListArray::new(
            element.clone(),
            OffsetBuffer::from_lengths(vec![3; n]),
            Arc::new(entries),
            None,
        );
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("channel", DataType::Utf8, false),
                Field::new("amount", DataType::Float64, false),
                Field::new("version", DataType::Int64, false),
                Field::new("trip_id", DataType::Utf8, true),
                Field::new("top_k", DataType::List(element), false),
            ])),
            vec![
                Arc::new(StringArray::from(ids)) as ArrayRef,
                Arc::new(StringArray::from(channels)),
                Arc::new(Float64Array::from(amounts)),
                Arc::new(Int64Array::from(versions)),
                Arc::new(StringArray::from(trips)),
                Arc::new(top_k),
            ],
        )
        .expect("batch");
        let dictionary = |p: &WriterProperties, c: &str| {
            p.dictionary_enabled(&ColumnPath::new(c.split('.').map(String::from).collect()))
        };
        let p = writer_properties(&batch, 128);
        assert!(!dictionary(&p, "id"));
        assert!(dictionary(&p, "channel"));
        assert!(!dictionary(&p, "amount"));
        assert!(dictionary(&p, "version"));
        assert!(
            !dictionary(&p, "trip_id"),
            "distinct among its non-null values"
        );
        assert!(dictionary(&p, "top_k.list.element.label"));
        assert!(!dictionary(&p, "top_k.list.element.confidence"));
        assert_eq!(p.max_row_group_row_count(), Some(128));
        let small = writer_properties(&batch.slice(0, 80), 128);
        assert!(dictionary(&small, "id"), "80 rows say nothing");
        assert!(dictionary(&small, "top_k.list.element.confidence"));
        // 100 rows hold 300 probabilities: enough to tell for them, not for the ids.
        let some = writer_properties(&batch.slice(20, 100), 128);
        assert!(dictionary(&some, "id"));
        assert!(!dictionary(&some, "top_k.list.element.confidence"));
    }
}
