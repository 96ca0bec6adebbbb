//! Nightshift's run bookkeeping: which runs happened, how each task went, who is running
//! what right now, what to retry and which dates are due. Task outputs themselves are
//! replaced idempotently in Delta tables by other crates, so re-running is always safe;
//! this crate only keeps the books. Task names are plain strings (`check`, `features`,
//! `infer`, `publish`): no dependency on the pipeline crate, no query engine.
//!
//! # What this crate owns
//!
//! | Module | Concept | Main items |
//! |---|---|---|
//! | [`store`] | the run history: runs, tasks, heartbeats, listing | [`RunStore`], [`NewRun`] |
//! | [`run`] | what a run and a task are, as recorded | [`Run`], [`RunId`], [`Trigger`], [`RunStatus`], [`TaskState`], [`TaskOutcome`], [`RunSummary`], [`RunDetail`], [`TaskRecord`], [`RunFilter`], [`RetryPlan`] |
//! | [`reap`] | crash safety: dead or silent runs become `abandoned` | [`RunStore::reap_abandoned`], [`Reaped`] |
//! | [`owner`] | who runs a run, and whether that process is alive | [`Owner`], [`Liveness`], [`ProcLiveness`] |
//! | [`lease`] | one holder per pipeline x logical date, with fencing generations | [`Lease`], [`RunStore::acquire`], [`RunStore::renew`], [`RunStore::release`] |
//! | [`alert`] | one alert per event | [`RunStore::record_alert`] |
//! | [`retry`] | backoff with seeded jitter, transient vs permanent errors | [`RetryPolicy`], [`ErrorClass`], [`classify_message`], [`classify_error`], [`run_with_retries`] |
//! | [`catchup`] | which logical dates are due after downtime | [`due_dates`], [`due_dates_for`], [`next_fire_after`] |
//! | [`deadline`] | when a date's output is late | [`deadline_at`], [`deadline_missed`], [`missed_deadlines`], [`deadline_alert_key`] |
//! | [`clock`] | injected time | [`Clock`], [`SystemClock`], [`ManualClock`] |
//! | [`schema`] | the SQLite schema and its migrations | [`schema::SCHEMA_VERSION`] |
//! | [`error`] | the crate's error type, with hints | [`Error`] |
//!
//! # On disk
//!
//! ```text
//! <project>/.nightshift/runs.db   SQLite (WAL, busy timeout, PRAGMA user_version):
//!     runs     one row per run: pipeline, logical date, ds, attempt, trigger, status, owner, lease_until
//!     tasks    one row per task of a run: state, attempts, times, rows, model version, detail, error
//!     leases   one row per pipeline x logical date: holder, generation, expiry
//!     alerts   one row per alert key ever sent
//! ```
//!
//! # Data flow
//!
//! ```text
//! scheduler tick (now):
//!   RunStore::last_completed ──▶ due_dates(schedule, last_done, now, catchup) ──▶ [L1, L2, L3]
//!   for each L: RunStore::acquire(pipeline, L) ── None: someone else runs it
//!               └─ Some(lease) ─▶ start_run ─▶ task_started / task_succeeded | task_failed ... ─▶ finish_run ─▶ release
//!                                 (heartbeat / renew while a long task runs)
//!   each task:  run_with_retries(RetryPolicy::from_spec, ..., classify_error)
//!   missed_deadlines(...) ─▶ deadline_alert_key ─▶ record_alert ─▶ true: send the alert once
//! crash: owner dies ─▶ lease_until passes (or /proc/<pid> is gone) ─▶ reap_abandoned marks it `abandoned`
//! nightshift retry <id>: retry_plan(id) = [first task not done, ...] ─▶ start_run(Trigger::Retry)
//! ```
//!
//! Every operation that needs the time takes `now`; nothing here reads the clock itself
//! except [`SystemClock`].

pub mod alert;
pub mod catchup;
pub mod clock;
pub mod deadline;
pub mod error;
pub mod lease;
pub mod owner;
pub mod reap;
pub mod retry;
pub mod run;
pub mod schema;
pub mod store;

pub use catchup::{due_dates, due_dates_for, latest_fire_at_or_before, next_fire_after};
pub use clock::{Clock, ManualClock, SystemClock};
pub use deadline::{
    deadline_alert_key, deadline_at, deadline_missed, deadline_slice_alert_key, missed_deadlines,
};
pub use error::{Error, Result};
pub use lease::Lease;
pub use owner::{Liveness, Owner, ProcLiveness, local_hostname};
pub use reap::Reaped;
pub use retry::{
    Attempt, DEFAULT_JITTER, DEFAULT_MAX_DELAY, ErrorClass, RetryPolicy, classify_error,
    classify_io, classify_message, jitter_rng, run_with_retries, seed_for,
};
pub use run::{
    NewRun, RetryPlan, Run, RunDetail, RunFilter, RunId, RunStatus, RunSummary, TaskOutcome,
    TaskRecord, TaskState, Trigger,
};
pub use store::{DEFAULT_RUN_LEASE_SECS, RunStore};
