//! What `nightshift init` writes: a project ready to use with `nightshift generate`.

/// `nightshift.toml` of a new project.
pub(crate) const PROJECT_TOML: &str = r#"# Nightshift project: see https://github.com/nightshift-dev/nightshift#the-project-file
[project]
name = "support"
warehouse = "warehouse"          # directory of Delta tables, relative to this file

# Upstream tables, addressed in SQL as raw.<name> (files under warehouse/raw/<name>).
[tables.support_contacts]
time_column = "created_at"
freshness_sla = "2d"             # the data for a day is complete 2 days later

[tables.trips]
time_column = "requested_at"
freshness_sla = "1d"

[tables.orders]
time_column = "placed_at"
freshness_sla = "1d"

[tables.agent_labels]
time_column = "labelled_at"
freshness_sla = "5d"

# Each day, attribute yesterday's-but-complete support contacts to a root cause.
[pipelines.root_cause]
schedule = "daily at 06:00"      # UTC
window = "1d"                    # reads [floor(D - 2d) - 1d, floor(D - 2d)) for logical date D
reads = ["support_contacts", "trips", "orders"]   # the first is the driving table
features = "sql/root_cause_features.sql"
model = "root_cause@production"
id_column = "contact_id"
text_column = "text"
max_text_chars = 10000           # longer texts go to output.root_cause_rejects
min_rows = 1                     # check fails if the window has fewer contacts
dimensions = ["channel", "city"] # rollups are grouped by these feature columns too
top_k = 3                        # most probable labels kept per prediction
retries = 3
retry_delay = "2m"
deadline = "09:00"
alerts = ["ops"]

[alerts.ops]
log = true
"#;

/// `sql/root_cause_features.sql` of a new project.
pub(crate) const FEATURES_SQL: &str = r#"-- Features for root-cause attribution: one row per support contact created in the window,
-- joined with the trip or the delivery order it is about.
-- Nightshift fills in {{ window_start }}, {{ window_end }} (UTC, 'YYYY-MM-DD HH:MM:SS'),
-- {{ ds }} and {{ logical_date }}; re-running a date reads exactly the same rows.
WITH contacts AS (
    SELECT * FROM raw.support_contacts
    WHERE created_at >= TIMESTAMP '{{ window_start }}'
      AND created_at <  TIMESTAMP '{{ window_end }}'
)
SELECT
    c.contact_id,
    c.created_at,
    c.channel,
    c.city,
    c.language,
    c.text,
    c.trip_id,
    c.order_id,
    t.status           AS trip_status,
    t.product          AS trip_product,
    t.fare             AS trip_fare,
    t.distance_km      AS trip_distance_km,
    o.status           AS order_status,
    o.delivery_minutes AS order_delivery_minutes
FROM contacts AS c
-- The window's contacts stream past the trips and orders, which are held in memory: only
-- those of the week before the window (a contact is about a recent trip or order), and of
-- those only the ones the window's contacts are about (the IN clauses).
LEFT JOIN raw.trips AS t
    ON  t.trip_id = c.trip_id
    AND t.requested_at >= TIMESTAMP '{{ window_start }}' - INTERVAL '7 days'
    AND t.requested_at <  TIMESTAMP '{{ window_end }}'
    AND t.trip_id IN (SELECT trip_id FROM contacts)
LEFT JOIN raw.orders AS o
    ON  o.order_id = c.order_id
    AND o.placed_at >= TIMESTAMP '{{ window_start }}' - INTERVAL '7 days'
    AND o.placed_at <  TIMESTAMP '{{ window_end }}'
    AND o.order_id IN (SELECT order_id FROM contacts)
"#;

/// `.gitignore` of a new project: the warehouse is data, not code.
pub(crate) const GITIGNORE: &str = "/warehouse/\n/.nightshift/\n";
