//! Ride trips: every attribute of trip `t-<day>-<index>` is a pure function of
//! `(seed, day, index)`, so contacts can reference trips of earlier days cheaply.

use crate::rng::{STREAM_TRIPS, SplitMix, bucket};
use crate::world::{CITIES, PRODUCTS, city_cdf, trip_curve};

/// Outcome of a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TripStatus {
    Completed,
    CancelledByRider,
    CancelledByDriver,
    NoShow,
}

impl TripStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::CancelledByRider => "cancelled_by_rider",
            Self::CancelledByDriver => "cancelled_by_driver",
            Self::NoShow => "no_show",
        }
    }
}

/// One trip's attributes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trip {
    pub(crate) city: usize,
    pub(crate) status: TripStatus,
    pub(crate) product: usize,
    /// Microseconds after the day's midnight (UTC).
    pub(crate) requested_offset_us: i64,
    pub(crate) distance_km: f64,
    pub(crate) duration_min: f64,
    pub(crate) fare: f64,
    pub(crate) surge: f64,
    /// The driver took a long detour.
    pub(crate) detour: bool,
}

/// The city of a trip: the first draw of its stream, so that searching trips by city is cheap.
pub(crate) fn trip_city(seed: u64, day: i64, index: u64) -> usize {
    let mut r = SplitMix::new(seed, STREAM_TRIPS, day, index);
    bucket(city_cdf(), r.unit())
}

/// All attributes of trip `index` of `day` (days since the Unix epoch).
pub(crate) fn trip(seed: u64, day: i64, index: u64) -> Trip {
    let mut r = SplitMix::new(seed, STREAM_TRIPS, day, index);
    let city = bucket(city_cdf(), r.unit());
    let u = r.unit();
    let status = if u < 0.85 {
        TripStatus::Completed
    } else if u < 0.92 {
        TripStatus::CancelledByRider
    } else if u < 0.978 {
        TripStatus::CancelledByDriver
    } else {
        TripStatus::NoShow
    };
    let u = r.unit();
    let mut acc = 0.0;
    let mut product = PRODUCTS.len() - 1;
    for (i, p) in PRODUCTS.iter().enumerate() {
        acc += p.1;
        if u < acc {
            product = i;
            break;
        }
    }
    let requested_offset_us = trip_curve().micros(r.unit(), r.unit());
    let mut distance_km = 0.6 + (1.55 + 0.7 * r.normal()).exp();
    let detour = r.unit() < 0.07;
    if detour {
        distance_km *= r.range(1.35, 1.8);
    }
    distance_km = distance_km.min(95.0);
    let mut duration_min = 3.0 + distance_km * r.range(1.6, 3.6);
    if detour {
        duration_min *= r.range(1.1, 1.4);
    }
    let surge = if r.unit() < 0.13 {
        r.range(1.3, 2.9)
    } else {
        1.0
    };
    let (_, _, base, per_km, per_min) = PRODUCTS[product];
    let factor = CITIES[city].price_factor;
    let fare = match status {
        TripStatus::Completed => (base + per_km * distance_km + per_min * duration_min) * surge,
        TripStatus::CancelledByRider => {
            if r.unit() < 0.5 {
                5.0
            } else {
                0.0
            }
        }
        TripStatus::CancelledByDriver => 0.0,
        TripStatus::NoShow => r.range(5.0, 10.0),
    } * factor;
    if status != TripStatus::Completed {
        distance_km = 0.0;
        duration_min = 0.0;
    }
    Trip {
        city,
        status,
        product,
        requested_offset_us,
        distance_km: round2(distance_km),
        duration_min: round2(duration_min),
        fare: round2(fare),
        surge,
        detour,
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trip_city_matches_trip() {
        for i in 0..1000 {
            assert_eq!(trip_city(3, 20_000, i), trip(3, 20_000, i).city);
        }
    }

    #[test]
    fn statuses_have_expected_mix() {
        let n = 20_000;
        let cancelled = (0..n)
            .filter(|&i| trip(1, 20_100, i).status == TripStatus::CancelledByDriver)
            .count();
        let share = cancelled as f64 / n as f64;
        assert!((0.04..0.08).contains(&share), "{share}");
    }
}
