//! Streamed writes (`write_query`): the query's batches are encoded by one Parquet writer per
//! core and land in one Delta commit, exactly as a delta-rs write would (a new table is
//! created empty first).

use nightshift_lake::{Error, TableRef, Warehouse, WriteMode};

use crate::{parquet_files, rows, scalar, warehouse};

fn source() -> TableRef {
    TableRef::parse("raw.src").expect("name")
}

fn target() -> TableRef {
    TableRef::parse("output.p_predictions").expect("name")
}

/// `raw.src`: ids `0..n` in `ds`, model version `version`, written as `files` appends so a
/// scan yields several batches.
async fn fill_source(wh: &Warehouse, n: i64, ds: &str, version: &str, files: i64) {
    let per = n / files;
    for f in 0..files {
        let batch: Vec<(i64, &str, &str)> =
            (f * per..(f + 1) * per).map(|i| (i, ds, version)).collect();
        wh.write(&source(), vec![rows(&batch)])
            .with_mode(WriteMode::Append)
            .execute()
            .await
            .expect("source");
    }
}

/// Writes `rows` into the target with a batch write (delta-rs' own path), partitioned by `ds`.
async fn seed(wh: &Warehouse, batch: &[(i64, &str, &str)]) {
    wh.write(&target(), vec![rows(batch)])
        .with_mode(WriteMode::Append)
        .with_partition_columns(&["ds"])
        .execute()
        .await
        .expect("seed");
}

async fn stream_slice(
    wh: &Warehouse,
    ds: &str,
    version: &str,
) -> nightshift_lake::Result<nightshift_lake::WriteMetrics> {
    let frame = wh
        .sql(&format!(
            "SELECT id, ds, model_version FROM raw.src WHERE ds = '{ds}' AND model_version = '{version}'"
        ))
        .await
        .expect("query");
    wh.write_query(&target(), frame)
        .replace_slice(ds)
        .also_matching("model_version", version)
        .execute()
        .await
}

async fn count(wh: &Warehouse, filter: &str) -> i64 {
    scalar(
        wh,
        &format!("SELECT count(*) FROM output.p_predictions WHERE {filter}"),
    )
    .await
}

#[tokio::test]
async fn a_streamed_slice_replacement_is_one_exact_commit() {
    let (dir, wh) = warehouse().await;
    fill_source(&wh, 4000, "2026-11-19", "2", 4).await;
    // The target exists (written by delta-rs) with another day and another model version.
    seed(&wh, &[(1, "2026-11-19", "1"), (7, "2026-11-20", "2")]).await;
    let first = stream_slice(&wh, "2026-11-19", "2").await.expect("first");
    // Written by the per-core writers (their commit records the bytes added; delta-rs' own
    // write does not).
    let log = std::fs::read_to_string(
        dir.path()
            .join("warehouse/output/p_predictions/_delta_log/00000000000000000001.json"),
    )
    .expect("commit");
    assert!(log.contains("num_added_bytes"), "{log}");
    // Each batch goes to its slice's partition as it is (no per-row split): the files land
    // where delta-rs puts them, with the same partition values and statistics.
    let adds: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON action"))
        .filter_map(|a| a.get("add").cloned())
        .collect();
    assert!(!adds.is_empty(), "{log}");
    for add in &adds {
        assert_eq!(
            add["partitionValues"],
            serde_json::json!({"ds": "2026-11-19"})
        );
        let path = add["path"].as_str().expect("path");
        assert!(path.starts_with("ds=2026-11-19/"), "{path}");
        let stats: serde_json::Value =
            serde_json::from_str(add["stats"].as_str().expect("stats")).expect("stats JSON");
        assert!(
            stats["numRecords"].as_i64().expect("numRecords") > 0,
            "{stats}"
        );
        assert!(stats["minValues"].get("ds").is_none(), "{stats}");
        assert_eq!(stats["minValues"]["model_version"], "2", "{stats}");
    }
    assert_eq!(first.rows, 4000);
    assert_eq!(first.version, Some(1), "one commit");
    assert!(first.files_added >= 1);
    assert_eq!(first.files_removed, 0, "the other version's file stays");
    let again = stream_slice(&wh, "2026-11-19", "2").await.expect("again");
    assert_eq!(again.version, Some(2), "one commit");
    assert_eq!(
        again.files_removed, first.files_added,
        "exactly the slice's files go"
    );
    assert_eq!(
        count(&wh, "ds = '2026-11-19' AND model_version = '2'").await,
        4000
    );
    assert_eq!(
        count(&wh, "ds = '2026-11-19' AND model_version = '1'").await,
        1
    );
    assert_eq!(count(&wh, "ds = '2026-11-20'").await, 1);
    assert_eq!(
        scalar(&wh, "SELECT count(DISTINCT id) FROM output.p_predictions WHERE model_version = '2' AND ds = '2026-11-19'").await,
        4000
    );
}

