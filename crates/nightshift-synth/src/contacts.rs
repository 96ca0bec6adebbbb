//! Support contacts of one chunk of a day: who wrote, when, about what (trip or order), the
//! message, when it reached the warehouse, and the agent's label if any.

use rand::Rng;

use crate::columns::StrCol;
use crate::ids::push_id;
use crate::orders::{Order, order};
use crate::plan::DayPlan;
use crate::rng::{STREAM_CONTACTS, bucket, choose, chunk_rng, weighted};
use crate::taxonomy::{DriftTarget, SUBS, TAXONOMY_NAMES};
use crate::text::{LANGUAGES, Realiser, Slots, write_oversized};
use crate::trips::{Trip, trip};
use crate::world::{CHANNELS, CITIES, DRIVER_NAMES, RESTAURANTS, city_cdf, contact_curve};

const US_PER_SEC: i64 = 1_000_000;
const US_PER_MIN: i64 = 60 * US_PER_SEC;
const US_PER_HOUR: i64 = 60 * US_PER_MIN;
pub(crate) const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// Rates of "bad" texts the pipeline must reject.
pub(crate) const NULL_TEXT_RATE: f64 = 0.002;
pub(crate) const BLANK_TEXT_RATE: f64 = 0.002;
pub(crate) const OVERSIZED_TEXT_RATE: f64 = 0.0005;
/// Oversized texts are longer than this many bytes.
pub(crate) const OVERSIZED_MIN: usize = 10_000;

/// How many days before the contact the referenced trip / order happened (0..=3).
const TRIP_DAYS_BACK: [f64; 4] = [0.45, 0.80, 0.93, 1.0];
const ORDER_DAYS_BACK: [f64; 4] = [0.62, 0.92, 0.98, 1.0];
const NUM_AGENTS: usize = 480;

/// The columns of one chunk: contacts, their labels, and their ground truth.
#[derive(Debug, Default)]
pub(crate) struct ContactChunk {
    pub(crate) contact_id: StrCol,
    pub(crate) created_at: Vec<i64>,
    pub(crate) ingested_at: Vec<i64>,
    pub(crate) channel: StrCol,
    pub(crate) city: StrCol,
    pub(crate) language: StrCol,
    pub(crate) text: StrCol,
    pub(crate) trip_id: StrCol,
    pub(crate) order_id: StrCol,
    pub(crate) ds: StrCol,
    pub(crate) label_contact_id: StrCol,
    pub(crate) label_category: StrCol,
    pub(crate) label_subcategory: StrCol,
    pub(crate) labelled_at: Vec<i64>,
    pub(crate) agent_id: StrCol,
    pub(crate) label_ds: StrCol,
    pub(crate) truth_category: StrCol,
    pub(crate) truth_subcategory: StrCol,
    pub(crate) drifted: Vec<bool>,
}

