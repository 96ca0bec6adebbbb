//! The root-cause taxonomy (categories and subcategories), the category mix, and the phrasing
//! banks messages are composed from.
//!
//! Phrasings contain slots that [`crate::text`] fills in: `{amt}` (an amount in the city's
//! currency, the trip fare or order basket when the contact references one), `{amt2}` (a
//! smaller "expected" amount), `{drv}` (driver name), `{rest}` (restaurant), `{item}`, `{place}`,
//! `{time}`, `{mins}`, `{n}`, `{card}` and `{promo}`.
//!
//! Overlap between subcategories is deliberate (overcharged vs double_charge, driver_late vs
//! route_inefficient, late_delivery vs food_quality, app_crash vs payment_screen_error ...): a
//! good bag-of-words model should reach high but not perfect accuracy.

use crate::orders::{Order, OrderStatus};
use crate::trips::{Trip, TripStatus};

/// A root-cause category and its subcategories (subcategory names are globally unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    /// Category name, e.g. `"payments"`.
    pub name: &'static str,
    /// Subcategory names, e.g. `"overcharged"`.
    pub subcategories: &'static [&'static str],
}

const PAYMENTS: &[&str] = &[
    "overcharged",
    "double_charge",
    "refund_request",
    "card_declined",
    "promo_not_applied",
    "cancellation_fee",
];
const TRIP_ISSUES: &[&str] = &[
    "driver_cancelled",
    "driver_late",
    "route_inefficient",
    "vehicle_condition",
];
const DELIVERY: &[&str] = &[
    "late_delivery",
    "never_arrived",
    "missing_items",
    "wrong_order",
    "food_quality",
];
const ACCOUNT: &[&str] = &[
    "login_problem",
    "account_locked",
    "update_details",
    "delete_account",
];
const SAFETY: &[&str] = &["unsafe_driving", "harassment", "accident", "lost_item"];
const APP_PROBLEMS: &[&str] = &[
    "app_crash",
    "map_wrong_location",
    "notifications",
    "payment_screen_error",
];

static TAXONOMY: [Category; 6] = [
    Category {
        name: "payments",
        subcategories: PAYMENTS,
    },
    Category {
        name: "trip_issues",
        subcategories: TRIP_ISSUES,
    },
    Category {
        name: "delivery",
        subcategories: DELIVERY,
    },
    Category {
        name: "account",
        subcategories: ACCOUNT,
    },
    Category {
        name: "safety",
        subcategories: SAFETY,
    },
    Category {
        name: "app_problems",
        subcategories: APP_PROBLEMS,
    },
];

/// Category names, same order as [`taxonomy`].
pub(crate) const TAXONOMY_NAMES: [&str; 6] = [
    "payments",
    "trip_issues",
    "delivery",
    "account",
    "safety",
    "app_problems",
];

/// The taxonomy: 6 categories, 27 subcategories.
pub fn taxonomy() -> &'static [Category] {
    &TAXONOMY
}

/// Base share of each category (same order as [`taxonomy`]): payments and delivery frequent,
/// safety rare.
pub(crate) const CATEGORY_WEIGHTS: [f64; 6] = [0.26, 0.18, 0.25, 0.12, 0.06, 0.13];

/// Per-category multipliers by weekday (Monday = 0).
pub(crate) fn weekday_factor(category: usize, weekday: usize) -> f64 {
    match (TAXONOMY[category].name, weekday) {
        ("delivery", 5 | 6) => 1.25,
        ("safety", 5 | 6) => 1.3,
        ("account", 5 | 6) => 0.8,
        ("account", 0) => 1.2,
        ("payments", 0) => 1.1,
        ("trip_issues", 4) => 1.15,
        ("safety", 4) => 1.1,
        _ => 1.0,
    }
}

/// What a contact of a subcategory is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject {
    /// Probability that the contact references a trip.
    pub(crate) trip: f64,
    /// Probability that it references an order (when it does not reference a trip).
    pub(crate) order: f64,
}

const NONE: Subject = Subject {
    trip: 0.0,
    order: 0.0,
};
const TRIP: Subject = Subject {
    trip: 1.0,
    order: 0.0,
};
const ORDER: Subject = Subject {
    trip: 0.0,
    order: 1.0,
};
const fn either(trip: f64, order: f64) -> Subject {
    Subject { trip, order }
}

/// Everything needed to realise messages of one subcategory.
#[derive(Debug)]
pub(crate) struct SubSpec {
    pub(crate) name: &'static str,
    pub(crate) category: usize,
    /// Share within its category.
    pub(crate) weight: f64,
    pub(crate) subject: Subject,
    /// Full issue statements (8+ each).
    pub(crate) issues: &'static [&'static str],
    /// Optional supporting details.
    pub(crate) details: &'static [&'static str],
    /// Two-to-four word messages.
    pub(crate) short: &'static [&'static str],
    /// The issue in Spanish, Portuguese and French.
    pub(crate) foreign: [&'static str; 3],
}