#[tokio::test]
async fn a_streamed_write_creates_its_table_then_writes_on_all_cores() {
    let (dir, wh) = warehouse().await;
    fill_source(&wh, 3000, "2026-11-19", "2", 3).await;
    let m = stream_slice(&wh, "2026-11-19", "2")
        .await
        .expect("first write");
    assert_eq!(m.rows, 3000);
    assert_eq!(
        m.version,
        Some(1),
        "version 0 creates the table, 1 holds the rows"
    );
    let log = |v: u32| {
        std::fs::read_to_string(dir.path().join(format!(
            "warehouse/output/p_predictions/_delta_log/{v:020}.json"
        )))
        .expect("commit")
    };
    let (create, write) = (log(0), log(1));
    assert!(create.contains("\"partitionColumns\":[\"ds\"]"), "{create}");
    assert!(!create.contains("\"add\""), "created empty: {create}");
    assert!(
        write.contains("num_added_bytes"),
        "per-core writers: {write}"
    );
    // The schema is the one delta-rs' own write gives a new table (the query's strings are
    // Utf8View; the table stores them as `string`) but every column nullable: a query's NOT
    // NULL (from `raw.src`'s) is not the table's for life.
    let (other_dir, other) = warehouse().await;
    fill_source(&other, 30, "2026-11-19", "2", 1).await;
    let batches = other
        .sql("SELECT id, ds, model_version FROM raw.src")
        .await
        .expect("query")
        .collect()
        .await
        .expect("rows");
    other
        .write(&target(), batches)
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("delta-rs write");
    let schema_of = |log: &str| {
        let start = log.find("\"schemaString\"").expect("schema");
        log[start..]
            .split("\"partitionColumns\"")
            .next()
            .map(str::to_string)
    };
    let other_log = std::fs::read_to_string(
        other_dir
            .path()
            .join("warehouse/output/p_predictions/_delta_log/00000000000000000000.json"),
    )
    .expect("commit");
    assert_eq!(
        schema_of(&other_log).map(|s| s.replace("\"nullable\\\":false", "\"nullable\\\":true")),
        schema_of(&create)
    );
    assert!(other_log.contains("\"nullable\\\":false"), "{other_log}");
    assert_eq!(count(&wh, "ds = '2026-11-19'").await, 3000);
}

#[tokio::test]
async fn a_file_holding_two_versions_is_rewritten_not_dropped() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 30, "2026-11-19", "2", 1).await;
    // One file with versions 1 and 2: replacing version 2 must keep version 1's rows.
    seed(
        &wh,
        &[
            (1, "2026-11-19", "1"),
            (2, "2026-11-19", "2"),
            (3, "2026-11-19", "2"),
        ],
    )
    .await;
    let m = stream_slice(&wh, "2026-11-19", "2").await.expect("replace");
    assert_eq!(m.rows, 30);
    assert_eq!(count(&wh, "model_version = '1'").await, 1);
    assert_eq!(count(&wh, "model_version = '2'").await, 30);
}

#[tokio::test]
async fn streamed_rows_outside_the_slice_change_nothing() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 20, "2026-11-19", "1", 2).await;
    seed(&wh, &[(1, "2026-11-19", "1")]).await;
    let frame = wh
        .sql("SELECT id, CASE WHEN id = 15 THEN '2026-11-18' ELSE ds END AS ds, model_version FROM raw.src")
        .await
        .expect("query");
    let err = wh
        .write_query(&target(), frame)
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect_err("must refuse");
    assert!(matches!(err, Error::Slice { .. }), "{err}");
    assert!(err.to_string().contains("2026-11-18"), "{err}");
    assert_eq!(count(&wh, "true").await, 1, "the table is unchanged");
}

