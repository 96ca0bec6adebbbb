//! The run store: one SQLite file of runs and their tasks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use chrono::{DateTime, TimeDelta, Utc};
use nightshift_core::Duration;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::owner::{Liveness, Owner, ProcLiveness};
use crate::run::{
    NewRun, RetryPlan, Run, RunDetail, RunFilter, RunId, RunStatus, RunSummary, TaskOutcome,
    TaskRecord, TaskState, Trigger,
};
use crate::schema::{self, parse_ts, ts};

/// How long SQLite waits for another writer before giving up.
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// How long (seconds) a run stays `running` without a heartbeat or task update, unless
/// changed with [`RunStore::with_run_lease`]: 5 minutes.
pub const DEFAULT_RUN_LEASE_SECS: i64 = 300;

/// The run history of one project, e.g. `<project>/.nightshift/runs.db`.
///
/// One SQLite connection behind a mutex: safe to share between threads. Any number of
/// stores (threads or processes) may open the same file; every write is a `BEGIN
/// IMMEDIATE` transaction, so read-decide-write steps never interleave.
pub struct RunStore {
    pub(crate) conn: Mutex<Connection>,
    pub(crate) path: PathBuf,
    pub(crate) liveness: Box<dyn Liveness>,
    pub(crate) run_lease: TimeDelta,
}

impl fmt::Debug for RunStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunStore")
            .field("path", &self.path)
            .field("run_lease", &self.run_lease)
            .finish_non_exhaustive()
    }
}

pub(crate) fn sql_err(path: &Path, action: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Sqlite {
        path: path.clone(),
        action,
        source,
    }
}

fn to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::InvalidInput {
        what,
        reason: format!("{v} is too large"),
    })
}

/// A run row as stored, before conversion.
struct RawRun {
    id: String,
    pipeline: String,
    logical_date: String,
    ds: String,
    attempt: i64,
    trigger: String,
    retry_of: Option<String>,
    status: String,
    owner_pid: i64,
    owner_host: String,
    started_at: String,
    finished_at: Option<String>,
    failed_task: Option<String>,
    error: Option<String>,
    note: Option<String>,
    lease_until: Option<String>,
    model: Option<String>,
}

const RUN_COLUMNS: &str = "r.id, r.pipeline, r.logical_date, r.ds, r.attempt, r.trigger, r.retry_of, \
     r.status, r.owner_pid, r.owner_host, r.started_at, r.finished_at, \
     (SELECT t.name FROM tasks t WHERE t.run_id = r.id AND t.state IN ('failed', 'abandoned') ORDER BY t.position LIMIT 1), \
     (SELECT t.error FROM tasks t WHERE t.run_id = r.id AND t.state IN ('failed', 'abandoned') ORDER BY t.position LIMIT 1), \
     r.note, r.lease_until, r.model";

fn raw_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: r.get(0)?,
        pipeline: r.get(1)?,
        logical_date: r.get(2)?,
        ds: r.get(3)?,
        attempt: r.get(4)?,
        trigger: r.get(5)?,
        retry_of: r.get(6)?,
        status: r.get(7)?,
        owner_pid: r.get(8)?,
        owner_host: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        failed_task: r.get(12)?,
        error: r.get(13)?,
        note: r.get(14)?,
        lease_until: r.get(15)?,
        model: r.get(16)?,
    })
}

impl RunStore {
    /// Opens (creating it and its directory if needed) the run database at `path`, with
    /// owner liveness read from `/proc` ([`ProcLiveness`]).
    pub fn open(path: &Path) -> Result<RunStore> {
        RunStore::open_with(path, Box::new(ProcLiveness::new()))
    }