/// Does a trip fit the subcategory (used to correlate structured fields with the cause)?
pub(crate) fn trip_fits(sub: &str, t: &Trip) -> bool {
    use TripStatus::*;
    match sub {
        "overcharged" => t.status == Completed && (t.surge > 1.25 || t.detour),
        "cancellation_fee" => matches!(t.status, NoShow | CancelledByRider) && t.fare > 0.0,
        "driver_cancelled" => t.status == CancelledByDriver,
        "driver_late" => matches!(t.status, Completed | CancelledByRider),
        "route_inefficient" => t.status == Completed && t.detour,
        "card_declined"
        | "refund_request"
        | "map_wrong_location"
        | "payment_screen_error"
        | "app_crash" => true,
        _ => t.status == Completed,
    }
}

/// Does an order fit the subcategory?
pub(crate) fn order_fits(sub: &str, o: &Order, price_factor: f64) -> bool {
    use OrderStatus::*;
    match sub {
        "late_delivery" => o.status == Late,
        "never_arrived" => matches!(o.status, Late | Cancelled),
        "missing_items" => o.status == MissingItems,
        "wrong_order" | "double_charge" | "promo_not_applied" => o.status == Delivered,
        "food_quality" => matches!(o.status, Delivered | Late),
        "overcharged" => {
            o.status != Cancelled && o.basket_value > crate::orders::HIGH_BASKET * price_factor
        }
        "cancellation_fee" | "card_declined" => o.status == Cancelled,
        _ => true,
    }
}

