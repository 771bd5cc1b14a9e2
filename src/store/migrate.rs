//! `smeflow store migrate`: copies a SQLite store into PostgreSQL — deliveries in every state,
//! the audit log, the issue memory (notes written, labels smeflow added, theme container
//! members), overrides, sync snapshots, Slack, and what
//! `smeflow import` read (opportunities, stage changes, NPS, Stack Overflow). Re-running it copies only what is not there yet: deliveries are matched by their
//! idempotency key, audit lines by their origin in the SQLite file, the rest by primary key,
//! and rows the replicas have written since are never overwritten.

use super::postgres::PgStore;
use super::{Result, StoreError};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one table's copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    pub what: &'static str,
    pub copied: u64,
    pub already_there: u64,
    /// Deliveries only: how many of each state were copied.
    pub by_state: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "there is no SQLite store at {0}: pass --from with the file `serve` used (its --state)"
    )]
    NoSource(String),
    #[error("{0}")]
    InUse(#[from] super::queue::OwnerError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn sqlite_err(path: &Path, e: rusqlite::Error) -> StoreError {
    super::sqlite::sql(path, e)
}

/// Copies everything from the SQLite file at `from` into the PostgreSQL store at `to`.
#[allow(clippy::vec_init_then_push)] // one `?` per table reads best as a push each
pub async fn sqlite_to_postgres(
    from: &Path,
    to: &str,
) -> std::result::Result<Vec<Moved>, MigrateError> {
    if !from.is_file() {
        return Err(MigrateError::NoSource(from.display().to_string()));
    }
    // A `serve` still writing the file would add deliveries after we read it.
    let _owner = super::queue::lock_owner(from)?;
    // Opening brings an older file to the current schema first, so every column read exists.
    let path = from.to_path_buf();
    super::sqlite::off_runtime(move || super::SqliteStore::open(&path).map(drop)).await?;
    let src = Source(from.to_path_buf());
    let pg = PgStore::open(to).await?;
    let moved = vec![
        deliveries(&src, &pg).await?,
        copy_rows(
            &src,
            &pg,
            "audit log",
            "SELECT id, at, source, project, change FROM audit ORDER BY id",
            5,
            "INSERT INTO audit (at, source, project, change, origin)
             VALUES ($2::bigint, $3, $4, $5, 'sqlite:' || $1::bigint::text || ':' || $2::bigint::text)
             ON CONFLICT (origin) DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "notes written",
            "SELECT project, issue_iid, marker FROM notes_written",
            3,
            "INSERT INTO notes_written (project, issue_iid, marker) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "labels smeflow added",
            "SELECT project, issue_iid, label, at FROM auto_labels",
            4,
            "INSERT INTO auto_labels (project, issue_iid, label, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "theme links",
            "SELECT project, container_iid, issue_iid, link_id FROM theme_links",
            4,
            "INSERT INTO theme_links (project, container_iid, issue_iid, link_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "overrides",
            "SELECT project, issue_iid, label, by_user, at FROM overrides",
            5,
            "INSERT INTO overrides (project, issue_iid, label, by_user, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "sync snapshots (issues)",
            "SELECT project, issue_iid, issue FROM issue_snapshot",
            3,
            "INSERT INTO issue_snapshot (project, issue_iid, issue) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "sync snapshots (last sync)",
            "SELECT project, last_sync FROM sync_state",
            2,
            "INSERT INTO sync_state (project, last_sync) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .await?,
        // An event left in progress by a process that died is pending again, as for deliveries.
        copy_rows(
            &src,
            &pg,
            "Slack events",
            "SELECT event_id, kind, body, CASE state WHEN 'in_progress' THEN 'pending' ELSE state END,
                    attempts, COALESCE(last_error, ''), received_at, next_attempt_at FROM slack_events",
            8,
            "INSERT INTO slack_events (event_id, kind, body, state, attempts, last_error, received_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "Slack requests",
            "SELECT channel, ts, project, issue_iid, web_url, replied, escalated, created_at FROM slack_requests",
            8,
            "INSERT INTO slack_requests (channel, ts, project, issue_iid, web_url, replied, escalated, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .await?,
        // An unknown amount is NULL, which the copy carries as -1 (amounts are never negative).
        copy_rows(
            &src,
            &pg,
            "opportunities",
            "SELECT id, stage, COALESCE(amount_cents, -1), close_date, won, closed FROM crm_opportunities",
            6,
            "INSERT INTO crm_opportunities (id, stage, amount_cents, close_date, won, closed)
             VALUES ($1, $2, NULLIF($3::bigint, -1), $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "opportunity stage changes",
            "SELECT id, from_stage, to_stage, changed_on FROM crm_stage_changes",
            4,
            "INSERT INTO crm_stage_changes (id, from_stage, to_stage, changed_on)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "NPS responses",
            "SELECT response_id, opportunity, responded_on, score FROM nps_responses",
            4,
            "INSERT INTO nps_responses (response_id, opportunity, responded_on, score)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?,
        copy_rows(
            &src,
            &pg,
            "Stack Overflow posts",
            "SELECT question_id, answer_id, asked_on, answer_score FROM stackoverflow_posts",
            4,
            "INSERT INTO stackoverflow_posts (question_id, answer_id, asked_on, answer_score)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?,
    ];
    Ok(moved)
}

/// A SQLite value as PostgreSQL will take it: integers as BIGINT, text as TEXT.
enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    fn param(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Value::Int(v) => v,
            Value::Text(v) => v,
        }
    }
}

/// The SQLite file being copied, read table by table on a blocking thread (a read-only
/// connection each time), so the copy never waits on the file from the runtime.
struct Source(PathBuf);

impl Source {
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection, &Path) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let from = self.0.clone();
        super::sqlite::off_runtime(move || {
            let src =
                Connection::open_with_flags(&from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .map_err(|e| sqlite_err(&from, e))?;
            read(&src, &from)
        })
        .await
    }
}

fn read_rows(src: &Connection, from: &Path, query: &str, width: usize) -> Result<Vec<Vec<Value>>> {
    let mut stmt = src.prepare(query).map_err(|e| sqlite_err(from, e))?;
    let rows = stmt
        .query_map([], |r| {
            (0..width)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                        other => Value::Text(other.as_str().unwrap_or_default().to_string()),
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| sqlite_err(from, e))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| sqlite_err(from, e))
}

async fn copy_rows(
    src: &Source,
    pg: &PgStore,
    what: &'static str,
    query: &'static str,
    width: usize,
    insert: &str,
) -> Result<Moved> {
    let rows = src
        .read(move |c, from| read_rows(c, from, query, width))
        .await?;
    pg.run(|mut c| async move {
        let mut moved = Moved {
            what,
            ..Moved::default()
        };
        let tx = c.transaction().await?;
        let stmt = tx.prepare(insert).await?;
        for row in &rows {
            let params: Vec<_> = row.iter().map(Value::param).collect();
            if tx.execute(&stmt, &params).await? == 1 {
                moved.copied += 1;
            } else {
                moved.already_there += 1;
            }
        }
        tx.commit().await?;
        Ok(moved)
    })
    .await
}

/// Deliveries keep their state, attempts and times; one left in progress by a process that
/// died is pending again (as its own restart would have made it).
async fn deliveries(src: &Source, pg: &PgStore) -> Result<Moved> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<i64>,
        Vec<u8>,
        String,
        i64,
        Option<String>,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = src
        .read(|src, from| {
            let mut stmt = src
                .prepare(
                    "SELECT dedupe_key, event, project_path, issue_iid, body, state, attempts, last_error,
                            received_at, next_attempt_at, updated_at FROM deliveries ORDER BY id",
                )
                .map_err(|e| sqlite_err(from, e))?;
            stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite_err(from, e))
        })
        .await?;
    pg.run(|mut c| async move {
        let mut moved = Moved {
            what: "deliveries",
            ..Moved::default()
        };
        let tx = c.transaction().await?;
        let stmt = tx.prepare(
            "INSERT INTO deliveries (dedupe_key, event, project_path, issue_iid, body, state, attempts,
                 last_error, received_at, next_attempt_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (dedupe_key) DO NOTHING",
        ).await?;
        for (key, event, path, iid, body, state, attempts, error, received, next, updated) in &rows
        {
            let state = if state == "in_progress" { "pending" } else { state.as_str() };
            let n = tx
                .execute(
                    &stmt,
                    &[key, event, path, iid, body, &state, attempts, error, received, next, updated],
                )
                .await?;
            if n == 1 {
                moved.copied += 1;
                *moved.by_state.entry(state.to_string()).or_default() += 1;
            } else {
                moved.already_there += 1;
            }
        }
        tx.commit().await?;
        Ok(moved)
    })
    .await
}

/// The summary `store migrate` prints.
pub fn summary(from: &Path, to: &str, moved: &[Moved]) -> String {
    let mut out = format!(
        "copied from {} to {}:\n",
        from.display(),
        super::postgres::redact(to)
    );
    for m in moved {
        let states = if m.by_state.is_empty() {
            String::new()
        } else {
            let parts: Vec<String> = m.by_state.iter().map(|(s, n)| format!("{s} {n}")).collect();
            format!(" ({})", parts.join(", "))
        };
        out.push_str(&format!(
            "  {:<27} {:>6} copied{states}, {} already there\n",
            m.what, m.copied, m.already_there
        ));
    }
    out
}
