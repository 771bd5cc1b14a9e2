//! The delivery queue on PostgreSQL: each insert commits on its own, and replicas claim side
//! by side — `FOR UPDATE SKIP LOCKED`, an advisory lock per issue, and a claim lease that the
//! store renews while the replica lives (see `store/postgres.rs`), so a dead replica's work is
//! taken up by another.

use super::{Delivery, NewDelivery, NotReady, QueueStats, State, COLUMNS};
use crate::store::postgres::PgStore;
use crate::store::{now_ms, Result};
use std::sync::atomic::Ordering;
use tokio_postgres::Row;

fn delivery_from_pg_row(r: &Row) -> Delivery {
    let state: String = r.get(6);
    Delivery {
        id: r.get(0),
        dedupe_key: r.get(1),
        event: r.get(2),
        project_path: r.get(3),
        issue_iid: r.get::<_, Option<i64>>(4).map(|v| v as u64),
        body: r.get(5),
        state: State::parse(&state).unwrap_or(State::Failed),
        attempts: r.get::<_, i64>(7) as u32,
        last_error: r.get(8),
        received_at: r.get(9),
        next_attempt_at: r.get(10),
        updated_at: r.get(11),
    }
}

/// The claim: the delivery due first whose issue nobody is processing, skipping rows other
/// replicas are claiming right now. The per-issue advisory lock closes the gap SKIP LOCKED
/// leaves (two replicas claiming two deliveries of one issue in the same instant).
const CLAIM: &str = "
UPDATE deliveries SET state = 'in_progress', attempts = attempts + 1, claimed_by = $2,
       lease_until = $3, updated_at = $1
