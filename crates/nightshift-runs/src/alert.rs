//! Alert dedup: one alert per event, not one per retry or per scheduler tick.

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::error::Result;
use crate::schema::ts;
use crate::store::{RunStore, validate_name};

impl RunStore {
    /// Records that the alert `key` (e.g. `deadline:root_cause:2026-11-22`, see
    /// [`crate::deadline_alert_key`]) was sent. Returns `true` only for the first call
    /// with that key, across threads and processes; send the alert only then.
    pub fn record_alert(&self, key: &str, now: DateTime<Utc>) -> Result<bool> {
        validate_name("alert key", key)?;
        let conn = self.lock();
        let inserted = conn
            .execute(
                "INSERT INTO alerts (key, first_at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, ts(now)],
            )
            .map_err(self.sql("record alert"))?;
        Ok(inserted == 1)
    }

    /// Whether the alert `key` was recorded as sent.
    pub fn alert_recorded(&self, key: &str) -> Result<bool> {
        let conn = self.lock();
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE key = ?1)",
            params![key],
            |r| r.get(0),
        )
        .map_err(self.sql("read alert"))
    }

    /// The keys of the alerts sent since `since` that start with `prefix`, oldest first.
    pub fn alerts_since(&self, prefix: &str, since: DateTime<Utc>) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT key FROM alerts WHERE substr(key, 1, length(?1)) = ?1 AND first_at >= ?2 \
                 ORDER BY first_at, key",
            )
            .map_err(self.sql("list alerts"))?;
        let keys = stmt
            .query_map(params![prefix, ts(since)], |r| r.get(0))
            .map_err(self.sql("list alerts"))?
            .collect::<std::result::Result<Vec<String>, _>>()
            .map_err(self.sql("list alerts"))?;
        Ok(keys)
    }

    /// Forgets that the alert `key` was sent (its delivery failed everywhere), so that a
    /// later [`RunStore::record_alert`] of it returns `true` again and it is sent again.
    pub fn forget_alert(&self, key: &str) -> Result<()> {
        let conn = self.lock();
        conn.execute("DELETE FROM alerts WHERE key = ?1", params![key])
            .map_err(self.sql("forget alert"))?;
        Ok(())
    }
}