/// All subcategories, in taxonomy order.
pub(crate) static SUBS: [SubSpec; 27] = [
    // ---------------------------------------------------------------- payments
    SubSpec {
        name: "overcharged",
        category: 0,
        weight: 0.25,
        subject: either(0.7, 1.0),
        issues: &[
            "I was overcharged for my trip {time}",
            "the fare was way higher than the estimate",
            "why was I charged {amt}? the app quoted me {amt2}",
            "you charged me {amt} for a ride that normally costs {amt2}",
            "the price I paid is not what was shown before I booked",
            "charged way too much for a short ride",
            "my receipt says {amt} but the upfront price was {amt2}",
            "this is a rip off, {amt} for {mins} minutes",
            "the surge pricing was crazy, I paid {amt}",
            "I got charged more than I should have",
            "the total on my receipt is wrong, way too high",
            "the fare jumped to {amt} after the trip ended",
            "I was charged {amt} for my order but the menu prices add up to {amt2}",
        ],
        details: &[
            "the estimate said {amt2}",
            "I take this same route every day and it's never more than {amt2}",
            "there was no traffic and no stops",
            "the receipt shows a surge but the app didn't show one when I booked",
            "the driver took a longer way too",
        ],
        short: &[
            "overcharged",
            "charged too much",
            "fare too high",
            "price is wrong",
        ],
        foreign: [
            "me cobraron demasiado por el viaje",
            "me cobraram a mais pela corrida",
            "on m'a trop facturé pour la course",
        ],
    },
    SubSpec {
        name: "double_charge",
        category: 0,
        weight: 0.16,
        subject: either(0.5, 1.0),
        issues: &[
            "I was charged twice for the same trip",
            "there are two charges of {amt} on {card}",
            "you billed me twice for one order",
            "my bank shows a double charge from you",
            "charged {amt} two times for the same ride {time}",
            "the payment went through twice",
            "I see a duplicate payment on my statement",
            "I got charged again for a trip I already paid for",
            "I got charged more than once",
            "two identical transactions of {amt} {time}",
            "my order was charged twice to {card}",
        ],
        details: &[
            "I only took one ride",
            "I checked my bank app and both are pending",
            "one of them should be refunded",
            "the second charge came an hour later",
        ],
        short: &["double charged", "charged twice", "duplicate charge"],
        foreign: [
            "me cobraron dos veces",
            "fui cobrado duas vezes",
            "j'ai été débité deux fois",
        ],
    },
    SubSpec {
        name: "refund_request",
        category: 0,
        weight: 0.22,
        subject: either(0.45, 0.8),
        issues: &[
            "I want a refund for my last order",
            "please refund my trip from {time}",
            "can I get my money back for this ride",
            "requesting a full refund of {amt}",
            "I never got the refund you promised",
            "how long does the refund take? it's been a week",
            "I was told I'd get {amt} back but nothing yet",
            "refund the order please, it was a disaster",
            "I'd like to request a refund for the trip to {place}",
            "where is my refund",
            "still waiting on my refund of {amt}",
        ],
        details: &[
            "the support agent said it would take 3-5 days",
            "the order number is on the receipt",
            "I've already asked twice",
            "it was charged to {card}",
        ],
        short: &[
            "refund pls",
            "refund please",
            "where is my refund",
            "need a refund",
        ],
        foreign: [
            "quiero un reembolso",
            "quero meu dinheiro de volta",
            "je veux un remboursement",
        ],
    },
    SubSpec {
        name: "card_declined",
        category: 0,
        weight: 0.13,
        subject: either(0.25, 0.33),
        issues: &[
            "my card keeps getting declined",
            "payment failed even though {card} works everywhere else",
            "it says payment declined but I have money on {card}",
            "can't pay, card declined error every time",
            "the app won't accept {card}",
            "my payment method was rejected and my order got cancelled",
            "I can't add {card}, it says invalid card",
            "transaction declined, tried {n} times",
            "my payment doesn't go through",
            "card not accepted at checkout",
        ],
        details: &[
            "my bank says there is no block on their side",
            "I tried a different card and same thing",
            "it worked fine last week",
            "something went wrong error",
        ],
        short: &["card declined", "payment failed", "card not working"],
        foreign: [
            "mi tarjeta fue rechazada",
            "meu cartão foi recusado",
            "ma carte a été refusée",
        ],
    },
    SubSpec {
        name: "promo_not_applied",
        category: 0,
        weight: 0.13,
        subject: either(0.45, 0.8),
        issues: &[
            "my promo code {promo} didn't apply",
            "the discount was not applied to my order",
            "I had a voucher but was charged full price",
            "the promo code says invalid but it's valid until next month",
            "where is my {promo} discount?",
            "the 50% off offer didn't work",
            "I was supposed to get free delivery with my membership",
            "the coupon disappeared at checkout",
            "my referral credit is not showing",
            "I paid {amt} instead of the discounted price",
        ],
        details: &[
            "the email said the code is valid this week",
            "it showed the discount in the cart then it was gone",
            "I'm a member so delivery should be free",
            "I should have paid {amt2}",
        ],
        short: &["promo not working", "code not applied", "discount missing"],
        foreign: [
            "el código promocional no funcionó",
            "o cupom não foi aplicado",
            "le code promo ne marche pas",
        ],
    },
    SubSpec {
        name: "cancellation_fee",
        category: 0,
        weight: 0.11,
        subject: either(0.85, 0.7),
        issues: &[
            "I was charged a cancellation fee but the driver never showed up",
            "why did I pay {amt} for a cancelled trip",
            "charged a no show fee even though I was waiting outside",
            "I cancelled within 2 minutes and still got charged",
            "unfair cancellation fee, the driver was going the wrong way",
            "I got a {amt} fee for a ride I never took",
            "the driver cancelled but I got charged the fee",
            "please remove the cancellation charge",
            "charged for a ride that was cancelled",
            "charged {amt} after cancelling my order",
        ],
        details: &[
            "I was at the pickup spot the whole time",
            "the driver was 15 minutes away so I cancelled",
            "I have screenshots",
        ],
        short: &[
            "cancellation fee",
            "unfair fee",
            "charged for cancelled ride",
        ],
        foreign: [
            "me cobraron una tarifa de cancelación injusta",
            "me cobraram taxa de cancelamento",
            "on m'a facturé des frais d'annulation",
        ],
    },
    // ---------------------------------------------------------------- trip_issues
    SubSpec {
        name: "driver_cancelled",
        category: 1,
        weight: 0.30,
        subject: TRIP,
        issues: &[
            "the driver cancelled on me",
            "my driver cancelled after I waited {mins} minutes",
            "the driver accepted then cancelled, I missed my flight",
            "third driver in a row cancelled",
            "{drv} cancelled the trip at the last minute",
            "the driver cancelled and I was stuck at {place}",
            "why do drivers keep cancelling my rides",
            "the driver asked me where I was going and then cancelled",
            "driver cancelled the ride while he was 2 minutes away",
            "my ride got cancelled by the driver for no reason",
        ],
        details: &[
            "now I'm late for work",
            "I had to wait another 20 minutes for a new car",
            "this happened {n} times this week",
            "I was waiting outside for ages",
        ],
        short: &[
            "driver cancelled",
            "driver cancelled again",
            "ride cancelled",
        ],
        foreign: [
            "el conductor canceló el viaje",
            "o motorista cancelou a corrida",
            "le chauffeur a annulé la course",
        ],
    },
    SubSpec {
        name: "driver_late",
        category: 1,
        weight: 0.26,
        subject: TRIP,
        issues: &[
            "the driver took forever to arrive",
            "I waited {mins} minutes for my driver",
            "the app said 3 minutes but the driver came after {mins}",
            "the driver was super late and I missed my appointment",
            "my driver was going in circles before picking me up",
            "the car was stuck for ages and never got closer",
            "pickup took way longer than the eta",
            "{drv} was 20 minutes late",
            "the eta kept going up while I was waiting",
            "the driver was late and then the trip took forever",
        ],
        details: &[
            "I was waiting outside in the rain",
            "I almost cancelled",
            "I missed my train because of this",
            "this is the second time this week",
        ],
        short: &["driver late", "driver super late", "waited forever"],
        foreign: [
            "el conductor llegó muy tarde",
            "o motorista demorou muito para chegar",
            "le chauffeur est arrivé très en retard",
        ],
    },
    SubSpec {
        name: "route_inefficient",
        category: 1,
        weight: 0.24,
        subject: TRIP,
        issues: &[
            "the driver took a really long route",
            "the driver went the wrong way and the trip took forever",
            "the route was way longer than it should be",
            "the driver ignored the gps and took a detour",
            "we drove in circles for {mins} minutes",
            "the trip to {place} should be 15 minutes, it took {mins}",
            "he took the highway even though it was longer so the fare went up",
            "the driver took an inefficient route to make more money",
            "we went a completely different way than the map showed",
            "the driver missed the exit twice",
        ],
        details: &[
            "I paid {amt} because of the detour",
            "I know this route very well",
            "the map showed a much shorter path",
            "I was late because of it",
        ],
        short: &["bad route", "driver took long route", "wrong route"],
        foreign: [
            "el conductor tomó una ruta más larga",
            "o motorista fez um caminho mais longo",
            "le chauffeur a pris un trajet plus long",
        ],
    },
    SubSpec {
        name: "vehicle_condition",
        category: 1,
        weight: 0.20,
        subject: TRIP,
        issues: &[
            "the car was dirty and smelled like smoke",
            "the vehicle was in terrible condition",
            "the car didn't match the one in the app",
            "the seats were filthy and there was trash everywhere",
            "no ac in the car and it was so hot",
            "the car had a broken seatbelt",
            "the car smelled really bad",
            "{drv}'s car had a check engine light and made weird noises",
            "the license plate was different from the app",
            "the car was way too small for an xl ride",
        ],
        details: &[
            "I had to open the windows the whole ride",
            "my clothes smelled afterwards",
            "I took a photo",
        ],
        short: &["dirty car", "car smelled", "wrong car"],
        foreign: [
            "el coche estaba muy sucio",
            "o carro estava muito sujo",
            "la voiture était très sale",
        ],
    },
    // ---------------------------------------------------------------- delivery
    SubSpec {
        name: "late_delivery",
        category: 2,
        weight: 0.32,
        subject: ORDER,
        issues: &[
            "my order is very late",
            "the food arrived {mins} minutes late",
            "the delivery took over an hour",
            "still waiting for my food, it's been {mins} minutes",
            "the eta keeps changing and my order is still not here",
            "my food from {rest} was supposed to arrive {time} and it's super late",
            "the delivery was late and the food was cold",
            "the courier was stuck at the restaurant forever",
            "the order said 25 minutes, it took {mins}",
            "why is my delivery taking so long",
        ],
        details: &[
            "the courier seemed to be going to other places first",
            "I'm hungry and annoyed",
            "it said the courier was nearby for 30 minutes",
            "the app kept saying almost there",
        ],
        short: &["order late", "where is my food", "delivery late"],
        foreign: [
            "mi pedido llegó muy tarde",
            "meu pedido atrasou muito",
            "ma commande est arrivée très en retard",
        ],
    },
    SubSpec {
        name: "never_arrived",
        category: 2,
        weight: 0.14,
        subject: ORDER,
        issues: &[
            "my order never arrived",
            "the app says delivered but I never got my food",
            "the courier marked it delivered but nothing was at my door",
            "my food from {rest} never came",
            "the order disappeared, no food and no refund",
            "I waited {mins} minutes and then the order was cancelled",
            "the courier never showed up with my order",
            "nothing was delivered, I was home the whole time",
            "someone else must have taken my order",
        ],
        details: &[
            "I checked with the building security",
            "I paid {amt} for nothing",
            "the courier didn't answer my calls",
        ],
        short: &["order never arrived", "no food", "didn't get my order"],
        foreign: [
            "mi pedido nunca llegó",
            "meu pedido nunca chegou",
            "ma commande n'est jamais arrivée",
        ],
    },
    SubSpec {
        name: "missing_items",
        category: 2,
        weight: 0.22,
        subject: ORDER,
        issues: &[
            "my {item} was missing from the order",
            "items missing from my order",
            "the bag didn't have the {item} I paid for",
            "{rest} forgot half of my order",
            "the order was incomplete, no {item}",
            "I only got one of the {n} items I ordered",
            "missing the {item} again",
            "you forgot my {item}",
            "I paid for {item} but it wasn't in the bag",
            "several items were not in the delivery",
        ],
        details: &[
            "the receipt in the bag lists it",
            "this is the second time with this restaurant",
            "I'd like a refund for the missing part",
        ],
        short: &["missing items", "item missing", "missing {item}"],
        foreign: [
            "faltan productos en mi pedido",
            "faltaram itens no meu pedido",
            "il manque des articles dans ma commande",
        ],
    },
    SubSpec {
        name: "wrong_order",
        category: 2,
        weight: 0.16,
        subject: ORDER,
        issues: &[
            "I received the wrong order",
            "this is not what I ordered",
            "I got someone else's food",
            "they sent me {item} instead of what I ordered",
            "wrong food delivered, I'm vegetarian and got meat",
            "the order from {rest} was completely wrong",
            "the bag had another customer's name on it",
            "my order was mixed up with someone else's",
            "wrong items in my order",
        ],
        details: &[
            "the name on the bag isn't mine",
            "I have allergies so this is serious",
            "I can't eat any of it",
        ],
        short: &["wrong order", "not my food", "wrong food"],
        foreign: [
            "me llegó un pedido equivocado",
            "recebi o pedido errado",
            "j'ai reçu la mauvaise commande",
        ],
    },
    SubSpec {
        name: "food_quality",
        category: 2,
        weight: 0.16,
        subject: ORDER,
        issues: &[
            "the food was cold",
            "the food arrived cold and soggy",
            "the food from {rest} was spilled all over the bag",
            "my pizza was crushed",
            "the food tasted off, I think it was spoiled",
            "there was a hair in my food",
            "the burger was raw in the middle",
            "the drink leaked everywhere",
            "the food was cold because it took so long to arrive",
            "terrible quality, the {item} was stale",
        ],
        details: &[
            "I had to throw it away",
            "I took pictures of it",
            "the packaging was ripped",
        ],
        short: &["cold food", "food spilled", "food was bad"],
        foreign: [
            "la comida llegó fría",
            "a comida chegou fria",
            "la nourriture est arrivée froide",
        ],
    },
    // ---------------------------------------------------------------- account
    SubSpec {
        name: "login_problem",
        category: 3,
        weight: 0.32,
        subject: NONE,
        issues: &[
            "I can't log in to my account",
            "the verification code never arrives",
            "it keeps saying wrong password",
            "I can't sign in after changing my phone",
            "the sms code doesn't come",
            "the login page just spins forever",
            "I reset my password but still can't get in",
            "it says my email is not registered but I've used it for years",
            "the two factor code is not working",
            "can't access my account",
        ],
        details: &[
            "I tried resetting the password {n} times",
            "I changed my number recently",
            "I'm using the same email as always",
        ],
        short: &["can't login", "login issue", "no code"],
        foreign: [
            "no puedo iniciar sesión",
            "não consigo entrar na minha conta",
            "je n'arrive pas à me connecter",
        ],
    },
    SubSpec {
        name: "account_locked",
        category: 3,
        weight: 0.20,
        subject: NONE,
        issues: &[
            "my account has been locked",
            "my account was suspended for no reason",
            "it says my account is disabled",
            "I got blocked from ordering",
            "why was my account deactivated",
            "my account got locked after too many attempts",
            "my account is on hold and I can't request rides",
            "I received an email that my account was banned",
            "you suspended me without any explanation",
        ],
        details: &[
            "I have never broken any rules",
            "I've been a customer for years",
            "I need it for work",
        ],
        short: &["account locked", "account suspended", "account blocked"],
        foreign: [
            "mi cuenta fue bloqueada",
            "minha conta foi bloqueada",
            "mon compte a été bloqué",
        ],
    },
    SubSpec {
        name: "update_details",
        category: 3,
        weight: 0.28,
        subject: NONE,
        issues: &[
            "I need to change my phone number",
            "how do I update my email address",
            "I can't change my name on the account",
            "I want to update my payment info and home address",
            "my profile has the wrong phone number",
            "please change the email on my account to my new one",
            "the app won't let me edit my profile",
            "I got married and need to update my last name",
            "I need to update my business profile details",
        ],
        details: &[
            "the old number is not mine anymore",
            "the save button doesn't do anything",
            "I still get receipts at my old email",
        ],
        short: &["change phone number", "update email", "change my name"],
        foreign: [
            "quiero cambiar mi número de teléfono",
            "quero mudar meu número de telefone",
            "je veux changer mon numéro de téléphone",
        ],
    },
    SubSpec {
        name: "delete_account",
        category: 3,
        weight: 0.20,
        subject: NONE,
        issues: &[
            "please delete my account",
            "I want to close my account permanently",
            "how do I delete my data",
            "remove all my personal information",
            "I don't want to use this service anymore, delete my account",
            "cancel my account and membership",
            "I want my account and all data erased",
            "unsubscribe me and delete everything",
        ],
        details: &[
            "under GDPR I request all my data be deleted",
            "I've had enough of the bad service",
            "please confirm by email",
        ],
        short: &["delete account", "delete my account", "close account"],
        foreign: [
            "quiero eliminar mi cuenta",
            "quero excluir minha conta",
            "je veux supprimer mon compte",
        ],
    },
    // ---------------------------------------------------------------- safety
    SubSpec {
        name: "unsafe_driving",
        category: 4,
        weight: 0.38,
        subject: TRIP,
        issues: &[
            "the driver was speeding the whole way",
            "the driver was on his phone while driving",
            "I felt unsafe, he was driving really dangerously",
            "the driver ran a red light",
            "he was swerving between lanes",
            "the driver seemed drowsy and kept falling asleep",
            "the driver was texting and almost hit someone",
            "{drv} was driving aggressively and yelling at other cars",
            "reckless driving, I was scared",
        ],
        details: &[
            "I asked him to slow down and he ignored me",
            "I held on the whole ride",
            "please make sure he doesn't drive again",
        ],
        short: &["unsafe driver", "reckless driving", "driver speeding"],
        foreign: [
            "el conductor manejaba muy rápido y peligroso",
            "o motorista dirigia de forma perigosa",
            "le chauffeur conduisait dangereusement",
        ],
    },
    SubSpec {
        name: "harassment",
        category: 4,
        weight: 0.20,
        subject: TRIP,
        issues: &[
            "the driver made inappropriate comments",
            "I was harassed by my driver",
            "the driver kept asking personal questions and made me uncomfortable",
            "the driver was rude and aggressive towards me",
            "the driver was yelling at me",
            "he asked for my number after the trip",
            "the driver touched me inappropriately",
            "the driver made racist remarks",
        ],
        details: &[
            "I don't feel safe using the app now",
            "he kept messaging me afterwards",
            "I want this driver removed",
        ],
        short: &["driver harassed me", "rude driver", "inappropriate driver"],
        foreign: [
            "el conductor me acosó",
            "o motorista me assediou",
            "le chauffeur m'a harcelé",
        ],
    },
    SubSpec {
        name: "accident",
        category: 4,
        weight: 0.17,
        subject: TRIP,
        issues: &[
            "we were in an accident during my trip",
            "the car crashed into another car",
            "the driver hit a pole, I'm hurt",
            "I was injured in a collision on the way to {place}",
            "we got rear ended",
            "there was a crash and the driver just left me there",
            "the driver had a minor accident with me in the car",
            "my neck hurts after the car accident",
        ],
        details: &[
            "I went to the hospital afterwards",
            "the police came",
            "I need the insurance information",
        ],
        short: &["accident", "car crash", "we crashed"],
        foreign: [
            "tuvimos un accidente durante el viaje",
            "sofremos um acidente durante a corrida",
            "nous avons eu un accident pendant la course",
        ],
    },
    SubSpec {
        name: "lost_item",
        category: 4,
        weight: 0.25,
        subject: TRIP,
        issues: &[
            "I left my phone in the car",
            "I lost my wallet during the trip",
            "I forgot my bag in {drv}'s car",
            "I left my keys in the back seat",
            "how do I get my laptop back, I left it in the car",
            "I lost my headphones on my ride to {place}",
            "my umbrella and jacket are still in the car",
            "can you contact the driver, I left my backpack",
        ],
        details: &[
            "I tried calling the driver but no answer",
            "it's very important",
            "I can pay for the return",
        ],
        short: &["lost item", "left my phone", "lost wallet"],
        foreign: [
            "olvidé mi teléfono en el coche",
            "esqueci meu celular no carro",
            "j'ai oublié mon téléphone dans la voiture",
        ],
    },
    // ---------------------------------------------------------------- app_problems
    SubSpec {
        name: "app_crash",
        category: 5,
        weight: 0.34,
        subject: either(0.1, 0.11),
        issues: &[
            "the app keeps crashing",
            "the app crashes every time I open it",
            "the app freezes on the loading screen",
            "I can't open the app, it closes by itself",
            "the app is stuck on a white screen",
            "the app force closes when I try to request a ride",
            "the app froze and now it won't load",
            "the app keeps restarting on my phone",
            "nothing loads in the app",
        ],
        details: &[
            "I reinstalled it twice",
            "I'm on the latest version",
            "my phone is an iphone 13",
        ],
        short: &[
            "app crashing",
            "app keeps crashing",
            "app not working",
            "app frozen",
        ],
        foreign: [
            "la aplicación se cierra sola",
            "o aplicativo fica travando",
            "l'application plante tout le temps",
        ],
    },
    SubSpec {
        name: "map_wrong_location",
        category: 5,
        weight: 0.26,
        subject: either(0.35, 0.25),
        issues: &[
            "the map shows me in the wrong location",
            "the pickup pin is always in the wrong place",
            "the gps puts me on a different street",
            "the driver went to the wrong address because of the app",
            "my location is wrong on the map",
            "the app sent the courier to my old address",
            "I can't set the right pickup point",
            "the map keeps jumping around",
            "the address autocomplete picks the wrong place",
        ],
        details: &[
            "I have location services on",
            "I'm at {place} but it shows somewhere else",
            "I had to walk to where the pin was",
        ],
        short: &["wrong location", "gps wrong", "map broken"],
        foreign: [
            "el mapa muestra mi ubicación equivocada",
            "o mapa mostra o local errado",
            "la carte affiche la mauvaise position",
        ],
    },
    SubSpec {
        name: "notifications",
        category: 5,
        weight: 0.18,
        subject: NONE,
        issues: &[
            "I'm not getting any notifications",
            "no notification when my driver arrives",
            "I keep getting spam notifications",
            "too many promo notifications, how do I turn them off",
            "notifications stopped working",
            "I don't get notified when my food is on the way",
            "push notifications come really late",
            "the app sends me notifications in the middle of the night",
        ],
        details: &[
            "notifications are enabled in settings",
            "it's very annoying",
            "I missed my driver because of it",
        ],
        short: &[
            "no notifications",
            "too many notifications",
            "stop notifications",
        ],
        foreign: [
            "no recibo notificaciones",
            "não recebo notificações",
            "je ne reçois pas de notifications",
        ],
    },
    SubSpec {
        name: "payment_screen_error",
        category: 5,
        weight: 0.22,
        subject: either(0.15, 0.18),
        issues: &[
            "the payment screen shows an error",
            "I get an error when I try to add a payment method",
            "the checkout page won't load",
            "I get an error code at the payment step",
            "the payment screen is blank",
            "I can't select a payment method, the button does nothing",
            "something went wrong error when paying",
            "the app crashes on the payment page",
            "the wallet page keeps showing an error",
        ],
        details: &[
            "error code 402",
            "I tried on wifi and mobile data",
            "the spinner never stops",
        ],
        short: &["payment error", "checkout error", "payment page broken"],
        foreign: [
            "error en la pantalla de pago",
            "erro na tela de pagamento",
            "erreur sur l'écran de paiement",
        ],
    },
];