/// Generates contacts `start..end` of the plan's day; `chunk` seeds the RNG.
pub(crate) fn generate_contacts(
    plan: &DayPlan,
    chunk: usize,
    start: usize,
    end: usize,
) -> ContactChunk {
    let mut rng = chunk_rng(plan.seed, STREAM_CONTACTS, plan.day, chunk);
    let rows = end - start;
    let labels = (rows as f64 * plan.label_fraction * 1.2) as usize + 16;
    let mut c = ContactChunk {
        contact_id: StrCol::with_capacity(rows, 18),
        created_at: Vec::with_capacity(rows),
        ingested_at: Vec::with_capacity(rows),
        channel: StrCol::with_capacity(rows, 6),
        city: StrCol::with_capacity(rows, 10),
        language: StrCol::with_capacity(rows, 2),
        text: StrCol::with_capacity(rows, 110),
        trip_id: StrCol::with_capacity(rows, 10),
        order_id: StrCol::with_capacity(rows, 8),
        ds: StrCol::with_capacity(rows, 10),
        label_contact_id: StrCol::with_capacity(labels, 18),
        label_category: StrCol::with_capacity(labels, 10),
        label_subcategory: StrCol::with_capacity(labels, 14),
        labelled_at: Vec::with_capacity(labels),
        agent_id: StrCol::with_capacity(labels, 6),
        label_ds: StrCol::with_capacity(labels, 10),
        truth_category: StrCol::with_capacity(rows, 10),
        truth_subcategory: StrCol::with_capacity(rows, 14),
        drifted: Vec::with_capacity(rows),
    };
    let mut realiser = Realiser::default();
    let mut text = String::with_capacity(512);
    let channel_weights = CHANNELS.map(|c| c.1);

    for index in start..end {
        // When and where.
        let created_off = contact_curve().micros(rng.random(), rng.random());
        let created = plan.day_start_us + created_off;
        let mut city = bucket(city_cdf(), rng.random());
        let channel = weighted(&mut rng, &channel_weights);

        // What about: the surge first, otherwise the (weekday, city) mix.
        // `new_name`: the surge is a root cause the taxonomy does not know (worded like `sub`).
        let (sub, drifted, new_name) = match &plan.drift {
            Some((target, share)) if *share > 0.0 && rng.random_bool(*share) => {
                let new_name = match target {
                    DriftTarget::New { name, .. } => Some(name.as_str()),
                    DriftTarget::Known(_) => None,
                };
                (target.base(), true, new_name)
            }
            _ => (bucket(&plan.mix[city], rng.random()), false, None),
        };
        let spec = &SUBS[sub];
        let true_name = new_name.unwrap_or(spec.name);

        // The trip or order it references.
        let mut trip_ref: Option<(usize, u64, Trip)> = None;
        let mut order_ref: Option<(usize, u64, Order)> = None;
        if spec.subject.trip > 0.0 && rng.random_bool(spec.subject.trip) {
            let found = find_trip(&mut rng, plan, city, sub, created_off);
            city = found.2.city;
            trip_ref = Some(found);
        } else if spec.subject.order > 0.0
            && plan.orders_per_day > 0
            && rng.random_bool(spec.subject.order)
        {
            let found = find_order(&mut rng, plan, city, sub, created_off);
            city = found.2.city;
            order_ref = Some(found);
        }
        let cityinfo = &CITIES[city];
        let language = if cityinfo.local_share > 0.0 && rng.random_bool(cityinfo.local_share) {
            LANGUAGES
                .iter()
                .position(|l| *l == cityinfo.local_language)
                .unwrap_or(0)
        } else {
            0
        };

        // Arrival in the warehouse.
        let ingested = if rng.random_bool(plan.late_fraction) {
            created + US_PER_DAY + (rng.random::<f64>() * US_PER_DAY as f64) as i64
        } else {
            let u: f64 = rng.random();
            created + 2 * US_PER_SEC + (u * u * u * (20 * US_PER_MIN) as f64) as i64
        };

        // The message.
        let amount = match (&trip_ref, &order_ref) {
            (Some((_, _, t)), _) if t.fare > 0.0 => t.fare,
            (_, Some((_, _, o))) => o.basket_value,
            _ => rng.random_range(8.0..60.0) * cityinfo.price_factor,
        };
        let expected = amount * rng.random_range(0.45..0.75);
        let restaurant = match &order_ref {
            Some((_, _, o)) => o.restaurant,
            None => rng.random_range(0..RESTAURANTS.len()),
        };
        let slots = Slots {
            currency: cityinfo.currency,
            amount,
            expected,
            driver: choose(&mut rng, DRIVER_NAMES),
            restaurant: RESTAURANTS[restaurant],
        };
        let bad: f64 = rng.random();
        let text_value: Option<&str> = if bad < NULL_TEXT_RATE {
            None
        } else if bad < NULL_TEXT_RATE + BLANK_TEXT_RATE {
            Some(choose(&mut rng, &["", " ", "   ", "\n", "\t ", " \n "]))
        } else {
            let wording = match (drifted, new_name) {
                (false, _) => 0.0,
                (true, None) => 0.75,
                (true, Some(_)) => 1.0,
            };
            realiser.write(&mut rng, &mut text, sub, language, &slots, wording);
            if bad < NULL_TEXT_RATE + BLANK_TEXT_RATE + OVERSIZED_TEXT_RATE {
                let min = OVERSIZED_MIN + 1 + rng.random_range(0..6_000);
                write_oversized(&mut rng, &mut text, min);
            }
            Some(&text)
        };

        // The agent's label.
        let label = if rng.random_bool(plan.label_fraction) {
            let wrong = rng.random_bool(plan.label_noise);
            let labelled = if wrong {
                let l = &SUBS[noisy_label(&mut rng, sub)];
                (l.category, l.name)
            } else {
                (spec.category, true_name)
            };
            let mut at =
                created + US_PER_DAY + (rng.random::<f64>() * (4 * US_PER_DAY) as f64) as i64;
            if at < ingested + US_PER_HOUR {
                at = ingested
                    + US_PER_HOUR
                    + (rng.random::<f64>() * (5 * US_PER_HOUR) as f64) as i64;
            }
            at = at.min(created + 5 * US_PER_DAY);
            let agent = rng.random_range(0..NUM_AGENTS);
            Some((labelled, at, agent))
        } else {
            None
        };

        if ingested > plan.snapshot_us {
            continue;
        }
        c.contact_id
            .push_with(|s| push_id(s, &plan.contact_prefix, index));
        c.created_at.push(created);
        c.ingested_at.push(ingested);
        c.channel.push(CHANNELS[channel].0);
        c.city.push(cityinfo.name);
        c.language.push(LANGUAGES[language]);
        c.text.push_opt(text_value);
        match &trip_ref {
            Some((back, idx, _)) => c
                .trip_id
                .push_with(|s| push_id(s, &plan.trip_prefix[*back], *idx as usize)),
            None => c.trip_id.push_null(),
        }
        match &order_ref {
            Some((back, idx, _)) => c
                .order_id
                .push_with(|s| push_id(s, &plan.order_prefix[*back], *idx as usize)),
            None => c.order_id.push_null(),
        }
        c.ds.push(&plan.ds[0]);
        c.truth_category.push(TAXONOMY_NAMES[spec.category]);
        c.truth_subcategory.push(true_name);
        c.drifted.push(drifted);

        if let Some(((label_category, label_name), at, agent)) = label
            && at <= plan.snapshot_us
        {
            c.label_contact_id
                .push_with(|s| push_id(s, &plan.contact_prefix, index));
            c.label_category.push(TAXONOMY_NAMES[label_category]);
            c.label_subcategory.push(label_name);
            c.labelled_at.push(at);
            c.agent_id.push_with(|s| push_id(s, "a-", agent));
            let day_after = ((at - plan.day_start_us).div_euclid(US_PER_DAY)) as usize;
            c.label_ds.push(&plan.ds[day_after.min(plan.ds.len() - 1)]);
        }
    }
    c
}

