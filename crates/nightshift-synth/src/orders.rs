//! Food orders: every attribute of order `o-<day>-<index>` is a pure function of
//! `(seed, day, index)`, like trips.

use crate::rng::{STREAM_ORDERS, SplitMix, bucket};
use crate::trips::round2;
use crate::world::{CITIES, RESTAURANTS, city_cdf, order_curve};

/// Outcome of a food order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderStatus {
    Delivered,
    Late,
    Cancelled,
    MissingItems,
}

impl OrderStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Late => "late",
            Self::Cancelled => "cancelled",
            Self::MissingItems => "missing_items",
        }
    }
}

/// One order's attributes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Order {
    pub(crate) city: usize,
    pub(crate) status: OrderStatus,
    pub(crate) restaurant: usize,
    /// Microseconds after the day's midnight (UTC).
    pub(crate) placed_offset_us: i64,
    pub(crate) basket_value: f64,
    /// `None` when the order was cancelled.
    pub(crate) delivery_minutes: Option<f64>,
}

/// Number of orders per day for a given number of contacts per day.
pub(crate) fn orders_per_day(rows_per_day: usize) -> usize {
    if rows_per_day == 0 {
        0
    } else {
        (rows_per_day / 2).max(1)
    }
}

/// The city of an order (first draw of its stream).
pub(crate) fn order_city(seed: u64, day: i64, index: u64) -> usize {
    let mut r = SplitMix::new(seed, STREAM_ORDERS, day, index);
    bucket(city_cdf(), r.unit())
}

/// All attributes of order `index` of `day` (days since the Unix epoch).
pub(crate) fn order(seed: u64, day: i64, index: u64) -> Order {
    let mut r = SplitMix::new(seed, STREAM_ORDERS, day, index);
    let city = bucket(city_cdf(), r.unit());
    let u = r.unit();
    let status = if u < 0.79 {
        OrderStatus::Delivered
    } else if u < 0.895 {
        OrderStatus::Late
    } else if u < 0.955 {
        OrderStatus::MissingItems
    } else {
        OrderStatus::Cancelled
    };
    let restaurant = (r.next_u64() % RESTAURANTS.len() as u64) as usize;
    let placed_offset_us = order_curve().micros(r.unit(), r.unit());
    let basket = (3.1 + 0.5 * r.normal()).exp().clamp(6.0, 180.0) * CITIES[city].price_factor;
    let minutes = match status {
        OrderStatus::Delivered | OrderStatus::MissingItems => Some(r.range(16.0, 46.0)),
        OrderStatus::Late => Some(r.range(52.0, 115.0)),
        OrderStatus::Cancelled => None,
    };
    Order {
        city,
        status,
        restaurant,
        placed_offset_us,
        basket_value: round2(basket),
        delivery_minutes: minutes.map(round2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_city_matches_order() {
        for i in 0..1000 {
            assert_eq!(order_city(3, 20_000, i), order(3, 20_000, i).city);
        }
    }

    #[test]
    fn late_orders_take_longer() {
        for i in 0..2000 {
            let o = order(5, 20_000, i);
            match o.status {
                OrderStatus::Late => assert!(o.delivery_minutes.unwrap() > 50.0),
                OrderStatus::Cancelled => assert!(o.delivery_minutes.is_none()),
                _ => assert!(o.delivery_minutes.unwrap() < 50.0),
            }
        }
    }
}