#[tokio::test]
async fn a_streamed_append_adds_in_one_commit() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 100, "2026-11-19", "1", 2).await;
    seed(&wh, &[(1000, "2026-11-19", "1")]).await;
    let frame = wh.sql("SELECT * FROM raw.src").await.expect("query");
    let m = wh
        .write_query(&target(), frame)
        .with_mode(WriteMode::Append)
        .execute()
        .await
        .expect("append");
    assert_eq!((m.rows, m.version), (100, Some(1)));
    assert_eq!(count(&wh, "true").await, 101);
}

#[tokio::test]
async fn long_narrowing_values_sharing_a_prefix_stay_apart() {
    let (_dir, wh) = warehouse().await;
    let prefix = "a-model-version-label-that-is-long-";
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    fill_source(&wh, 10, "2026-11-19", &b, 1).await;
    for version in [&a, &b] {
        seed(&wh, &[(1, "2026-11-19", version)]).await;
    }
    stream_slice(&wh, "2026-11-19", &b).await.expect("replace");
    assert_eq!(count(&wh, &format!("model_version = '{a}'")).await, 1);
    assert_eq!(count(&wh, &format!("model_version = '{b}'")).await, 10);
}

#[tokio::test]
async fn a_streamed_replacement_with_no_rows_empties_the_slice() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 10, "2026-11-19", "1", 1).await;
    seed(&wh, &[(1, "2026-11-19", "1"), (2, "2026-11-20", "1")]).await;
    let frame = wh
        .sql("SELECT * FROM raw.src WHERE id < 0")
        .await
        .expect("query");
    let m = wh
        .write_query(&target(), frame)
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("empty slice");
    assert_eq!((m.rows, m.files_added, m.files_removed), (0, 0, 1));
    assert_eq!(count(&wh, "ds = '2026-11-19'").await, 0);
    assert_eq!(count(&wh, "ds = '2026-11-20'").await, 1);
}

/// Plans `sql` over a tee's rows, registered as `teed` while planned.
async fn over_tee(
    wh: &Warehouse,
    source: nightshift_lake::TeeSource,
    sql: &str,
) -> Option<nightshift_lake::datafusion::prelude::DataFrame> {
    let table = source.into_table(2).await.expect("tee source")?;
    wh.context()
        .register_table("teed", table)
        .expect("register");
    let frame = wh.sql(sql).await.expect("query over the tee");
    wh.context().deregister_table("teed").expect("deregister");
    Some(frame)
}

fn doubled() -> TableRef {
    TableRef::parse("output.doubled").expect("name")
}

/// Streams `first` (a query and its table) into slice 2026-11-19 with a tee, and at the same
/// time prepares the write of `second` (a query over the tee's rows, `teed`) into
/// `output.doubled`.
async fn write_and_prepare_over_tee<'a>(
    wh: &'a Warehouse,
    (first, table): (&str, &TableRef),
    second: &str,
) -> (
    nightshift_lake::Result<nightshift_lake::WriteMetrics>,
    nightshift_lake::Result<Option<nightshift_lake::PreparedWrite<'a>>>,
) {
    let (tee, source) = nightshift_lake::tee();
    let frame = wh.sql(first).await.expect("query");
    let first = wh
        .write_query(table, frame)
        .replace_slice("2026-11-19")
        .with_tee(tee)
        .execute();
    let second = async {
        let frame = over_tee(wh, source, second)
            .await
            .expect("streamed through the per-core writers");
        wh.write_query(&doubled(), frame)
            .replace_slice("2026-11-19")
            .prepare()
            .await
    };
    tokio::join!(first, second)
}