/// Closing requests per category (same order as [`taxonomy`]).
pub(crate) const REQUESTS: [&[&str]; 6] = [
    &[
        "please refund me",
        "I want my money back",
        "please fix the charge",
        "refund the difference please",
        "I expect a refund asap",
        "please look into this",
    ],
    &[
        "please look into this",
        "this is unacceptable",
        "I want compensation",
        "please make sure this doesn't happen again",
        "can I get a refund for this ride",
    ],
    &[
        "please refund my order",
        "I want my money back",
        "can you send a replacement",
        "please credit my account",
        "not ordering again if this continues",
    ],
    &[
        "please help me get access",
        "please fix this asap",
        "what do I do?",
        "please reply to this email",
        "I need this fixed today",
    ],
    &[
        "please contact me urgently",
        "I want this driver reported",
        "please call me",
        "this is serious",
        "I need someone to call me back",
    ],
    &[
        "please fix the app",
        "is there a fix?",
        "what should I do?",
        "please help",
        "fix your app",
    ],
];

/// Category-level issue statements that do not say which subcategory (a detail may follow).
pub(crate) const GENERIC_ISSUES: [&[&str]; 6] = [
    &[
        "something is wrong with my payment",
        "there's a problem with a charge from {time}",
        "I have a question about my receipt",
        "the amount on my receipt doesn't look right",
        "issue with billing",
    ],
    &[
        "my last ride was terrible",
        "bad experience with my driver {time}",
        "the trip {time} was a mess",
        "I'm not happy with my ride to {place}",
    ],
    &[
        "problem with my order from {rest}",
        "my order {time} was a mess",
        "bad experience with my delivery",
        "something went wrong with my food order",
    ],
    &[
        "I have a problem with my account",
        "I need help with my account settings",
        "something is wrong with my profile",
    ],
    &[
        "I had a scary experience on my trip",
        "I need to report something that happened on my ride",
        "I want to report my driver",
    ],
    &[
        "the app is not working properly",
        "something is broken in the app",
        "I'm having issues with the app {time}",
    ],
];

