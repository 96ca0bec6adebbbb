//! Leases on pipeline x logical date.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use chrono::TimeDelta;
use nightshift_core::Duration;
use nightshift_runs::{Error, Owner, RunStore};

use crate::{Db, nov};

#[test]
fn acquire_is_exclusive_until_release() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let a = Owner::new(1, "host-a");
    let b = Owner::new(2, "host-b");
    let lease = store
        .acquire("root_cause", nov(22, 6, 0), &a, Duration::MINUTE, now)
        .expect("acquire")
        .expect("free");
    assert_eq!(lease.generation, 1);
    assert_eq!(lease.expires_at, now + TimeDelta::minutes(1));
    // Held: neither another owner nor the same one gets it.
    assert_eq!(
        store
            .acquire("root_cause", nov(22, 6, 0), &b, Duration::MINUTE, now)
            .expect("acquire"),
        None
    );
    assert_eq!(
        store
            .acquire("root_cause", nov(22, 6, 0), &a, Duration::MINUTE, now)
            .expect("acquire"),
        None
    );
    // Other dates and pipelines are independent.
    assert!(
        store
            .acquire("root_cause", nov(23, 6, 0), &b, Duration::MINUTE, now)
            .expect("acquire")
            .is_some()
    );
    assert!(
        store
            .acquire("churn", nov(22, 6, 0), &b, Duration::MINUTE, now)
            .expect("acquire")
            .is_some()
    );
    assert_eq!(
        store
            .lease_holder("root_cause", nov(22, 6, 0), now)
            .expect("holder"),
        Some(lease.clone())
    );

    assert!(store.release(&lease).expect("release"));
    assert!(!store.release(&lease).expect("release twice"));
    assert_eq!(
        store
            .lease_holder("root_cause", nov(22, 6, 0), now)
            .expect("holder"),
        None
    );
    let next = store
        .acquire("root_cause", nov(22, 6, 0), &b, Duration::MINUTE, now)
        .expect("acquire")
        .expect("released");
    assert_eq!(next.generation, 2);
    assert_eq!(next.owner, b);
    // The old holder cannot renew any more.
    let err = store
        .renew(&lease, Duration::MINUTE, now)
        .expect_err("lost");
    assert!(
        matches!(err, Error::LeaseLost { generation: 1, .. }),
        "{err}"
    );
}

#[test]
fn expired_lease_is_taken_over_and_old_holder_is_fenced() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let a = Owner::new(1, "host-a");
    let b = Owner::new(2, "host-b");
    let date = nov(22, 6, 0);
    let lease = store
        .acquire("p", date, &a, Duration::MINUTE, now)
        .expect("acquire")
        .expect("free");

    // Renewal extends it: still held 90 s later.
    let renewed = store
        .renew(&lease, Duration::MINUTE, now + TimeDelta::seconds(30))
        .expect("renew");
    assert_eq!(renewed.expires_at, now + TimeDelta::seconds(90));
    let at = now + TimeDelta::seconds(89);
    assert_eq!(
        store
            .acquire("p", date, &b, Duration::MINUTE, at)
            .expect("acquire"),
        None
    );

    // Expired: b takes it over with the next generation.
    let at = now + TimeDelta::seconds(91);
    let taken = store
        .acquire("p", date, &b, Duration::MINUTE, at)
        .expect("acquire")
        .expect("expired");
    assert_eq!((taken.generation, taken.owner.clone()), (2, b));
    assert!(matches!(
        store.renew(&renewed, Duration::MINUTE, at),
        Err(Error::LeaseLost { .. })
    ));
    assert!(!store.release(&renewed).expect("release"));
    assert!(store.release(&taken).expect("release"));
}

#[test]
fn expired_but_untaken_lease_can_still_be_renewed() {
    let db = Db::new();
    let store = db.open();
    let now = nov(22, 6, 0);
    let lease = store
        .acquire("p", now, &Owner::new(1, "h"), Duration::MINUTE, now)
        .expect("acquire")
        .expect("free");
    let late = now + TimeDelta::minutes(5);
    let renewed = store.renew(&lease, Duration::MINUTE, late).expect("renew");
    assert_eq!(renewed.generation, 1);
    assert_eq!(renewed.expires_at, late + TimeDelta::minutes(1));
}

#[test]
fn dead_holder_loses_its_lease_before_expiry() {
    let db = Db::new();
    let store = RunStore::open_with(&db.path, Box::new(|o: &Owner| o.pid == 1)).expect("open");
    let now = nov(22, 6, 0);
    store
        .acquire("p", now, &Owner::new(1, "h"), Duration::HOUR, now)
        .expect("acquire")
        .expect("free");
    let taken = store
        .acquire(
            "p",
            now,
            &Owner::new(2, "h"),
            Duration::HOUR,
            now + TimeDelta::minutes(1),
        )
        .expect("acquire")
        .expect("holder is dead");
    assert_eq!(taken.generation, 2);
}

#[test]
fn two_threads_with_own_stores_never_both_hold_the_lease() {
    let db = Arc::new(Db::new());
    drop(db.open()); // create the schema once
    let holders = Arc::new(AtomicUsize::new(0));
    let acquired = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(2));
    let now = nov(22, 6, 0);
    let threads: Vec<_> = (0..2u32)
        .map(|i| {
            let (db, holders, acquired, barrier) = (
                Arc::clone(&db),
                Arc::clone(&holders),
                Arc::clone(&acquired),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                let store = db.open();
                let me = Owner::new(100 + i, "race");
                barrier.wait();
                // Each thread keeps trying until it has held the lease 50 times:
                // a failed attempt only means the other thread holds it, and that
                // thread always releases, so the loop ends whatever the schedule.
                let mut mine = 0;
                while mine < 50 {
                    let Some(lease) = store
                        .acquire("root_cause", nov(22, 6, 0), &me, Duration::HOUR, now)
                        .expect("acquire")
                    else {
                        std::thread::yield_now();
                        continue;
                    };
                    mine += 1;
                    assert_eq!(
                        holders.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two holders at once"
                    );
                    acquired.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                    holders.fetch_sub(1, Ordering::SeqCst);
                    assert!(store.release(&lease).expect("release"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let acquired = acquired.load(Ordering::SeqCst);
    assert_eq!(acquired, 100);
    // Every acquisition bumped the generation exactly once.
    let store = db.open();
    let last = store
        .acquire(
            "root_cause",
            nov(22, 6, 0),
            &Owner::new(1, "x"),
            Duration::HOUR,
            now,
        )
        .expect("acquire")
        .expect("free at the end");
    assert_eq!(last.generation, acquired as u64 + 1);
}