WHERE id = (
    SELECT d.id FROM deliveries d
    WHERE d.state IN ('pending', 'failed') AND d.next_attempt_at <= $1
      AND NOT EXISTS (
        SELECT 1 FROM deliveries o
        WHERE o.state = 'in_progress' AND o.issue_iid = d.issue_iid
          AND o.project_path IS NOT DISTINCT FROM d.project_path)
      AND (d.issue_iid IS NULL OR pg_try_advisory_xact_lock(
            hashtextextended(COALESCE(d.project_path, '') || '#' || d.issue_iid::text, 0)))
    ORDER BY d.next_attempt_at, d.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING id, dedupe_key, event, project_path, issue_iid, body, state, attempts, last_error,
          received_at, next_attempt_at, updated_at";

impl PgStore {
    /// Committed (autocommit) before it returns; a duplicate key, even one another replica is
    /// inserting at this instant, waits for that insert and then counts as a duplicate.
    pub async fn insert(&self, d: &NewDelivery) -> Result<bool> {
        self.run(|c| async move {
            let now = now_ms();
            let n = c.execute(
                "INSERT INTO deliveries (dedupe_key, event, project_path, issue_iid, body, state, received_at, next_attempt_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
                &[&d.dedupe_key, &d.event, &d.project_path, &d.issue_iid.map(|v| v as i64), &d.body, &now],
            ).await?;
            Ok(n == 1)
        }).await
    }

    pub async fn writable(&self) -> bool {
        self.readiness().await.is_ok()
    }

    /// Deliveries whose claim expired (the replica that held them died) go back to the queue.
    pub async fn recover(&self) -> Result<usize> {
        self.run(|c| async move {
            let now = now_ms();
            let n = c.execute(
                "UPDATE deliveries SET state = 'pending', claimed_by = NULL, lease_until = NULL,
                     last_error = 'taken over: the replica processing it stopped before finishing',
                     updated_at = $1
                 WHERE state = 'in_progress' AND lease_until < $1",
                &[&now],
            ).await?;
            Ok(n as usize)
        })
        .await
    }

    pub async fn claim(&self, now: i64) -> Result<Option<Delivery>> {
        let last = self.inner.last_reclaim.load(Ordering::Relaxed);
        if now - last >= 1000 {
            self.inner.last_reclaim.store(now, Ordering::Relaxed);
            let taken_over = self.recover().await?;
            if taken_over > 0 {
                tracing::warn!(
                    taken_over,
                    "took up deliveries whose replica stopped mid-way"
                );
            }
        }
        let (holder, until) = (self.inner.holder.clone(), now + self.inner.lease_ms);
        self.run(|mut c| async move {
            for _ in 0..3 {
                let tx = c.transaction().await?;
                let Some(row) = tx.query_opt(CLAIM, &[&now, &holder, &until]).await? else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let d = delivery_from_pg_row(&row);
                // A fresh statement sees claims committed after the claim's snapshot: the
                // one case where another replica took this issue in the same instant.
                let busy = match (&d.project_path, d.issue_iid) {
                    (path, Some(iid)) => tx
                        .query_opt(
                            "SELECT 1 FROM deliveries WHERE state = 'in_progress' AND id <> $1
                               AND issue_iid = $2 AND project_path IS NOT DISTINCT FROM $3",
                            &[&d.id, &(iid as i64), path],
                        )
                        .await?
                        .is_some(),
                    _ => false,
                };
                if busy {
                    tx.rollback().await?;
                    continue;
                }
                tx.commit().await?;
                return Ok(Some(d));
            }
            Ok(None)
        })
        .await
    }

    async fn set_state(
        &self,
        id: i64,
        state: State,
        error: Option<&str>,
        next_attempt_at: i64,
    ) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "UPDATE deliveries SET state = $2, last_error = COALESCE($3, last_error), next_attempt_at = $4,
                     updated_at = $5, claimed_by = NULL, lease_until = NULL WHERE id = $1",
                &[&id, &state.as_str(), &error, &next_attempt_at, &now_ms()],
            ).await?;
            Ok(())
        }).await
    }

    pub async fn mark_done(&self, id: i64) -> Result<()> {
        self.set_state(id, State::Done, None, now_ms()).await
    }

    pub async fn mark_failed(
        &self,
        id: i64,
        attempts: u32,
        max_attempts: u32,
        error: &str,
    ) -> Result<State> {
        let delay_ms = 1000i64 * (1i64 << attempts.min(9)).min(600);
        self.mark_failed_after(id, attempts, max_attempts, error, delay_ms)
            .await
    }

    pub async fn mark_failed_after(
        &self,
        id: i64,
        attempts: u32,
        max_attempts: u32,
        error: &str,
        delay_ms: i64,
    ) -> Result<State> {
        let state = if attempts >= max_attempts {
            State::Dead
        } else {
            State::Failed
        };
        self.set_state(id, state, Some(error), now_ms() + delay_ms)
            .await?;
        Ok(state)
    }

    pub async fn defer(&self, id: i64, error: &str, delay_ms: i64) -> Result<()> {
        self.run(|c| async move {
            let now = now_ms();
            c.execute(
                "UPDATE deliveries SET state = 'failed', attempts = GREATEST(attempts - 1, 0), last_error = $2,
                     next_attempt_at = $3, updated_at = $4, claimed_by = NULL, lease_until = NULL WHERE id = $1",
                &[&id, &error, &(now + delay_ms), &now],
            ).await?;
            Ok(())
        }).await
    }

    /// Puts back only the deliveries *this* replica holds: the others are someone's work.
    pub async fn release_in_progress(&self) -> Result<usize> {
        let holder = self.inner.holder.clone();
        self.run(|c| async move {
            let n = c.execute(
                "UPDATE deliveries SET state = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = $2
                 WHERE state = 'in_progress' AND claimed_by = $1",
                &[&holder, &now_ms()],
            ).await?;
            Ok(n as usize)
        }).await
    }

    pub async fn retry(&self, id: Option<i64>) -> Result<usize> {
        self.run(|c| async move {
            let now = now_ms();
            let n = match id {
                Some(id) => c.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2 WHERE id = $1 AND state IN ('failed', 'dead', 'done')",
                    &[&id, &now],
                ).await,
                None => c.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 WHERE state IN ('failed', 'dead')",
                    &[&now],
                ).await,
            }?;
            Ok(n as usize)
        }).await
    }

    pub async fn get(&self, id: i64) -> Result<Option<Delivery>> {
        self.run(|c| async move {
            Ok(c.query_opt(
                &format!("SELECT {COLUMNS} FROM deliveries WHERE id = $1"),
                &[&id],
            )
            .await?
            .as_ref()
            .map(delivery_from_pg_row))
        })
        .await
    }

    pub async fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Delivery>> {
        self.run(|c| async move {
            let rows = c.query(
                &format!("SELECT {COLUMNS} FROM deliveries WHERE ($1::text IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"),
                &[&state.map(State::as_str), &(i64::try_from(limit).unwrap_or(i64::MAX))],
            ).await?;
            Ok(rows.iter().map(delivery_from_pg_row).collect())
        }).await
    }

    pub async fn counts(&self) -> Result<Vec<(String, i64)>> {
        self.run(|c| async move {
            let rows = c
                .query(
                    "SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }

    pub async fn queue_stats(&self) -> Result<QueueStats> {
        self.run(|c| async move {
            let r = c.query_one(
                "SELECT COUNT(*), MIN(received_at) FROM deliveries WHERE state IN ('pending', 'failed', 'in_progress')",
                &[],
            ).await?;
            Ok(QueueStats {
                backlog: r.get(0),
                oldest_received_at: r.get(1),
            })
        }).await
    }

    /// This replica's own connection to the database can take a write as large as a delivery.
    pub async fn readiness(&self) -> std::result::Result<(), NotReady> {
        self.run(|c| async move {
            c.execute(
                "INSERT INTO probe (id, at, pad) VALUES (1, $1, decode(repeat('00', 65536), 'hex'))
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad",
                &[&now_ms()],
            )
            .await?;
            Ok(())
        })
        .await
        .map_err(|e| NotReady::WriteFailed(e.to_string()))
    }
}
