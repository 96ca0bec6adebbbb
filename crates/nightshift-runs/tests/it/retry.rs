//! Retry policy, error classes and the retry loop, with a manual clock and no sleeping.

use std::time::Duration as StdDuration;

use chrono::TimeDelta;
use nightshift_core::Duration;
use nightshift_runs::{
    ErrorClass, ManualClock, RetryPolicy, classify_error, classify_message, jitter_rng,
    run_with_retries, seed_for,
};

use crate::nov;

fn policy(retries: u32, base_secs: i64) -> RetryPolicy {
    RetryPolicy::new(retries, Duration::from_seconds(base_secs))
}

#[test]
fn delays_double_are_capped_and_jittered_within_bounds() {
    let p = policy(10, 60);
    assert_eq!(p.max_delay, Duration::HOUR);
    let nominal: Vec<u64> = (1..=8).map(|a| p.nominal_delay(a).as_secs()).collect();
    assert_eq!(nominal, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(p.nominal_delay(0), StdDuration::from_secs(60));
    assert_eq!(p.nominal_delay(u32::MAX), StdDuration::from_secs(3600));

    let mut rng = jitter_rng(7);
    for attempt in 1..=8 {
        for _ in 0..50 {
            let d = p.delay(attempt, &mut rng);
            let (lo, hi) = p.delay_bounds(attempt);
            assert!(
                lo <= d && d <= hi,
                "attempt {attempt}: {d:?} not in {lo:?}..{hi:?}"
            );
        }
    }
    assert_eq!(
        p.delay_bounds(1),
        (StdDuration::from_secs(54), StdDuration::from_secs(66))
    );

    // Same seed, same delays; jitter actually moves them.
    let a: Vec<_> = (1..=5)
        .map(|n| p.delay(n, &mut jitter_rng(seed_for("root_cause-2026-11-22-1"))))
        .collect();
    let b: Vec<_> = (1..=5)
        .map(|n| p.delay(n, &mut jitter_rng(seed_for("root_cause-2026-11-22-1"))))
        .collect();
    assert_eq!(a, b);
    let mut rng = jitter_rng(1);
    let draws: Vec<_> = (0..10).map(|_| p.delay(1, &mut rng)).collect();
    assert!(draws.iter().any(|d| *d != draws[0]), "{draws:?}");

    // No jitter: exact.
    let exact = RetryPolicy {
        jitter: 0.0,
        ..policy(3, 30)
    };
    assert_eq!(
        exact.delay(3, &mut jitter_rng(0)),
        StdDuration::from_secs(120)
    );
    // A base longer than the default cap is not cut.
    assert_eq!(
        policy(1, 7200).nominal_delay(1),
        StdDuration::from_secs(7200)
    );
}

#[test]
fn transient_twice_then_success_takes_three_attempts() {
    let p = policy(3, 60);
    let clock = ManualClock::new(nov(22, 6, 0));
    let mut slept = Vec::new();
    let mut rng = jitter_rng(42);
    let (result, attempts) = run_with_retries(
        &p,
        &clock,
        &mut rng,
        &mut |d| {
            slept.push(d);
            clock.advance(TimeDelta::from_std(d).expect("delay fits"));
        },
        |attempt| {
            clock.advance(TimeDelta::seconds(10));
            if attempt < 3 {
                Err(format!(
                    "object store: connection reset (attempt {attempt})"
                ))
            } else {
                Ok(attempt * 100)
            }
        },
        |e: &String| classify_message(e),
    );
    assert_eq!(result, Ok(300));
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(attempts[0].error_class, Some(ErrorClass::Transient));
    assert_eq!(attempts[2].error_class, None);
    assert_eq!(attempts[2].delay_after, None);
    assert_eq!(slept.len(), 2);
    assert!(
        StdDuration::from_secs(54) <= slept[0] && slept[0] <= StdDuration::from_secs(66),
        "{slept:?}"
    );
    assert!(
        StdDuration::from_secs(108) <= slept[1] && slept[1] <= StdDuration::from_secs(132),
        "{slept:?}"
    );
    assert_eq!(attempts[0].delay_after, Some(slept[0]));
    // The clock saw every attempt and every wait.
    assert_eq!(attempts[0].started_at, nov(22, 6, 0));
    assert_eq!(
        attempts[0].finished_at,
        nov(22, 6, 0) + TimeDelta::seconds(10)
    );
    assert_eq!(
        attempts[1].started_at,
        attempts[0].finished_at + TimeDelta::from_std(slept[0]).expect("fits")
    );
    // Deterministic: the same seed sleeps the same.
    let mut again = Vec::new();
    let _ = run_with_retries(
        &p,
        &ManualClock::new(nov(22, 6, 0)),
        &mut jitter_rng(42),
        &mut |d| again.push(d),
        |a| if a < 3 { Err("timed out") } else { Ok(()) },
        |e: &&str| classify_message(e),
    );
    assert_eq!(again, slept);
}

#[test]
fn permanent_error_is_not_retried() {
    let clock = ManualClock::new(nov(22, 6, 0));
    let mut slept = Vec::new();
    let mut calls = 0;
    let (result, attempts) = run_with_retries(
        &policy(5, 60),
        &clock,
        &mut jitter_rng(1),
        &mut |d| slept.push(d),
        |_| -> Result<(), String> {
            calls += 1;
            Err("Schema error: No field named `txt`".into())
        },
        |e: &String| classify_message(e),
    );
    assert!(result.is_err());
    assert_eq!((calls, attempts.len(), slept.len()), (1, 1, 0));
    assert_eq!(attempts[0].error_class, Some(ErrorClass::Permanent));
}

#[test]
fn retries_stop_after_the_policy_allows() {
    let mut slept = 0;
    let (result, attempts) = run_with_retries(
        &policy(2, 1),
        &ManualClock::new(nov(22, 6, 0)),
        &mut jitter_rng(1),
        &mut |_| slept += 1,
        |_| -> Result<(), &str> { Err("database is locked") },
        |e: &&str| classify_message(e),
    );
    assert_eq!(result, Err("database is locked"));
    assert_eq!((attempts.len(), slept), (3, 2));
    assert_eq!(attempts[2].delay_after, None);
    // Zero retries: one attempt.
    let (_, attempts) = run_with_retries(
        &policy(0, 1),
        &ManualClock::new(nov(22, 6, 0)),
        &mut jitter_rng(1),
        &mut |_| {},
        |_| -> Result<(), &str> { Err("timed out") },
        |e: &&str| classify_message(e),
    );
    assert_eq!(attempts.len(), 1);
}

#[test]
fn classifier_sorts_messages() {
    for transient in [
        "I/O error: broken pipe",
        "Object Store error: Generic S3 error: error sending request",
        "operation timed out after 30s",
        "connection refused",
        "service temporarily unavailable",
        "database is busy",
        "database table is locked",
        "could not acquire lock on _delta_log/00012.json",
        "table output.rc_predictions: Transaction failed: Metadata changed since last commit.",
        "Commit failed: a concurrent transaction deleted the same data your transaction deletes.",
        "Transaction failed: Tried committing existing table version: 7",
    ] {
        assert_eq!(
            classify_message(transient),
            ErrorClass::Transient,
            "{transient}"
        );
    }
    for permanent in [
        "SQL error: ParserError(\"Expected: an expression\")",
        "Error during planning: table 'raw.contacts' not found",
        "Schema error: No field named txt. Valid fields are id, text.",
        "Object Store error: Object at location s3://b/x not found",
        "config: unknown key `retires`",
        "invalid model reference `root_cause@`",
        "index out of bounds: the len is 3 but the index is 7",
    ] {
        assert_eq!(
            classify_message(permanent),
            ErrorClass::Permanent,
            "{permanent}"
        );
    }
}

#[derive(Debug)]
struct Wrapped(std::io::Error);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("writing predictions failed")
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn classifier_uses_io_kinds_in_the_source_chain() {
    use std::io::{Error, ErrorKind};
    let timed_out = Wrapped(Error::new(ErrorKind::TimedOut, "slow disk"));
    assert_eq!(classify_error(&timed_out), ErrorClass::Transient);
    let missing = Wrapped(Error::new(ErrorKind::NotFound, "gone"));
    assert_eq!(classify_error(&missing), ErrorClass::Permanent);
    let plain = Error::other("connection reset");
    let boxed: Box<dyn std::error::Error> = "Error during planning: nope".into();
    assert_eq!(classify_error(boxed.as_ref()), ErrorClass::Permanent);
    // An io::Error of kind Other is classified by kind, not text.
    assert_eq!(classify_error(&plain), ErrorClass::Permanent);
}

#[test]
fn policy_from_pipeline_spec() {
    let spec = crate::catchup::spec("daily at 06:00", true);
    let p = RetryPolicy::from_spec(&spec);
    assert_eq!(
        (p.retries, p.base_delay, p.max_attempts()),
        (3, Duration::MINUTE, 4)
    );
}
