//! End-to-end properties of generated days.

use std::collections::{HashMap, HashSet};

use arrow_array::{
    Array, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use nightshift_synth::{
    Drift, OVERSIZED_TEXT_BYTES, SynthConfig, agent_labels_schema, contacts_schema, generate_day,
    generate_day_with_threads, orders_schema, taxonomy, trips_schema, truth_schema,
};

const DAY_US: i64 = 86_400_000_000;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn config(rows: usize) -> SynthConfig {
    SynthConfig {
        rows_per_day: rows,
        ..SynthConfig::default()
    }
}

fn strs<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}

fn ts<'a>(b: &'a RecordBatch, name: &str) -> &'a TimestampMicrosecondArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap()
}

fn f64s<'a>(b: &'a RecordBatch, name: &str) -> &'a Float64Array {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

#[test]
fn schemas_match() {
    let day = generate_day(&config(2_000), date()).unwrap();
    assert_eq!(day.contacts.schema(), contacts_schema());
    assert_eq!(day.trips.schema(), trips_schema());
    assert_eq!(day.orders.schema(), orders_schema());
    assert_eq!(day.agent_labels.schema(), agent_labels_schema());
    assert_eq!(day.truth.schema(), truth_schema());
    assert_eq!(day.trips.num_rows(), 2_000);
    assert_eq!(day.orders.num_rows(), 1_000);
    assert_eq!(day.truth.num_rows(), day.contacts.num_rows());
    for b in [&day.contacts, &day.trips, &day.orders] {
        assert!(strs(b, "ds").iter().all(|v| v == Some("2026-11-20")));
    }
    let created = ts(&day.contacts, "created_at");
    let start = midnight(date()).timestamp_micros();
    assert!(
        created
            .values()
            .iter()
            .all(|&t| (start..start + DAY_US).contains(&t))
    );
    let requested = ts(&day.trips, "requested_at");
    assert!(
        requested
            .values()
            .iter()
            .all(|&t| (start..start + DAY_US).contains(&t))
    );
    assert_eq!(
        day.contacts
            .schema()
            .field_with_name("created_at")
            .unwrap()
            .data_type()
            .to_string(),
        "Timestamp(µs, \"UTC\")"
    );
}

#[test]
fn deterministic_and_independent_of_threads_and_order() {
    let c = config(70_000); // two chunks
    let a = generate_day_with_threads(&c, date(), 1).unwrap();
    let b = generate_day_with_threads(&c, date(), 3).unwrap();
    assert_eq!(a.contacts, b.contacts);
    assert_eq!(a.trips, b.trips);
    assert_eq!(a.orders, b.orders);
    assert_eq!(a.agent_labels, b.agent_labels);
    assert_eq!(a.truth, b.truth);

    let c = config(3_000);
    let next = date().succ_opt().unwrap();
    let later_first = generate_day(&c, next).unwrap();
    let d1 = generate_day(&c, date()).unwrap();
    let d2 = generate_day(&c, next).unwrap();
    assert_eq!(later_first.contacts, d2.contacts);
    assert_ne!(strs(&d1.contacts, "text"), strs(&d2.contacts, "text"));

    let other_seed = SynthConfig {
        seed: 7,
        ..c.clone()
    };
    let o = generate_day(&other_seed, date()).unwrap();
    assert_ne!(strs(&o.contacts, "text"), strs(&d1.contacts, "text"));
    assert_ne!(f64s(&o.trips, "fare"), f64s(&d1.trips, "fare"));
}

#[test]
fn ids_are_unique_and_well_formed() {
    let c = config(5_000);
    let d1 = generate_day(&c, date()).unwrap();
    let d2 = generate_day(&c, date().succ_opt().unwrap()).unwrap();
    let mut seen = HashSet::new();
    for d in [&d1, &d2] {
        for id in strs(&d.contacts, "contact_id").iter() {
            let id = id.unwrap();
            assert_eq!(id.len(), "c-20261120-0000123".len(), "{id}");
            assert!(id.starts_with("c-2026112"));
            assert!(seen.insert(id.to_string()), "duplicate {id}");
        }
    }
    let trip_ids: Vec<String> = (0..5_000).map(|i| format!("t-20261120-{i:07}")).collect();
    let got: Vec<&str> = strs(&d1.trips, "trip_id")
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(got, trip_ids);
    let got: Vec<&str> = strs(&d1.orders, "order_id")
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(got.len(), 2_500);
    assert_eq!(got[2_499], "o-20261120-0002499");
}