#[tokio::test]
async fn a_tee_hands_the_rows_written_to_a_second_write_committed_after() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 5000, "2026-11-19", "2", 5).await;
    let (first, second) = write_and_prepare_over_tee(
        &wh,
        ("SELECT id, ds, model_version FROM raw.src", &target()),
        "SELECT id * 2 AS id, ds FROM teed",
    )
    .await;
    assert_eq!(first.expect("first write").rows, 5000);
    let prepared = second.expect("prepared").expect("per-core writers");
    assert_eq!(prepared.rows(), 5000);
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.doubled").await,
        0,
        "created empty; nothing committed before `commit`"
    );
    let m = prepared.commit().await.expect("commit");
    assert_eq!((m.rows, m.version), (5000, Some(1)));
    assert_eq!(
        scalar(&wh, "SELECT sum(id) FROM output.doubled").await,
        2 * scalar(&wh, "SELECT sum(id) FROM output.p_predictions").await
    );
}

#[tokio::test]
async fn a_prepared_write_dropped_uncommitted_deletes_its_files() {
    let (dir, wh) = warehouse().await;
    fill_source(&wh, 2000, "2026-11-19", "2", 2).await;
    stream_slice(&wh, "2026-11-19", "2").await.expect("first");
    let table_dir = dir.path().join("warehouse/output/p_predictions");
    let before = parquet_files(&table_dir);
    let frame = wh
        .sql("SELECT id + 100000 AS id, ds, model_version FROM raw.src")
        .await
        .expect("query");
    let prepared = wh
        .write_query(&target(), frame)
        .replace_slice("2026-11-19")
        .also_matching("model_version", "2")
        .prepare()
        .await
        .expect("prepare")
        .expect("per-core writers");
    assert!(parquet_files(&table_dir) > before, "files written");
    drop(prepared);
    assert_eq!(parquet_files(&table_dir), before);
    assert_eq!(
        scalar(&wh, "SELECT max(id) FROM output.p_predictions").await,
        1999
    );
}

#[tokio::test]
async fn a_tee_of_a_write_that_cannot_stream_gives_no_table() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 100, "2026-11-19", "2", 1).await;
    let (tee, source) = nightshift_lake::tee();
    let frame = wh
        .sql("SELECT id, ds, model_version FROM raw.src")
        .await
        .expect("query");
    // An overwrite may change the schema: delta-rs writes it, not the per-core writers.
    let first = wh
        .write_query(&target(), frame)
        .with_mode(WriteMode::Overwrite)
        .with_tee(tee)
        .execute();
    let (first, table) = tokio::join!(first, source.into_table(2));
    assert_eq!(first.expect("written").rows, 100);
    assert!(table.expect("no error").is_none());
}

#[tokio::test]
async fn a_write_failing_mid_stream_fails_the_query_over_its_tee() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 4000, "2026-11-19", "2", 4).await;
    let (first, second) = write_and_prepare_over_tee(
        &wh,
        (
            "SELECT id, ds, CAST(CASE WHEN id = 3500 THEN 'x' ELSE model_version END AS BIGINT) \
             AS model_version FROM raw.src",
            &TableRef::parse("output.failing").expect("name"),
        ),
        "SELECT id, ds FROM teed",
    )
    .await;
    assert!(first.is_err(), "the cast fails");
    let err = second.expect_err("a short stream is not a complete one");
    assert!(
        err.to_string().contains("stopped before its last batch"),
        "{err}"
    );
}

#[tokio::test]
async fn two_writes_of_one_slice_at_once_commit_one_and_say_why_the_other_failed() {
    // Two runs of the same date started together: both write, the first commit wins, and the
    // second fails with a hint that says what happened instead of delta-rs' isolation advice.
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 2000, "2026-11-19", "2", 2).await;
    stream_slice(&wh, "2026-11-19", "2").await.expect("first");
    let prepare = |offset: i64| {
        let wh = &wh;
        async move {
            let frame = wh
                .sql(&format!(
                    "SELECT id + {offset} AS id, ds, model_version FROM raw.src"
                ))
                .await
                .expect("query");
            wh.write_query(&target(), frame)
                .replace_slice("2026-11-19")
                .also_matching("model_version", "2")
                .prepare()
                .await
                .expect("prepare")
                .expect("per-core writers")
        }
    };
    let (a, b) = (prepare(100_000).await, prepare(200_000).await);
    a.commit().await.expect("the first commit wins");
    let err = b.commit().await.expect_err("the second conflicts");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("another run of the same date")),
        "{err}: {:?}",
        err.hint()
    );
    assert_eq!(
        scalar(&wh, "SELECT min(id) FROM output.p_predictions").await,
        100_000
    );
}

