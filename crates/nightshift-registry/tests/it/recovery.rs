use nightshift_registry::{ModelRef, Registry};

use crate::{Project, at, entries, register};

#[test]
fn a_crashed_registrations_temp_dir_is_ignored_then_cleaned_on_open() {
    let p = Project::new();
    let reg = p.open();
    register(&reg, "root_cause", b"one", at(6, 0));

    // A registration that died after writing part of its files.
    let leftover = p.models.join(".staging").join("root_cause-4242-1-0");
    std::fs::create_dir_all(&leftover).expect("mkdir");
    std::fs::write(leftover.join("weights.bin"), b"partial").expect("write");

    let latest = reg
        .resolve(&ModelRef::latest("root_cause"))
        .expect("resolve");
    assert_eq!(latest.version, 1);
    assert_eq!(reg.versions("root_cause").expect("versions").len(), 1);
    assert_eq!(entries(&p.models.join("root_cause")), ["1"]);

    let reopened = p.open();
    assert_eq!(reopened.recovery().staging_removed, 1);
    assert!(!leftover.exists());
    assert!(reopened.recovery().adopted.is_empty());
    // The next registration is unaffected.
    assert_eq!(
        register(&reopened, "root_cause", b"two", at(7, 0)).version,
        2
    );
}

#[test]
fn cleaning_waits_for_registrations_in_progress() {
    // A registration in progress holds the staging lock; an open meanwhile must not
    // delete its directory. Simulated by a registration blocked on the database lock.
    let p = Project::new();
    let reg = p.open();
    register(&reg, "root_cause", b"one", at(6, 0));
    let leftover = p.models.join(".staging").join("root_cause-1-1-1");
    std::fs::create_dir_all(&leftover).expect("mkdir");
    let lock = std::fs::File::open(p.models.join(".staging").join(".lock")).expect("lock file");
    lock.lock_shared().expect("shared lock");
    let opened = p.open();
    assert_eq!(opened.recovery().staging_removed, 0);
    assert!(leftover.exists());
    lock.unlock().expect("unlock");
    assert_eq!(p.open().recovery().staging_removed, 1);
    assert!(!leftover.exists());
}

#[test]
fn complete_bundles_without_rows_are_indexed_and_broken_ones_skipped() {
    let p = Project::new();
    let (v1, v2) = {
        let reg = p.open();
        let v1 = register(&reg, "root_cause", b"one", at(6, 0));
        let v2 = register(&reg, "root_cause", b"two", at(7, 0));
        reg.set_alias("root_cause", "production", 2, "ana", None, at(8, 0))
            .expect("alias");
        (v1, v2)
    };
    // The index is lost (or a crash hit between the rename and the commit), and a
    // version directory was left broken.
    for suffix in ["", "-wal", "-shm"] {
        let mut path = p.db.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    let broken = p.models.join("root_cause").join("3");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("weights.bin"), b"no manifest").expect("write");

    let reg = p.open();
    let recovery = reg.recovery();
    assert_eq!(recovery.adopted, [v1.clone(), v2.clone()]);
    assert_eq!(recovery.unreadable.len(), 1);
    assert_eq!(recovery.unreadable[0].0, broken);
    assert!(recovery.unreadable[0].1.contains("no manifest.json"));

    assert_eq!(
        reg.resolve(&ModelRef::latest("root_cause"))
            .expect("latest"),
        v2
    );
    reg.open_bundle(&v1).expect("adopted bundle opens");
    // Aliases lived only in the lost index.
    assert!(reg.aliases("root_cause").expect("aliases").is_empty());
    // The broken directory's number is not reused.
    assert_eq!(register(&reg, "root_cause", b"four", at(9, 0)).version, 4);
    assert!(broken.join("weights.bin").exists());
    // Reopening adopts nothing new.
    let again = Registry::open(&p.db, &p.models).expect("open");
    assert!(again.recovery().adopted.is_empty());
}

#[test]
fn a_crash_between_moving_the_bundle_and_committing_is_recovered() {
    let p = Project::new();
    let v2 = {
        let reg = p.open();
        register(&reg, "root_cause", b"one", at(6, 0));
        register(&reg, "root_cause", b"two", at(7, 0))
    };
    // The bundle is in place but its row never committed.
    let conn = rusqlite::Connection::open(&p.db).expect("sqlite");
    let deleted = conn
        .execute(
            "DELETE FROM model_versions WHERE name = 'root_cause' AND version = 2",
            [],
        )
        .expect("delete");
    assert_eq!(deleted, 1);
    drop(conn);

    let reg = p.open();
    assert_eq!(reg.recovery().adopted, std::slice::from_ref(&v2));
    assert!(reg.recovery().unreadable.is_empty());
    assert_eq!(
        reg.resolve(&ModelRef::latest("root_cause"))
            .expect("latest"),
        v2
    );
    assert_eq!(register(&reg, "root_cause", b"three", at(8, 0)).version, 3);
}

#[test]
fn a_newer_schema_is_refused() {
    let p = Project::new();
    drop(p.open());
    // Pretend a newer nightshift migrated the file.
    let conn = rusqlite::Connection::open(&p.db).expect("sqlite");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);

    let err = Registry::open(&p.db, &p.models).expect_err("newer schema");
    assert!(
        matches!(
            err,
            nightshift_registry::Error::NewerSchema {
                found: 99,
                supported: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.hint().expect("hint").contains("upgrade nightshift"));
}

#[test]
fn the_schema_is_versioned_and_uses_wal() {
    let p = Project::new();
    drop(p.open());
    let conn = rusqlite::Connection::open(&p.db).expect("sqlite");
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, nightshift_registry::schema::SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    // Opening again migrates nothing and keeps working.
    drop(conn);
    assert!(p.open().list().expect("list").is_empty());
}

/// A registry of schema 1 (whose alias history required a target version) is migrated on
/// open, its history kept, and an alias can then be removed.
#[test]
fn a_schema_1_registry_is_migrated_and_keeps_its_alias_history() {
    let p = Project::new();
    let reg = p.open();
    register(&reg, "root_cause", b"one", at(6, 0));
    reg.set_alias(
        "root_cause",
        "production",
        1,
        "ana",
        Some("first"),
        at(7, 0),
    )
    .expect("alias");
    drop(reg);
    // Back to schema 1's alias history, as an older nightshift left the file.
    let conn = rusqlite::Connection::open(&p.db).expect("sqlite");
    conn.execute_batch(
        "CREATE TABLE alias_history_1 (
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
         INSERT INTO alias_history_1 SELECT * FROM alias_history;
         DROP TABLE alias_history;
         ALTER TABLE alias_history_1 RENAME TO alias_history;
         CREATE INDEX alias_history_by_name ON alias_history (name, id);
         PRAGMA user_version = 1;",
    )
    .expect("schema 1");
    drop(conn);

    let reg = p.open();
    reg.remove_alias("root_cause", "production", "bo", None, at(8, 0))
        .expect("remove");
    let history: Vec<_> = reg
        .alias_history("root_cause")
        .expect("history")
        .into_iter()
        .map(|m| (m.from_version, m.to_version, m.actor, m.reason))
        .collect();
    assert_eq!(
        history,
        [
            (None, Some(1), "ana".to_string(), Some("first".to_string())),
            (Some(1), None, "bo".to_string(), None),
        ]
    );
}
