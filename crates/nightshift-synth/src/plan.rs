//! Everything about one day that is computed once before its chunks are generated.

use chrono::{Datelike, Days, NaiveDate};

use crate::Error;
use crate::config::SynthConfig;
use crate::contacts::US_PER_DAY;
use crate::generator::par_map;
use crate::ids::prefix;
use crate::orders::{ORDER_CLASSES, order_class, orders_per_day};
use crate::refs::RefIndex;
use crate::rng::{cumulative, key};
use crate::taxonomy::{CATEGORY_WEIGHTS, DriftTarget, SUBS, order_fits, trip_fits, weekday_factor};
use crate::trips::{TRIP_CLASSES, trip_class};
use crate::world::CITIES;
use crate::{orders, trips};

/// Per-day parameters shared (read-only) by all chunk generators.
#[derive(Debug)]
pub(crate) struct DayPlan {
    pub(crate) seed: u64,
    /// Days since 1970-01-01.
    pub(crate) day: i64,
    pub(crate) day_start_us: i64,
    pub(crate) rows_per_day: usize,
    pub(crate) orders_per_day: usize,
    /// Per city: cumulative subcategory shares for this weekday.
    pub(crate) mix: Vec<Vec<f64>>,
    /// Surging subcategory and its share today.
    pub(crate) drift: Option<(DriftTarget, f64)>,
    pub(crate) label_fraction: f64,
    pub(crate) label_noise: f64,
    pub(crate) late_fraction: f64,
    pub(crate) snapshot_us: i64,
    pub(crate) contact_prefix: String,
    /// Trip id prefixes of days d, d-1, d-2, d-3.
    pub(crate) trip_prefix: [String; 4],
    pub(crate) order_prefix: [String; 4],
    /// `ds` strings of days d, d+1, ..., d+7.
    pub(crate) ds: Vec<String>,
    /// Trips and orders of days d-3..=d by city and class.
    pub(crate) trip_index: RefIndex,
    pub(crate) order_index: RefIndex,
    /// Per subcategory: the trip / order classes that fit it (bit masks).
    pub(crate) trip_masks: Vec<u64>,
    pub(crate) order_masks: Vec<u64>,
}

/// A small, fixed, per-(city, category) tilt of the mix (within ±15%).
fn city_factor(city: usize, category: usize) -> f64 {
    let u = (key(&[0xc17e, city as u64, category as u64]) >> 11) as f64 / (1u64 << 53) as f64;
    0.85 + 0.3 * u
}

impl DayPlan {
    pub(crate) fn new(
        config: &SynthConfig,
        date: NaiveDate,
        threads: usize,
    ) -> Result<Self, Error> {
        let drift_target = config.validate()?;
        if !(1000..=9999).contains(&date.year()) || !(1003..=9999).contains(&(date.year() + 3)) {
            return Err(Error::DateOutOfRange(date));
        }
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or(Error::DateOutOfRange(date))?;
        let day = (date - epoch).num_days();
        let back = |n: u64| {
            date.checked_sub_days(Days::new(n))
                .ok_or(Error::DateOutOfRange(date))
        };
        let ahead = |n: u64| {
            date.checked_add_days(Days::new(n))
                .ok_or(Error::DateOutOfRange(date))
        };
        let past = [date, back(1)?, back(2)?, back(3)?];
        let weekday = date.weekday().num_days_from_monday() as usize;
        let mix = (0..CITIES.len())
            .map(|city| {
                let w: Vec<f64> = SUBS
                    .iter()
                    .map(|s| {
                        CATEGORY_WEIGHTS[s.category]
                            * weekday_factor(s.category, weekday)
                            * city_factor(city, s.category)
                            * s.weight
                    })
                    .collect();
                cumulative(&w)
            })
            .collect();
        let ds = (0..8)
            .map(|n| ahead(n).map(|d| d.format("%Y-%m-%d").to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let (trip_index, order_index) = ref_indexes(config.seed, day, config.rows_per_day, threads);
        let mask = |fits: &dyn Fn(usize) -> bool, n: usize| {
            (0..n).filter(|&c| fits(c)).fold(0u64, |m, c| m | 1 << c)
        };
        let trip_masks = SUBS
            .iter()
            .map(|s| {
                mask(
                    &|c| trip_fits(s.name, &trips::class_example(c)),
                    TRIP_CLASSES,
                )
            })
            .collect();
        let order_masks = SUBS
            .iter()
            .map(|s| {
                mask(
                    &|c| order_fits(s.name, &orders::class_example(c), 1.0),
                    ORDER_CLASSES,
                )
            })
            .collect();
        Ok(Self {
            trip_index,
            order_index,
            trip_masks,
            order_masks,
            seed: config.seed,
            day,
            day_start_us: day * US_PER_DAY,
            rows_per_day: config.rows_per_day,
            orders_per_day: orders_per_day(config.rows_per_day),
            mix,
            drift: drift_target.zip(config.drift.as_ref().map(|d| d.share_on(date))),
            label_fraction: config.label_fraction,
            label_noise: config.label_noise,
            late_fraction: config.late_fraction,
            snapshot_us: config.snapshot.timestamp_micros(),
            contact_prefix: prefix("c", date),
            trip_prefix: past.map(|d| prefix("t", d)),
            order_prefix: past.map(|d| prefix("o", d)),
            ds,
        })
    }
}

/// Classifies the trips and orders of days d-3..=d (in parallel, one task per table and day).
fn ref_indexes(seed: u64, day: i64, rows: usize, threads: usize) -> (RefIndex, RefIndex) {
    let n_orders = orders_per_day(rows);
    let mut lists = par_map(8, threads, |task| {
        let back = (task % 4) as i64;
        if task < 4 {
            RefIndex::day_lists(rows, TRIP_CLASSES, |i| trip_class(seed, day - back, i))
        } else {
            RefIndex::day_lists(n_orders, ORDER_CLASSES, |i| {
                order_class(seed, day - back, i)
            })
        }
    });
    let order_lists = lists.split_off(4);
    (
        RefIndex::new(TRIP_CLASSES, lists),
        RefIndex::new(ORDER_CLASSES, order_lists),
    )
}
