//! The world the warehouse describes: cities, currencies, languages, products, names, and the
//! daily activity curves used to spread timestamps over a day.

use std::sync::OnceLock;

use crate::rng::cumulative;

/// One city of the marketplace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct City {
    pub(crate) name: &'static str,
    /// Relative share of activity.
    pub(crate) weight: f64,
    /// Currency symbol used in customer messages.
    pub(crate) currency: &'static str,
    /// Prices in local currency = USD-like base price x this factor.
    pub(crate) price_factor: f64,
    /// Non-English language spoken by part of the city's customers (`"en"` if none).
    pub(crate) local_language: &'static str,
    /// Share of customers who set their app to `local_language`.
    pub(crate) local_share: f64,
}

pub(crate) const CITIES: [City; 12] = [
    city("San Francisco", 9.0, "$", 1.25, "es", 0.04),
    city("New York", 12.0, "$", 1.35, "es", 0.05),
    city("Chicago", 7.0, "$", 1.0, "es", 0.03),
    city("Los Angeles", 10.0, "$", 1.1, "es", 0.08),
    city("Toronto", 6.0, "$", 1.15, "fr", 0.03),
    city("London", 10.0, "£", 0.95, "en", 0.0),
    city("Paris", 6.0, "€", 1.05, "fr", 0.55),
    city("Madrid", 5.0, "€", 0.9, "es", 0.6),
    city("São Paulo", 9.0, "R$", 4.2, "pt", 0.65),
    city("Mexico City", 9.0, "MX$", 14.0, "es", 0.6),
    city("Sydney", 5.0, "$", 1.3, "en", 0.0),
    city("Montreal", 4.0, "$", 1.1, "fr", 0.45),
];

const fn city(
    name: &'static str,
    weight: f64,
    currency: &'static str,
    price_factor: f64,
    local_language: &'static str,
    local_share: f64,
) -> City {
    City {
        name,
        weight,
        currency,
        price_factor,
        local_language,
        local_share,
    }
}

/// Cumulative city weights.
pub(crate) fn city_cdf() -> &'static [f64] {
    static CDF: OnceLock<Vec<f64>> = OnceLock::new();
    CDF.get_or_init(|| cumulative(&CITIES.map(|c| c.weight)))
}

/// Contact channels and their shares.
pub(crate) const CHANNELS: [(&str, f64); 4] = [
    ("in_app", 0.46),
    ("chat", 0.28),
    ("email", 0.16),
    ("phone", 0.10),
];

/// Ride products: name, share, base fare, per-km, per-minute (USD-like).
pub(crate) const PRODUCTS: [(&str, f64, f64, f64, f64); 5] = [
    ("uberx", 0.55, 2.5, 1.05, 0.30),
    ("pool", 0.12, 2.0, 0.75, 0.20),
    ("comfort", 0.15, 3.0, 1.35, 0.38),
    ("xl", 0.10, 3.5, 1.70, 0.45),
    ("black", 0.08, 7.0, 2.60, 0.65),
];

pub(crate) const DRIVER_NAMES: &[&str] = &[
    "Ahmed", "Maria", "John", "Carlos", "Wei", "Fatima", "Luis", "Priya", "Mohammed", "Ana",
    "David", "Olga", "Kwame", "Sofia", "Ivan", "Jose", "Mike", "Aisha", "Raj", "Elena", "Tom",
    "Lucas", "Yusuf", "Grace", "Pedro", "Nina", "Omar", "Chen", "Bruno", "Sam",
];

pub(crate) const RESTAURANTS: &[&str] = &[
    "Burger Barn",
    "Golden Dragon",
    "Pizza Palace",
    "Taco Fiesta",
    "Sushi Zen",
    "The Curry House",
    "Green Bowl",
    "Pho Real",
    "Mama Mia Trattoria",
    "Wing Stop Express",
    "Bagel Corner",
    "Kebab King",
    "Poke Paradise",
    "Le Petit Bistro",
    "Seoul Food",
    "Dim Sum Garden",
    "Smokey BBQ",
    "Falafel Hut",
    "Noodle Bar 88",
    "Fresh Salads Co",
    "Chicken Shack",
    "Bella Napoli",
    "Thai Orchid",
    "Burrito Loco",
    "Ramen Ichiban",
    "Donut Depot",
    "Mediterranean Grill",
    "Crispy Fried Chicken",
    "Casa Tapas",
    "Brunch Club",
    "Vegan Vibes",
    "Steak & Co",
];