/// Closing words any message may end with.
pub(crate) const GENERIC_REQUESTS: &[&str] = &[
    "thanks",
    "thank you",
    "thx",
    "please help",
    "asap",
    "help!!",
    "thanks in advance",
    "regards",
];

/// Greetings.
pub(crate) const OPENERS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hi there",
    "hello support",
    "good morning",
    "good evening",
    "dear support team",
    "hi team",
    "excuse me",
    "hey guys",
    "urgent",
    "yo",
    "hello again",
];

/// Off-topic or vague messages: still labelled with the contact's true subcategory.
pub(crate) const VAGUE: &[&str] = &[
    "hi",
    "hello",
    "need help",
    "???",
    "help",
    "hello?",
    "can someone call me",
    "it happened again",
    "this is ridiculous",
    "not happy",
    "I have a problem",
    "call me",
    "same issue as before",
    "see my previous message",
    "any update?",
    "ok",
    "hello anyone there",
    "please respond",
    "it's not working",
    "I need to talk to someone",
];

/// Words that join a second issue to the first.
pub(crate) const CONNECTORS: &[&str] = &[
    "also",
    "and also",
    "oh and",
    "plus",
    "on top of that",
    "btw",
];

/// Wording of a new, surging issue.
pub(crate) const DRIFT_PHRASES: &[&str] = &[
    "since the update",
    "after updating the app",
    "ever since the latest update",
    "since yesterday's app update",
    "after the new version came out",
    "since I updated",
];

