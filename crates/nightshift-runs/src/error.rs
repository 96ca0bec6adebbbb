//! The crate's single error type.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::run::RunStatus;

/// Result of run-store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while keeping the books of runs.
///
/// Every variant carries what the user needs to see the problem; [`Error::hint`]
/// adds the next step to take.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument that cannot be recorded (empty pipeline name, no tasks, a task twice).
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was given, e.g. `task list`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// No run has that id.
    #[error("no run with id `{id}`")]
    UnknownRun {
        /// The id asked for.
        id: String,
    },

    /// The run exists but has no task of that name.
    #[error("run `{run}` has no task `{task}` (its tasks: {})", tasks.join(", "))]
    UnknownTask {
        /// The run.
        run: String,
        /// The task asked for.
        task: String,
        /// The run's tasks, in order.
        tasks: Vec<String>,
    },

    /// A task or heartbeat update for a run that is no longer `running`: it finished, or
    /// it was reaped as abandoned because its lease expired or its owner died.
    #[error("run `{run}` is {status}, not running; it cannot be updated")]
    RunNotRunning {
        /// The run.
        run: String,
        /// Its recorded status.
        status: RunStatus,
    },

    /// A retry plan was asked for a run that is still running.
    #[error("run `{run}` is still running")]
    RunStillRunning {
        /// The run.
        run: String,
    },

    /// A retry plan was asked for a run that has nothing left to do.
    #[error("run `{run}` succeeded; there is nothing to retry")]
    NothingToRetry {
        /// The run.
        run: String,
    },

    /// A retry was started for a run that another retry of it is running now.
    #[error("run `{run}` is being retried by `{by}`, which is still running")]
    BeingRetried {
        /// The run.
        run: String,
        /// The retry in progress.
        by: String,
    },

    /// A retry was asked for a run that a retry of it (or of its retries) already completed.
    #[error("run `{run}` was already retried by `{by}`, which succeeded")]
    AlreadyRetried {
        /// The run.
        run: String,
        /// The retry that succeeded.
        by: String,
    },

    /// A pipeline x logical date lease is no longer held by the one renewing it.
    #[error(
        "lease on `{pipeline}` for {logical_date} was lost (held generation {generation}, now {current})"
    )]
    LeaseLost {
        /// The pipeline.
        pipeline: String,
        /// The logical date.
        logical_date: DateTime<Utc>,
        /// The generation the caller held.
        generation: u64,
        /// What the store holds now: the new generation, or `released`.
        current: String,
    },

    /// The run database was written by a newer Nightshift.
    #[error(
        "run database {path} has schema version {found}; this Nightshift understands up to {supported}"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: u32,
        /// The newest schema this build knows.
        supported: u32,
    },

    /// The run database holds a value this build cannot read.
    #[error("run database {path} holds an invalid {what}: {reason}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// Why it could not be read.
        reason: String,
    },

    /// SQLite failed.
    #[error("run database {path}: {action} failed: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        action: &'static str,
        /// SQLite's own error.
        #[source]
        source: rusqlite::Error,
    },

    /// Creating the database's directory failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Serialising a task's detail failed (should not happen).
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// What was being serialised.
        what: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn is_not_a_database(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

impl Error {
    /// The next step for the user, if there is a useful one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidInput { .. } => None,
            Error::UnknownRun { .. } => {
                Some("`nightshift runs list` shows the recorded run ids".into())
            }
            Error::UnknownTask { tasks, .. } => Some(format!(
                "task names are the run's own: {}",
                tasks.join(", ")
            )),
            Error::RunNotRunning { status, .. } if *status == RunStatus::Abandoned => Some(
                "this process lost the run: it stopped heartbeating long enough for its lease to expire and was marked abandoned; re-run the date (outputs are replaced idempotently)".into(),
            ),
            Error::RunNotRunning { .. } => None,
            Error::RunStillRunning { .. } => Some(
                "wait for it to finish; if its process died it is marked abandoned once its lease expires".into(),
            ),
            Error::BeingRetried { by, .. } => Some(format!(
                "wait for it: `nightshift runs show {by}`"
            )),
            Error::AlreadyRetried { .. } => Some(
                "to compute the date again anyway, run it: `nightshift run PIPELINE --date D` (its slices are replaced)".into(),
            ),
            Error::NothingToRetry { .. } => Some(
                "to recompute a date that succeeded, run it again explicitly (e.g. `nightshift run PIPELINE --date DATE`)".into(),
            ),
            Error::LeaseLost { .. } => Some(
                "another scheduler took this pipeline and date over after the lease expired; stop this run and let the holder finish".into(),
            ),
            Error::NewerSchema { .. } => {
                Some("upgrade Nightshift to read this project's run history".into())
            }
            Error::Corrupt { path, .. } => Some(format!(
                "the run history is bookkeeping only; if it cannot be repaired, move {} aside and it is recreated empty",
                path.display()
            )),
            Error::Sqlite { source, .. } if is_busy(source) => Some(
                "another Nightshift process is holding the run database; try again in a moment".into(),
            ),
            Error::Sqlite { path, source, .. } if is_read_only(source) => {
                Some(read_only_hint(path))
            }
            Error::Sqlite { path, source, .. } if is_not_a_database(source) => Some(format!(
                "{} is not an SQLite database (damaged or overwritten); the run history is bookkeeping only: move it aside and it is recreated empty",
                path.display()
            )),
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                Some("check the permissions of the project's `.nightshift` directory".into())
            }
            Error::Sqlite { .. } | Error::Io { .. } | Error::Serialize { .. } => None,
        }
    }
}

/// SQLite could not write the database or create its journal files beside it.
fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::PermissionDenied
        )
    )
}

/// The hint for a database this process cannot write: SQLite needs to, even to read, since
/// it keeps its write-ahead log (`-wal`, `-shm` files) beside the database.
fn read_only_hint(path: &std::path::Path) -> String {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    format!(
        "Nightshift needs write access to {} and to its directory {} (SQLite keeps its -wal and -shm files there, even to read): check their owner and permissions (`ls -ld {}`)",
        path.display(),
        dir.display(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_cannot_be_written_names_its_directory() {
        let source = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            None,
        );
        let e = Error::Sqlite {
            path: "/p/.nightshift/runs.db".into(),
            action: "open",
            source,
        };
        let hint = e.hint().expect("hint");
        assert!(hint.contains("ls -ld /p/.nightshift"), "{hint}");
    }
}