fn parse_ref(id: &str, kind: char) -> (NaiveDate, usize) {
    let mut parts = id.split('-');
    assert_eq!(parts.next().unwrap(), kind.to_string());
    let d = NaiveDate::parse_from_str(parts.next().unwrap(), "%Y%m%d").unwrap();
    let idx: usize = parts.next().unwrap().parse().unwrap();
    (d, idx)
}

#[test]
fn references_point_to_recent_existing_trips_and_orders_that_fit_the_cause() {
    let rows = 20_000;
    let c = config(rows);
    let day = generate_day(&c, date()).unwrap();
    // Trips and orders of d-3..=d, by id.
    let mut trips = HashMap::new();
    let mut orders = HashMap::new();
    for back in 0..4 {
        let d = generate_day(&c, date().checked_sub_days(Days::new(back)).unwrap()).unwrap();
        let ids = strs(&d.trips, "trip_id");
        let status = strs(&d.trips, "status");
        let city = strs(&d.trips, "city");
        let at = ts(&d.trips, "requested_at");
        for i in 0..d.trips.num_rows() {
            trips.insert(
                ids.value(i).to_string(),
                (
                    status.value(i).to_string(),
                    city.value(i).to_string(),
                    at.value(i),
                ),
            );
        }
        let ids = strs(&d.orders, "order_id");
        let status = strs(&d.orders, "status");
        let city = strs(&d.orders, "city");
        for i in 0..d.orders.num_rows() {
            orders.insert(
                ids.value(i).to_string(),
                (status.value(i).to_string(), city.value(i).to_string()),
            );
        }
    }
    let trip_id = strs(&day.contacts, "trip_id");
    let order_id = strs(&day.contacts, "order_id");
    let city = strs(&day.contacts, "city");
    let created = ts(&day.contacts, "created_at");
    let truth = strs(&day.truth, "subcategory");
    let mut refs = 0;
    let mut cancelled = (0, 0);
    let mut late = (0, 0);
    let mut missing = (0, 0);
    for i in 0..day.contacts.num_rows() {
        assert!(trip_id.is_null(i) || order_id.is_null(i));
        if trip_id.is_valid(i) {
            refs += 1;
            let (d, idx) = parse_ref(trip_id.value(i), 't');
            let back = (date() - d).num_days();
            assert!((0..=3).contains(&back), "{}", trip_id.value(i));
            assert!(idx < rows);
            let (status, trip_city, at) = &trips[trip_id.value(i)];
            assert_eq!(trip_city, city.value(i));
            assert!(*at < created.value(i), "trip requested before the contact");
            if truth.value(i) == "driver_cancelled" {
                cancelled.0 += 1;
                cancelled.1 += usize::from(status == "cancelled_by_driver");
            }
        }
        if order_id.is_valid(i) {
            refs += 1;
            let (d, idx) = parse_ref(order_id.value(i), 'o');
            assert!((0..=3).contains(&(date() - d).num_days()));
            assert!(idx < rows / 2);
            let (status, order_city) = &orders[order_id.value(i)];
            assert_eq!(order_city, city.value(i));
            match truth.value(i) {
                "late_delivery" => {
                    late.0 += 1;
                    late.1 += usize::from(status == "late");
                }
                "missing_items" => {
                    missing.0 += 1;
                    missing.1 += usize::from(status == "missing_items");
                }
                _ => {}
            }
        }
    }
    assert!(refs > rows / 2, "{refs}");
    assert!(
        cancelled.0 > 100 && cancelled.1 * 100 >= cancelled.0 * 95,
        "{cancelled:?}"
    );
    assert!(late.0 > 100 && late.1 * 100 >= late.0 * 95, "{late:?}");
    assert!(
        missing.0 > 100 && missing.1 * 100 >= missing.0 * 95,
        "{missing:?}"
    );
}

