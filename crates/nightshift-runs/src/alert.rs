//! Alert dedup: one alert per event, not one per retry or per scheduler tick.

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::error::Result;
use crate::schema::ts;
use crate::store::{RunStore, validate_name};

/// How long a claim to send an alert holds before another sender may take it over: longer
/// than delivering takes (sinks get 30 s each, at once).
pub const ALERT_CLAIM_SECONDS: i64 = 300;

impl RunStore {
    /// Claims the sending of the alert `key` (e.g. `deadline:root_cause:2026-11-22`, see
    /// [`crate::deadline_alert_key`]). Returns `true` only for the first call with that key,
    /// across threads and processes, or when an earlier claim was never marked sent
    /// ([`RunStore::mark_alert_sent`]) within [`ALERT_CLAIM_SECONDS`]: its sender died
    /// before a sink took it. Send the alert only then, and mark it sent once a sink took it
    /// (or forget it, [`RunStore::forget_alert`], when none did).
    pub fn record_alert(&self, key: &str, now: DateTime<Utc>) -> Result<bool> {
        validate_name("alert key", key)?;
        let stale = now - chrono::TimeDelta::seconds(ALERT_CLAIM_SECONDS);
        let conn = self.lock();
        let claimed = conn
            .execute(
                "INSERT INTO alerts (key, first_at) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE \
                 SET first_at = excluded.first_at WHERE alerts.sent_at IS NULL AND alerts.first_at < ?3",
                params![key, ts(now), ts(stale)],
            )
            .map_err(self.sql("record alert"))?;
        Ok(claimed == 1)
    }

    /// Marks the alert `key`, claimed with [`RunStore::record_alert`], as taken by a sink.
    pub fn mark_alert_sent(&self, key: &str, now: DateTime<Utc>) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE alerts SET sent_at = ?2 WHERE key = ?1",
            params![key, ts(now)],
        )
        .map_err(self.sql("mark alert sent"))?;
        Ok(())
    }

    /// Whether the alert `key` was sent (a sink took it).
    pub fn alert_recorded(&self, key: &str) -> Result<bool> {
        let conn = self.lock();
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE key = ?1 AND sent_at IS NOT NULL)",
            params![key],
            |r| r.get(0),
        )
        .map_err(self.sql("read alert"))
    }

    /// The keys of the alerts sent (taken by a sink) since `since` that start with `prefix`,
    /// oldest first.
    pub fn alerts_since(&self, prefix: &str, since: DateTime<Utc>) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT key FROM alerts WHERE substr(key, 1, length(?1)) = ?1 AND first_at >= ?2 \
                 AND sent_at IS NOT NULL ORDER BY first_at, key",
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
