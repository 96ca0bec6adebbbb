//! The registry database's schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`; a new schema version is a
//! new entry at the end, never an edit of an old one.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// Schema migrations, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: versions, aliases, alias history, metrics recorded after training.
    "
    CREATE TABLE model_versions (
        name            TEXT    NOT NULL,
        version         INTEGER NOT NULL CHECK (version > 0),
        created_at      TEXT    NOT NULL,  -- RFC 3339, UTC
        kind            TEXT    NOT NULL,
        training_rows   INTEGER NOT NULL,
        fingerprint     TEXT    NOT NULL,
        code_version    TEXT    NOT NULL,
        manifest_sha256 TEXT    NOT NULL,
        metrics         TEXT    NOT NULL,  -- JSON: the manifest's metrics + later updates
        PRIMARY KEY (name, version)
    ) STRICT;

    CREATE TABLE aliases (
        name       TEXT    NOT NULL,
        alias      TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        updated_at TEXT    NOT NULL,
        PRIMARY KEY (name, alias),
        FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
    ) STRICT;

    CREATE TABLE alias_history (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        name         TEXT    NOT NULL,
        alias        TEXT    NOT NULL,
        from_version INTEGER,
        to_version   INTEGER NOT NULL,
        at           TEXT    NOT NULL,
        actor        TEXT    NOT NULL,
        reason       TEXT,
        FOREIGN KEY (name, to_version) REFERENCES model_versions (name, version)
    ) STRICT;
    CREATE INDEX alias_history_by_name ON alias_history (name, id);

    CREATE TABLE metric_updates (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        name    TEXT    NOT NULL,
        version INTEGER NOT NULL,
        key     TEXT    NOT NULL,
        value   TEXT    NOT NULL,  -- JSON
        at      TEXT    NOT NULL,
        FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
    ) STRICT;
    ",
    // 2: an alias can be removed: its history row has no `to_version`.
    "
    CREATE TABLE alias_history_2 (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        name         TEXT    NOT NULL,
        alias        TEXT    NOT NULL,
        from_version INTEGER,
        to_version   INTEGER,  -- NULL: the alias was removed
        at           TEXT    NOT NULL,
        actor        TEXT    NOT NULL,
        reason       TEXT,
        FOREIGN KEY (name, to_version) REFERENCES model_versions (name, version)
    ) STRICT;
    INSERT INTO alias_history_2 (id, name, alias, from_version, to_version, at, actor, reason)
        SELECT id, name, alias, from_version, to_version, at, actor, reason FROM alias_history;
    DROP TABLE alias_history;
    ALTER TABLE alias_history_2 RENAME TO alias_history;
    CREATE INDEX alias_history_by_name ON alias_history (name, id);
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
