//! `Warehouse::vacuum`: files no longer used by a table's latest version go, past a retention;
//! the rows stay.

use nightshift_lake::{TableRef, Warehouse};

use crate::{parquet_files, rows, scalar, warehouse};

async fn write_slice_twice(wh: &Warehouse, t: &TableRef) {
    for ids in [[1, 2], [3, 4]] {
        wh.write(
            t,
            vec![rows(&[
                (ids[0], "2026-11-19", "1"),
                (ids[1], "2026-11-19", "1"),
            ])],
        )
        .replace_slice("2026-11-19")
        .execute()
        .await
        .expect("slice");
    }
}

#[tokio::test]
async fn replaced_files_go_past_the_retention_and_the_rows_stay() {
    let (_dir, wh) = warehouse().await;
    let t = TableRef::parse("output.p_predictions").expect("name");
    write_slice_twice(&wh, &t).await;
    // A file a crashed write left behind: never committed.
    let table_dir = wh.location(&t);
    let orphan = table_dir.join("ds=2026-11-19").join("part-orphan.parquet");
    std::fs::copy(
        std::fs::read_dir(table_dir.join("ds=2026-11-19"))
            .expect("slice dir")
            .flatten()
            .next()
            .expect("a file")
            .path(),
        &orphan,
    )
    .expect("orphan");
    let files = parquet_files(&table_dir);
    assert_eq!(files, 3, "two slice versions and the orphan");

    // Everything is younger than a week: nothing goes.
    let week = chrono::Duration::days(7);
    let report = wh
        .vacuum(&t, week, false)
        .await
        .expect("vacuum")
        .expect("table");
    assert_eq!(report.files, 0);
    assert_eq!(parquet_files(&table_dir), 3);

    // No retention, dry run: counted, not deleted.
    let zero = chrono::Duration::zero();
    let report = wh
        .vacuum(&t, zero, true)
        .await
        .expect("dry run")
        .expect("table");
    assert_eq!((report.files, report.dry_run), (2, true));
    assert_eq!(parquet_files(&table_dir), 3);

    let report = wh
        .vacuum(&t, zero, false)
        .await
        .expect("vacuum")
        .expect("table");
    assert_eq!(report.files, 2, "the replaced slice file and the orphan");
    assert_eq!(parquet_files(&table_dir), 1);
    assert!(!orphan.exists());
    let sum = scalar(&wh, "SELECT sum(id) FROM output.p_predictions").await;
    assert_eq!(sum, 7, "the latest slice (ids 3, 4) is intact");

    let again = wh
        .vacuum(&t, zero, false)
        .await
        .expect("again")
        .expect("table");
    assert_eq!(again.files, 0);
}

#[tokio::test]
async fn a_table_never_written_has_nothing_to_vacuum() {
    let (_dir, wh) = warehouse().await;
    let t = TableRef::parse("output.nothing").expect("name");
    let report = wh
        .vacuum(&t, chrono::Duration::zero(), false)
        .await
        .expect("vacuum");
    assert_eq!(report, None);
}
