use nightshift_lake::{Error, TableRef, WriteMode};

use crate::{reopen, rows, scalar, warehouse};

fn table() -> TableRef {
    TableRef::parse("output.p_predictions").expect("name")
}

#[tokio::test]
async fn replacing_a_slice_twice_leaves_one_copy_and_other_slices_alone() {
    let (_dir, wh) = warehouse().await;
    let t = table();
    wh.write(
        &t,
        vec![rows(&[(1, "2026-11-19", "1"), (2, "2026-11-19", "1")])],
    )
    .replace_slice("2026-11-19")
    .execute()
    .await
    .expect("first slice");
    wh.write(&t, vec![rows(&[(3, "2026-11-20", "1")])])
        .replace_slice("2026-11-20")
        .execute()
        .await
        .expect("second slice");
    // Re-run of the first slice with different content: replaced, not appended.
    let m = wh
        .write(
            &t,
            vec![rows(&[
                (1, "2026-11-19", "1"),
                (2, "2026-11-19", "1"),
                (4, "2026-11-19", "1"),
            ])],
        )
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("re-run");
    assert_eq!(m.rows, 3);
    assert_eq!(m.version, Some(2), "one commit per write");
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM output.p_predictions WHERE ds = '2026-11-19'"
        )
        .await,
        3
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM output.p_predictions WHERE ds = '2026-11-20'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&wh, "SELECT count(DISTINCT id) FROM output.p_predictions").await,
        4
    );
}

#[tokio::test]
async fn a_narrowed_slice_keeps_other_model_versions() {
    let (_dir, wh) = warehouse().await;
    let t = table();
    wh.write(
        &t,
        vec![rows(&[(1, "2026-11-19", "1"), (2, "2026-11-19", "1")])],
    )
    .replace_slice("2026-11-19")
    .also_matching("model_version", "1")
    .execute()
    .await
    .expect("v1");
    for _ in 0..2 {
        wh.write(
            &t,
            vec![rows(&[(1, "2026-11-19", "2"), (2, "2026-11-19", "2")])],
        )
        .replace_slice("2026-11-19")
        .also_matching("model_version", "2")
        .execute()
        .await
        .expect("v2");
    }
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM output.p_predictions WHERE model_version = '1'"
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM output.p_predictions WHERE model_version = '2'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn rows_outside_the_slice_are_refused_and_nothing_is_written() {
    let (dir, wh) = warehouse().await;
    let t = table();
    let err = wh
        .write(
            &t,
            vec![rows(&[(1, "2026-11-19", "1"), (2, "2026-11-18", "1")])],
        )
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect_err("must refuse");
    assert!(matches!(err, Error::Slice { .. }), "{err}");
    assert!(err.to_string().contains("2026-11-18"), "{err}");
    assert!(
        !dir.path()
            .join("warehouse/output/p_predictions/_delta_log")
            .exists()
    );
}

#[tokio::test]
async fn an_empty_replacement_empties_the_slice() {
    let (_dir, wh) = warehouse().await;
    let t = table();
    wh.write(
        &t,
        vec![rows(&[(1, "2026-11-19", "1"), (2, "2026-11-20", "1")])],
    )
    .with_mode(WriteMode::Append)
    .with_partition_columns(&["ds"])
    .execute()
    .await
    .expect("append");
    let m = wh
        .write(&t, vec![])
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("empty slice");
    assert_eq!(m.rows, 0);
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.p_predictions").await,
        1
    );
}