    /// Like [`RunStore::open`], deciding whether a run's owner died with `liveness`.
    ///
    /// Enables WAL and a busy timeout, and brings the schema up to
    /// [`schema::SCHEMA_VERSION`]; fails with [`Error::NewerSchema`] on a newer file.
    pub fn open_with(path: &Path, liveness: Box<dyn Liveness>) -> Result<RunStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                action: "create directory",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let sql = |action: &'static str| sql_err(path, action);
        let conn = Connection::open(path).map_err(sql("open"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("set busy timeout"))?;
        enable_wal(&conn).map_err(sql("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql("enable foreign keys"))?;
        schema::migrate(&conn, path)?;
        Ok(RunStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            liveness,
            run_lease: TimeDelta::seconds(DEFAULT_RUN_LEASE_SECS),
        })
    }

    /// Sets how long a run stays `running` after its last heartbeat or task update
    /// before [`RunStore::reap_abandoned`] marks it abandoned.
    pub fn with_run_lease(mut self, ttl: Duration) -> RunStore {
        self.run_lease = ttl.as_chrono();
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn sql(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> Error {
        sql_err(&self.path, action)
    }

    pub(crate) fn corrupt(&self, what: &'static str, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            what,
            reason: reason.into(),
        }
    }

    /// Records a new run in state `running` with every task `pending`, and returns it.
    ///
    /// Reaps abandoned runs first. The attempt number is 1 + the runs already recorded
    /// for the same pipeline and logical date, allocated in one write transaction, so
    /// concurrent starts never share one. The run's lease lasts until `now` + the run
    /// lease; renew it with [`RunStore::heartbeat`] or any task update.
    pub fn start_run(&self, new: NewRun<'_>, now: DateTime<Utc>) -> Result<Run> {
        validate_name("pipeline name", new.pipeline)?;
        if new.ds.trim().is_empty() {
            return Err(Error::InvalidInput {
                what: "ds",
                reason: "it is empty".into(),
            });
        }
        if new.tasks.is_empty() {
            return Err(Error::InvalidInput {
                what: "task list",
                reason: "a run needs at least one task".into(),
            });
        }
        for (i, task) in new.tasks.iter().enumerate() {
            validate_name("task name", task)?;
            if new.tasks[..i].contains(task) {
                return Err(Error::InvalidInput {
                    what: "task list",
                    reason: format!("task `{task}` is listed twice"),
                });
            }
        }
        self.reap_abandoned(now)?;

        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql("start run"))?;
        let retry_of = match &new.trigger {
            Trigger::Retry { of } => {
                let exists: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)",
                        [of.as_str()],
                        |r| r.get(0),
                    )
                    .map_err(self.sql("look up retried run"))?;
                if !exists {
                    return Err(Error::UnknownRun { id: of.to_string() });
                }
                // Checked in this write transaction: two retries of one run started at once
                // cannot both pass.
                let running: Option<String> = tx
                    .query_row(
                        "SELECT id FROM runs WHERE retry_of = ?1 AND status = 'running' LIMIT 1",
                        [of.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(self.sql("look up running retries"))?;
                if let Some(by) = running {
                    return Err(Error::BeingRetried {
                        run: of.to_string(),
                        by,
                    });
                }
                Some(of.to_string())
            }
            _ => None,
        };
        let logical = ts(new.logical_date);
        let attempt: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(attempt), 0) + 1 FROM runs WHERE pipeline = ?1 AND logical_date = ?2",
                params![new.pipeline, logical],
                |r| r.get(0),
            )
            .map_err(self.sql("number attempt"))?;
        let seq: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM runs WHERE pipeline = ?1 AND ds = ?2",
                params![new.pipeline, new.ds],
                |r| r.get(0),
            )
            .map_err(self.sql("number run"))?;
        let id = format!("{}-{}-{seq}", new.pipeline, new.ds.replace(':', ""));
        let lease_until = now + self.run_lease;
        tx.execute(
            "INSERT INTO runs (id, pipeline, logical_date, ds, seq, attempt, trigger, retry_of, status,
                               owner_pid, owner_host, started_at, lease_until, model)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9, ?10, ?11, ?12, ?13)",
            params![
                id,
                new.pipeline,
                logical,
                new.ds,
                seq,
                attempt,
                new.trigger.kind(),
                retry_of,
                new.owner.pid,
                new.owner.host,
                ts(now),
                ts(lease_until),
                new.model
            ],
        )
        .map_err(self.sql("insert run"))?;
        for (position, task) in new.tasks.iter().enumerate() {
            tx.execute(
                "INSERT INTO tasks (run_id, position, name, state) VALUES (?1, ?2, ?3, 'pending')",
                params![id, position as i64, task],
            )
            .map_err(self.sql("insert task"))?;
        }
        tx.commit().map_err(self.sql("commit run start"))?;
        Ok(Run {
            id: RunId::new(id),
            pipeline: new.pipeline.to_string(),
            logical_date: new.logical_date,
            ds: new.ds.to_string(),
            attempt: u32::try_from(attempt)
                .map_err(|_| self.corrupt("attempt", attempt.to_string()))?,
            tasks: new.tasks.iter().map(|t| t.to_string()).collect(),
            lease_until,
        })
    }

    /// Runs `update` on task `task` of the running run `run` in one write transaction,
    /// and renews the run's lease to `now` + the run lease.
    ///
    /// Fails with [`Error::UnknownRun`], [`Error::UnknownTask`], or
    /// [`Error::RunNotRunning`] when the run finished or was reaped.
    fn update_task(
        &self,
        run: &RunId,
        task: &str,
        now: DateTime<Utc>,
        action: &'static str,
        update: impl FnOnce(&Transaction<'_>, i64) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql(action))?;
        self.check_running(&tx, run)?;
        let position: Option<i64> = tx
            .query_row(
                "SELECT position FROM tasks WHERE run_id = ?1 AND name = ?2",
                params![run.as_str(), task],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql(action))?;
        let Some(position) = position else {
            let tasks = task_names(&tx, run).map_err(self.sql(action))?;
            return Err(Error::UnknownTask {
                run: run.to_string(),
                task: task.to_string(),
                tasks,
            });
        };
        update(&tx, position).map_err(self.sql(action))?;
        tx.execute(
            "UPDATE runs SET lease_until = ?2 WHERE id = ?1",
            params![run.as_str(), ts(now + self.run_lease)],
        )
        .map_err(self.sql(action))?;
        tx.commit().map_err(self.sql(action))
    }

    /// Fails unless `run` exists and is `running`.
    fn check_running(&self, tx: &Transaction<'_>, run: &RunId) -> Result<()> {
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM runs WHERE id = ?1",
                [run.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql("read run status"))?;
        let Some(status) = status else {
            return Err(Error::UnknownRun {
                id: run.to_string(),
            });
        };
        let status: RunStatus = status.parse().map_err(|e| self.corrupt("run status", e))?;
        if status != RunStatus::Running {
            return Err(Error::RunNotRunning {
                run: run.to_string(),
                status,
            });
        }
        Ok(())
    }

    /// Marks `task` running (again, after a failed attempt) and counts the attempt.
    /// Keeps the first start time.
    pub fn task_started(&self, run: &RunId, task: &str, now: DateTime<Utc>) -> Result<()> {
        self.update_task(run, task, now, "record task start", |tx, pos| {
            tx.execute(
                "UPDATE tasks SET state = 'running', attempts = attempts + 1,
                        started_at = COALESCE(started_at, ?3), finished_at = NULL
                 WHERE run_id = ?1 AND position = ?2",
                params![run.as_str(), pos, ts(now)],
            )
        })
    }

    /// Marks `task` succeeded with what it reported; clears any earlier attempt's error.
    pub fn task_succeeded(
        &self,
        run: &RunId,
        task: &str,
        outcome: TaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let rows_in = to_i64(outcome.rows_in, "rows_in")?;
        let rows_out = to_i64(outcome.rows_out, "rows_out")?;
        let detail = if outcome.detail.is_null() {
            None
        } else {
            Some(
                serde_json::to_string(&outcome.detail).map_err(|source| Error::Serialize {
                    what: "task detail",
                    source,
                })?,
            )
        };
        self.update_task(run, task, now, "record task success", |tx, pos| {
            tx.execute(
                "UPDATE tasks SET state = 'succeeded', attempts = MAX(attempts, 1),
                        started_at = COALESCE(started_at, ?3), finished_at = ?3,
                        rows_in = ?4, rows_out = ?5, model_version = ?6, detail = ?7,
                        error = NULL, transient = NULL
                 WHERE run_id = ?1 AND position = ?2",
                params![
                    run.as_str(),
                    pos,
                    ts(now),
                    rows_in,
                    rows_out,
                    outcome.model_version,
                    detail
                ],
            )
        })
    }

    /// Marks `task` failed with `error`. `transient` records the error's class;
    /// `attempt_of_task` (1-based) is how many times the task has been tried in this run
    /// (the recorded count never goes down).
    pub fn task_failed(
        &self,
        run: &RunId,
        task: &str,
        error: &str,
        transient: bool,
        attempt_of_task: u32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.update_task(run, task, now, "record task failure", |tx, pos| {
            tx.execute(
                "UPDATE tasks SET state = 'failed', attempts = MAX(attempts, ?6, 1),
                        started_at = COALESCE(started_at, ?3), finished_at = ?3,
                        error = ?4, transient = ?5
                 WHERE run_id = ?1 AND position = ?2",
                params![
                    run.as_str(),
                    pos,
                    ts(now),
                    error,
                    transient,
                    attempt_of_task
                ],
            )
        })
    }

    /// Marks `task` skipped (it counts as done); `reason` is kept as its detail.
    pub fn task_skipped(
        &self,
        run: &RunId,
        task: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let detail = serde_json::json!({ "skipped": reason }).to_string();
        self.update_task(run, task, now, "record task skip", |tx, pos| {
            tx.execute(
                "UPDATE tasks SET state = 'skipped', finished_at = ?3, detail = ?4,
                        error = NULL, transient = NULL
                 WHERE run_id = ?1 AND position = ?2",
                params![run.as_str(), pos, ts(now), detail],
            )
        })
    }

    /// How often a running run renews its lease ([`RunStore::heartbeat`]): a third of the
    /// lease, so that two missed renewals still leave it alive.
    pub fn heartbeat_interval(&self) -> std::time::Duration {
        (self.run_lease / 3)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1))
    }

    /// Renews the run's lease to `now` + the run lease and returns the new expiry.
    /// Fails with [`Error::RunNotRunning`] if the run was already reaped or finished:
    /// the caller should then stop working on it.
    pub fn heartbeat(&self, run: &RunId, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql("heartbeat"))?;
        self.check_running(&tx, run)?;
        let until = now + self.run_lease;
        tx.execute(
            "UPDATE runs SET lease_until = ?2 WHERE id = ?1",
            params![run.as_str(), ts(until)],
        )
        .map_err(self.sql("heartbeat"))?;
        tx.commit().map_err(self.sql("heartbeat"))?;
        Ok(until)
    }

    /// Ends a running run and returns its status, computed from its tasks: `failed` if a
    /// task failed; else `succeeded` if every task succeeded or was skipped; else
    /// `abandoned` (tasks left pending or running). Running tasks become `abandoned`.
    pub fn finish_run(&self, run: &RunId, now: DateTime<Utc>) -> Result<RunStatus> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql("finish run"))?;
        self.check_running(&tx, run)?;
        let states: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT state FROM tasks WHERE run_id = ?1 ORDER BY position")
                .map_err(self.sql("read task states"))?;
            stmt.query_map([run.as_str()], |r| r.get(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                .map_err(self.sql("read task states"))?
        };
        let states = states
            .iter()
            .map(|s| {
                s.parse::<TaskState>()
                    .map_err(|e| self.corrupt("task state", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let status = if states.contains(&TaskState::Failed) {
            RunStatus::Failed
        } else if states
            .iter()
            .all(|s| matches!(s, TaskState::Succeeded | TaskState::Skipped))
        {
            RunStatus::Succeeded
        } else {
            RunStatus::Abandoned
        };
        tx.execute(
            "UPDATE tasks SET state = 'abandoned', finished_at = ?2,
                    error = COALESCE(error, 'the run finished while this task was running')
             WHERE run_id = ?1 AND state = 'running'",
            params![run.as_str(), ts(now)],
        )
        .map_err(self.sql("finish run"))?;
        let note =
            (status == RunStatus::Abandoned).then_some("the run finished with tasks not done");
        tx.execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, lease_until = NULL, note = ?4 WHERE id = ?1",
            params![run.as_str(), status.as_str(), ts(now), note],
        )
        .map_err(self.sql("finish run"))?;
        tx.commit().map_err(self.sql("finish run"))?;
        Ok(status)
    }

    /// Runs matching `filter`, newest first (by start time, then by insertion).
    /// Reaps abandoned runs first, so a dead run never shows as `running`.
    pub fn list(&self, filter: &RunFilter, now: DateTime<Utc>) -> Result<Vec<RunSummary>> {
        self.reap_abandoned(now)?;
        let limit = match filter.limit {
            Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
            None => -1,
        };
        let raws: Vec<RawRun> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs r
                     WHERE (?1 IS NULL OR r.pipeline = ?1) AND (?2 IS NULL OR r.status = ?2)
                     ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?3"
                ))
                .map_err(self.sql("list runs"))?;
            stmt.query_map(
                params![filter.pipeline, filter.status.map(|s| s.as_str()), limit],
                raw_run,
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
            .map_err(self.sql("list runs"))?
        };
        raws.into_iter().map(|r| self.summary(r)).collect()
    }

    /// One run with its tasks. Reaps abandoned runs first.
    pub fn get(&self, run: &RunId, now: DateTime<Utc>) -> Result<RunDetail> {
        self.reap_abandoned(now)?;
        let conn = self.lock();
        let raw = conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?1"),
                [run.as_str()],
                raw_run,
            )
            .optional()
            .map_err(self.sql("read run"))?
            .ok_or_else(|| Error::UnknownRun {
                id: run.to_string(),
            })?;
        let lease_until = raw
            .lease_until
            .as_deref()
            .map(|s| parse_ts(&self.path, s))
            .transpose()?;
        let tasks = self.tasks(&conn, run)?;
        Ok(RunDetail {
            run: self.summary(raw)?,
            lease_until,
            tasks,
        })
    }

    fn tasks(&self, conn: &Connection, run: &RunId) -> Result<Vec<TaskRecord>> {
        type RawTask = (
            String,
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<bool>,
        );
        let mut stmt = conn
            .prepare(
                "SELECT name, state, attempts, started_at, finished_at, rows_in, rows_out,
                        model_version, detail, error, transient
                 FROM tasks WHERE run_id = ?1 ORDER BY position",
            )
            .map_err(self.sql("read tasks"))?;
        let raws: Vec<RawTask> = stmt
            .query_map([run.as_str()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
            .map_err(self.sql("read tasks"))?;
        let time = |s: Option<String>| s.map(|s| parse_ts(&self.path, &s)).transpose();
        let count = |v: Option<i64>, what| {
            v.map(|v| u64::try_from(v).map_err(|_| self.corrupt(what, v.to_string())))
                .transpose()
        };
        raws.into_iter()
            .map(
                |(
                    name,
                    state,
                    attempts,
                    started,
                    finished,
                    rows_in,
                    rows_out,
                    mv,
                    detail,
                    error,
                    transient,
                )| {
                    Ok(TaskRecord {
                        name,
                        state: state.parse().map_err(|e| self.corrupt("task state", e))?,
                        attempts: u32::try_from(attempts)
                            .map_err(|_| self.corrupt("task attempts", attempts.to_string()))?,
                        started_at: time(started)?,
                        finished_at: time(finished)?,
                        rows_in: count(rows_in, "rows_in")?,
                        rows_out: count(rows_out, "rows_out")?,
                        model_version: mv,
                        detail: match detail {
                            Some(d) => serde_json::from_str(&d)
                                .map_err(|e| self.corrupt("task detail", e.to_string()))?,
                            None => serde_json::Value::Null,
                        },
                        error,
                        transient,
                    })
                },
            )
            .collect()
    }

    fn summary(&self, r: RawRun) -> Result<RunSummary> {
        let trigger = match (r.trigger.as_str(), r.retry_of) {
            ("manual", _) => Trigger::Manual,
            ("schedule", _) => Trigger::Schedule,
            ("backfill", _) => Trigger::Backfill,
            ("retry", Some(of)) => Trigger::Retry { of: RunId::new(of) },
            (other, _) => return Err(self.corrupt("trigger", other)),
        };
        Ok(RunSummary {
            id: RunId::new(r.id),
            pipeline: r.pipeline,
            logical_date: parse_ts(&self.path, &r.logical_date)?,
            ds: r.ds,
            attempt: u32::try_from(r.attempt)
                .map_err(|_| self.corrupt("attempt", r.attempt.to_string()))?,
            trigger,
            status: r
                .status
                .parse()
                .map_err(|e| self.corrupt("run status", e))?,
            owner: Owner::new(
                u32::try_from(r.owner_pid)
                    .map_err(|_| self.corrupt("owner pid", r.owner_pid.to_string()))?,
                r.owner_host,
            ),
            started_at: parse_ts(&self.path, &r.started_at)?,
            finished_at: r
                .finished_at
                .as_deref()
                .map(|s| parse_ts(&self.path, s))
                .transpose()?,
            failed_task: r.failed_task,
            error: r.error,
            note: r.note,
            model: r.model,
        })
    }

    /// What a retry of `run` re-does: its first task that is not succeeded or skipped
    /// (failed, abandoned, pending) and every task after it, in order; the tasks before
    /// it are reused. Reaps abandoned runs first.
    ///
    /// Fails with [`Error::NothingToRetry`] if the run succeeded (or every task is done),
    /// and [`Error::RunStillRunning`] while it runs.
    pub fn retry_plan(&self, run: &RunId, now: DateTime<Utc>) -> Result<RetryPlan> {
        let detail = self.get(run, now)?;
        match detail.run.status {
            RunStatus::Succeeded => {
                return Err(Error::NothingToRetry {
                    run: run.to_string(),
                });
            }
            RunStatus::Running => {
                return Err(Error::RunStillRunning {
                    run: run.to_string(),
                });
            }
            RunStatus::Failed | RunStatus::Abandoned => {}
        }
        let retried_by: Option<String> = {
            let conn = self.lock();
            conn.query_row(
                "WITH RECURSIVE chain(id) AS (
                     SELECT id FROM runs WHERE retry_of = ?1
                     UNION SELECT r.id FROM runs r JOIN chain c ON r.retry_of = c.id)
                 SELECT r.id FROM runs r JOIN chain c ON r.id = c.id
                 WHERE r.status = ?2 ORDER BY r.started_at LIMIT 1",
                [run.as_str(), RunStatus::Succeeded.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql("read the run's retries"))?
        };
        if let Some(by) = retried_by {
            return Err(Error::AlreadyRetried {
                run: run.to_string(),
                by,
            });
        }
        let first = detail
            .tasks
            .iter()
            .position(|t| !matches!(t.state, TaskState::Succeeded | TaskState::Skipped))
            .ok_or_else(|| Error::NothingToRetry {
                run: run.to_string(),
            })?;
        let names: Vec<String> = detail.tasks.into_iter().map(|t| t.name).collect();
        Ok(RetryPlan {
            of: run.clone(),
            pipeline: detail.run.pipeline,
            logical_date: detail.run.logical_date,
            ds: detail.run.ds,
            reused: names[..first].to_vec(),
            tasks: names[first..].to_vec(),
        })
    }

    /// The model version (`name@N`) that a retry of `run` must use: the one `run`, or the
    /// run it retried, or that one's, ... resolved at its start, the nearest first (for runs
    /// recorded before runs kept their model: the version of an `infer` that completed). A
    /// retry of `infer` then replaces the predictions the failed run may have written, and a
    /// retry of `publish` alone publishes the predictions its run's `infer` wrote, wherever
    /// the model's alias points now.
    pub fn retried_model(&self, run: &RunId) -> Result<Option<String>> {
        let conn = self.lock();
        conn.query_row(
            "WITH RECURSIVE chain(id, depth) AS (
                 SELECT ?1, 0
                 UNION ALL SELECT r.retry_of, c.depth + 1 FROM runs r JOIN chain c ON r.id = c.id
                 WHERE r.retry_of IS NOT NULL AND c.depth < 1000)
             SELECT m FROM (
                 SELECT c.depth, COALESCE(r.model, (
                     SELECT t.model_version FROM tasks t WHERE t.run_id = r.id
                     AND t.name = 'infer' AND t.state = 'succeeded')) AS m
                 FROM chain c JOIN runs r ON r.id = c.id)
             WHERE m IS NOT NULL ORDER BY depth LIMIT 1",
            [run.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(self.sql("read the retried runs' model version"))
    }

    /// The latest logical date of `pipeline` done by a succeeded run that went through
    /// `last_task` (the pipeline's last task, e.g. `publish`), if any: where catch-up planning
    /// starts from. A run of only some earlier tasks (`run --only check`) does not count, nor
    /// a logical date after `now` (a hand run for a future date would move catch-up past the
    /// dates before it).
    pub fn last_completed(
        &self,
        pipeline: &str,
        last_task: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let conn = self.lock();
        let s: Option<String> = conn
            .query_row(
                &format!(
                    "SELECT MAX(logical_date) FROM runs WHERE pipeline = ?1 AND {COMPLETED} \
                     AND {NOT_UNDONE} AND logical_date <= ?3"
                ),
                params![pipeline, last_task, ts(now)],
                |r| r.get(0),
            )
            .map_err(self.sql("read last success"))?;
        s.map(|s| parse_ts(&self.path, &s)).transpose()
    }

    /// The earliest logical date of any run of `pipeline` (whatever its outcome) but a
    /// backfill's, if it ever ran: dates before it are none of the scheduler's business
    /// (deadline alerts). A backfill computes past dates whose deadlines nobody was
    /// watching (`nightshift demo`'s history).
    pub fn first_logical_date(&self, pipeline: &str) -> Result<Option<DateTime<Utc>>> {
        let conn = self.lock();
        let s: Option<String> = conn
            .query_row(
                "SELECT MIN(logical_date) FROM runs WHERE pipeline = ?1 AND trigger <> 'backfill'",
                [pipeline],
                |r| r.get(0),
            )
            .map_err(self.sql("read first run"))?;
        s.map(|s| parse_ts(&self.path, &s)).transpose()
    }

    /// Records `date` as the first date the scheduler planned for `pipeline`, unless one is
    /// recorded already: where its catch-up starts while no date of the pipeline is done yet
    /// (a new pipeline's first date, failed, waiting for its data or not started, stays due
    /// once the next one is), and from which deadlines are watched.
    pub fn record_schedule_start(&self, pipeline: &str, date: DateTime<Utc>) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO schedule_starts (pipeline, first_date) VALUES (?1, ?2) \
             ON CONFLICT (pipeline) DO NOTHING",
            params![pipeline, ts(date)],
        )
        .map_err(self.sql("record schedule start"))?;
        Ok(())
    }

    /// The first date the scheduler planned for `pipeline` ([`Self::record_schedule_start`]),
    /// or, for a store written before it was recorded, the earliest date it ran.
    pub fn schedule_start(&self, pipeline: &str) -> Result<Option<DateTime<Utc>>> {
        let conn = self.lock();
        let s: Option<String> = conn
            .query_row(
                "SELECT coalesce( \
                     (SELECT first_date FROM schedule_starts WHERE pipeline = ?1), \
                     (SELECT MIN(logical_date) FROM runs WHERE pipeline = ?1 AND trigger = 'schedule'))",
                [pipeline],
                |r| r.get(0),
            )
            .map_err(self.sql("read schedule start"))?;
        s.map(|s| parse_ts(&self.path, &s)).transpose()
    }

    /// Whether a run of `pipeline` for slice `ds` succeeded through `last_task` (the slice's
    /// output is published), whatever its logical date: a hand run at midnight and the
    /// schedule's 06:00 run of the same day write the same slice; and no later run left the
    /// slice part rewritten ([`NOT_UNDONE`]).
    pub fn completed(&self, pipeline: &str, ds: &str, last_task: &str) -> Result<bool> {
        let conn = self.lock();
        conn.query_row(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE pipeline = ?1 AND {COMPLETED} AND {NOT_UNDONE} AND ds = ?3)"
            ),
            params![pipeline, last_task, ds],
            |r| r.get(0),
        )
        .map_err(self.sql("read run success"))
    }

    /// [`RunStore::completed`] by a run that finished at or before `by`: whether the slice
    /// was published by a deadline (a catch-up that publishes it later does not count).
    pub fn completed_by(
        &self,
        pipeline: &str,
        ds: &str,
        last_task: &str,
        by: DateTime<Utc>,
    ) -> Result<bool> {
        let conn = self.lock();
        conn.query_row(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE pipeline = ?1 AND {COMPLETED} AND ds = ?3 \
                 AND finished_at <= ?4)"
            ),
            params![pipeline, last_task, ds, ts(by)],
            |r| r.get(0),
        )
        .map_err(self.sql("read run success"))
    }
}

