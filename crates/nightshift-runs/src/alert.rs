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

    /// Forgets that the alert `key` was sent (its delivery failed everywhere), so that a
    /// later [`RunStore::record_alert`] of it returns `true` again and it is sent again.
    pub fn forget_alert(&self, key: &str) -> Result<()> {
        let conn = self.lock();
        conn.execute("DELETE FROM alerts WHERE key = ?1", params![key])
            .map_err(self.sql("forget alert"))?;
        Ok(())
    }
}
