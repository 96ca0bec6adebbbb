//! Leases on one pipeline x logical date: what stops two schedulers running the same
//! date at once.
//!
//! A lease row carries a `generation` that grows by one each time someone new takes the
//! lease; it is a fencing token: [`RunStore::renew`] and [`RunStore::release`] only act
//! when the caller's generation is still the current one.

use chrono::{DateTime, Utc};
use nightshift_core::Duration;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::owner::Owner;
use crate::schema::{parse_ts, ts};
use crate::store::{RunStore, validate_name};

/// A held lease on one pipeline x logical date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The pipeline.
    pub pipeline: String,
    /// The logical date.
    pub logical_date: DateTime<Utc>,
    /// Who holds it.
    pub owner: Owner,
    /// Fencing token: +1 every time the lease changes hands.
    pub generation: u64,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// A lease row as stored.
struct Row {
    generation: i64,
    pid: i64,
    host: String,
    expires_at: Option<String>,
}

impl RunStore {
    fn lease_row(
        &self,
        tx: &rusqlite::Transaction<'_>,
        pipeline: &str,
        logical: &str,
    ) -> Result<Option<Row>> {
        tx.query_row(
            "SELECT generation, holder_pid, holder_host, expires_at FROM leases
             WHERE pipeline = ?1 AND logical_date = ?2",
            params![pipeline, logical],
            |r| {
                Ok(Row {
                    generation: r.get(0)?,
                    pid: r.get(1)?,
                    host: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            },
        )
        .optional()
        .map_err(self.sql("read lease"))
    }

    /// Takes the lease on `pipeline` x `logical_date` for `owner` until `now + ttl`.
    ///
    /// Returns `None` while another holder's lease is unexpired and that holder is not
    /// known dead (see [`crate::Liveness`]); a lease is not re-entrant, so a second
    /// acquire by the same owner also gets `None`. A free, released, expired or dead
    /// holder's lease is taken over with the next generation. Decided inside one
    /// `BEGIN IMMEDIATE` transaction, so two stores never both get `Some`.
    pub fn acquire(
        &self,
        pipeline: &str,
        logical_date: DateTime<Utc>,
        owner: &Owner,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        validate_name("pipeline name", pipeline)?;
        let logical = ts(logical_date);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql("acquire lease"))?;
        let generation = match self.lease_row(&tx, pipeline, &logical)? {
            None => 1,
            Some(row) => {
                let expires = row
                    .expires_at
                    .as_deref()
                    .map(|s| parse_ts(&self.path, s))
                    .transpose()?;
                let holder = Owner::new(u32::try_from(row.pid).unwrap_or(u32::MAX), row.host);
                let held = expires.is_some_and(|e| e > now) && !self.liveness.is_dead(&holder);
                if held {
                    return Ok(None);
                }
                row.generation + 1
            }
        };
        let expires_at = now + ttl.as_chrono();
        tx.execute(
            "INSERT INTO leases (pipeline, logical_date, generation, holder_pid, holder_host, acquired_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (pipeline, logical_date) DO UPDATE SET
                generation = excluded.generation, holder_pid = excluded.holder_pid,
                holder_host = excluded.holder_host, acquired_at = excluded.acquired_at,
                expires_at = excluded.expires_at",
            params![
                pipeline,
                logical,
                generation,
                owner.pid,
                owner.host,
                ts(now),
                ts(expires_at)
            ],
        )
        .map_err(self.sql("acquire lease"))?;
        tx.commit().map_err(self.sql("acquire lease"))?;
        Ok(Some(Lease {
            pipeline: pipeline.to_string(),
            logical_date,
            owner: owner.clone(),
            generation: generation as u64,
            expires_at,
        }))
    }

    /// Extends `lease` to `now + ttl` and returns it updated.
    ///
    /// Works while nobody else has taken the lease over, even just after it expired;
    /// fails with [`Error::LeaseLost`] once it was released or changed hands.
    pub fn renew(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<Lease> {
        let logical = ts(lease.logical_date);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql("renew lease"))?;
        let row = self.lease_row(&tx, &lease.pipeline, &logical)?;
        let current = row.filter(|r| r.expires_at.is_some()).map(|r| r.generation);
        if current != i64::try_from(lease.generation).ok() {
            return Err(Error::LeaseLost {
                pipeline: lease.pipeline.clone(),
                logical_date: lease.logical_date,
                generation: lease.generation,
                current: current.map_or_else(|| "released".to_string(), |g| g.to_string()),
            });
        }
        let expires_at = now + ttl.as_chrono();
        tx.execute(
            "UPDATE leases SET expires_at = ?3 WHERE pipeline = ?1 AND logical_date = ?2",
            params![lease.pipeline, logical, ts(expires_at)],
        )
        .map_err(self.sql("renew lease"))?;
        tx.commit().map_err(self.sql("renew lease"))?;
        Ok(Lease {
            expires_at,
            ..lease.clone()
        })
    }

    /// Gives `lease` up so the next [`RunStore::acquire`] gets it at once. Returns
    /// `false` (and changes nothing) if it had already been released or taken over.
    pub fn release(&self, lease: &Lease) -> Result<bool> {
        let conn = self.lock();
        let changed = conn
            .execute(
                "UPDATE leases SET expires_at = NULL
                 WHERE pipeline = ?1 AND logical_date = ?2 AND generation = ?3 AND expires_at IS NOT NULL",
                params![
                    lease.pipeline,
                    ts(lease.logical_date),
                    i64::try_from(lease.generation).unwrap_or(i64::MAX)
                ],
            )
            .map_err(self.sql("release lease"))?;
        Ok(changed == 1)
    }

    /// The current holder of `pipeline` x `logical_date`, if its lease is unexpired at `now`.
    pub fn lease_holder(
        &self,
        pipeline: &str,
        logical_date: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let logical = ts(logical_date);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.sql("read lease"))?;
        let Some(row) = self.lease_row(&tx, pipeline, &logical)? else {
            return Ok(None);
        };
        let Some(expires) = row.expires_at.as_deref() else {
            return Ok(None);
        };
        let expires_at = parse_ts(&self.path, expires)?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(Lease {
            pipeline: pipeline.to_string(),
            logical_date,
            owner: Owner::new(u32::try_from(row.pid).unwrap_or(u32::MAX), row.host),
            generation: u64::try_from(row.generation).unwrap_or(0),
            expires_at,
        }))
    }
}
