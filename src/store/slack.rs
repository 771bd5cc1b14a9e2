//! What smeflow remembers of Slack: the events Slack sent (stored before they are answered,
//! deduplicated by Slack's `event_id`, so a retry of an event is stored once) and, per request
//! message, the GitLab issue made for it and what smeflow already said in its thread.

use super::postgres::PgStore;
use super::sqlite::sql;
use super::{now_ms, Result, SqliteStore, Store};
use rusqlite::{params, OptionalExtension};

/// A stored Slack event waiting to be worked off.
#[derive(Debug, Clone)]
pub struct SlackEventRow {
    pub event_id: String,
    pub body: String,
    pub attempts: i64,
}

/// A request message and the issue smeflow made for it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackRequest {
    pub channel: String,
    pub ts: String,
    pub project: String,
    pub issue_iid: u64,
    pub web_url: String,
    pub replied: bool,
    pub escalated: bool,
}

/// After this many failed attempts an event is left `dead` (visible, never retried).
pub const MAX_ATTEMPTS: i64 = 5;

impl Store {
    /// Stores an event once: false when this `event_id` is already stored (Slack's retry).
    pub async fn insert_slack_event(&self, event_id: &str, kind: &str, body: &str) -> Result<bool> {
        each!(self, s [event_id, kind, body] => s.insert_slack_event(event_id, kind, body))
    }
    /// Takes the oldest due event and marks it in progress.
    pub async fn claim_slack_event(&self) -> Result<Option<SlackEventRow>> {
        each!(self, s => s.claim_slack_event(now_ms()))
    }
    /// `error` None: done. Some: failed, retried at `retry_at_ms` (dead after MAX_ATTEMPTS).
    pub async fn finish_slack_event(
        &self,
        event_id: &str,
        error: Option<&str>,
        retry_at_ms: i64,
    ) -> Result<()> {
        let error = error.map(str::to_owned);
        each!(self, s [event_id] => s.finish_slack_event(event_id, error.as_deref(), retry_at_ms))
    }
    /// At start-up: events a killed process left in progress are taken up again.
    pub async fn recover_slack_events(&self) -> Result<usize> {
        each!(self, s => s.recover_slack_events())
    }
    /// (state, count) of the stored Slack events.
    pub async fn slack_event_counts(&self) -> Result<Vec<(String, i64)>> {
        each!(self, s => s.slack_event_counts())
    }
    pub async fn slack_request(&self, channel: &str, ts: &str) -> Result<Option<SlackRequest>> {
        each!(self, s [channel, ts] => s.slack_request(channel, ts))
    }
    /// Remembers the issue made for a request message (kept if one is already known).
    pub async fn record_slack_request(&self, r: &SlackRequest) -> Result<()> {
        each!(self, s [r] => s.record_slack_request(r))
    }
    /// `what` is `replied` or `escalated`: said once in the request's thread.
    pub async fn mark_slack_request(&self, channel: &str, ts: &str, what: SlackSaid) -> Result<()> {
        each!(self, s [channel, ts] => s.mark_slack_request(channel, ts, what.column()))
    }
    /// Requests the escalation sweep still watches: not escalated, not yet taken or closed.
    pub async fn unescalated_slack_requests(&self) -> Result<Vec<SlackRequest>> {
        each!(self, s => s.unescalated_slack_requests())
    }
}

/// What smeflow says once in a request's thread.
#[derive(Debug, Clone, Copy)]
pub enum SlackSaid {
    Replied,
    /// The escalation was posted, or no longer due (the request was taken or closed first).
    Escalated,
}

impl SlackSaid {
    fn column(self) -> &'static str {
        match self {
            SlackSaid::Replied => "replied",
            SlackSaid::Escalated => "escalated",
        }
    }
}

const REQUEST_COLUMNS: &str =
    "channel, ts, project, issue_iid, web_url, replied, escalated FROM slack_requests";

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SlackRequest> {
    Ok(SlackRequest {
        channel: r.get(0)?,
        ts: r.get(1)?,
        project: r.get(2)?,
        issue_iid: r.get::<_, i64>(3)? as u64,
        web_url: r.get(4)?,
        replied: r.get::<_, i64>(5)? != 0,
        escalated: r.get::<_, i64>(6)? != 0,
    })
}