#[test]
fn labels_near_targets_and_within_snapshot() {
    let c = config(20_000);
    let day = generate_day(&c, date()).unwrap();
    let n = day.contacts.num_rows() as f64;
    let labels = &day.agent_labels;
    let frac = labels.num_rows() as f64 / n;
    assert!((0.135..0.165).contains(&frac), "label fraction {frac}");

    let truth: HashMap<&str, &str> = strs(&day.truth, "contact_id")
        .iter()
        .zip(strs(&day.truth, "subcategory").iter())
        .map(|(a, b)| (a.unwrap(), b.unwrap()))
        .collect();
    let created: HashMap<&str, i64> = strs(&day.contacts, "contact_id")
        .iter()
        .zip(ts(&day.contacts, "created_at").values().iter())
        .map(|(a, b)| (a.unwrap(), *b))
        .collect();
    let ids = strs(labels, "contact_id");
    let sub = strs(labels, "subcategory");
    let cat = strs(labels, "category");
    let at = ts(labels, "labelled_at");
    let ds = strs(labels, "ds");
    let mut wrong = 0;
    for i in 0..labels.num_rows() {
        let id = ids.value(i);
        wrong += usize::from(truth[id] != sub.value(i));
        let parent = taxonomy().iter().find(|c| c.name == cat.value(i)).unwrap();
        assert!(parent.subcategories.contains(&sub.value(i)));
        let lag = at.value(i) - created[id];
        assert!((DAY_US..=5 * DAY_US).contains(&lag), "lag {lag}");
        let label_day = DateTime::from_timestamp_micros(at.value(i))
            .unwrap()
            .date_naive();
        assert_eq!(ds.value(i), label_day.format("%Y-%m-%d").to_string());
    }
    let noise = wrong as f64 / labels.num_rows() as f64;
    assert!((0.03..0.07).contains(&noise), "label noise {noise}");

    // With "now" three days after the day, only labels made by then are there.
    let snapshot = midnight(date()) + chrono::Duration::days(3);
    let early = generate_day(&SynthConfig { snapshot, ..c }, date()).unwrap();
    let at = ts(&early.agent_labels, "labelled_at");
    assert!(
        at.values()
            .iter()
            .all(|&t| t <= snapshot.timestamp_micros())
    );
    assert!(early.agent_labels.num_rows() < labels.num_rows());
    assert!(early.agent_labels.num_rows() > labels.num_rows() / 3);
}

#[test]
fn late_rows_are_excluded_until_they_arrive() {
    let c = config(20_000);
    let all = generate_day(&c, date()).unwrap();
    let snapshot = midnight(date().succ_opt().unwrap());
    let cut = generate_day(&SynthConfig { snapshot, ..c }, date()).unwrap();
    let ingested = ts(&cut.contacts, "ingested_at");
    assert!(
        ingested
            .values()
            .iter()
            .all(|&t| t <= snapshot.timestamp_micros())
    );
    let all_ingested = ts(&all.contacts, "ingested_at");
    let expected: HashSet<&str> = strs(&all.contacts, "contact_id")
        .iter()
        .zip(all_ingested.values().iter())
        .filter(|(_, t)| **t <= snapshot.timestamp_micros())
        .map(|(id, _)| id.unwrap())
        .collect();
    let got: HashSet<&str> = strs(&cut.contacts, "contact_id")
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(
        got, expected,
        "the cut is exactly the rows ingested by the snapshot"
    );
    let missing = 1.0 - cut.contacts.num_rows() as f64 / all.contacts.num_rows() as f64;
    assert!((0.02..0.045).contains(&missing), "late share {missing}");
    // Late rows arrive 1-2 days after creation, others within minutes.
    let created = ts(&all.contacts, "created_at");
    let lags: Vec<i64> = created
        .values()
        .iter()
        .zip(all_ingested.values())
        .map(|(c, i)| i - c)
        .collect();
    assert!(
        lags.iter()
            .all(|&l| l > 0 && (l < 30 * 60_000_000 || (DAY_US..=2 * DAY_US).contains(&l)))
    );
}