impl RunStore {
    /// [`RunStore::completed`], by a run started after `since`: whether a run that started
    /// then (and failed) was overtaken, so that retrying it would compute the slice again.
    pub fn completed_since(
        &self,
        pipeline: &str,
        ds: &str,
        last_task: &str,
        since: DateTime<Utc>,
    ) -> Result<bool> {
        let conn = self.lock();
        conn.query_row(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE pipeline = ?1 AND {COMPLETED} AND ds = ?3 \
                 AND started_at > ?4)"
            ),
            params![pipeline, last_task, ds, ts(since)],
            |r| r.get(0),
        )
        .map_err(self.sql("read run success"))
    }

    /// Whether some run of `pipeline` got `task` done (succeeded) for slice `ds`: whether a
    /// later task run on its own (`run --only infer`) has its input.
    pub fn task_done(&self, pipeline: &str, ds: &str, task: &str) -> Result<bool> {
        let conn = self.lock();
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM tasks t JOIN runs r ON r.id = t.run_id
                 WHERE r.pipeline = ?1 AND r.ds = ?2 AND t.name = ?3 AND t.state = 'succeeded')",
            params![pipeline, ds, task],
            |r| r.get(0),
        )
        .map_err(self.sql("read task success"))
    }
}

/// SQL condition on `runs`: the run succeeded and had the task named `?2` (a retry has the
/// failed task and those after it, so the last task too).
const COMPLETED: &str = "status = 'succeeded' AND EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = runs.id AND t.name = ?2)";

