use std::path::PathBuf;

use deltalake::DeltaTableError;
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::error::DataFusionError;

/// Result of warehouse operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the warehouse.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed to plan or run (bad SQL, missing column, type error...).
    #[error("SQL failed: {source}")]
    Sql {
        /// DataFusion's own message.
        #[source]
        source: Box<DataFusionError>,
        /// Tables the warehouse knows, to suggest when a table was not found.
        available_tables: Vec<String>,
    },
    /// SQL that would change something (DDL, INSERT, COPY, SET ...) where only a query is
    /// run: the warehouse's tables are written by runs, whole slices at a time.
    #[error("only queries can run here, not {what}")]
    NotAQuery {
        /// What the statement is, e.g. `INSERT INTO raw.agent_labels`.
        what: String,
    },
    /// Reading or committing a Delta table failed.
    #[error("Delta table `{table}` ({path}): {source}")]
    Delta {
        /// SQL name of the table.
        table: String,
        /// Where it lives.
        path: PathBuf,
        /// delta-rs' own message.
        #[source]
        source: Box<DeltaTableError>,
    },
    /// A query reads a table whose Delta log cannot be read (damaged or half-copied).
    #[error("table `{table}` ({path}) cannot be read: {reason}")]
    BrokenTable {
        /// SQL name of the table.
        table: String,
        /// Where it lives.
        path: PathBuf,
        /// Why opening it failed.
        reason: String,
    },
    /// A table was named that the warehouse does not have.
    #[error("table `{name}` not found in the warehouse at {root}")]
    TableNotFound {
        /// The name asked for.
        name: String,
        /// The warehouse directory.
        root: PathBuf,
        /// Tables that do exist.
        available: Vec<String>,
    },
    /// A table name is not of the form `schema.table` with identifier parts.
    #[error(
        "`{0}` is not a valid table name (expected `schema.table`, lowercase letters, digits and `_`)"
    )]
    BadTableName(String),
    /// Data handed to a write does not fit the slice it is meant to replace.
    #[error("cannot write slice {slice} of `{table}`: {message}")]
    Slice {
        /// SQL name of the table.
        table: String,
        /// The slice, e.g. `ds = '2026-11-20'`.
        slice: String,
        /// What is wrong.
        message: String,
    },
    /// Rows hold nulls in a column the table declares NOT NULL.
    #[error(
        "column `{column}` of `{table}` is declared NOT NULL, and rows written to it hold nulls there"
    )]
    NullInNotNull {
        /// SQL name of the table.
        table: String,
        /// The column.
        column: String,
    },
    /// Arrow failed on a batch (casts, concatenation, formatting).
    #[error("Arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A data file (CSV or TSV) that cannot be parsed, at the file's own line.
    #[error("{path}:{line}: {message}")]
    DataFile {
        /// The file.
        path: PathBuf,
        /// The line of the file (1-based) where the bad record starts.
        line: u64,
        /// What is wrong there.
        message: String,
    },
    /// A data file of a kind Nightshift cannot read.
    #[error("{path}: unsupported file type")]
    UnsupportedFile {
        /// The file.
        path: PathBuf,
    },
    /// A bug in Nightshift, not in your data or configuration.
    #[error("internal error (a bug in Nightshift, please report it): {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn sql(source: DataFusionError, available_tables: Vec<String>) -> Self {
        Error::Sql {
            source: Box::new(source),
            available_tables,
        }
    }

    pub(crate) fn delta(table: &str, path: &std::path::Path, source: DeltaTableError) -> Self {
        Error::Delta {
            table: table.to_string(),
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }

    /// A next step for the user, printed as a `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Sql { source, .. } if is_out_of_memory(&source.to_string()) => {
                Some(MEMORY_HINT.into())
            }
            Error::Delta { source, .. } if is_out_of_memory(&source.to_string()) => {
                Some(MEMORY_HINT.into())
            }
            Error::Sql {
                source,
                available_tables,
            } => {
                let msg = source.to_string();
                if msg.contains("not found") && msg.contains("table") {
                    Some(tables_hint(available_tables))
                } else if msg.contains("ParserError") || msg.contains("sql parser error") {
                    Some("the SQL does not parse at the line and column given; the dialect is DataFusion's, close to PostgreSQL's (https://datafusion.apache.org/user-guide/sql/)".into())
                } else if msg.contains("No field named") || msg.contains("Schema error") {
                    Some("check the column names: `nightshift sql \"DESCRIBE raw.TABLE\"` lists a table's columns".into())
                } else if msg.contains("Error parsing timestamp") || msg.contains("Cast error") {
                    Some("a text column holds a value that does not convert (e.g. a time that is not ISO 8601); compare with TRY_CAST(column AS TIMESTAMP), which gives NULL for such values, or clean the data".into())
                } else if msg.contains("single SQL statement") {
                    Some("give one statement at a time, without `;` between two".into())
                } else if msg.contains("Divide by zero") {
                    Some("guard the divisor: x / NULLIF(y, 0) gives NULL where y is 0".into())
                } else if msg.contains("Compute error") {
                    Some("the query failed while it ran, on a value a function or cast does not take: guard those rows, e.g. CASE WHEN x >= 0 THEN sqrt(x) END, or TRY_CAST for conversions".into())
                } else if msg.contains("No SQL statements") {
                    Some("give a query, e.g. nightshift sql \"SELECT count(*) FROM raw.support_contacts\"".into())
                } else if msg.contains("non-UTF-8") || msg.contains("invalid utf-8") {
                    Some("a text column holds bytes that are not UTF-8: fix the upstream data, or keep the column out of the query".into())
                } else {
                    None
                }
            }
            Error::TableNotFound { available, .. } => Some(tables_hint(available)),
            Error::NullInNotNull { table, column } => Some(format!(
                "the table took NOT NULL from the query that created it (tables created by this version declare every column nullable): give `{column}` a value in the query (COALESCE({column}, ...)), or have the table made again, nullable: move its directory away and run its dates again; `nightshift sql \"DESCRIBE {table}\"` shows its columns"
            )),
            Error::NotAQuery { .. } => Some(
                "write a SELECT (or WITH ... SELECT, EXPLAIN, SHOW, DESCRIBE); tables are written by `nightshift run` and `generate`, and `--csv` or `--json` exports a result".into(),
            ),
            Error::BadTableName(_) => Some("write tables as `raw.support_contacts`".into()),
            Error::BrokenTable { reason, .. } if reason.contains("not a Delta table") => Some(
                "Nightshift reads Delta tables: write the data as one (Spark, dbt, or Python: deltalake.write_deltalake(path, pandas.read_parquet(files))), or point `path` in [tables] at a Delta table".into(),
            ),
            Error::BrokenTable { path, .. } => Some(format!(
                "its log ({}) is damaged: {LOG_DAMAGE_HINT}",
                path.join("_delta_log").display()
            )),
            Error::Delta { source, .. } if is_log_damage(&source.to_string()) => {
                Some(format!("the table's _delta_log is damaged: {LOG_DAMAGE_HINT}"))
            }
            Error::Delta { source, path, .. } => {
                let msg = source.to_string();
                if msg.contains("concurrent")
                    || msg.contains("Concurrent")
                    || msg.contains("changed since last commit")
                {
                    Some("another write to this table committed first (another run of the same date, or of another date creating the table or adding a column at the same time): the table holds that run's complete slice; the task is retried while the pipeline's `retries` last, else run the date again if this one's output is wanted (`nightshift runs list` shows both)".into())
                } else if msg.contains("failed validation check") {
                    Some("the table declares a column NOT NULL that these rows leave out or hold null; select it (with a value) in the query".into())
                } else if msg.contains("schema")
                    || msg.contains("Schema")
                    || (msg.contains("Arrow error")
                        && (msg.contains("Cast error") || msg.contains("Parser error")))
                {
                    Some(format!("a column changed type (columns may be added or left out, not changed): cast it back to the table's type in the query, or, to start the table over, delete its directory {} (its slices are computed again by running their dates)", path.display()))
                } else {
                    None
                }
            }
            Error::DataFile { message, .. }
                if message.contains("UTF-8") || message.contains("unicode") =>
            {
                Some(
                "save the file as UTF-8 (a spreadsheet's \"CSV UTF-8\" export, or `iconv -f latin1 -t utf-8`)".into(),
            )
            }
            Error::DataFile { message, .. } if message.contains("the header names column") => {
                Some("give every column of the header its own name".into())
            }
            Error::DataFile { message, .. } if message.contains("the same kind of value") => Some(
                "give the field one kind of value on every line: quote the values meant as text (\"label\": \"2\", not 2), and keep objects and lists out of text fields".into(),
            ),
            Error::DataFile { message, .. }
                if message.contains("JSON object") || message.contains("not valid JSON") =>
            {
                Some("a .jsonl file holds one JSON object per line, e.g. {\"text\": \"...\", \"label\": \"...\"} (not one array); from pandas: df.to_json(path, orient=\"records\", lines=True)".into())
            }
            Error::DataFile { message, .. } if message.contains("number of fields") => Some(
                "every line needs as many fields as the header: look for an unquoted delimiter, or a double quote that opens a value and is not closed".into(),
            ),
            Error::UnsupportedFile { .. } => Some(
                "use a .csv, .tsv, .parquet or .jsonl file (with a header line for CSV/TSV)".into(),
            ),
            Error::Internal(_) => Some("please report this with the command you ran".into()),
            _ => None,
        }
    }
}

