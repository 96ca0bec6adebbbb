//! # nightshift-lake: the warehouse
//!
//! The only crate of Nightshift that touches Apache DataFusion and delta-rs. Everything above it
//! (pipeline tasks, the CLI) talks to the warehouse through the types here.
//!
//! - [`Warehouse`] ([`warehouse`]) is a directory of Delta tables addressed in SQL as
//!   `schema.table` (`raw.support_contacts`, `intermediate.root_cause_features`,
//!   `output.root_cause_predictions`). Opening it builds one DataFusion session and registers
//!   every Delta table found under `<warehouse>/<schema>/<table>` plus the tables the project
//!   file declares elsewhere. [`Warehouse::sql`] runs a query on all cores.
//! - [`TableWrite`] ([`write`]) is the only way data gets into the warehouse. Its main mode,
//!   [`WriteMode::ReplaceSlice`], replaces exactly the rows of one `ds` slice (optionally narrowed
//!   by more `column = value` terms, e.g. `model_version`) in **one** Delta commit
//!   (`replace_where`): a retry, a crash mid-write or a re-run can never leave duplicates or half
//!   a slice. Every write returns [`WriteMetrics`]. A streamed write into an existing table is
//!   encoded by one Parquet writer per core and committed in the same single commit (`fanout`;
//!   delta-rs alone would encode a one-slice write on one core).
//! - [`tee`] hands the batches of one streamed write to a second query while they are written,
//!   and [`TableWrite::prepare`] / [`PreparedWrite::commit`] split a streamed write into writing
//!   its files and committing them, so that two writes streaming at once commit in order.
//! - [`strings`] reads a string column in place whatever its Arrow layout.
//! - `joins` (private) is a physical optimiser rule of the session: each hash join hashes its
//!   input with fewer estimated bytes, once for all partitions, so that a features query
//!   streams its window past the lookup tables instead of holding the window in memory.
//! - [`files`] reads CSV / TSV / Parquet / NDJSON data files (training and evaluation data).
//! - [`predict`] is the `nightshift_predict(text, extra...)` UDF: a native text model run on
//!   whole record batches inside DataFusion plans, so inference streams with bounded memory.
//!   A batch runs on all cores through rayon; the calling tokio worker blocks in place, so the
//!   tasks queued on it (the query feeding the model, the writers) move to another thread.
//! - [`format`] renders query results as an aligned table, CSV or JSON for the CLI.
//! - [`Error`] is the crate's one error type; [`Error::hint`] gives the user a next step.
//!
//! Data flow: `Project` (from `nightshift-core`) -> [`Warehouse::open`] -> SQL / slice writes ->
//! Delta tables on disk, readable by any Delta reader (Spark, Trino, DuckDB, Python `deltalake`).

mod error;
mod fanout;
pub mod files;
pub mod format;
mod joins;
pub mod predict;
pub mod strings;
pub mod tee;
pub mod warehouse;
pub mod write;

pub use error::{Error, Result, without_backtrace};
pub use strings::StringColumn;
pub use tee::{TeeSender, TeeSource, tee};
pub use warehouse::{TableRef, VacuumReport, Warehouse};
pub use write::{
    BatchMap, BoxError, PreparedWrite, StreamEnd, TableWrite, WriteMetrics, WriteMode,
};

/// Re-exports so that crates above use exactly the Arrow / DataFusion / Delta versions of this one.
pub use deltalake::arrow;
pub use deltalake::datafusion;

/// Name of the partition column every task output carries: the window's slice key.
pub const DS_COLUMN: &str = "ds";
