//! Task `features`: the windowed features SQL -> the intermediate slice (+ rejects).

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nightshift_lake::arrow::array::{
    ArrayRef, BooleanArray, BooleanBufferBuilder, RecordBatch, StringArray,
};
use nightshift_lake::arrow::compute::{cast, filter_record_batch};
use nightshift_lake::arrow::datatypes::{DataType, Field, Schema};
use nightshift_lake::arrow::json::LineDelimitedWriter;
use nightshift_lake::{
    DS_COLUMN, StreamEnd, StringColumn, TableRef, TeeSender, Warehouse, WriteMetrics,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::model::LoadedModel;
use crate::plan::RunPlan;
use crate::rejects::{RejectReason, RejectsBuilder};

/// Rows refused, by reason.
pub type RejectCounts = BTreeMap<RejectReason, u64>;

/// What `features` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeaturesReport {
    /// The slice written.
    pub ds: String,
    /// Rows the features query returned.
    pub rows_in: u64,
    /// Rows written to the features slice.
    pub rows_written: u64,
    /// Rows written to the rejects table instead, by reason.
    pub rejected: RejectCounts,
    /// The features table write.
    pub features_write: WriteMetrics,
    /// The rejects table write (made even when nothing was refused: the slice's earlier
    /// rejects are replaced, and the table exists from the first run on for monitoring).
    pub rejects_write: WriteMetrics,
    /// Seconds until the query produced its first batch (planning and first scan; the rest
    /// of the query streams into the write).
    pub query_seconds: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Renders and runs the features SQL for the plan's window, refuses bad rows into
/// `output.<pipeline>_rejects` (reason per row) and replaces the `ds` slice of
/// `intermediate.<pipeline>_features` in one Delta commit. Running it again for the same plan
/// leaves the same rows. A `ds` column returned by the query is replaced by the window's `ds`.
pub async fn features(warehouse: &Warehouse, plan: &RunPlan) -> Result<FeaturesReport> {
    features_teed(warehouse, plan, None, None).await
}

/// [`features`], handing the rows written to `tee` as well (see `nightshift_lake::tee`).
/// With the `model` that `infer` will run on the slice, a query without one of the model's
/// input columns fails before anything is written: the slice's column would be null (the
/// table keeps the column an earlier query returned) and every prediction silently worse.
pub(crate) async fn features_teed(
    warehouse: &Warehouse,
    plan: &RunPlan,
    tee: Option<TeeSender>,
    model: Option<&LoadedModel>,
) -> Result<FeaturesReport> {
    let started = Instant::now();
    let spec = &plan.pipeline;
    let shape_error = |message: String, hint: Option<String>| Error::FeaturesShape {
        pipeline: spec.name.clone(),
        file: spec.features_path.display().to_string(),
        message,
        hint,
    };
    if nightshift_core::variables(&spec.features_sql).is_ok_and(|v| v.is_empty()) {
        tracing::warn!(
            pipeline = %spec.name,
            "the features query ({}) uses none of {{{{ window_start }}}}, {{{{ window_end }}}}, \
             {{{{ ds }}}}: every date reads the same rows into its slice; filter on the window",
            spec.features_path.display()
        );
    }
    let sql = nightshift_core::render(&spec.features_sql, &plan.template_vars())?;
    tracing::debug!(pipeline = %spec.name, ds = %plan.ds, "features SQL:\n{sql}");
    let in_file = |source: nightshift_lake::Error| Error::FeaturesSql {
        pipeline: spec.name.clone(),
        file: spec.features_path.display().to_string(),
        source: Box::new(source),
    };
    let frame = warehouse.sql(&sql).await.map_err(in_file)?;
    let schema: Arc<Schema> = Arc::new(frame.schema().as_arrow().clone());

    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let find = |name: &str, key: &str| {
        schema.index_of(name).map_err(|_| {
            shape_error(
                format!("the result has no column `{name}` (the pipeline's `{key}`)"),
                Some(format!(
                    "the query returns: {}; select `{name}` or change `{key}` in the project file",
                    columns.join(", ")
                )),
            )
        })
    };
    let id_index = find(&spec.id_column, "id_column")?;
    let text_index = find(&spec.text_column, "text_column")?;
    // The rollups group by the `dimensions`: a missing one is found here, before anything is
    // written, not by `publish` after the predictions are committed.
    for dimension in &spec.dimensions {
        find(dimension, "dimensions")?;
    }
    if let Some(model) = model {
        for column in model.extra_columns() {
            if schema.index_of(column).is_err() {
                return Err(shape_error(
                    format!(
                        "the result has no column `{column}`, an input of the model {}@{} that infer runs next",
                        model.name(),
                        model.version.version
                    ),
                    Some(format!(
                        "the query returns: {}; select `{column}` or train a model on the columns there are",
                        columns.join(", ")
                    )),
                ));
            }
        }
    }
    let id_type = schema.field(id_index).data_type();
    if id_type.is_nested() {
        return Err(shape_error(
            format!(
                "column `{}` is {id_type}: an id must be one value (text, an integer, ...)",
                spec.id_column
            ),
            Some(format!(
                "build one in the SQL, e.g. concat(a, '-', b) AS {}",
                spec.id_column
            )),
        ));
    }
    let text_type = schema.field(text_index).data_type();
    if !matches!(
        text_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Err(shape_error(
            format!("column `{}` is {text_type}, not text", spec.text_column),
            Some(format!(
                "cast it in the SQL: CAST(x AS VARCHAR) AS {}",
                spec.text_column
            )),
        ));
    }

    // The query's columns without its own `ds`, then the window's `ds`.
    let mut fields: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .filter(|f| f.name() != DS_COLUMN)
        .cloned()
        .collect();
    fields.push(Arc::new(Field::new(DS_COLUMN, DataType::Utf8, false)));
    let output_schema = Arc::new(Schema::new(fields));
    let (id_index, text_index) = (
        index_after_drop(&schema, id_index),
        index_after_drop(&schema, text_index),
    );

    // Streams: each batch of the query is checked, its bad rows go to `state` (rejects are
    // few and kept in memory), its good rows straight to Parquet.
    let state = Arc::new(Mutex::new(Some(RefuseState {
        rejects: RejectsBuilder::new("features", &plan.run_id, &plan.ds, plan.started_at),
        counts: RejectCounts::new(),
        seen: IdSet::default(),
        rows_in: 0,
        first_batch_at: None,
        all_refused: false,
        empty: false,
    })));
    let refuse = Refuser {
        state: state.clone(),
        output_schema: output_schema.clone(),
        ds: plan.ds.clone(),
        id_index,
        text_index,
        max_chars: spec.max_text_chars,
    };
    // A window whose every row is refused, or whose query returned no row though `min_rows`
    // asks for some (an inner join with an emptied lookup table, a filter gone wrong: `check`
    // found the driving table's rows), is nearly always a broken query or broken upstream
    // data: the write fails before anything is committed, so the slice keeps what an earlier
    // run wrote (see `ended_with`). Fewer rows than `min_rows` but some is a query
    // that filters (`min_rows` counts the driving table's rows).
    let end_state = state.clone();
    let rows_needed = spec.min_rows > 0;
    let end: StreamEnd = Box::new(move || {
        let mut guard = end_state
            .lock()
            .map_err(|_| Error::Internal("reject state poisoned".into()))?;
        match guard.as_mut() {
            Some(s) if s.rows_in == 0 && rows_needed => {
                s.empty = true;
                Err("the features query returned no row".into())
            }
            Some(s) if s.rows_in > 0 && s.counts.values().sum::<u64>() == s.rows_in => {
                s.all_refused = true;
                Err("every row of the window was refused".into())
            }
            _ => Ok(()),
        }
    });
    let features_table = TableRef::parse(&spec.features_table())?;
    let mut write = warehouse
        .write_query_mapped(
            &features_table,
            frame,
            output_schema,
            Box::new(move |batch| refuse.apply(batch).map_err(Into::into)),
            end,
        )
        .await?
        .replace_slice(&plan.ds)
        .with_commit_metadata("run_id", plan.run_id.clone().into())
        .with_commit_metadata("task", "features".into());
    if let Some(tee) = tee {
        write = write.with_tee(tee);
    }
    // The rejects of the slice are committed first, once the stream has ended and before the
    // features commit: a crash between the two commits leaves the old features slice (or
    // none) and the new rejects, which the re-run replaces, never a new slice whose refused
    // rows are missing.
    let rejects_table = TableRef::parse(&spec.rejects_table())?;
    let written = write
        .execute_with(|| async {
            // The write has consumed the stream; take what it recorded (the closure may still
            // be referenced by the dropped plan, so take rather than unwrap the Arc).
            let RefuseState {
                rejects,
                counts,
                rows_in,
                first_batch_at,
                ..
            } = state
                .lock()
                .map_err(|_| Error::Internal("reject state poisoned".into()))?
                .take()
                .ok_or_else(|| Error::Internal("reject state taken twice".into()))?;
            let rejects_write = warehouse
                .write(&rejects_table, vec![rejects.finish()?])
                .replace_slice(&plan.ds)
                .also_matching("task", "features")
                .with_commit_metadata("run_id", plan.run_id.clone().into())
                .with_commit_metadata("task", "features".into())
                .execute()
                .await?;
            Ok::<_, Error>((rejects_write, counts, rows_in, first_batch_at))
        })
        .await;
    let (features_write, (rejects_write, counts, rows_in, first_batch_at)) = match written {
        Ok(done) => done,
        Err(_) if ended_with(&state, |s| s.all_refused) => return Err(all_refused(plan, &state)),
        Err(_) if ended_with(&state, |s| s.empty) => return Err(no_rows(plan)),
        // The query failed while it streamed (a value that does not convert, ...).
        Err(Error::Lake(e @ nightshift_lake::Error::Sql { .. })) => return Err(in_file(e)),
        Err(e) => return Err(e),
    };
    let query_seconds = first_batch_at.map_or(0.0, |t| (t - started).as_secs_f64());
    let rows_written = features_write.rows;
    if !counts.is_empty() {
        tracing::warn!(
            pipeline = %spec.name,
            ds = %plan.ds,
            rejected = counts.values().sum::<u64>(),
            "rows refused into {}",
            spec.rejects_table()
        );
    }
    Ok(FeaturesReport {
        ds: plan.ds.clone(),
        rows_in,
        rows_written,
        rejected: counts,
        features_write,
        rejects_write,
        query_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Whether the stream ended as `failed` says (every row refused, or none though `min_rows`
/// asks for some: the write then fails).
fn ended_with(state: &Mutex<Option<RefuseState>>, failed: fn(&RefuseState) -> bool) -> bool {
    state
        .lock()
        .ok()
        .as_deref()
        .and_then(Option::as_ref)
        .is_some_and(failed)
}

/// The error of a features query that returned no row though `min_rows` asks for some.
fn no_rows(plan: &RunPlan) -> Error {
    let spec = &plan.pipeline;
    Error::QualityGate {
        pipeline: spec.name.clone(),
        gate: "min_rows".into(),
        message: format!(
            "the features query returned no row for ds {} (min_rows = {}); nothing was written: the slice keeps what an earlier run wrote",
            plan.ds, spec.min_rows
        ),
        hint: Some(format!(
            "look for what drops the window's rows of `{}` in {} (an inner join with a table that is empty or lacks the window's keys, a filter), e.g. with `nightshift sql`; set min_rows = 0 to accept an empty slice",
            spec.reads
                .first()
                .map_or("the driving table", |r| r.as_str()),
            spec.features_path.display()
        )),
    }
}

/// The error of a window whose every row was refused: how many, and why.
fn all_refused(plan: &RunPlan, state: &Mutex<Option<RefuseState>>) -> Error {
    let (rows, reasons) = match state.lock().ok().as_deref().and_then(Option::as_ref) {
        Some(s) => (
            s.rows_in,
            s.counts
                .iter()
                .map(|(reason, n)| format!("{} {n}", reason.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => (0, String::new()),
    };
    Error::QualityGate {
        pipeline: plan.pipeline.name.clone(),
        gate: "rows refused".into(),
        message: format!(
            "all {rows} rows of ds {} were refused ({reasons}); nothing was written: the slice keeps what an earlier run wrote",
            plan.ds
        ),
        hint: Some(format!(
            "check the columns `{}` and `{}` of the features query ({}) and the upstream data, then run the date again",
            plan.pipeline.id_column,
            plan.pipeline.text_column,
            plan.pipeline.features_path.display()
        )),
    }
}

/// What the streaming refusal keeps between batches.
struct RefuseState {
    rejects: RejectsBuilder,
    counts: RejectCounts,
    /// Ids seen in this window (duplicates are refused): the one thing that grows with the
    /// slice, about 40 bytes per row.
    seen: IdSet,
    rows_in: u64,
    /// When the query produced its first batch (its planning and first scan).
    first_batch_at: Option<Instant>,
    /// Set when the stream ended with every one of its rows refused.
    all_refused: bool,
    /// Set when the stream ended without a row though `min_rows` asks for some.
    empty: bool,
}

/// Splits each batch of the features query into kept rows (returned, with the window's
/// `ds`) and refused rows (recorded in the shared [`RefuseState`]).
struct Refuser {
    /// `None` once the task has taken the result.
    state: Arc<Mutex<Option<RefuseState>>>,
    output_schema: Arc<Schema>,
    ds: String,
    id_index: usize,
    text_index: usize,
    max_chars: usize,
}

impl Refuser {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| Error::Internal("reject state poisoned".into()))?;
        let state = guard
            .as_mut()
            .ok_or_else(|| Error::Internal("features stream ran after its write".into()))?;
        state.first_batch_at.get_or_insert_with(Instant::now);
        let batch = without_column(&batch, DS_COLUMN)?;
        state.rows_in += batch.num_rows() as u64;
        let id_column = batch.column(self.id_index);
        // Ids of another type (integers, ...) are checked as their text.
        let id_text;
        let ids = match StringColumn::of(id_column) {
            Some(ids) => ids,
            None => {
                id_text = cast(id_column, &DataType::Utf8)?;
                StringColumn::of(&id_text).ok_or_else(|| {
                    Error::Internal("cast to Utf8 did not give a string array".into())
                })?
            }
        };
        let texts = StringColumn::of(batch.column(self.text_index))
            .ok_or_else(|| Error::Internal("the text column is not a string array".into()))?;
        let max_chars = self.max_chars;
        // Rows refused, in order; nearly always none, and then the batch goes on as it is.
        let mut refused: Vec<usize> = Vec::new();
        for i in 0..batch.num_rows() {
            let id = (!ids.is_null(i)).then(|| ids.value(i));
            let reason = match id {
                None => Some((RejectReason::NullId, "id is null".to_string())),
                Some(id) if !state.seen.insert(id) => Some((
                    RejectReason::DuplicateId,
                    format!(
                        "id {id} appears more than once in the window; one row was kept (which one is not fixed: de-duplicate in the features query to choose)"
                    ),
                )),
                Some(_) if texts.is_null(i) => {
                    Some((RejectReason::NullText, "text is null".into()))
                }
                Some(_) if texts.value(i).trim().is_empty() => {
                    Some((RejectReason::EmptyText, "text is empty".into()))
                }
                Some(_)
                    if texts.value(i).len() > max_chars
                        && texts.value(i).chars().count() > max_chars =>
                {
                    Some((
                        RejectReason::OversizedText,
                        format!(
                            "text has {} characters, more than max_text_chars = {max_chars}",
                            texts.value(i).chars().count()
                        ),
                    ))
                }
                Some(_) => None,
            };
            if let Some((reason, detail)) = reason {
                refused.push(i);
                *state.counts.entry(reason).or_default() += 1;
                state
                    .rejects
                    .push(id, reason, &detail, &row_json(&batch, i)?);
            }
        }
        let kept = if refused.is_empty() {
            batch
        } else {
            let mut keep = BooleanBufferBuilder::new(batch.num_rows());
            keep.append_n(batch.num_rows(), true);
            for i in refused {
                keep.set_bit(i, false);
            }
            filter_record_batch(&batch, &BooleanArray::new(keep.finish(), None))?
        };
        // DataFusion may execute a column in another layout than its plan declares (a `CASE`
        // of a string literal and a string column: declared Utf8, produced Utf8View): such a
        // column is cast to the declared type, which the table is created with.
        let mut columns: Vec<ArrayRef> = kept
            .columns()
            .iter()
            .zip(self.output_schema.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(column.clone())
                } else {
                    cast(column, field.data_type())
                }
            })
            .collect::<std::result::Result<_, _>>()?;
        columns.push(Arc::new(StringArray::from(vec![
            self.ds.as_str();
            kept.num_rows()
        ])));
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }
}

/// An exact set of string ids without an allocation per id: the ids are appended to one
/// buffer and indexed by a 64-bit hash; the rare id whose hash equals an earlier, different
/// id's goes to a small overflow set.
struct IdSet {
    /// Hash -> index (into `ends`) of the first id with that hash.
    by_hash: FxHashMap<u64, u32>,
    bytes: Vec<u8>,
    /// End offset in `bytes` of each stored id.
    ends: Vec<usize>,
    overflow: FxHashSet<Box<str>>,
    hash: fn(&str) -> u64,
}

impl Default for IdSet {
    fn default() -> Self {
        Self::with_hash(|id| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = rustc_hash::FxBuildHasher.build_hasher();
            h.write(id.as_bytes());
            h.write_usize(id.len());
            h.finish()
        })
    }
}

impl IdSet {
    fn with_hash(hash: fn(&str) -> u64) -> Self {
        Self {
            by_hash: FxHashMap::default(),
            bytes: Vec::new(),
            ends: Vec::new(),
            overflow: FxHashSet::default(),
            hash,
        }
    }

    /// Adds `id`; `false` when it was already in the set.
    fn insert(&mut self, id: &str) -> bool {
        match self.by_hash.entry((self.hash)(id)) {
            Entry::Vacant(slot) => {
                slot.insert(self.ends.len() as u32);
                self.bytes.extend_from_slice(id.as_bytes());
                self.ends.push(self.bytes.len());
                true
            }
            Entry::Occupied(first) => {
                let i = *first.get() as usize;
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                if &self.bytes[start..self.ends[i]] == id.as_bytes() {
                    false
                } else {
                    self.overflow.insert(id.into())
                }
            }
        }
    }
}

fn without_column(batch: &RecordBatch, name: &str) -> Result<RecordBatch> {
    match batch.schema().index_of(name) {
        Ok(index) => {
            let keep: Vec<usize> = (0..batch.num_columns()).filter(|i| *i != index).collect();
            Ok(batch.project(&keep)?)
        }
        Err(_) => Ok(batch.clone()),
    }
}

/// Index of column `i` of `schema` once its `ds` column is dropped.
fn index_after_drop(schema: &Schema, i: usize) -> usize {
    match schema.index_of(DS_COLUMN) {
        Ok(ds) if ds < i => i - 1,
        _ => i,
    }
}

/// The row as one JSON object, for the rejects table.
fn row_json(batch: &RecordBatch, row: usize) -> Result<String> {
    let mut buffer = Vec::new();
    {
        let mut writer = LineDelimitedWriter::new(&mut buffer);
        writer.write(&batch.slice(row, 1))?;
        writer.finish()?;
    }
    Ok(String::from_utf8_lossy(&buffer).trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_is_exact_even_when_hashes_collide() {
        for mut set in [IdSet::default(), IdSet::with_hash(|id| id.len() as u64 % 2)] {
            let ids = ["a", "bb", "a", "cc", "", "bb", "dd", "", "cc", "e", "dd"];
            let fresh: Vec<bool> = ids.iter().map(|id| set.insert(id)).collect();
            assert_eq!(
                fresh,
                [
                    true, true, false, true, true, false, true, false, false, true, false
                ]
            );
        }
    }
}