const MEMORY_HINT: &str = "the query needs more memory than `[engine] memory_limit_mb` allows: raise it, or narrow the query (fewer columns, a pre-aggregated join side)";

/// `message` without the backtrace that some errors (the Delta kernel's, under
/// `RUST_BACKTRACE`) append to their text: a user needs the first lines, not eighty frames.
pub fn without_backtrace(message: &str) -> &str {
    let end = ["\n   0: ", "\nStack backtrace:", "\nstack backtrace:"]
        .iter()
        .filter_map(|marker| message.find(marker))
        .min()
        .unwrap_or(message.len());
    message[..end].trim_end()
}

const LOG_DAMAGE_HINT: &str = "restore it from a backup; for a table Nightshift writes (intermediate.*, output.*), moving its directory aside and re-running the dates rebuilds it";

/// Whether a Delta error says the log itself could not be read (as opposed to a write that
/// does not fit the table).
fn is_log_damage(message: &str) -> bool {
    message.contains("Json error") || message.contains("Invalid JSON")
}

fn is_out_of_memory(message: &str) -> bool {
    message.contains("Resources exhausted")
}

fn tables_hint(available: &[String]) -> String {
    if available.is_empty() {
        "the warehouse has no tables yet: declare your Delta tables under [tables] (`path` for one elsewhere), or run `nightshift generate` for demo data"
            .into()
    } else {
        format!("tables in the warehouse: {}", available.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtraces_are_cut_from_messages() {
        let shown = "Kernel error: Json error: unexpected 'g'\n   0: buoyant_kernel::error::Error::with_backtrace\n   1: x";
        assert_eq!(
            without_backtrace(shown),
            "Kernel error: Json error: unexpected 'g'"
        );
        assert_eq!(without_backtrace("two\nlines"), "two\nlines");
    }

    #[test]
    fn running_out_of_the_memory_limit_hints_at_the_setting() {
        let exhausted = || {
            DataFusionError::ResourcesExhausted(
                "Failed to allocate additional 974.2 KB for HashJoinInput[0]".into(),
            )
        };
        let sql = Error::sql(exhausted(), vec!["raw.t".into()]);
        assert!(sql.hint().is_some_and(|h| h.contains("memory_limit_mb")));
        let write = Error::delta(
            "intermediate.f",
            std::path::Path::new("/w/intermediate/f"),
            DeltaTableError::from(exhausted()),
        );
        assert!(write.hint().is_some_and(|h| h.contains("memory_limit_mb")));
        // Other errors keep their own hints.
        let missing = Error::sql(
            DataFusionError::Plan("table 'raw.x' not found".into()),
            vec!["raw.t".into()],
        );
        assert!(missing.hint().is_some_and(|h| h.contains("raw.t")));
    }
}
