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

/// Number of distinct [`order_class`] values.
pub(crate) const ORDER_CLASSES: usize = 8;

const STATUSES: [OrderStatus; 4] = [
    OrderStatus::Delivered,
    OrderStatus::Late,
    OrderStatus::Cancelled,
    OrderStatus::MissingItems,
];

/// Basket value above which (x the city's price factor) an order is "expensive".
pub(crate) const HIGH_BASKET: f64 = 32.0;

/// City, status and basket value: drawn first, they decide which causes the order fits.
fn head(r: &mut SplitMix) -> (usize, OrderStatus, f64) {
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
    let basket = (3.1 + 0.5 * r.normal()).exp().clamp(6.0, 180.0) * CITIES[city].price_factor;
    (city, status, round2(basket))
}

/// `(city, class)` of an order; the class (`< ORDER_CLASSES`) encodes status and whether the
/// basket is expensive.
pub(crate) fn order_class(seed: u64, day: i64, index: u64) -> (usize, usize) {
    let (city, status, basket) = head(&mut SplitMix::new(seed, STREAM_ORDERS, day, index));
    let s = STATUSES.iter().position(|x| *x == status).unwrap_or(0);
    let high = basket > HIGH_BASKET * CITIES[city].price_factor;
    (city, s * 2 + usize::from(high))
}

/// A representative order of a class (basket in price-factor-1 units).
pub(crate) fn class_example(class: usize) -> Order {
    Order {
        city: 0,
        status: STATUSES[class / 2],
        restaurant: 0,
        placed_offset_us: 0,
        basket_value: if class & 1 == 1 { f64::MAX } else { 0.0 },
        delivery_minutes: None,
    }
}

/// All attributes of order `index` of `day` (days since the Unix epoch).
pub(crate) fn order(seed: u64, day: i64, index: u64) -> Order {
    let mut r = SplitMix::new(seed, STREAM_ORDERS, day, index);
    let (city, status, basket_value) = head(&mut r);
    let restaurant = (r.next_u64() % RESTAURANTS.len() as u64) as usize;
    let placed_offset_us = order_curve().micros(r.unit(), r.unit());
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
        basket_value,
        delivery_minutes: minutes.map(round2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_matches_order() {
        use crate::taxonomy::{SUBS, order_fits};
        for i in 0..3000 {
            let o = order(3, 20_000, i);
            let (city, class) = order_class(3, 20_000, i);
            assert_eq!(city, o.city);
            let ex = class_example(class);
            let f = CITIES[city].price_factor;
            for s in &SUBS {
                assert_eq!(
                    order_fits(s.name, &ex, 1.0),
                    order_fits(s.name, &o, f),
                    "{o:?}"
                );
            }
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