fn pg_request_row(r: &tokio_postgres::Row) -> SlackRequest {
    SlackRequest {
        channel: r.get(0),
        ts: r.get(1),
        project: r.get(2),
        issue_iid: r.get::<_, i64>(3) as u64,
        web_url: r.get(4),
        replied: r.get::<_, i64>(5) != 0,
        escalated: r.get::<_, i64>(6) != 0,
    }
}

impl SqliteStore {
    pub fn insert_slack_event(&self, event_id: &str, kind: &str, body: &str) -> Result<bool> {
        let now = now_ms();
        let n = self
            .connect()?
            .execute(
                "INSERT INTO slack_events (event_id, kind, body, state, received_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4) ON CONFLICT (event_id) DO NOTHING",
                params![event_id, kind, body, now],
            )
            .map_err(|e| sql(&self.path, e))?;
        Ok(n == 1)
    }

    pub fn claim_slack_event(&self, now: i64) -> Result<Option<SlackEventRow>> {
        let c = self.connect()?;
        // One statement: two workers never claim the same event.
        c.query_row(
            "UPDATE slack_events SET state = 'in_progress', attempts = attempts + 1
             WHERE event_id = (SELECT event_id FROM slack_events
                               WHERE state IN ('pending', 'failed') AND next_attempt_at <= ?1
                               ORDER BY next_attempt_at, received_at LIMIT 1)
             RETURNING event_id, body, attempts",
            params![now],
            |r| {
                Ok(SlackEventRow {
                    event_id: r.get(0)?,
                    body: r.get(1)?,
                    attempts: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(|e| sql(&self.path, e))
    }

    pub fn finish_slack_event(
        &self,
        event_id: &str,
        error: Option<&str>,
        retry_at_ms: i64,
    ) -> Result<()> {
        self.connect()?
            .execute(
                "UPDATE slack_events SET
                   state = CASE WHEN ?2 IS NULL THEN 'done'
                                WHEN attempts >= ?4 THEN 'dead' ELSE 'failed' END,
                   last_error = ?2, next_attempt_at = ?3
                 WHERE event_id = ?1",
                params![event_id, error, retry_at_ms, MAX_ATTEMPTS],
            )
            .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    pub fn recover_slack_events(&self) -> Result<usize> {
        self.connect()?
            .execute(
                "UPDATE slack_events SET state = 'pending' WHERE state = 'in_progress'",
                [],
            )
            .map_err(|e| sql(&self.path, e))
    }

    pub fn slack_event_counts(&self) -> Result<Vec<(String, i64)>> {
        self.all_rows(
            &self.connect()?,
            "SELECT state, COUNT(*) FROM slack_events GROUP BY state ORDER BY state",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    pub fn slack_request(&self, channel: &str, ts: &str) -> Result<Option<SlackRequest>> {
        self.connect()?
            .query_row(
                &format!("SELECT {REQUEST_COLUMNS} WHERE channel = ?1 AND ts = ?2"),
                params![channel, ts],
                request_row,
            )
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    pub fn record_slack_request(&self, r: &SlackRequest) -> Result<()> {
        self.connect()?
            .execute(
                "INSERT INTO slack_requests (channel, ts, project, issue_iid, web_url, replied, escalated, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (channel, ts) DO NOTHING",
                params![
                    r.channel,
                    r.ts,
                    r.project,
                    r.issue_iid as i64,
                    r.web_url,
                    r.replied as i64,
                    r.escalated as i64,
                    now_ms()
                ],
            )
            .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    pub fn mark_slack_request(&self, channel: &str, ts: &str, column: &str) -> Result<()> {
        self.connect()?
            .execute(
                &format!("UPDATE slack_requests SET {column} = 1 WHERE channel = ?1 AND ts = ?2"),
                params![channel, ts],
            )
            .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    pub fn unescalated_slack_requests(&self) -> Result<Vec<SlackRequest>> {
        self.all_rows(
            &self.connect()?,
            &format!("SELECT {REQUEST_COLUMNS} WHERE escalated = 0 ORDER BY created_at"),
            [],
            request_row,
        )
    }
}

impl PgStore {
    pub async fn insert_slack_event(&self, event_id: &str, kind: &str, body: &str) -> Result<bool> {
        let now = now_ms();
        self.run(|c| async move {
            let n = c.execute(
                "INSERT INTO slack_events (event_id, kind, body, state, received_at, next_attempt_at)
                 VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (event_id) DO NOTHING",
                &[&event_id, &kind, &body, &now],
            ).await?;
            Ok(n == 1)
        }).await
    }

    pub async fn claim_slack_event(&self, now: i64) -> Result<Option<SlackEventRow>> {
        self.run(|c| async move {
            // SKIP LOCKED: replicas sharing the store never claim the same event.
            let row = c
                .query_opt(
                    "UPDATE slack_events SET state = 'in_progress', attempts = attempts + 1
                 WHERE event_id = (SELECT event_id FROM slack_events
                                   WHERE state IN ('pending', 'failed') AND next_attempt_at <= $1
                                   ORDER BY next_attempt_at, received_at LIMIT 1
                                   FOR UPDATE SKIP LOCKED)
                 RETURNING event_id, body, attempts",
                    &[&now],
                )
                .await?;
            Ok(row.map(|r| SlackEventRow {
                event_id: r.get(0),
                body: r.get(1),
                attempts: r.get(2),
            }))
        })
        .await
    }

    pub async fn finish_slack_event(
        &self,
        event_id: &str,
        error: Option<&str>,
        retry_at_ms: i64,
    ) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "UPDATE slack_events SET
                   state = CASE WHEN $2::text IS NULL THEN 'done'
                                WHEN attempts >= $4 THEN 'dead' ELSE 'failed' END,
                   last_error = $2, next_attempt_at = $3
                 WHERE event_id = $1",
                &[&event_id, &error, &retry_at_ms, &MAX_ATTEMPTS],
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Replicas share the store: only this replica's own leftovers would be safe to take, and
    /// the queue's lease machinery is not worth copying for events that take a second; an
    /// event left in progress is taken up by the next start of any replica.
    pub async fn recover_slack_events(&self) -> Result<usize> {
        self.run(|c| async move {
            let n = c
                .execute(
                    "UPDATE slack_events SET state = 'pending' WHERE state = 'in_progress'",
                    &[],
                )
                .await?;
            Ok(n as usize)
        })
        .await
    }

    pub async fn slack_event_counts(&self) -> Result<Vec<(String, i64)>> {
        self.run(|c| async move {
            Ok(c.query(
                "SELECT state, COUNT(*) FROM slack_events GROUP BY state ORDER BY state",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
        .await
    }

    pub async fn slack_request(&self, channel: &str, ts: &str) -> Result<Option<SlackRequest>> {
        self.run(|c| async move {
            Ok(c.query_opt(
                &format!("SELECT {REQUEST_COLUMNS} WHERE channel = $1 AND ts = $2"),
                &[&channel, &ts],
            )
            .await?
            .as_ref()
            .map(pg_request_row))
        })
        .await
    }

    pub async fn record_slack_request(&self, r: &SlackRequest) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "INSERT INTO slack_requests (channel, ts, project, issue_iid, web_url, replied, escalated, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (channel, ts) DO NOTHING",
                &[
                    &r.channel,
                    &r.ts,
                    &r.project,
                    &(r.issue_iid as i64),
                    &r.web_url,
                    &(r.replied as i64),
                    &(r.escalated as i64),
                    &now_ms(),
                ],
            ).await?;
            Ok(())
        }).await
    }

    pub async fn mark_slack_request(&self, channel: &str, ts: &str, column: &str) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                &format!("UPDATE slack_requests SET {column} = 1 WHERE channel = $1 AND ts = $2"),
                &[&channel, &ts],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn unescalated_slack_requests(&self) -> Result<Vec<SlackRequest>> {
        self.run(|c| async move {
            Ok(c.query(
                &format!("SELECT {REQUEST_COLUMNS} WHERE escalated = 0 ORDER BY created_at"),
                &[],
            )
            .await?
            .iter()
            .map(pg_request_row)
            .collect())
        })
        .await
    }
}