/// SQL condition on `runs` (with [`COMPLETED`]): no run of the same slice started after it,
/// and over, wrote part of the slice without completing it (a re-run killed or failed after
/// its `features` or `infer` committed, a `--only features` run): the slice's tables then
/// come from two runs, and the slice is not done until a run completes it again. Its
/// read-only `check` task writes nothing.
const NOT_UNDONE: &str = "NOT EXISTS (SELECT 1 FROM runs later      WHERE later.pipeline = runs.pipeline AND later.ds = runs.ds        AND later.started_at > runs.started_at AND later.status <> 'running'        AND NOT (later.status = 'succeeded' AND EXISTS            (SELECT 1 FROM tasks lt WHERE lt.run_id = later.id AND lt.name = ?2))        AND EXISTS (SELECT 1 FROM tasks w WHERE w.run_id = later.id            AND w.state = 'succeeded' AND w.name <> 'check'))";

fn task_names(tx: &Transaction<'_>, run: &RunId) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare("SELECT name FROM tasks WHERE run_id = ?1 ORDER BY position")?;
    stmt.query_map([run.as_str()], |r| r.get(0))?.collect()
}

pub(crate) fn validate_name(what: &'static str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::InvalidInput {
            what,
            reason: "it is empty".into(),
        });
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidInput {
            what,
            reason: format!("`{}` contains control characters", name.escape_debug()),
        });
    }
    Ok(())
}

/// Switches the database to WAL. When several connections open a fresh database at the same
/// moment, SQLite can answer `SQLITE_BUSY` to the journal-mode change at once, without
/// calling the busy handler, so retry until the busy timeout.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(StdDuration::from_millis(5));
            }
            other => return other.map(|_| ()),
        }
    }
}