/// A wrong label: another subcategory of the same category most of the time.
fn noisy_label<R: Rng>(rng: &mut R, sub: usize) -> usize {
    let cat = SUBS[sub].category;
    let same_category = rng.random_bool(0.7);
    loop {
        let other = rng.random_range(0..SUBS.len());
        if other != sub && (SUBS[other].category == cat) == same_category {
            return other;
        }
    }
}

/// Finds a trip of days `d-3..=d` in `city`, fitting the cause (`mask` of trip classes),
/// finished before the contact. Falls back to looser matches for tiny configurations.
fn find_trip<R: Rng>(
    rng: &mut R,
    plan: &DayPlan,
    city: usize,
    sub: usize,
    created_off: i64,
) -> (usize, u64, Trip) {
    let all = u64::MAX;
    for attempt in 0..24 {
        let back = if attempt < 8 {
            bucket(&TRIP_DAYS_BACK, rng.random())
        } else {
            rng.random_range(1..4)
        };
        let (city, mask) = match attempt {
            0..16 => (city, plan.trip_masks[sub]),
            16..20 => (city, all),
            _ => (rng.random_range(0..CITIES.len()), all),
        };
        let Some(idx) = plan.trip_index.sample(rng, back, city, mask) else {
            continue;
        };
        let t = trip(plan.seed, plan.day - back as i64, u64::from(idx));
        let ends = t.requested_offset_us + (t.duration_min * US_PER_MIN as f64) as i64;
        if back == 0 && ends + 5 * US_PER_MIN >= created_off {
            continue;
        }
        return (back, u64::from(idx), t);
    }
    let idx = rng.random_range(0..plan.rows_per_day as u64);
    (1, idx, trip(plan.seed, plan.day - 1, idx))
}

/// Like [`find_trip`], for orders.
fn find_order<R: Rng>(
    rng: &mut R,
    plan: &DayPlan,
    city: usize,
    sub: usize,
    created_off: i64,
) -> (usize, u64, Order) {
    let all = u64::MAX;
    for attempt in 0..24 {
        let back = if attempt < 8 {
            bucket(&ORDER_DAYS_BACK, rng.random())
        } else {
            rng.random_range(1..4)
        };
        let (city, mask) = match attempt {
            0..16 => (city, plan.order_masks[sub]),
            16..20 => (city, all),
            _ => (rng.random_range(0..CITIES.len()), all),
        };
        let Some(idx) = plan.order_index.sample(rng, back, city, mask) else {
            continue;
        };
        let o = order(plan.seed, plan.day - back as i64, u64::from(idx));
        if back == 0 && o.placed_offset_us + 15 * US_PER_MIN >= created_off {
            continue;
        }
        return (back, u64::from(idx), o);
    }
    let idx = rng.random_range(0..plan.orders_per_day as u64);
    (1, idx, order(plan.seed, plan.day - 1, idx))
}
