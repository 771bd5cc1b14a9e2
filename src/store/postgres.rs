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
//! `postgres` (the synchronous client) with an `r2d2` pool matches the store's blocking style
//! (its methods are plain functions, SQLite's too); [`blocking`] is where it meets async
//! callers. TLS is rustls, configured from the URL by `tls.rs`.
//!
//! This file is the backend's machinery (pool, migrations, the renewal of claims); the SQL of
//! each job (the claim itself, memory, snapshot, audit, leases) sits in that job's room, next
//! to its SQLite twin.

use super::tls::{self, TlsSettings};
use super::{now_ms, schema, Result, StoreError};
use r2d2_postgres::postgres;
use r2d2_postgres::PostgresConnectionManager;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
pub(super) type Client = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// Always `Some` until dropped (see `Drop`).
    pool: Option<Pool>,
    /// The URL without its password, for messages.
    url: String,
    /// The URL's `sslmode` and `sslrootcert`, to say what to change when a connection fails.
    tls: TlsSettings,
    /// How to connect outside the pool, to learn why the pool could not (r2d2 keeps only the
    /// error's first words).
    direct: (postgres::Config, MakeRustlsConnect),
    /// Who this process is in `claimed_by`: unique per process start.
    pub(super) holder: String,
    pub(super) lease_ms: i64,
    /// When this process last took up deliveries whose replica died (see `queue/postgres.rs`).
    pub(super) last_reclaim: AtomicI64,
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

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db` (`crate::redact::url`);
/// in a key-value connection string, `password=…` is dropped. The TLS settings (`sslmode`,
/// `sslrootcert`: a mode and a file name, no secret) stay readable, since a failed connection
/// is often about them.
pub fn redact(url: &str) -> String {
    if url.contains("://") {
        let mut shown = crate::redact::url(url);
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        for pair in query.split('&') {
            if let Some((key @ ("sslmode" | "sslrootcert"), value)) = pair.split_once('=') {
                if !value.is_empty() {
                    shown = shown.replacen(&format!("{key}=***"), pair, 1);
                }
            }
        }
        return shown;
    }
    url.split_whitespace()
        .filter(|kv| !kv.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

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
        let (config, connector, tls) = tls::configure(url, &shown)?;
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
            .build_unchecked(PostgresConnectionManager::new(
                config.clone().into(),
                connector.clone(),
            ));
        let store = PgStore {
            inner: Arc::new(Inner {
                pool: Some(pool),
                url: shown,
                tls,
                direct: (config.into(), connector),
                holder: super::holder::holder_id(),
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
        self.inner.pool().get().map_err(|e| {
            let (config, tls) = &self.inner.direct;
            let e = match config.connect(tls.clone()) {
                Err(direct) => match StoreError::from(direct) {
                    StoreError::Postgres { message, .. } => message,
                    other => other.to_string(),
                },
                Ok(_) => e.to_string(),
            };
            let message = match tls::explain(&e, &self.inner.tls) {
                Some(fix) => format!("cannot connect ({e}): {fix}"),
                None => format!("cannot connect ({e}); is PostgreSQL running and the URL right?"),
            };
            StoreError::Postgres {
                url: self.inner.url.clone(),
                message,
            }
        })
    }

    /// Runs `work` on a pooled connection, through [`blocking`]: every PostgreSQL call of every
    /// room passes here, so this is the one place the blocking store meets async code.
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
        blocking(go)
    }
}

/// Runs blocking `work` wherever the caller is. The synchronous client drives a runtime of its
/// own, which must not start inside the caller's, and waiting on a runtime's worker thread
/// would stall every task queued behind it. So: on a worker of a multi-threaded runtime (the
/// binary's), `block_in_place` hands the worker's other tasks to another thread while this one
/// waits and leaves the runtime for the call — no thread is made per call; on a
/// `spawn_blocking` thread or outside any runtime the work just runs; only a single-threaded
/// runtime (tests' `#[tokio::test]`), which has no thread to hand its tasks to, gets a scoped
/// thread for the call.
pub(super) fn blocking<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        Ok(_) => std::thread::scope(|s| match s.spawn(work).join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => work(),
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
        // Not `blocking`: the last clone may go while a runtime shuts down, where handing off
        // a worker is not possible; this happens once per store.
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_shown_url_keeps_its_tls_settings_and_hides_its_password() {
        assert_eq!(
            super::redact(
                "postgres://smeflow:hunter2@db/s?sslmode=verify-full&sslrootcert=/etc/ca.pem&options=x"
            ),
            "postgres://smeflow:***@db/s?sslmode=verify-full&sslrootcert=/etc/ca.pem&options=***"
        );
    }
}