#[test]
fn bad_texts_at_expected_rates() {
    let day = generate_day(&config(40_000), date()).unwrap();
    let text = strs(&day.contacts, "text");
    let n = text.len() as f64;
    let nulls = text.null_count() as f64 / n;
    let blank = text
        .iter()
        .flatten()
        .filter(|t| t.trim().is_empty())
        .count() as f64
        / n;
    let huge = text
        .iter()
        .flatten()
        .filter(|t| t.len() > OVERSIZED_TEXT_BYTES)
        .count() as f64
        / n;
    assert!((0.001..0.0035).contains(&nulls), "null {nulls}");
    assert!((0.001..0.0035).contains(&blank), "blank {blank}");
    assert!((0.0002..0.001).contains(&huge), "oversized {huge}");
    let normal_max = text
        .iter()
        .flatten()
        .filter(|t| t.len() <= OVERSIZED_TEXT_BYTES)
        .map(str::len)
        .max()
        .unwrap();
    assert!(normal_max < 1_000, "{normal_max}");
}

#[test]
fn taxonomy_is_covered_and_texts_are_diverse() {
    let tax = taxonomy();
    assert!(tax.len() >= 6);
    assert!(tax.iter().all(|c| c.subcategories.len() >= 4));
    let day = generate_day(&config(20_000), date()).unwrap();
    let text = strs(&day.contacts, "text");
    let sub = strs(&day.truth, "subcategory");
    let mut per_sub: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (t, s) in text.iter().zip(sub.iter()) {
        per_sub
            .entry(s.unwrap())
            .or_default()
            .insert(t.unwrap_or(""));
    }
    for c in tax {
        for s in c.subcategories {
            let distinct = per_sub.get(s).map_or(0, HashSet::len);
            assert!(distinct >= 20, "{s}: {distinct} distinct texts");
        }
    }
    let first: HashSet<&str> = text.iter().take(10_000).flatten().collect();
    assert!(first.len() >= 6_000, "{} distinct of 10k", first.len());
    // Non-English texts and short texts exist.
    let langs: HashSet<&str> = strs(&day.contacts, "language").iter().flatten().collect();
    assert!(["en", "es", "pt", "fr"].iter().all(|l| langs.contains(l)));
    assert!(text.iter().flatten().any(|t| t.contains("pedido")));
    let short = text
        .iter()
        .flatten()
        .filter(|t| t.split_whitespace().count() <= 3)
        .count();
    assert!(short > 1_000, "{short}");
    // Mix: payments and delivery frequent, safety rare.
    let cat = strs(&day.truth, "category");
    let count = |name: &str| cat.iter().filter(|c| *c == Some(name)).count();
    assert!(count("payments") > 3 * count("safety"));
    assert!(count("delivery") > 3 * count("safety"));
}

#[test]
fn drift_raises_the_surging_share() {
    let from = date();
    let c = SynthConfig {
        rows_per_day: 10_000,
        drift: Some(Drift::new(from, "payments/card_declined")),
        ..SynthConfig::default()
    };
    let share = |d: NaiveDate| {
        let day = generate_day(&c, d).unwrap();
        let sub = strs(&day.truth, "subcategory");
        let n = sub.iter().filter(|s| *s == Some("card_declined")).count();
        let drifted = day
            .truth
            .column_by_name("drifted")
            .unwrap()
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap()
            .true_count();
        let text = strs(&day.contacts, "text");
        let update = text
            .iter()
            .flatten()
            .filter(|t| t.to_lowercase().contains("updat"))
            .count();
        (n as f64 / sub.len() as f64, drifted, update)
    };
    let before = share(from.pred_opt().unwrap());
    let first = share(from);
    let full = share(from.checked_add_days(Days::new(3)).unwrap());
    assert_eq!(before.1, 0);
    assert!(before.0 < 0.05, "{before:?}");
    assert!(first.0 > before.0 + 0.03, "{first:?} vs {before:?}");
    assert!(full.0 > before.0 + 0.12, "{full:?} vs {before:?}");
    assert!(
        full.2 > before.2 + 500,
        "new wording: {full:?} vs {before:?}"
    );
    assert!(
        generate_day(
            &SynthConfig {
                drift: Some(Drift::new(from, "no_such_thing")),
                ..SynthConfig::default()
            },
            from
        )
        .is_err()
    );
}