/// A slice whose query gained a column adds it to the table (null in the other slices); a
/// slice whose query lost one writes nulls into it. The other slices stay as they were.
#[tokio::test]
async fn a_slice_with_a_column_more_or_less_changes_the_table_schema() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 10, "2026-11-19", "1", 1).await;
    seed(&wh, &[(1, "2026-11-18", "1")]).await;
    let write = |sql: &'static str, ds: &'static str| {
        let wh = &wh;
        async move {
            let frame = wh.sql(sql).await.expect("query");
            wh.write_query(&target(), frame)
                .replace_slice(ds)
                .execute()
                .await
                .expect("write")
        }
    };
    let m = write(
        "SELECT id, ds, model_version, id * 2 AS doubled FROM raw.src",
        "2026-11-19",
    )
    .await;
    assert_eq!(m.rows, 10);
    assert_eq!(count(&wh, "doubled IS NOT NULL").await, 10);
    assert_eq!(count(&wh, "ds = '2026-11-18' AND doubled IS NULL").await, 1);
    let m = write(
        "SELECT id, '2026-11-20' AS ds, model_version FROM raw.src WHERE id < 4",
        "2026-11-20",
    )
    .await;
    assert_eq!(m.rows, 4);
    assert_eq!(count(&wh, "ds = '2026-11-20' AND doubled IS NULL").await, 4);
    // A column the table declares NOT NULL cannot be left out.
    let frame = wh
        .sql("SELECT id, '2026-11-21' AS ds FROM raw.src")
        .await
        .expect("query");
    let err = wh
        .write_query(&target(), frame)
        .replace_slice("2026-11-21")
        .execute()
        .await
        .expect_err("model_version is NOT NULL");
    assert!(matches!(err, Error::Delta { .. }), "{err}");
    assert_eq!(count(&wh, "ds = '2026-11-21'").await, 0);
    assert_eq!(
        count(&wh, "ds = '2026-11-19' AND doubled = id * 2").await,
        10
    );
}

/// A table a streamed write creates declares every column nullable, whatever the query's
/// columns were (here NOT NULL, from `raw.src`): a later slice with nulls is written. A table
/// that does declare NOT NULL refuses such rows with an error that names the column.
#[tokio::test]
async fn created_tables_are_nullable_and_not_null_columns_are_named() {
    let (_dir, wh) = warehouse().await;
    fill_source(&wh, 100, "2026-11-19", "2", 1).await;
    let with_nulls = |ds: &str| {
        format!(
            "SELECT CASE WHEN id % 2 = 0 THEN id END AS id, '{ds}' AS ds, model_version \
             FROM raw.src"
        )
    };
    let created = TableRef::parse("output.p_created").expect("name");
    for (ds, sql) in [
        (
            "2026-11-19",
            "SELECT id, ds, model_version FROM raw.src".to_string(),
        ),
        ("2026-11-20", with_nulls("2026-11-20")),
    ] {
        let frame = wh.sql(&sql).await.expect("query");
        wh.write_query(&created, frame)
            .replace_slice(ds)
            .execute()
            .await
            .expect("written");
    }
    assert_eq!(
        scalar(&wh, "SELECT count(*) - count(id) FROM output.p_created").await,
        50
    );

    // The target created by delta-rs' own write from NOT NULL columns.
    seed(&wh, &[(1, "2026-11-19", "1")]).await;
    let frame = wh.sql(&with_nulls("2026-11-19")).await.expect("query");
    let err = wh
        .write_query(&target(), frame)
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect_err("nulls in a NOT NULL column");
    assert!(
        matches!(&err, Error::NullInNotNull { table, column } if table == "output.p_predictions" && column == "id"),
        "{err}"
    );
    assert!(
        err.hint().is_some_and(|h| h.contains("COALESCE(id")),
        "{err}"
    );
    assert_eq!(count(&wh, "true").await, 1, "nothing written");
}
