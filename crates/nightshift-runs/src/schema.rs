//! The run database's schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`; a new schema version is a
//! new entry at the end, never an edit of an old one. Times are stored as fixed-width
//! RFC 3339 UTC text (`2026-11-22T06:00:00.000Z`), so they compare correctly as strings.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// Schema migrations, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: runs, their tasks, pipeline x date leases, alert dedup.
    "
    CREATE TABLE runs (
        id           TEXT    PRIMARY KEY,             -- <pipeline>-<ds>-<seq>
        pipeline     TEXT    NOT NULL,
        logical_date TEXT    NOT NULL,
        ds           TEXT    NOT NULL,
        seq          INTEGER NOT NULL CHECK (seq > 0),   -- per pipeline x ds, in the id
        attempt      INTEGER NOT NULL CHECK (attempt > 0),
        trigger      TEXT    NOT NULL CHECK (trigger IN ('manual', 'schedule', 'retry', 'backfill')),
        retry_of     TEXT,
        status       TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
        owner_pid    INTEGER NOT NULL,
        owner_host   TEXT    NOT NULL,
        started_at   TEXT    NOT NULL,
        finished_at  TEXT,
        lease_until  TEXT,                            -- NULL once finished
        note         TEXT,                            -- why it was abandoned
        UNIQUE (pipeline, logical_date, attempt),
        UNIQUE (pipeline, ds, seq)
    ) STRICT;
    CREATE INDEX runs_by_start ON runs (started_at);
    CREATE INDEX runs_by_status ON runs (status);

    CREATE TABLE tasks (
        run_id        TEXT    NOT NULL REFERENCES runs (id),
        position      INTEGER NOT NULL,
        name          TEXT    NOT NULL,
        state         TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'abandoned')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        started_at    TEXT,
        finished_at   TEXT,
        rows_in       INTEGER,
        rows_out      INTEGER,
        model_version TEXT,
        detail        TEXT,                           -- JSON
        error         TEXT,
        transient     INTEGER,                        -- 0/1, with error
        PRIMARY KEY (run_id, position),
        UNIQUE (run_id, name)
    ) STRICT;

    CREATE TABLE leases (
        pipeline     TEXT    NOT NULL,
        logical_date TEXT    NOT NULL,
        generation   INTEGER NOT NULL CHECK (generation > 0),  -- fencing token, +1 per holder
        holder_pid   INTEGER NOT NULL,
        holder_host  TEXT    NOT NULL,
        acquired_at  TEXT    NOT NULL,
        expires_at   TEXT,                                    -- NULL once released
        PRIMARY KEY (pipeline, logical_date)
    ) STRICT;

    CREATE TABLE alerts (
        key      TEXT PRIMARY KEY,
        first_at TEXT NOT NULL
    ) STRICT;
    ",
    // 2: the model version a run resolved at its start, so that a retry uses it again.
    "
    ALTER TABLE runs ADD COLUMN model TEXT;           -- name@N, for runs of infer or publish
    ",
    // 3: the first date the scheduler planned for each pipeline, whether or not a run was
    // recorded for it (a date waiting for its data, or one that could not start, has none).
    "
    CREATE TABLE schedule_starts (
        pipeline   TEXT PRIMARY KEY,
        first_date TEXT NOT NULL
    ) STRICT;
    -- When a sink took the alert: NULL while it is being sent (a claim, taken over once
    -- stale: the sender died before delivering). Alerts recorded before were sent.
    ALTER TABLE alerts ADD COLUMN sent_at TEXT;
    UPDATE alerts SET sent_at = first_at;
    ",
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`SCHEMA_VERSION`] in one write transaction.
pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let sql = |action: &'static str| {
        move |source| Error::Sqlite {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(sql("start schema migration"))?;
    let found: u32 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql("read schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in &MIGRATIONS[found as usize..] {
        tx.execute_batch(migration).map_err(sql("migrate schema"))?;
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sql("write schema version"))?;
    }
    tx.commit().map_err(sql("commit schema migration"))
}

/// `t` as stored: fixed-width RFC 3339 UTC with milliseconds.
pub(crate) fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses a stored time.
pub(crate) fn parse_ts(path: &Path, s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            what: "timestamp",
            reason: format!("`{s}`: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn stored_times_are_fixed_width_and_round_trip() {
        let a = Utc
            .with_ymd_and_hms(2026, 11, 22, 6, 0, 0)
            .single()
            .expect("time");
        let b = a + chrono::TimeDelta::milliseconds(1500);
        assert_eq!(ts(a), "2026-11-22T06:00:00.000Z");
        assert_eq!(ts(b), "2026-11-22T06:00:01.500Z");
        assert!(ts(a) < ts(b));
        assert_eq!(parse_ts(Path::new("x"), &ts(b)).expect("parse"), b);
        assert!(parse_ts(Path::new("x"), "yesterday").is_err());
    }

    #[test]
    fn migrations_are_idempotent() {
        let conn = Connection::open_in_memory().expect("sqlite");
        migrate(&conn, Path::new(":memory:")).expect("first");
        migrate(&conn, Path::new(":memory:")).expect("second");
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION);
    }
}
