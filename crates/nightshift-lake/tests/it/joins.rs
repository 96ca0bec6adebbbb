//! Which side of a features query's joins is held in memory: the lookup tables, hashed once
//! and shared by every partition, never the window of rows with their text.

use std::sync::Arc;

use nightshift_lake::arrow::array::{Int64Array, RecordBatch, StringArray};
use nightshift_lake::arrow::datatypes::{DataType, Field, Schema};
use nightshift_lake::datafusion::common::JoinType;
use nightshift_lake::datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use nightshift_lake::datafusion::physical_plan::{ExecutionPlan, displayable};
use nightshift_lake::{TableRef, Warehouse, WriteMode};

use crate::{scalar, warehouse};

const QUERY: &str = "SELECT c.id, c.text, t.status AS trip_status, o.status AS order_status \
     FROM raw.contacts AS c \
     LEFT JOIN raw.trips AS t ON t.trip_id = c.trip_id \
     LEFT JOIN raw.orders AS o ON o.order_id = c.order_id";

async fn append(wh: &Warehouse, table: &str, columns: Vec<(&str, Vec<String>)>) {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let rows = columns[0].1.len();
    let mut arrays: Vec<Arc<dyn nightshift_lake::arrow::array::Array>> =
        vec![Arc::new(Int64Array::from_iter_values(0..rows as i64))];
    for (name, values) in columns {
        fields.push(Field::new(name, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(values)));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("batch");
    wh.write(&TableRef::parse(table).expect("name"), vec![batch])
        .with_mode(WriteMode::Append)
        .execute()
        .await
        .expect("write");
}

/// 2 000 contacts with 300-character texts, each about one trip or one order; 4 000 trips and
/// 3 000 orders of two short columns: more rows than the contacts, far fewer bytes.
async fn tables(wh: &Warehouse) {
    let contacts = 2_000;
    let text = |i: usize| {
        format!("contact {i} ")
            .repeat(30)
            .chars()
            .take(300)
            .collect()
    };
    // Even contacts are about trip t(2i), odd ones about order o(i); the other id is empty.
    let trip = |i: usize| match i % 2 {
        0 => format!("t{}", i * 2),
        _ => String::new(),
    };
    let order = |i: usize| match i % 2 {
        0 => String::new(),
        _ => format!("o{i}"),
    };
    append(
        wh,
        "raw.contacts",
        vec![
            ("text", (0..contacts).map(text).collect()),
            ("trip_id", (0..contacts).map(trip).collect()),
            ("order_id", (0..contacts).map(order).collect()),
        ],
    )
    .await;
    append(
        wh,
        "raw.trips",
        vec![
            ("trip_id", (0..4_000).map(|i| format!("t{i}")).collect()),
            ("status", (0..4_000).map(|_| "completed".into()).collect()),
        ],
    )
    .await;
    append(
        wh,
        "raw.orders",
        vec![
            ("order_id", (0..3_000).map(|i| format!("o{i}")).collect()),
            ("status", (0..3_000).map(|_| "late".into()).collect()),
        ],
    )
    .await;
}

/// One hash join of a plan: its mode and type, whether its hashed side reads `raw.contacts`
/// and whether it holds their `text`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Hashed {
    mode: PartitionMode,
    join: JoinType,
    contacts: bool,
    text: bool,
}

/// Every hash join of the plan, outermost first.
fn hashed_sides(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<Hashed>) {
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        let build = displayable(join.left().as_ref()).indent(true).to_string();
        out.push(Hashed {
            mode: *join.partition_mode(),
            join: *join.join_type(),
            contacts: build.contains("contacts"),
            text: build.contains("text"),
        });
    }
    for child in plan.children() {
        hashed_sides(child, out);
    }
}

/// The hash joins of `sql`'s physical plan, and the plan as text for failure messages.
async fn planned_joins(wh: &Warehouse, sql: &str) -> (Vec<Hashed>, String) {
    let plan = wh
        .sql(sql)
        .await
        .expect("plan")
        .create_physical_plan()
        .await
        .expect("physical plan");
    let mut found = Vec::new();
    hashed_sides(&plan, &mut found);
    (found, displayable(plan.as_ref()).indent(true).to_string())
}

async fn check_plan_and_rows(wh: &Warehouse) {
    let (found, shown) = planned_joins(wh, QUERY).await;
    let found: Vec<_> = found.iter().map(|h| (h.mode, h.contacts)).collect();
    assert_eq!(
        found,
        vec![(PartitionMode::CollectLeft, false); 2],
        "both joins hash a lookup table once, never the contacts:\n{shown}"
    );
    check_rows(wh, QUERY).await;
}

/// `query` keeps every contact, half of them with a trip and half with an order.
async fn check_rows(wh: &Warehouse, query: &str) {
    let counted = |what: &str| format!("SELECT count({what}) FROM ({query})");
    assert_eq!(scalar(wh, &counted("*")).await, 2_000);
    assert_eq!(scalar(wh, &counted("trip_status")).await, 1_000);
    // Odd contacts name orders o1, o3, ..., o1999: all exist.
    assert_eq!(scalar(wh, &counted("order_status")).await, 1_000);
}

/// Makes DataFusion choose partitioned joins, as it does for large tables.
async fn as_if_large(wh: &Warehouse) {
    for setting in [
        "hash_join_single_partition_threshold",
        "hash_join_single_partition_threshold_rows",
    ] {
        // Through the session itself: `Warehouse::sql` runs queries only.
        wh.context()
            .sql(&format!("SET datafusion.optimizer.{setting} = 0"))
            .await
            .expect("set");
    }
}