/// Greetings and closings in Spanish, Portuguese, French.
pub(crate) const FOREIGN_OPENERS: [&[&str]; 3] = [
    &["hola", "buenas", "buenos días"],
    &["olá", "oi", "bom dia"],
    &["bonjour", "salut", "bonsoir"],
];
pub(crate) const FOREIGN_CLOSERS: [&[&str]; 3] = [
    &["por favor ayúdenme", "gracias", "quiero una solución"],
    &["por favor me ajudem", "obrigado", "preciso de ajuda"],
    &["merci de m'aider", "merci", "c'est inadmissible"],
];

/// Looks a subcategory up by `"name"` or `"category/name"`.
pub(crate) fn find_subcategory(key: &str) -> Option<usize> {
    let (cat, name) = match key.split_once('/') {
        Some((c, n)) => (Some(c), n),
        None => (None, key),
    };
    SUBS.iter()
        .position(|s| s.name == name && cat.is_none_or(|c| TAXONOMY[s.category].name == c))
}

/// The subcategory a [`crate::Drift`] makes surge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DriftTarget {
    /// A subcategory of the taxonomy.
    Known(usize),
    /// A new root cause `name` (not in the taxonomy) of `base`'s category, worded like `base`
    /// plus "since the update".
    New { base: usize, name: String },
}

