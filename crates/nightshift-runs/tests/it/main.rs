//! Integration tests of the run store and the planning functions: real SQLite files in
//! temp dirs, injected clocks and liveness, no sleeping. One test binary, a module per concept.

mod alerts;
mod catchup;
mod deadline;
mod leases;
mod reap;
mod retry;
mod retry_plan;
mod runs;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use nightshift_runs::{NewRun, Owner, Run, RunStore, Trigger};

/// The four tasks of a Nightshift run.
pub(crate) const TASKS: &[&str] = &["check", "features", "infer", "publish"];

/// A temp project with `.nightshift/runs.db`.
pub(crate) struct Db {
    _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
}

impl Db {
    pub(crate) fn new() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        Db {
            path: dir.path().join(".nightshift").join("runs.db"),
            _dir: dir,
        }
    }

    /// A store where every owner is alive.
    pub(crate) fn open(&self) -> RunStore {
        RunStore::open_with(&self.path, Box::new(|_: &Owner| false)).expect("open run store")
    }
}

/// `y-m-d h:m` UTC.
pub(crate) fn t(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid time")
}

/// 2026-11-`d` at `h`:`min` UTC.
pub(crate) fn nov(d: u32, h: u32, min: u32) -> DateTime<Utc> {
    t(2026, 11, d, h, min)
}

pub(crate) fn owner() -> Owner {
    Owner::new(4242, "worker-1")
}

/// Starts a scheduled run of `pipeline` for 2026-11-`day` 06:00, ds 2026-11-`day`.
pub(crate) fn start(store: &RunStore, pipeline: &str, day: u32, now: DateTime<Utc>) -> Run {
    let ds = format!("2026-11-{day:02}");
    store
        .start_run(
            NewRun {
                pipeline,
                logical_date: nov(day, 6, 0),
                ds: &ds,
                tasks: TASKS,
                trigger: Trigger::Schedule,
                owner: &owner(),
                model: None,
            },
            now,
        )
        .expect("start run")
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RunStore>();
}
