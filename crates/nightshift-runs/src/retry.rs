//! Retrying a failing step: exponential backoff with seeded jitter, transient versus
//! permanent errors, and a synchronous retry loop that sleeps through an injected sleeper.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use nightshift_core::{Duration, PipelineSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::clock::Clock;

/// Longest delay between attempts unless the base delay is longer: one hour.
pub const DEFAULT_MAX_DELAY: Duration = Duration::HOUR;

/// Default jitter: each delay is moved by up to +-10 %.
pub const DEFAULT_JITTER: f64 = 0.1;

/// How often and how patiently to retry.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `retries + 1` attempts).
    pub retries: u32,
    /// Delay after the first failed attempt; doubled after each further one.
    pub base_delay: Duration,
    /// Cap on the delay before jitter.
    pub max_delay: Duration,
    /// Fraction, in `[0, 1]`, by which each delay is moved at random either way.
    pub jitter: f64,
}

impl RetryPolicy {
    /// `retries` retries starting at `base_delay`, capped at the larger of
    /// [`DEFAULT_MAX_DELAY`] and `base_delay`, with [`DEFAULT_JITTER`].
    pub fn new(retries: u32, base_delay: Duration) -> RetryPolicy {
        RetryPolicy {
            retries,
            base_delay,
            max_delay: base_delay.max(DEFAULT_MAX_DELAY),
            jitter: DEFAULT_JITTER,
        }
    }

    /// The policy of a pipeline: its `retries` and `retry_delay`, with the defaults of
    /// [`RetryPolicy::new`] for the rest.
    pub fn from_spec(spec: &PipelineSpec) -> RetryPolicy {
        RetryPolicy::new(spec.retries, spec.retry_delay)
    }

    /// The most attempts this policy allows: `retries + 1`.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The delay before jitter after failed attempt `attempt` (1-based; 0 counts as 1):
    /// `min(base_delay * 2^(attempt-1), max_delay)`, in whole seconds.
    pub fn nominal_delay(&self, attempt: u32) -> StdDuration {
        let doublings = attempt.max(1) - 1;
        let base = self.base_delay.seconds().unsigned_abs();
        let max = self.max_delay.seconds().unsigned_abs();
        let exp = if doublings >= 63 {
            u64::MAX
        } else {
            base.saturating_mul(1u64 << doublings)
        };
        StdDuration::from_secs(exp.min(max))
    }

    /// The range [`RetryPolicy::delay`] falls in: `nominal * (1 -+ jitter)`.
    pub fn delay_bounds(&self, attempt: u32) -> (StdDuration, StdDuration) {
        let nominal = self.nominal_delay(attempt).as_secs_f64();
        let j = self.clamped_jitter();
        (
            StdDuration::from_secs_f64(nominal * (1.0 - j)),
            StdDuration::from_secs_f64(nominal * (1.0 + j)),
        )
    }

    fn clamped_jitter(&self) -> f64 {
        if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// How long to wait after failed attempt `attempt` (1-based) before the next:
    /// [`RetryPolicy::nominal_delay`] moved by a uniform random fraction in
    /// `[-jitter, +jitter]` drawn from `rng`, to millisecond precision. The same seeded
    /// `rng` gives the same delays.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> StdDuration {
        let nominal = self.nominal_delay(attempt).as_secs_f64();
        let j = self.clamped_jitter();
        let factor = if j > 0.0 {
            1.0 + rng.random_range(-j..=j)
        } else {
            1.0
        };
        let millis = (nominal * factor * 1000.0).round();
        StdDuration::from_millis(if millis > 0.0 { millis as u64 } else { 0 })
    }
}

/// A deterministic random source for jitter, e.g. `jitter_rng(seed_for(run_id))`.
pub fn jitter_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A stable 64-bit seed from text (FNV-1a), so each run's jitter is reproducible while
/// different runs do not retry in lockstep.
pub fn seed_for(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether retrying can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// May pass on another try: I/O, network, object store hiccups, busy or locked resources.
    Transient,
    /// Will fail the same way again: SQL, plan, schema, missing things, configuration.
    Permanent,
}

impl ErrorClass {
    /// `true` for [`ErrorClass::Transient`].
    pub fn is_transient(self) -> bool {
        self == ErrorClass::Transient
    }
}

/// Phrases (lowercase) that make an error permanent; checked first.
const PERMANENT_MARKERS: &[&str] = &[
    "no field named",
    "not found",
    "no such",
    "does not exist",
    "schema error",
    "sql error",
    "error during planning",
    "plan error",
    "parser error",
    "syntax error",
    "invalid",
    "config",
    "permission denied",
    "access denied",
    "unauthorized",
    "forbidden",
    "unsupported",
    "type mismatch",
    "cannot cast",
];