impl DriftTarget {
    /// Index of the subcategory whose phrasings drifted messages use.
    pub(crate) fn base(&self) -> usize {
        match self {
            Self::Known(s) | Self::New { base: s, .. } => *s,
        }
    }
}

/// Resolves a drift key: `"name"` or `"category/name"` of the taxonomy, or `"category/new_name"`
/// for a new root cause (its base is the category's subcategory whose name ends `new_name`, or
/// the category's first subcategory).
pub(crate) fn resolve_drift(key: &str) -> Option<DriftTarget> {
    if let Some(s) = find_subcategory(key) {
        return Some(DriftTarget::Known(s));
    }
    let (cat, name) = key.split_once('/')?;
    let cat = TAXONOMY_NAMES.iter().position(|c| *c == cat)?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return None;
    }
    let in_cat = || SUBS.iter().enumerate().filter(|(_, s)| s.category == cat);
    let base = in_cat()
        .find(|(_, s)| name.ends_with(s.name))
        .or_else(|| in_cat().next())
        .map(|(i, _)| i)?;
    Some(DriftTarget::New {
        base,
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_match_taxonomy() {
        let flat: Vec<(usize, &str)> = TAXONOMY
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.subcategories.iter().map(move |s| (i, *s)))
            .collect();
        assert_eq!(flat.len(), SUBS.len());
        assert_eq!(GENERIC_ISSUES.len(), TAXONOMY.len());
        for (c, n) in TAXONOMY.iter().zip(TAXONOMY_NAMES) {
            assert_eq!(c.name, n);
        }
        for ((cat, name), spec) in flat.iter().zip(SUBS.iter()) {
            assert_eq!(*cat, spec.category);
            assert_eq!(*name, spec.name);
            assert!(spec.issues.len() >= 8, "{name}");
            assert!(!spec.details.is_empty() && !spec.short.is_empty());
        }
        let mut names: Vec<&str> = SUBS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SUBS.len(), "subcategory names are unique");
    }

    #[test]
    fn lookup() {
        assert_eq!(find_subcategory("overcharged"), Some(0));
        assert_eq!(find_subcategory("payments/card_declined"), Some(3));
        assert_eq!(find_subcategory("delivery/card_declined"), None);
        assert_eq!(find_subcategory("nope"), None);
        assert_eq!(resolve_drift("card_declined"), Some(DriftTarget::Known(3)));
        assert_eq!(
            resolve_drift("payments/app_update_card_declined"),
            Some(DriftTarget::New {
                base: 3,
                name: "app_update_card_declined".into()
            })
        );
        assert_eq!(
            resolve_drift("app_problems/dark_mode_glitch").map(|d| d.base()),
            Some(23)
        );
        assert_eq!(resolve_drift("nope"), None);
        assert_eq!(resolve_drift("nope/x"), None);
        assert_eq!(resolve_drift("payments/Bad Name"), None);
    }
}