pub(crate) const ITEMS: &[&str] = &[
    "fries",
    "drink",
    "burger",
    "dessert",
    "side salad",
    "sauce",
    "coke",
    "garlic bread",
    "spring rolls",
    "rice",
    "naan",
    "extra cheese",
    "milkshake",
    "wings",
    "second pizza",
    "sushi roll",
    "dumplings",
    "chips and salsa",
    "coffee",
    "cookie",
];

pub(crate) const PLACES: &[&str] = &[
    "the airport",
    "downtown",
    "my office",
    "the train station",
    "my hotel",
    "the mall",
    "the stadium",
    "my place",
    "the hospital",
    "the university",
    "central station",
    "the convention center",
    "my friend's house",
    "the concert",
];

pub(crate) const TIMES: &[&str] = &[
    "yesterday",
    "last night",
    "this morning",
    "today",
    "on friday",
    "over the weekend",
    "earlier today",
    "two days ago",
    "tonight",
    "this afternoon",
    "on my way home",
    "on monday",
];

pub(crate) const CARDS: &[&str] = &[
    "my visa",
    "my mastercard",
    "my amex",
    "my debit card",
    "my card",
    "my credit card",
    "the card ending 4421",
    "apple pay",
    "google pay",
    "paypal",
];

/// Support contacts per UTC hour (few at night, a lunch bump, evening peak).
pub(crate) const CONTACT_HOURS: [f64; 24] = [
    1.2, 0.7, 0.45, 0.35, 0.35, 0.55, 1.1, 2.2, 3.6, 4.6, 5.0, 5.2, 5.6, 5.5, 5.2, 5.0, 5.1, 5.4,
    5.8, 5.9, 5.3, 4.4, 3.2, 2.0,
];

/// Trips per UTC hour (commute peaks, night life).
pub(crate) const TRIP_HOURS: [f64; 24] = [
    2.0, 1.4, 1.0, 0.6, 0.5, 0.9, 2.2, 4.8, 6.0, 4.6, 3.6, 3.6, 4.0, 3.8, 3.7, 4.2, 5.2, 6.4, 6.2,
    5.0, 4.4, 4.0, 3.6, 2.8,
];

/// Food orders per UTC hour (lunch and dinner peaks).
pub(crate) const ORDER_HOURS: [f64; 24] = [
    1.5, 0.8, 0.4, 0.2, 0.2, 0.3, 0.6, 1.2, 1.6, 1.8, 2.4, 5.0, 7.5, 6.0, 3.0, 2.4, 2.8, 4.4, 7.0,
    8.0, 6.4, 4.2, 3.0, 2.2,
];

/// A daily curve as cumulative hour weights.
pub(crate) struct DayCurve(Vec<f64>);

impl DayCurve {
    pub(crate) fn new(hours: &[f64; 24]) -> Self {
        Self(cumulative(hours))
    }

    /// Microseconds after midnight, from two uniforms in `[0, 1)`.
    pub(crate) fn micros(&self, u_hour: f64, u_within: f64) -> i64 {
        let hour = crate::rng::bucket(&self.0, u_hour) as i64;
        hour * 3_600_000_000 + (u_within * 3_600_000_000.0) as i64
    }
}

pub(crate) fn contact_curve() -> &'static DayCurve {
    static C: OnceLock<DayCurve> = OnceLock::new();
    C.get_or_init(|| DayCurve::new(&CONTACT_HOURS))
}

pub(crate) fn trip_curve() -> &'static DayCurve {
    static C: OnceLock<DayCurve> = OnceLock::new();
    C.get_or_init(|| DayCurve::new(&TRIP_HOURS))
}

pub(crate) fn order_curve() -> &'static DayCurve {
    static C: OnceLock<DayCurve> = OnceLock::new();
    C.get_or_init(|| DayCurve::new(&ORDER_HOURS))
}