#[test]
fn drift_can_introduce_a_new_root_cause() {
    let from = date();
    let c = SynthConfig {
        rows_per_day: 10_000,
        drift: Some(Drift::new(from, "payments/app_update_card_declined")),
        ..SynthConfig::default()
    };
    let before = generate_day(&c, from.pred_opt().unwrap()).unwrap();
    let sub = strs(&before.truth, "subcategory");
    assert!(sub.iter().all(|s| s != Some("app_update_card_declined")));
    let day = generate_day(&c, from.checked_add_days(Days::new(2)).unwrap()).unwrap();
    let sub = strs(&day.truth, "subcategory");
    let cat = strs(&day.truth, "category");
    let text = strs(&day.contacts, "text");
    let mut n = 0;
    let mut worded = 0;
    for i in 0..sub.len() {
        if sub.value(i) == "app_update_card_declined" {
            n += 1;
            assert_eq!(cat.value(i), "payments");
            worded +=
                usize::from(text.is_valid(i) && text.value(i).to_lowercase().contains("updat"));
        }
    }
    let share = n as f64 / sub.len() as f64;
    assert!((0.12..0.18).contains(&share), "{share}");
    assert!(worded * 10 > n * 7, "{worded} of {n}");
    let labels = strs(&day.agent_labels, "subcategory");
    assert!(labels.iter().any(|s| s == Some("app_update_card_declined")));
    for bad in [
        "payments/Bad Name",
        "nowhere/new_thing",
        "app_update_card_declined",
    ] {
        let c = SynthConfig {
            drift: Some(Drift::new(from, bad)),
            ..SynthConfig::default()
        };
        assert!(generate_day(&c, from).is_err(), "{bad}");
    }
}

/// Multinomial naive Bayes on words: the subcategory should be learnable but not trivially.
#[test]
fn bag_of_words_accuracy_is_high_but_not_perfect() {
    let c = config(20_000);
    let train = generate_day(&c, date()).unwrap();
    let test = generate_day(&c, date().succ_opt().unwrap()).unwrap();
    let words = |t: &str| -> Vec<String> {
        t.split(|ch: char| !ch.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let mut counts: HashMap<&str, HashMap<String, f64>> = HashMap::new();
    let mut totals: HashMap<&str, f64> = HashMap::new();
    let mut docs: HashMap<&str, f64> = HashMap::new();
    let mut vocab = HashSet::new();
    let text = strs(&train.contacts, "text");
    let sub = strs(&train.truth, "subcategory");
    for (t, s) in text.iter().zip(sub.iter()) {
        let s = s.unwrap();
        *docs.entry(s).or_default() += 1.0;
        for w in words(t.unwrap_or("")) {
            *counts.entry(s).or_default().entry(w.clone()).or_default() += 1.0;
            *totals.entry(s).or_default() += 1.0;
            vocab.insert(w);
        }
    }
    let v = vocab.len() as f64;
    let n: f64 = docs.values().sum();
    let text = strs(&test.contacts, "text");
    let sub = strs(&test.truth, "subcategory");
    let mut correct = 0;
    for (t, s) in text.iter().zip(sub.iter()) {
        let ws = words(t.unwrap_or(""));
        let best = docs
            .iter()
            .map(|(k, d)| {
                let cw = &counts[k];
                let tot = totals[k];
                let lp = (d / n).ln()
                    + ws.iter()
                        .map(|w| ((cw.get(w).copied().unwrap_or(0.0) + 0.1) / (tot + 0.1 * v)).ln())
                        .sum::<f64>();
                (lp, *k)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap()
            .1;
        correct += usize::from(Some(best) == s);
    }
    let acc = correct as f64 / text.len() as f64;
    assert!((0.85..0.96).contains(&acc), "bag-of-words accuracy {acc}");
}

/// Timing for 1M contacts/day; run with
/// `cargo test -p nightshift-synth --release -- --ignored --nocapture one_million`.
#[test]
#[ignore = "timing, run in release"]
#[allow(clippy::print_stderr)]
fn one_million_rows_timing() {
    let c = config(1_000_000);
    let start = std::time::Instant::now();
    let day = generate_day(&c, date()).unwrap();
    let elapsed = start.elapsed();
    let bytes: usize = [&day.contacts, &day.trips, &day.orders, &day.agent_labels]
        .iter()
        .map(|b| b.get_array_memory_size())
        .sum();
    eprintln!(
        "1M contacts/day: {elapsed:?} on {} threads; contacts={} trips={} orders={} labels={} ({} MiB)",
        std::thread::available_parallelism().map_or(1, usize::from),
        day.contacts.num_rows(),
        day.trips.num_rows(),
        day.orders.num_rows(),
        day.agent_labels.num_rows(),
        bytes >> 20
    );
}
