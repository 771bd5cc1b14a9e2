//! The PostgreSQL backend: the same store as the SQLite file, shared by several `serve`
//! replicas on several machines.
//!
//! What changes with more than one process: a delivery in progress is *claimed* by one replica
//! (`claimed_by`) under a lease (`lease_until`) that the replica's store renews in the
//! background while it lives; a replica that dies stops renewing, and once its lease has
//! expired any other replica takes the delivery up again. Workers claim with
//! `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other's claims, and an advisory
//! lock per issue (held for the claim's transaction) keeps two replicas off the same issue at
//! once. Area leases stay rows in `leases` (not session advisory locks): they outlive a pooled
//! connection and tell a waiting run who holds them.
//!
//! `postgres` (the synchronous client) with an `r2d2` pool matches the store's blocking style:
//! every caller already runs store calls on blocking threads.

use super::queue::{LeaseHeld, NotReady, QueueStats};
use super::{now_ms, schema, Delivery, IssueMemory, NewDelivery, Result, State, StoreError};
use r2d2_postgres::postgres::{self, NoTls, Row};
use r2d2_postgres::PostgresConnectionManager;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Client = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// How long a claim on a delivery holds without renewal. Ten minutes by default: far longer
/// than any delivery's work, and renewed every third of it while the replica lives.
/// `SMEFLOW_CLAIM_LEASE_MS` shortens it (tests, or a faster takeover).
fn claim_lease_ms() -> i64 {
    std::env::var("SMEFLOW_CLAIM_LEASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &i64| *v >= 100)
        .unwrap_or(600_000)
}

/// Cheap to clone; the lease-renewing thread lives as long as any clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Always `Some` until dropped (see `Drop`).
    pool: Option<Pool>,
    /// The URL without its password, for messages.
    url: String,
    /// Who this process is in `claimed_by`: unique per process start.
    holder: String,
    lease_ms: i64,
    last_reclaim: AtomicI64,
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            },
        };
        StoreError::Postgres {
            url: String::new(),
            message,
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`; `password=…` dropped.
pub fn redact(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        if let Some(at) = rest.find('@') {
            let user = rest[..at].split(':').next().unwrap_or_default();
            return format!("{}{user}{}", &url[..scheme_end + 3], &rest[at..]);
        }
        return url.to_string();
    }
    url.split_whitespace()
        .filter(|kv| !kv.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

const COLUMNS: &str = "id, dedupe_key, event, project_path, issue_iid, body, state, attempts, last_error, received_at, next_attempt_at, updated_at";

fn row_to_delivery(r: &Row) -> Delivery {
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

/// Serialises schema migrations of replicas starting at the same moment.
const MIGRATION_LOCK: i64 = 0x0073_6d65_666c_6f77; // "smeflow"

impl PgStore {
    /// Connects (failing within seconds when the database is unreachable), migrates the
    /// schema, and starts renewing this process's claims.
    pub fn open(url: &str) -> Result<PgStore> {
        PgStore::open_with(url, claim_lease_ms())
    }

    /// `open` with the claim lease given (tests make it short to see a takeover quickly).
    pub fn open_with(url: &str, lease_ms: i64) -> Result<PgStore> {
        let shown = redact(url);
        let config: postgres::Config = url.parse().map_err(|e| StoreError::Postgres {
            url: shown.clone(),
            message: format!(
                "not a valid database URL ({e}); expected postgres://user[:password]@host[:port]/database"
            ),
        })?;
        let pool_size = std::env::var("SMEFLOW_DB_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16u32);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            // A broken connection is noticed by the query that fails on it (and discarded);
            // testing every checkout would add a round trip to every delivery.
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        let store = PgStore {
            inner: Arc::new(Inner {
                pool: Some(pool),
                url: shown,
                holder: super::lease::holder_id(),
                lease_ms,
                last_reclaim: AtomicI64::new(0),
            }),
        };
        store.run(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(schema::VERSION_TABLE)?;
            let current: i64 = tx.query_one(schema::CURRENT_VERSION, &[])?.get(0);
            let shown = redact(url);
            for step in schema::pending(&shown, current)? {
                tx.batch_execute(step.postgres)?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[&step.version],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        let renew = Arc::downgrade(&store.inner);
        std::thread::Builder::new()
            .name("smeflow-claim-renewal".into())
            .spawn(move || renew_claims(renew))
            .expect("spawn claim renewal");
        Ok(store)
    }

    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Who holds this process's claims, as `claimed_by` shows it.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    fn client(&self) -> Result<Client> {
        self.inner.pool().get().map_err(|e| StoreError::Postgres {
            url: self.inner.url.clone(),
            message: format!("cannot connect ({e}); is PostgreSQL running and the URL right?"),
        })
    }

    /// Runs `work` on a pooled connection. The synchronous client drives its own runtime, which
    /// must not start on a thread of the caller's; when called from async code (sync, the
    /// CLI) the work moves to a thread of its own.
    pub(super) fn run<T: Send>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T> + Send,
    ) -> Result<T> {
        let go = || {
            let mut c = self.client()?;
            work(&mut c).map_err(|e| match e {
                StoreError::Postgres { url, message } if url.is_empty() => StoreError::Postgres {
                    url: self.inner.url.clone(),
                    message,
                },
                other => other,
            })
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(go).join() {
                Ok(outcome) => outcome,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            go()
        }
    }

    pub async fn insert(&self, delivery: NewDelivery) -> Result<bool> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.insert_now(&delivery))
            .await
            .map_err(|_| StoreError::WriterGone)?
    }

    /// Committed (autocommit) before it returns; a duplicate key, even one another replica is
    /// inserting at this instant, waits for that insert and then counts as a duplicate.
    pub fn insert_now(&self, d: &NewDelivery) -> Result<bool> {
        self.run(|c| {
            let now = now_ms();
            let n = c.execute(
                "INSERT INTO deliveries (dedupe_key, event, project_path, issue_iid, body, state, received_at, next_attempt_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
                &[&d.dedupe_key, &d.event, &d.project_path, &d.issue_iid.map(|v| v as i64), &d.body, &now],
            )?;
            Ok(n == 1)
        })
    }

    pub fn writable(&self) -> bool {
        self.readiness().is_ok()
    }

    /// Deliveries whose claim expired (the replica that held them died) go back to the queue.
    pub fn recover(&self) -> Result<usize> {
        self.run(|c| {
            let now = now_ms();
            let n = c.execute(
                "UPDATE deliveries SET state = 'pending', claimed_by = NULL, lease_until = NULL,
                     last_error = 'taken over: the replica processing it stopped before finishing',
                     updated_at = $1
                 WHERE state = 'in_progress' AND lease_until < $1",
                &[&now],
            )?;
            Ok(n as usize)
        })
    }

    pub fn claim(&self, now: i64) -> Result<Option<Delivery>> {
        let last = self.inner.last_reclaim.load(Ordering::Relaxed);
        if now - last >= 1000 {
            self.inner.last_reclaim.store(now, Ordering::Relaxed);
            let taken_over = self.recover()?;
            if taken_over > 0 {
                tracing::warn!(
                    taken_over,
                    "took up deliveries whose replica stopped mid-way"
                );
            }
        }
        let (holder, until) = (self.inner.holder.clone(), now + self.inner.lease_ms);
        self.run(|c| {
            for _ in 0..3 {
                let mut tx = c.transaction()?;
                let Some(row) = tx.query_opt(CLAIM, &[&now, &holder, &until])? else {
                    tx.commit()?;
                    return Ok(None);
                };
                let d = row_to_delivery(&row);
                // A fresh statement sees claims committed after the claim's snapshot: the
                // one case where another replica took this issue in the same instant.
                let busy = match (&d.project_path, d.issue_iid) {
                    (path, Some(iid)) => tx
                        .query_opt(
                            "SELECT 1 FROM deliveries WHERE state = 'in_progress' AND id <> $1
                               AND issue_iid = $2 AND project_path IS NOT DISTINCT FROM $3",
                            &[&d.id, &(iid as i64), path],
                        )?
                        .is_some(),
                    _ => false,
                };
                if busy {
                    tx.rollback()?;
                    continue;
                }
                tx.commit()?;
                return Ok(Some(d));
            }
            Ok(None)
        })
    }

    fn set_state(
        &self,
        id: i64,
        state: State,
        error: Option<&str>,
        next_attempt_at: i64,
    ) -> Result<()> {
        self.run(|c| {
            c.execute(
                "UPDATE deliveries SET state = $2, last_error = COALESCE($3, last_error), next_attempt_at = $4,
                     updated_at = $5, claimed_by = NULL, lease_until = NULL WHERE id = $1",
                &[&id, &state.as_str(), &error, &next_attempt_at, &now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn mark_done(&self, id: i64) -> Result<()> {
        self.set_state(id, State::Done, None, now_ms())
    }

    pub fn mark_failed(
        &self,
        id: i64,
        attempts: u32,
        max_attempts: u32,
        error: &str,
    ) -> Result<State> {
        let delay_ms = 1000i64 * (1i64 << attempts.min(9)).min(600);
        self.mark_failed_after(id, attempts, max_attempts, error, delay_ms)
    }

    pub fn mark_failed_after(
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
        self.set_state(id, state, Some(error), now_ms() + delay_ms)?;
        Ok(state)
    }

    pub fn defer(&self, id: i64, error: &str, delay_ms: i64) -> Result<()> {
        self.run(|c| {
            let now = now_ms();
            c.execute(
                "UPDATE deliveries SET state = 'failed', attempts = GREATEST(attempts - 1, 0), last_error = $2,
                     next_attempt_at = $3, updated_at = $4, claimed_by = NULL, lease_until = NULL WHERE id = $1",
                &[&id, &error, &(now + delay_ms), &now],
            )?;
            Ok(())
        })
    }

    /// Puts back only the deliveries *this* replica holds: the others are someone's work.
    pub fn release_in_progress(&self) -> Result<usize> {
        let holder = self.inner.holder.clone();
        self.run(|c| {
            let n = c.execute(
                "UPDATE deliveries SET state = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = $2
                 WHERE state = 'in_progress' AND claimed_by = $1",
                &[&holder, &now_ms()],
            )?;
            Ok(n as usize)
        })
    }

    pub fn retry(&self, id: Option<i64>) -> Result<usize> {
        self.run(|c| {
            let now = now_ms();
            let n = match id {
                Some(id) => c.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2 WHERE id = $1 AND state IN ('failed', 'dead', 'done')",
                    &[&id, &now],
                ),
                None => c.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 WHERE state IN ('failed', 'dead')",
                    &[&now],
                ),
            }?;
            Ok(n as usize)
        })
    }

    pub fn get(&self, id: i64) -> Result<Option<Delivery>> {
        self.run(|c| {
            Ok(c.query_opt(
                &format!("SELECT {COLUMNS} FROM deliveries WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(row_to_delivery))
        })
    }

    pub fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Delivery>> {
        self.run(|c| {
            let rows = c.query(
                &format!("SELECT {COLUMNS} FROM deliveries WHERE ($1::text IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"),
                &[&state.map(State::as_str), &(limit as i64)],
            )?;
            Ok(rows.iter().map(row_to_delivery).collect())
        })
    }

    pub fn counts(&self) -> Result<Vec<(String, i64)>> {
        self.run(|c| {
            let rows = c.query(
                "SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state",
                &[],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    pub fn queue_stats(&self) -> Result<QueueStats> {
        self.run(|c| {
            let r = c.query_one(
                "SELECT COUNT(*), MIN(received_at) FROM deliveries WHERE state IN ('pending', 'failed', 'in_progress')",
                &[],
            )?;
            Ok(QueueStats {
                backlog: r.get(0),
                oldest_received_at: r.get(1),
            })
        })
    }

    /// This replica's own connection to the database can take a write as large as a delivery.
    pub fn readiness(&self) -> std::result::Result<(), NotReady> {
        self.run(|c| {
            c.execute(
                "INSERT INTO probe (id, at, pad) VALUES (1, $1, decode(repeat('00', 65536), 'hex'))
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad",
                &[&now_ms()],
            )?;
            Ok(())
        })
        .map_err(|e| NotReady::WriteFailed(e.to_string()))
    }

    pub fn audit(&self, source: &str, project: &str, change: &str) -> Result<()> {
        self.run(|c| {
            c.execute(
                "INSERT INTO audit (at, source, project, change) VALUES ($1, $2, $3, $4)",
                &[&now_ms(), &source, &project, &change],
            )?;
            Ok(())
        })
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
        self.run(|c| {
            let rows = c.query(
                "SELECT at, source, project, change FROM audit ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect())
        })
    }

    pub fn record_override(&self, project: &str, iid: u64, label: &str, by: &str) -> Result<()> {
        self.run(|c| {
            c.execute(
                "INSERT INTO overrides (project, issue_iid, label, by_user, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&project, &(iid as i64), &label, &by, &now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn record_auto_label(&self, project: &str, iid: u64, label: &str) -> Result<()> {
        self.run(|c| {
            c.execute(
                "INSERT INTO auto_labels (project, issue_iid, label, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&project, &(iid as i64), &label, &now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn record_note(&self, project: &str, iid: u64, marker: &str) -> Result<()> {
        self.run(|c| {
            c.execute(
                "INSERT INTO notes_written (project, issue_iid, marker) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&project, &(iid as i64), &marker],
            )?;
            Ok(())
        })
    }

    fn issue_rows(&self, query: &str, project: &str) -> Result<Vec<(u64, String)>> {
        self.run(|c| {
            let rows = c.query(query, &[&project])?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
                .collect())
        })
    }

    pub fn auto_labels(&self, project: &str) -> Result<Vec<(u64, String)>> {
        self.issue_rows(
            "SELECT issue_iid, label FROM auto_labels WHERE project = $1 ORDER BY issue_iid, label",
            project,
        )
    }

    pub fn issue_memory(&self, project: &str) -> Result<IssueMemory> {
        let by_issue = |rows: Vec<(u64, String)>| {
            let mut map = std::collections::HashMap::<u64, Vec<String>>::new();
            for (iid, text) in rows {
                map.entry(iid).or_default().push(text);
            }
            map
        };
        Ok(IssueMemory {
            notes: by_issue(self.issue_rows(
                "SELECT issue_iid, marker FROM notes_written WHERE project = $1",
                project,
            )?),
            overrides: by_issue(self.issue_rows(
                "SELECT issue_iid, label FROM overrides WHERE project = $1",
                project,
            )?),
            auto_labels: self.auto_labels(project)?.into_iter().collect(),
        })
    }

    pub fn overrides(&self, project: &str, iid: u64) -> Result<Vec<String>> {
        self.run(|c| {
            let rows = c.query(
                "SELECT label FROM overrides WHERE project = $1 AND issue_iid = $2 ORDER BY label",
                &[&project, &(iid as i64)],
            )?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    pub fn last_sync(&self, project: &str) -> Result<Option<i64>> {
        self.run(|c| {
            Ok(c.query_opt(
                "SELECT last_sync FROM sync_state WHERE project = $1",
                &[&project],
            )?
            .map(|r| r.get(0)))
        })
    }

    pub fn snapshot<T: serde::de::DeserializeOwned>(
        &self,
        project: &str,
    ) -> Result<(Option<i64>, Vec<T>)> {
        let (last, texts) = self.run(|c| {
            let last: Option<i64> = c
                .query_opt(
                    "SELECT last_sync FROM sync_state WHERE project = $1",
                    &[&project],
                )?
                .map(|r| r.get(0));
            let rows = c.query(
                "SELECT issue FROM issue_snapshot WHERE project = $1 ORDER BY issue_iid",
                &[&project],
            )?;
            Ok((
                last,
                rows.iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>(),
            ))
        })?;
        // A row that no longer parses is skipped: the next full pass reads that issue again.
        let issues = texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect();
        Ok((last, issues))
    }

    pub fn save_snapshot(
        &self,
        project: &str,
        issues: &[(u64, String)],
        full: bool,
        started_ms: i64,
    ) -> Result<()> {
        self.run(|c| {
            let mut tx = c.transaction()?;
            if full {
                tx.execute("DELETE FROM issue_snapshot WHERE project = $1", &[&project])?;
            }
            let stmt = tx.prepare(
                "INSERT INTO issue_snapshot (project, issue_iid, issue) VALUES ($1, $2, $3)
                 ON CONFLICT (project, issue_iid) DO UPDATE SET issue = excluded.issue",
            )?;
            for (iid, json) in issues {
                tx.execute(&stmt, &[&project, &(*iid as i64), json])?;
            }
            tx.execute(
                "INSERT INTO sync_state (project, last_sync) VALUES ($1, $2)
                 ON CONFLICT (project) DO UPDATE SET last_sync = excluded.last_sync",
                &[&project, &started_ms],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// One statement, so two replicas asking at the same instant cannot both get it.
    pub fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<std::result::Result<(), LeaseHeld>> {
        self.run(|c| {
            for _ in 0..3 {
                let now = now_ms();
                let took = c.query_opt(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= $4
                     RETURNING holder",
                    &[&name, &holder, &(now + ttl_ms), &now],
                )?;
                if took.is_some() {
                    return Ok(Ok(()));
                }
                if let Some(r) = c.query_opt(
                    "SELECT holder, expires_at FROM leases WHERE name = $1",
                    &[&name],
                )? {
                    return Ok(Err(LeaseHeld {
                        holder: r.get(0),
                        expires_at: r.get(1),
                    }));
                }
                // Released between the two statements: try again.
            }
            Ok(Err(LeaseHeld {
                holder: "another run (the lease changes hands too fast to say)".into(),
                expires_at: now_ms(),
            }))
        })
    }

    pub fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.run(|c| {
            c.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )?;
            Ok(())
        })
    }
}

impl Inner {
    fn pool(&self) -> &Pool {
        self.pool
            .as_ref()
            .expect("the pool lives until the store is dropped")
    }
}

impl Drop for Inner {
    /// Closing a connection drives the client's own runtime, which must not happen on a thread
    /// of the caller's runtime: the last clone dropped in async code closes them elsewhere.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::spawn(move || drop(pool)).join();
            }
        }
    }
}

/// Extends the leases of deliveries this process holds, every third of the lease, until the
/// store is dropped. A replica that dies stops doing this, which is how others notice.
fn renew_claims(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(lease_ms) = inner.upgrade().map(|i| i.lease_ms) else {
            return;
        };
        let pause = Duration::from_millis((lease_ms / 3).max(50) as u64);
        let mut waited = Duration::ZERO;
        while waited < pause {
            std::thread::sleep(Duration::from_millis(50));
            waited += Duration::from_millis(50);
            if inner.strong_count() == 0 {
                return;
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        let outcome = inner.pool().get().map_err(|e| e.to_string()).and_then(|mut c| {
            let now = now_ms();
            c.execute(
                "UPDATE deliveries SET lease_until = $2 WHERE state = 'in_progress' AND claimed_by = $1",
                &[&inner.holder, &(now + inner.lease_ms)],
            )
            .map_err(|e| e.to_string())
        });
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not renew this replica's claims on deliveries");
        }
    }
}
