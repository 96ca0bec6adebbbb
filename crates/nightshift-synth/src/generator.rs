//! Generation of a whole day: the day is split into fixed chunks of [`CHUNK_ROWS`] rows, each
//! generated from its own RNG (seeded by seed, table, date and chunk index) on a pool of scoped
//! threads, then concatenated in chunk order. Output does not depend on the thread count.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::RecordBatch;
use chrono::NaiveDate;

use crate::Error;
use crate::columns::{StrCol, merge_bool, merge_f64, merge_opt_f64, merge_ts};
use crate::config::SynthConfig;
use crate::contacts::{ContactChunk, generate_contacts};
use crate::ids::push_id;
use crate::orders::order;
use crate::plan::DayPlan;
use crate::schema::{
    agent_labels_schema, contacts_schema, orders_schema, trips_schema, truth_schema,
};
use crate::trips::trip;
use crate::world::{CITIES, PRODUCTS, RESTAURANTS};

/// Rows per chunk (the unit of parallelism and of seeding).
pub const CHUNK_ROWS: usize = 65_536;

/// One day of the warehouse: one record batch per table.
#[derive(Debug, Clone)]
pub struct DayBatches {
    /// The day generated.
    pub date: NaiveDate,
    /// `support_contacts` created on `date` and ingested by the snapshot.
    pub contacts: RecordBatch,
    /// `trips` requested on `date`: exactly ids `t-<date>-0000000` .. `rows_per_day - 1`.
    pub trips: RecordBatch,
    /// `orders` placed on `date`: exactly ids `o-<date>-0000000` .. `rows_per_day / 2 - 1`.
    pub orders: RecordBatch,
    /// `agent_labels` of the contacts created on `date`, labelled by the snapshot (their `ds`
    /// is the labelling day, so it may be later than `date`).
    pub agent_labels: RecordBatch,
    /// Ground truth of `contacts`, row for row (see [`crate::truth_schema`]). Not part of the
    /// warehouse: for evaluating models.
    pub truth: RecordBatch,
}

#[derive(Debug, Default)]
struct TripChunk {
    trip_id: StrCol,
    requested_at: Vec<i64>,
    city: StrCol,
    fare: Vec<f64>,
    distance_km: Vec<f64>,
    duration_min: Vec<f64>,
    status: StrCol,
    product: StrCol,
    ds: StrCol,
}

#[derive(Debug, Default)]
struct OrderChunk {
    order_id: StrCol,
    placed_at: Vec<i64>,
    city: StrCol,
    restaurant: StrCol,
    basket_value: Vec<f64>,
    delivery_minutes: Vec<Option<f64>>,
    status: StrCol,
    ds: StrCol,
}

fn generate_trips(plan: &DayPlan, start: usize, end: usize) -> TripChunk {
    let n = end - start;
    let mut c = TripChunk {
        trip_id: StrCol::with_capacity(n, 18),
        requested_at: Vec::with_capacity(n),
        city: StrCol::with_capacity(n, 10),
        fare: Vec::with_capacity(n),
        distance_km: Vec::with_capacity(n),
        duration_min: Vec::with_capacity(n),
        status: StrCol::with_capacity(n, 10),
        product: StrCol::with_capacity(n, 6),
        ds: StrCol::with_capacity(n, 10),
    };
    for index in start..end {
        let t = trip(plan.seed, plan.day, index as u64);
        c.trip_id
            .push_with(|s| push_id(s, &plan.trip_prefix[0], index));
        c.requested_at
            .push(plan.day_start_us + t.requested_offset_us);
        c.city.push(CITIES[t.city].name);
        c.fare.push(t.fare);
        c.distance_km.push(t.distance_km);
        c.duration_min.push(t.duration_min);
        c.status.push(t.status.as_str());
        c.product.push(PRODUCTS[t.product].0);
        c.ds.push(&plan.ds[0]);
    }
    c
}

fn generate_orders(plan: &DayPlan, start: usize, end: usize) -> OrderChunk {
    let n = end - start;
    let mut c = OrderChunk {
        order_id: StrCol::with_capacity(n, 18),
        placed_at: Vec::with_capacity(n),
        city: StrCol::with_capacity(n, 10),
        restaurant: StrCol::with_capacity(n, 12),
        basket_value: Vec::with_capacity(n),
        delivery_minutes: Vec::with_capacity(n),
        status: StrCol::with_capacity(n, 9),
        ds: StrCol::with_capacity(n, 10),
    };
    for index in start..end {
        let o = order(plan.seed, plan.day, index as u64);
        c.order_id
            .push_with(|s| push_id(s, &plan.order_prefix[0], index));
        c.placed_at.push(plan.day_start_us + o.placed_offset_us);
        c.city.push(CITIES[o.city].name);
        c.restaurant.push(RESTAURANTS[o.restaurant]);
        c.basket_value.push(o.basket_value);
        c.delivery_minutes.push(o.delivery_minutes);
        c.status.push(o.status.as_str());
        c.ds.push(&plan.ds[0]);
    }
    c
}

/// A unit of work.
#[derive(Debug, Clone, Copy)]
enum Task {
    Contacts(usize),
    Trips(usize),
    Orders(usize),
}

enum Done {
    Contacts(Box<ContactChunk>),
    Trips(TripChunk),
    Orders(OrderChunk),
}

fn chunks(rows: usize) -> usize {
    rows.div_ceil(CHUNK_ROWS)
}

fn bounds(chunk: usize, rows: usize) -> (usize, usize) {
    let start = chunk * CHUNK_ROWS;
    (start, (start + CHUNK_ROWS).min(rows))
}

