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

/// Number of distinct [`trip_class`] values.
pub(crate) const TRIP_CLASSES: usize = 32;

/// The attributes that decide which causes a trip fits, drawn first from its stream so that
/// classifying every trip of a day is cheap.
#[derive(Debug, Clone, Copy)]
struct Head {
    city: usize,
    status: TripStatus,
    detour: bool,
    surged: bool,
    /// A cancelled-by-rider trip that was charged a fee.
    fee: bool,
}

fn head(r: &mut SplitMix) -> Head {
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
    let flags = r.next_u64();
    Head {
        city,
        status,
        detour: (flags & 0xffff) < 4_588,         // 7%
        surged: ((flags >> 16) & 0xffff) < 8_520, // 13%
        fee: ((flags >> 32) & 0xffff) < 32_768,   // 50%
    }
}

const STATUSES: [TripStatus; 4] = [
    TripStatus::Completed,
    TripStatus::CancelledByRider,
    TripStatus::CancelledByDriver,
    TripStatus::NoShow,
];

/// `(city, class)` of a trip; the class (`< TRIP_CLASSES`) encodes status, detour, surge, fee.
pub(crate) fn trip_class(seed: u64, day: i64, index: u64) -> (usize, usize) {
    let h = head(&mut SplitMix::new(seed, STREAM_TRIPS, day, index));
    let status = STATUSES.iter().position(|s| *s == h.status).unwrap_or(0);
    let class = status * 8 + usize::from(h.detour) * 4 + usize::from(h.surged) * 2;
    (h.city, class + usize::from(h.fee))
}

/// A representative trip of a class, for deciding which causes the class fits.
pub(crate) fn class_example(class: usize) -> Trip {
    let status = STATUSES[class / 8];
    let fee = class & 1 == 1;
    let fare = match status {
        TripStatus::Completed | TripStatus::NoShow => 10.0,
        TripStatus::CancelledByRider if fee => 5.0,
        _ => 0.0,
    };
    Trip {
        city: 0,
        status,
        product: 0,
        requested_offset_us: 0,
        distance_km: 1.0,
        duration_min: 1.0,
        fare,
        surge: if class & 2 == 2 { 2.0 } else { 1.0 },
        detour: class & 4 == 4,
    }
}

/// All attributes of trip `index` of `day` (days since the Unix epoch).
pub(crate) fn trip(seed: u64, day: i64, index: u64) -> Trip {
    let mut r = SplitMix::new(seed, STREAM_TRIPS, day, index);
    let Head {
        city,
        status,
        detour,
        surged,
        fee,
    } = head(&mut r);
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
    if detour {
        distance_km *= r.range(1.35, 1.8);
    }
    distance_km = distance_km.min(95.0);
    let mut duration_min = 3.0 + distance_km * r.range(1.6, 3.6);
    if detour {
        duration_min *= r.range(1.1, 1.4);
    }
    let surge = if surged { r.range(1.3, 2.9) } else { 1.0 };
    let (_, _, base, per_km, per_min) = PRODUCTS[product];
    let factor = CITIES[city].price_factor;
    let fare = match status {
        TripStatus::Completed => (base + per_km * distance_km + per_min * duration_min) * surge,
        TripStatus::CancelledByRider if fee => 5.0,
        TripStatus::CancelledByRider | TripStatus::CancelledByDriver => 0.0,
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
    fn class_matches_trip() {
        use crate::taxonomy::{SUBS, trip_fits};
        for i in 0..3000 {
            let t = trip(3, 20_000, i);
            let (city, class) = trip_class(3, 20_000, i);
            assert_eq!(city, t.city);
            let ex = class_example(class);
            assert_eq!(ex.status, t.status);
            for s in &SUBS {
                assert_eq!(
                    trip_fits(s.name, &ex),
                    trip_fits(s.name, &t),
                    "{} {t:?}",
                    s.name
                );
            }
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
