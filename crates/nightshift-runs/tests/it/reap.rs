//! Crash safety: runs of dead or silent owners become `abandoned`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::TimeDelta;
use nightshift_runs::{Error, Owner, RunFilter, RunStatus, RunStore, TaskState};

use crate::{Db, nov, start};

#[test]
fn dead_owner_is_reaped_to_abandoned() {
    let db = Db::new();
    let dead = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dead);
    let store = RunStore::open_with(
        &db.path,
        Box::new(move |o: &Owner| o.pid == 4242 && flag.load(Ordering::SeqCst)),
    )
    .expect("open");
    let now = nov(22, 6, 0);
    let run = start(&store, "root_cause", 22, now);
    store.task_started(&run.id, "check", now).expect("start");

    // Alive and within its lease: still running.
    let detail = store
        .get(&run.id, now + TimeDelta::minutes(1))
        .expect("get");
    assert_eq!(detail.run.status, RunStatus::Running);

    // The owner dies: well within the lease, the next read reaps it.
    dead.store(true, Ordering::SeqCst);
    let at = now + TimeDelta::minutes(2);
    let detail = store.get(&run.id, at).expect("get");
    assert_eq!(detail.run.status, RunStatus::Abandoned);
    assert_eq!(detail.run.finished_at, Some(at));
    assert_eq!(
        detail.run.note.as_deref(),
        Some("owner process pid 4242 on worker-1 no longer exists")
    );
    assert_eq!(detail.tasks[0].state, TaskState::Abandoned);
    assert_eq!(detail.tasks[1].state, TaskState::Pending);
    assert_eq!(detail.run.failed_task.as_deref(), Some("check"));

    // A zombie update is refused with a hint.
    let err = store
        .task_succeeded(&run.id, "check", Default::default(), at)
        .expect_err("abandoned");
    assert!(
        matches!(
            err,
            Error::RunNotRunning {
                status: RunStatus::Abandoned,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.hint().expect("hint").contains("lease"));
    assert!(matches!(
        store.heartbeat(&run.id, at),
        Err(Error::RunNotRunning { .. })
    ));
}

#[test]
fn expired_lease_is_reaped_and_heartbeats_keep_it_alive() {
    let db = Db::new();
    let store = db
        .open()
        .with_run_lease(nightshift_core::Duration::from_seconds(600));
    let now = nov(22, 6, 0);
    let run = start(&store, "root_cause", 22, now);
    assert_eq!(run.lease_until, now + TimeDelta::minutes(10));

    // Heartbeats every 8 minutes keep it running for an hour.
    let mut at = now;
    for _ in 0..7 {
        at += TimeDelta::minutes(8);
        assert!(store.reap_abandoned(at).expect("reap").is_empty());
        assert_eq!(
            store.heartbeat(&run.id, at).expect("heartbeat"),
            at + TimeDelta::minutes(10)
        );
    }
    // Task updates renew the lease too.
    at += TimeDelta::minutes(9);
    store.task_started(&run.id, "check", at).expect("start");
    at += TimeDelta::minutes(9);
    assert!(store.reap_abandoned(at).expect("reap").is_empty());

    // Silence past the lease: reaped by list, not left running.
    let late = at + TimeDelta::minutes(10) + TimeDelta::seconds(1);
    let runs = store.list(&RunFilter::default(), late).expect("list");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Abandoned);
    assert!(
        runs[0]
            .note
            .as_deref()
            .unwrap_or("")
            .starts_with("lease expired at 2026-11-22T07:"),
        "{:?}",
        runs[0].note
    );
    assert_eq!(
        store.get(&run.id, late).expect("get").tasks[0]
            .error
            .as_deref(),
        Some(
            runs[0]
                .note
                .as_deref()
                .map(|n| format!("abandoned: {n}"))
                .unwrap_or_default()
                .as_str()
        )
    );
    // Reaping twice does nothing more.
    assert!(store.reap_abandoned(late).expect("reap").is_empty());
}

#[test]
fn start_run_reaps_and_numbers_the_next_attempt() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let first = start(&store, "root_cause", 22, now);
    let later = now + TimeDelta::hours(1);
    let second = start(&store, "root_cause", 22, later);
    assert_eq!(second.attempt, 2);
    let first = store.get(&first.id, later).expect("get");
    assert_eq!(first.run.status, RunStatus::Abandoned);
    let second = store.get(&second.id, later).expect("get");
    assert_eq!(second.run.status, RunStatus::Running);
}

#[test]
fn proc_liveness_sees_this_process_alive() {
    use nightshift_runs::{Liveness, ProcLiveness};
    let live = ProcLiveness::for_host("here");
    assert!(!live.is_dead(&Owner::new(std::process::id(), "here")));
    // Another host cannot be judged: never dead.
    assert!(!live.is_dead(&Owner::new(u32::MAX - 1, "elsewhere")));
    if std::path::Path::new("/proc/self").exists() {
        assert!(live.is_dead(&Owner::new(u32::MAX - 1, "here")));
    }
    assert_eq!(Owner::current().pid, std::process::id());
}

#[test]
fn proc_liveness_sees_a_killed_process_not_yet_reaped_as_dead() {
    use nightshift_runs::{Liveness, ProcLiveness};
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    let owner = Owner::new(child.id(), "here");
    let live = ProcLiveness::for_host("here");
    assert!(!live.is_dead(&owner));
    child.kill().expect("kill");
    // Killed, not waited for: a zombie with its /proc entry.
    let stat = format!("/proc/{}/stat", child.id());
    for _ in 0..200 {
        if std::fs::read_to_string(&stat).is_ok_and(|s| s.contains(") Z")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(std::path::Path::new(&stat).exists());
    assert!(live.is_dead(&owner), "a zombie is dead");
    child.wait().expect("reap");
}