/// Phrases (lowercase) that make an error transient when no permanent one matched.
const TRANSIENT_MARKERS: &[&str] = &[
    "i/o",
    "io error",
    "object store",
    "timed out",
    "timeout",
    "connection",
    "temporar",
    "busy",
    "lock",
    "unavailable",
    "try again",
    "interrupted",
    "reset by peer",
    "broken pipe",
    "throttl",
    "rate limit",
    "too many requests",
    // A Delta commit that lost to another one (two runs of the same date, or two dates'
    // runs creating a table or adding a column at once): the task, run again, reads what
    // won and commits after it.
    "concurrent transaction",
    "changed since last commit",
    "existing table version",
];

/// Classifies an error by its message, case-insensitively.
///
/// Permanent phrases (SQL, plan, schema, `No field named`, `not found`, `invalid`,
/// configuration, permissions) win over transient ones (I/O, object store, `timed out`,
/// `connection`, `temporarily`, `busy`, `lock`, ...), so `Object Store error: ... not
/// found` is permanent. A message matching neither is [`ErrorClass::Permanent`]:
/// unknown failures are not retried blindly.
pub fn classify_message(message: &str) -> ErrorClass {
    let m = message.to_lowercase();
    if PERMANENT_MARKERS.iter().any(|p| m.contains(p)) {
        ErrorClass::Permanent
    } else if TRANSIENT_MARKERS.iter().any(|p| m.contains(p)) {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}

/// Classifies an I/O error kind: interruptions, timeouts and connection trouble are
/// transient; everything else (not found, permissions, bad data) is permanent.
pub fn classify_io(kind: std::io::ErrorKind) -> ErrorClass {
    use std::io::ErrorKind as K;
    match kind {
        K::TimedOut
        | K::Interrupted
        | K::WouldBlock
        | K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::AddrInUse
        | K::AddrNotAvailable
        | K::UnexpectedEof
        | K::ResourceBusy
        | K::NetworkDown
        | K::NetworkUnreachable
        | K::HostUnreachable => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// Classifies an error with its chain of sources: the kind of the first
/// [`std::io::Error`] in the chain decides if there is one (see [`classify_io`]);
/// otherwise the whole chain's text does (see [`classify_message`]).
pub fn classify_error(error: &(dyn std::error::Error + 'static)) -> ErrorClass {
    let mut text = String::new();
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return classify_io(io.kind());
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&e.to_string());
        current = e.source();
    }
    classify_message(&text)
}

/// One attempt made by [`run_with_retries`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// When it started, per the clock.
    pub started_at: DateTime<Utc>,
    /// When it returned, per the clock.
    pub finished_at: DateTime<Utc>,
    /// `None` if it succeeded, else how its error was classified.
    pub error_class: Option<ErrorClass>,
    /// The wait before the next attempt, if there was one.
    pub delay_after: Option<StdDuration>,
}

/// Calls `f(1)`, `f(2)`, ... until it succeeds, its error is classified permanent, or the
/// policy's [`RetryPolicy::max_attempts`] are used up; between attempts it calls
/// `sleeper` with [`RetryPolicy::delay`] drawn from `rng`. Returns the last result and
/// every attempt made (never empty).
///
/// Synchronous: wrap async work in the caller's `block_on`. Tests pass a sleeper that
/// advances a [`crate::ManualClock`] instead of sleeping.
pub fn run_with_retries<T, E, R: Rng + ?Sized>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    rng: &mut R,
    sleeper: &mut dyn FnMut(StdDuration),
    mut f: impl FnMut(u32) -> Result<T, E>,
    classify: impl Fn(&E) -> ErrorClass,
) -> (Result<T, E>, Vec<Attempt>) {
    let mut attempts = Vec::new();
    let mut number = 1;
    loop {
        let started_at = clock.now();
        let result = f(number);
        let finished_at = clock.now();
        let mut attempt = Attempt {
            number,
            started_at,
            finished_at,
            error_class: None,
            delay_after: None,
        };
        let error = match &result {
            Ok(_) => {
                attempts.push(attempt);
                return (result, attempts);
            }
            Err(e) => e,
        };
        let class = classify(error);
        attempt.error_class = Some(class);
        if class == ErrorClass::Permanent || number >= policy.max_attempts() {
            attempts.push(attempt);
            return (result, attempts);
        }
        let wait = policy.delay(number, rng);
        attempt.delay_after = Some(wait);
        attempts.push(attempt);
        sleeper(wait);
        number += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_distinct() {
        assert_eq!(seed_for(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(seed_for("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(
            seed_for("root_cause-2026-11-22-1"),
            seed_for("root_cause-2026-11-22-2")
        );
    }

    #[test]
    fn odd_jitter_values_are_tamed() {
        let mut p = RetryPolicy::new(1, Duration::MINUTE);
        p.jitter = f64::NAN;
        assert_eq!(p.delay(1, &mut jitter_rng(0)), StdDuration::from_secs(60));
        p.jitter = 5.0;
        let d = p.delay(1, &mut jitter_rng(0));
        assert!(d <= StdDuration::from_secs(120), "{d:?}");
    }
}
