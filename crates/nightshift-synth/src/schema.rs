//! Arrow schemas of the four tables. Timestamps are microseconds in UTC (Delta's `timestamp`);
//! every table has a `ds` column, the UTC date (`YYYY-MM-DD`) of its time column, used as the
//! Delta partition.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Name of the support-contacts table.
pub const CONTACTS_TABLE: &str = "support_contacts";
/// Name of the trips table.
pub const TRIPS_TABLE: &str = "trips";
/// Name of the food-orders table.
pub const ORDERS_TABLE: &str = "orders";
/// Name of the agent-labels table.
pub const AGENT_LABELS_TABLE: &str = "agent_labels";
/// Name of the ground-truth table (not part of the warehouse; for evaluation).
pub const TRUTH_TABLE: &str = "contact_truth";

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn cached(cell: &'static OnceLock<SchemaRef>, fields: fn() -> Vec<Field>) -> SchemaRef {
    cell.get_or_init(|| Arc::new(Schema::new(fields()))).clone()
}

/// `support_contacts`: contact_id, created_at, ingested_at, channel, city, language,
/// text (nullable), trip_id (nullable), order_id (nullable), ds.
pub fn contacts_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    cached(&S, || {
        vec![
            utf8("contact_id", false),
            Field::new("created_at", ts(), false),
            Field::new("ingested_at", ts(), false),
            utf8("channel", false),
            utf8("city", false),
            utf8("language", false),
            utf8("text", true),
            utf8("trip_id", true),
            utf8("order_id", true),
            utf8("ds", false),
        ]
    })
}

/// `trips`: trip_id, requested_at, city, fare, distance_km, duration_min, status, product, ds.
pub fn trips_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    cached(&S, || {
        vec![
            utf8("trip_id", false),
            Field::new("requested_at", ts(), false),
            utf8("city", false),
            Field::new("fare", DataType::Float64, false),
            Field::new("distance_km", DataType::Float64, false),
            Field::new("duration_min", DataType::Float64, false),
            utf8("status", false),
            utf8("product", false),
            utf8("ds", false),
        ]
    })
}

/// `orders`: order_id, placed_at, city, restaurant, basket_value, delivery_minutes (null when
/// cancelled), status, ds.
pub fn orders_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    cached(&S, || {
        vec![
            utf8("order_id", false),
            Field::new("placed_at", ts(), false),
            utf8("city", false),
            utf8("restaurant", false),
            Field::new("basket_value", DataType::Float64, false),
            Field::new("delivery_minutes", DataType::Float64, true),
            utf8("status", false),
            utf8("ds", false),
        ]
    })
}

/// `agent_labels`: contact_id, category, subcategory, labelled_at, agent_id, ds (of
/// labelled_at).
pub fn agent_labels_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    cached(&S, || {
        vec![
            utf8("contact_id", false),
            utf8("category", false),
            utf8("subcategory", false),
            Field::new("labelled_at", ts(), false),
            utf8("agent_id", false),
            utf8("ds", false),
        ]
    })
}

/// Ground truth of the contacts in a day's `contacts` batch, row for row: contact_id,
/// category, subcategory (the true cause), drifted (the contact belongs to the surge).
/// Not part of the warehouse: for evaluating models and benchmarks.
pub fn truth_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    cached(&S, || {
        vec![
            utf8("contact_id", false),
            utf8("category", false),
            utf8("subcategory", false),
            Field::new("drifted", DataType::Boolean, false),
        ]
    })
}