#[tokio::test]
async fn small_lookups_are_hashed_not_the_window() {
    let (_dir, wh) = warehouse().await;
    tables(&wh).await;
    check_plan_and_rows(&wh).await;
}

#[tokio::test]
async fn lookups_too_big_for_datafusion_to_collect_are_hashed_once_too() {
    let (_dir, wh) = warehouse().await;
    tables(&wh).await;
    as_if_large(&wh).await;
    check_plan_and_rows(&wh).await;
}

/// The `init` template's lookups: the trips and orders narrowed to the keys of the window's
/// contacts with `IN (SELECT ...)`. Each semi-join hashes the window's keys (one short column,
/// not the lookup table), then each lookup join hashes the narrowed table: nothing hashed
/// carries the contacts' text.
const NARROWED: &str = "WITH c AS (SELECT * FROM raw.contacts WHERE id >= 0) \
     SELECT c.id, c.text, t.status AS trip_status, o.status AS order_status \
     FROM c \
     LEFT JOIN raw.trips AS t \
         ON t.trip_id = c.trip_id AND t.trip_id IN (SELECT trip_id FROM c) \
     LEFT JOIN raw.orders AS o \
         ON o.order_id = c.order_id AND o.order_id IN (SELECT order_id FROM c)";

async fn check_narrowed_lookups(wh: &Warehouse) {
    let (found, shown) = planned_joins(wh, NARROWED).await;
    assert_eq!(found.len(), 4, "{shown}");
    assert!(
        found.iter().all(|h| h.mode == PartitionMode::CollectLeft),
        "{shown}"
    );
    let semi: Vec<_> = found
        .iter()
        .filter(|h| matches!(h.join, JoinType::LeftSemi | JoinType::RightSemi))
        .map(|h| (h.join, h.contacts, h.text))
        .collect();
    assert_eq!(
        semi,
        vec![(JoinType::RightSemi, true, false); 2],
        "each semi-join hashes the window's keys, not the lookup table:\n{shown}"
    );
    assert!(
        found.iter().all(|h| !h.text),
        "no join hashes the window's text:\n{shown}"
    );
    check_rows(wh, NARROWED).await;
}

#[tokio::test]
async fn lookups_narrowed_to_the_window_hash_its_keys_then_the_narrowed_lookups() {
    let (_dir, wh) = warehouse().await;
    tables(&wh).await;
    check_narrowed_lookups(&wh).await;
    as_if_large(&wh).await;
    check_narrowed_lookups(&wh).await;
}

/// Every join type gives the same rows whichever side is hashed: the rule's plans (small and
/// large lookups) against plans with no reordering at all.
#[tokio::test]
async fn every_join_type_gives_the_same_rows_with_the_rule() {
    let (_dir, wh) = warehouse().await;
    tables(&wh).await;
    let queries = [
        "SELECT count(*), count(t.status) FROM raw.contacts c \
         LEFT JOIN raw.trips t ON t.trip_id = c.trip_id",
        "SELECT count(*), count(c.id) FROM raw.contacts c \
         RIGHT JOIN raw.trips t ON t.trip_id = c.trip_id",
        "SELECT count(*), count(c.id), count(t.trip_id) FROM raw.contacts c \
         FULL JOIN raw.trips t ON t.trip_id = c.trip_id",
        "SELECT count(*) FROM raw.contacts c JOIN raw.orders o ON o.order_id = c.order_id",
        "SELECT count(*) FROM raw.trips t WHERE t.trip_id IN (SELECT trip_id FROM raw.contacts)",
        "SELECT count(*) FROM raw.contacts c WHERE c.trip_id IN (SELECT trip_id FROM raw.trips)",
        "SELECT count(*) FROM raw.contacts c \
         WHERE NOT EXISTS (SELECT 1 FROM raw.trips t WHERE t.trip_id = c.trip_id)",
        "SELECT count(*) FROM raw.trips t \
         WHERE NOT EXISTS (SELECT 1 FROM raw.contacts c WHERE c.trip_id = t.trip_id)",
        "SELECT count(*) FROM raw.orders o \
         WHERE o.order_id NOT IN (SELECT order_id FROM raw.contacts)",
    ];
    let narrowed =
        format!("SELECT count(*), count(trip_status), count(order_status) FROM ({NARROWED})");
    let run_all = async |wh: &Warehouse| {
        let mut out = Vec::new();
        for q in queries.iter().copied().chain([narrowed.as_str()]) {
            let batches = wh.query(q).await.expect(q);
            out.push(
                nightshift_lake::arrow::util::pretty::pretty_format_batches(&batches)
                    .expect("format")
                    .to_string(),
            );
        }
        out
    };
    let set = async |setting: &str, value: &str| {
        wh.context()
            .sql(&format!("SET datafusion.optimizer.{setting} = {value}"))
            .await
            .expect("set");
    };
    let small = run_all(&wh).await;
    set("hash_join_single_partition_threshold", "0").await;
    set("hash_join_single_partition_threshold_rows", "0").await;
    let large = run_all(&wh).await;
    set("join_reordering", "false").await;
    let reference = run_all(&wh).await;
    assert_eq!(small, reference);
    assert_eq!(large, reference);
    // Sanity: the left join keeps every contact, half of them matched.
    assert!(reference[0].contains("| 2000 ") && reference[0].contains("| 1000 "));
}