#[tokio::test]
async fn a_batch_without_ds_gets_the_slice_key() {
    let (_dir, wh) = warehouse().await;
    let batch = rows(&[(1, "x", "1")]);
    let batch = batch.project(&[0, 2]).expect("drop ds");
    wh.write(&table(), vec![batch])
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("write");
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM output.p_predictions WHERE ds = '2026-11-19'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn reopening_finds_tables_and_unknown_tables_get_a_hint() {
    let (dir, wh) = warehouse().await;
    wh.write(&table(), vec![rows(&[(1, "2026-11-19", "1")])])
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("write");
    drop(wh);
    let wh = nightshift_lake::Warehouse::open_at(
        &dir.path().join("warehouse"),
        &Default::default(),
        Default::default(),
    )
    .await
    .expect("reopen");
    assert_eq!(wh.table_names(), vec!["output.p_predictions".to_string()]);
    let err = wh
        .query("SELECT * FROM output.nope")
        .await
        .expect_err("unknown table");
    let hint = err.hint().expect("hint");
    assert!(hint.contains("output.p_predictions"), "{hint}");
}

#[test]
fn table_names_must_be_schema_dot_table() {
    assert!(TableRef::parse("raw.support_contacts").is_ok());
    for bad in ["support_contacts", "raw.", "a.b.c", "Raw.x", "raw.x-y", ""] {
        assert!(TableRef::parse(bad).is_err(), "{bad}");
    }
}

/// Only queries run through `Warehouse::sql`: writes would bypass the slices' one-commit
/// replacement (duplicates in an output table), DDL would change nothing lasting, COPY would
/// write anywhere. Each is refused before it runs, saying what it was.
#[tokio::test]
async fn statements_that_change_something_are_refused_before_they_run() {
    let (dir, wh) = warehouse().await;
    let t = table();
    wh.write(&t, vec![rows(&[(1, "2026-11-19", "1")])])
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("slice");
    let copy_to = dir.path().join("copied.csv");
    for (sql, what) in [
        (
            "INSERT INTO output.p_predictions SELECT * FROM output.p_predictions",
            "Insert Into output.p_predictions",
        ),
        (
            "DELETE FROM output.p_predictions",
            "Delete output.p_predictions",
        ),
        (
            "CREATE TABLE output.x AS SELECT 1 AS a",
            "CreateMemoryTable",
        ),
        ("CREATE VIEW output.v AS SELECT 1 AS a", "CreateView"),
        ("DROP TABLE output.p_predictions", "DropTable"),
        ("SET datafusion.execution.batch_size = 1", "SetVariable"),
        (
            &format!(
                "COPY (SELECT * FROM output.p_predictions) TO '{}'",
                copy_to.display()
            ),
            "COPY TO",
        ),
        (
            "EXPLAIN ANALYZE INSERT INTO output.p_predictions SELECT * FROM output.p_predictions",
            "Insert Into",
        ),
    ] {
        let err = wh.sql(sql).await.err().unwrap_or_else(|| panic!("{sql}"));
        assert!(matches!(err, Error::NotAQuery { .. }), "{sql}: {err}");
        assert!(err.to_string().contains(what), "{sql}: {err}");
        assert!(err.hint().is_some_and(|h| h.contains("SELECT")), "{sql}");
    }
    assert!(!copy_to.exists());
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.p_predictions").await,
        1
    );
    // Queries of every kind still run.
    for sql in [
        "SELECT 1",
        "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
        "EXPLAIN SELECT * FROM output.p_predictions",
        "SHOW TABLES",
        "DESCRIBE output.p_predictions",
        "SELECT * FROM information_schema.columns",
    ] {
        wh.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// One table's damaged log (a half-copied or hand-edited commit) leaves the other tables
/// usable; reading it says which table and why, and a write to it fails instead of
/// re-creating it over the damaged log.
#[tokio::test]
async fn a_table_whose_log_is_damaged_is_refused_alone() {
    let (dir, wh) = warehouse().await;
    let (good, bad) = (table(), TableRef::parse("output.p_rollups").expect("name"));
    for t in [&good, &bad] {
        wh.write(t, vec![rows(&[(1, "2026-11-19", "1")])])
            .replace_slice("2026-11-19")
            .execute()
            .await
            .expect("slice");
    }
    let log = dir.path().join("warehouse/output/p_rollups/_delta_log");
    std::fs::write(log.join("00000000000000000000.json"), "{garbage\n").expect("damage");
    let wh = reopen(&dir).await;
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.p_predictions").await,
        1
    );
    assert!(wh.has_table(&bad), "it is there, only unreadable");
    let err = wh
        .query("SELECT count(*) FROM output.P_ROLLUPS")
        .await
        .expect_err("damaged");
    assert!(matches!(err, Error::BrokenTable { .. }), "{err}");
    assert!(err.to_string().contains("output.p_rollups"), "{err}");
    assert!(
        err.hint().is_some_and(|h| h.contains("_delta_log")),
        "{err}"
    );
    wh.write(&bad, vec![rows(&[(2, "2026-11-20", "1")])])
        .replace_slice("2026-11-20")
        .execute()
        .await
        .expect_err("not re-created");
    assert_eq!(
        std::fs::read_to_string(log.join("00000000000000000000.json")).expect("log"),
        "{garbage\n"
    );
}

/// A table directory of plain Parquet files (no Delta log) is named as such, with how to
/// make it a Delta table, instead of "table not found".
#[tokio::test]
async fn a_directory_of_plain_files_is_named_not_a_delta_table() {
    let (dir, _wh) = warehouse().await;
    let plain = dir.path().join("warehouse/raw/plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    std::fs::write(plain.join("part-0.parquet"), b"PAR1").expect("write");
    std::fs::create_dir_all(dir.path().join("warehouse/raw/empty")).expect("mkdir");
    let wh = reopen(&dir).await;
    let err = wh
        .query("SELECT * FROM raw.plain")
        .await
        .expect_err("not delta");
    assert!(err.to_string().contains("is not a Delta table"), "{err}");
    assert!(
        err.hint().is_some_and(|h| h.contains("write_deltalake")),
        "{err}"
    );
    // An empty directory is nothing at all.
    let err = wh.query("SELECT * FROM raw.empty").await.expect_err("none");
    assert!(matches!(err, Error::Sql { .. }), "{err}");
}
