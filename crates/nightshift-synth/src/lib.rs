//! Deterministic synthetic warehouse for Nightshift's flagship use case: attributing every new
//! customer-support contact of a ride-hailing + food-delivery business to a root cause
//! (category, subcategory), with agents' labels arriving days later.
//!
//! [`generate_day`] returns one Arrow [`RecordBatch`](arrow_array::RecordBatch) per table for
//! one day ([`DayBatches`]); another crate writes them to Delta tables partitioned by `ds`.
//! Output is a pure function of ([`SynthConfig`], date).
//!
//! Map of the crate:
//! - [`config`](SynthConfig): [`SynthConfig`] and [`Drift`] (a surging issue).
//! - `schema`: the Arrow schemas ([`contacts_schema`], [`trips_schema`], [`orders_schema`],
//!   [`agent_labels_schema`], [`truth_schema`]).
//! - `taxonomy`: [`taxonomy`] (6 categories, 27 subcategories), the category mix and the
//!   phrasing banks.
//! - `text`: message realisation (composition, slots, casing noise, typos).
//! - `world`: cities, currencies, languages, products, names, daily activity curves.
//! - `trips`, `orders`: trips and food orders as pure functions of (seed, date, index), so a
//!   contact of day `d` can reference a trip of day `d-2` without generating it.
//! - `contacts`: support contacts, their late arrival, bad texts and agent labels; `refs`:
//!   finding the trip or order (of days d-3..=d) that fits a contact's cause.
//! - `plan`: per-day parameters; `ids`: identifier formatting; `rng`: seeding and sampling;
//!   `columns`: chunk column buffers and their concatenation.
//! - `generator`: [`generate_day`], chunked and parallel ([`CHUNK_ROWS`] rows per chunk).
//! - `error`: [`Error`].

mod columns;
mod config;
mod contacts;
mod error;
mod generator;
mod ids;
mod orders;
mod plan;
mod refs;
mod rng;
mod schema;
mod taxonomy;
mod text;
mod trips;
mod world;

pub use config::{Drift, SynthConfig};
pub use error::Error;
pub use generator::{CHUNK_ROWS, DayBatches, generate_day, generate_day_with_threads};
pub use schema::{
    AGENT_LABELS_TABLE, CONTACTS_TABLE, ORDERS_TABLE, TRIPS_TABLE, TRUTH_TABLE,
    agent_labels_schema, contacts_schema, orders_schema, trips_schema, truth_schema,
};
pub use taxonomy::{Category, taxonomy};

/// Bytes above which a contact's text is "oversized" (a bad row the pipeline must reject).
pub const OVERSIZED_TEXT_BYTES: usize = contacts::OVERSIZED_MIN;
