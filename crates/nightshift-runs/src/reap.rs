//! Crash safety: runs whose owner died or stopped heartbeating become `abandoned`.

use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};
use serde::Serialize;

use crate::error::Result;
use crate::owner::Owner;
use crate::run::RunId;
use crate::schema::{parse_ts, ts};
use crate::store::RunStore;

/// A run marked abandoned by [`RunStore::reap_abandoned`], and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reaped {
    /// The run.
    pub id: RunId,
    /// Why: its lease expired, or its owner's process is gone.
    pub reason: String,
}

impl RunStore {
    /// Marks every `running` run whose lease expired before `now`, or whose owner the
    /// store's [`crate::Liveness`] says is dead, as `abandoned` (with the reason as its
    /// note), and its running tasks as `abandoned`; pending tasks stay pending so a retry
    /// plan includes them. Returns the runs reaped, oldest first.
    ///
    /// Called by [`RunStore::start_run`], [`RunStore::list`] and [`RunStore::get`]; a
    /// reaped run's owner gets [`crate::Error::RunNotRunning`] on its next update.
    pub fn reap_abandoned(&self, now: DateTime<Utc>) -> Result<Vec<Reaped>> {
        let mut conn = self.lock();
        // Cheap check without the write lock first: most calls find nothing to do.
        let any_running: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE status = 'running')",
                [],
                |r| r.get(0),
            )
            .map_err(self.sql("look for running runs"))?;
        if !any_running {
            return Ok(Vec::new());
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql("reap abandoned runs"))?;
        let running: Vec<(String, i64, String, Option<String>)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, owner_pid, owner_host, lease_until FROM runs
                     WHERE status = 'running' ORDER BY started_at, rowid",
                )
                .map_err(self.sql("read running runs"))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                .map_err(self.sql("read running runs"))?
        };
        let mut reaped = Vec::new();
        for (id, pid, host, lease_until) in running {
            let lease_until = lease_until
                .as_deref()
                .map(|s| parse_ts(&self.path, s))
                .transpose()?;
            let owner = Owner::new(u32::try_from(pid).unwrap_or(u32::MAX), host);
            let reason = match lease_until {
                Some(until) if until < now => Some(format!(
                    "lease expired at {} without a heartbeat from {owner}",
                    ts(until)
                )),
                None => Some(format!("no lease recorded for {owner}")),
                Some(_) if self.liveness.is_dead(&owner) => {
                    Some(format!("owner process {owner} no longer exists"))
                }
                Some(_) => None,
            };
            let Some(reason) = reason else { continue };
            tx.execute(
                "UPDATE tasks SET state = 'abandoned', finished_at = ?2,
                        error = COALESCE(error, 'abandoned: ' || ?3)
                 WHERE run_id = ?1 AND state = 'running'",
                params![id, ts(now), reason],
            )
            .map_err(self.sql("abandon tasks"))?;
            tx.execute(
                "UPDATE runs SET status = 'abandoned', finished_at = ?2, lease_until = NULL, note = ?3
                 WHERE id = ?1",
                params![id, ts(now), reason],
            )
            .map_err(self.sql("abandon run"))?;
            reaped.push(Reaped {
                id: RunId::new(id),
                reason,
            });
        }
        tx.commit().map_err(self.sql("commit reaping"))?;
        Ok(reaped)
    }
}