/// Runs `f` over `0..n` on up to `threads` scoped threads; results in index order.
pub(crate) fn par_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = f(i);
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Generates one day of the warehouse.
///
/// Deterministic for (config, date): the same day is identical whatever other days are
/// generated, in whatever order, and on however many threads.
pub fn generate_day(config: &SynthConfig, date: NaiveDate) -> Result<DayBatches, Error> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    generate_day_with_threads(config, date, threads)
}

/// [`generate_day`] on at most `threads` threads (the output is the same for any count).
pub fn generate_day_with_threads(
    config: &SynthConfig,
    date: NaiveDate,
    threads: usize,
) -> Result<DayBatches, Error> {
    let plan = DayPlan::new(config, date, threads)?;
    let rows = plan.rows_per_day;
    let orders = plan.orders_per_day;
    // Contacts are the slowest: schedule them first.
    let mut tasks: Vec<Task> = (0..chunks(rows)).map(Task::Contacts).collect();
    tasks.extend((0..chunks(rows)).map(Task::Trips));
    tasks.extend((0..chunks(orders)).map(Task::Orders));
    let done = par_map(tasks.len(), threads, |i| match tasks[i] {
        Task::Contacts(k) => {
            let (s, e) = bounds(k, rows);
            Done::Contacts(Box::new(generate_contacts(&plan, k, s, e)))
        }
        Task::Trips(k) => {
            let (s, e) = bounds(k, rows);
            Done::Trips(generate_trips(&plan, s, e))
        }
        Task::Orders(k) => {
            let (s, e) = bounds(k, orders);
            Done::Orders(generate_orders(&plan, s, e))
        }
    });
    let mut contacts = Vec::new();
    let mut trips = Vec::new();
    let mut order_chunks = Vec::new();
    for d in done {
        match d {
            Done::Contacts(c) => contacts.push(*c),
            Done::Trips(t) => trips.push(t),
            Done::Orders(o) => order_chunks.push(o),
        }
    }

    // Build the five batches concurrently (the text column dominates).
    let (c, l, t, tr, o) = std::thread::scope(|scope| {
        let contacts = &contacts;
        let l = scope.spawn(|| labels_batch(contacts));
        let t = scope.spawn(|| truth_batch(contacts));
        let tr = scope.spawn(|| trips_batch(&trips));
        let o = scope.spawn(|| orders_batch(&order_chunks));
        let c = contacts_batch(contacts);
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<RecordBatch, Error>>| {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        };
        (c, join(l), join(t), join(tr), join(o))
    });
    Ok(DayBatches {
        date,
        contacts: c?,
        trips: tr?,
        orders: o?,
        agent_labels: l?,
        truth: t?,
    })
}

fn contacts_batch(c: &[ContactChunk]) -> Result<RecordBatch, Error> {
    let s = |f: fn(&ContactChunk) -> &StrCol| StrCol::merge(c.iter().map(f));
    Ok(RecordBatch::try_new(
        contacts_schema(),
        vec![
            s(|c| &c.contact_id),
            merge_ts(c.iter().map(|c| &c.created_at)),
            merge_ts(c.iter().map(|c| &c.ingested_at)),
            s(|c| &c.channel),
            s(|c| &c.city),
            s(|c| &c.language),
            s(|c| &c.text),
            s(|c| &c.trip_id),
            s(|c| &c.order_id),
            s(|c| &c.ds),
        ],
    )?)
}

fn labels_batch(c: &[ContactChunk]) -> Result<RecordBatch, Error> {
    let s = |f: fn(&ContactChunk) -> &StrCol| StrCol::merge(c.iter().map(f));
    Ok(RecordBatch::try_new(
        agent_labels_schema(),
        vec![
            s(|c| &c.label_contact_id),
            s(|c| &c.label_category),
            s(|c| &c.label_subcategory),
            merge_ts(c.iter().map(|c| &c.labelled_at)),
            s(|c| &c.agent_id),
            s(|c| &c.label_ds),
        ],
    )?)
}

fn truth_batch(c: &[ContactChunk]) -> Result<RecordBatch, Error> {
    let s = |f: fn(&ContactChunk) -> &StrCol| StrCol::merge(c.iter().map(f));
    Ok(RecordBatch::try_new(
        truth_schema(),
        vec![
            s(|c| &c.contact_id),
            s(|c| &c.truth_category),
            s(|c| &c.truth_subcategory),
            merge_bool(c.iter().map(|c| &c.drifted)),
        ],
    )?)
}

fn trips_batch(c: &[TripChunk]) -> Result<RecordBatch, Error> {
    let s = |f: fn(&TripChunk) -> &StrCol| StrCol::merge(c.iter().map(f));
    Ok(RecordBatch::try_new(
        trips_schema(),
        vec![
            s(|c| &c.trip_id),
            merge_ts(c.iter().map(|c| &c.requested_at)),
            s(|c| &c.city),
            merge_f64(c.iter().map(|c| &c.fare)),
            merge_f64(c.iter().map(|c| &c.distance_km)),
            merge_f64(c.iter().map(|c| &c.duration_min)),
            s(|c| &c.status),
            s(|c| &c.product),
            s(|c| &c.ds),
        ],
    )?)
}

fn orders_batch(c: &[OrderChunk]) -> Result<RecordBatch, Error> {
    let s = |f: fn(&OrderChunk) -> &StrCol| StrCol::merge(c.iter().map(f));
    Ok(RecordBatch::try_new(
        orders_schema(),
        vec![
            s(|c| &c.order_id),
            merge_ts(c.iter().map(|c| &c.placed_at)),
            s(|c| &c.city),
            s(|c| &c.restaurant),
            merge_f64(c.iter().map(|c| &c.basket_value)),
            merge_opt_f64(c.iter().map(|c| &c.delivery_minutes)),
            s(|c| &c.status),
            s(|c| &c.ds),
        ],
    )?)
}
