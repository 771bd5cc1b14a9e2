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
//! `tokio-postgres` with a `deadpool-postgres` pool: the store's methods are `async` and a
//! call waiting on the database (a row lock, a slow query) waits as a task, holding no thread.
//! TLS is rustls, configured from the URL by `tls.rs`.
//!
//! This file is the backend's machinery (pool, migrations, the renewal of claims); the SQL of
//! each job (the claim itself, memory, snapshot, audit, leases) sits in that job's room, next
//! to its SQLite twin.

use super::tls::{self, TlsSettings};
use super::{now_ms, schema, Result, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, PoolError, RecyclingMethod, Runtime};
use std::future::Future;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

type Pool = deadpool_postgres::Pool;
pub(super) type Client = deadpool_postgres::Object;

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

/// Cheap to clone; the lease-renewing task lives as long as any clone.
#[derive(Clone)]
pub struct PgStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pool: Pool,
    /// The URL without its password, for messages.
    url: String,
    /// The URL's `sslmode` and `sslrootcert`, to say what to change when a connection fails.
    tls: TlsSettings,
    /// Who this process is in `claimed_by`: unique per process start.
    pub(super) holder: String,
    pub(super) lease_ms: i64,
    /// When this process last took up deliveries whose replica died (see `queue/postgres.rs`).
    pub(super) last_reclaim: AtomicI64,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
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
    /// schema, and starts renewing this process's claims (a task on the caller's runtime).
    pub async fn open(url: &str) -> Result<PgStore> {
        PgStore::open_with(url, claim_lease_ms()).await
    }

    /// `open` with the claim lease given (tests make it short to see a takeover quickly).
    pub async fn open_with(url: &str, lease_ms: i64) -> Result<PgStore> {
        let shown = redact(url);
        let (mut config, connector, tls) = tls::configure(url, &shown)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let pool_size = std::env::var("SMEFLOW_DB_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16usize);
        // `Fast` recycling: a broken connection is noticed by the query that fails on it (and
        // discarded); testing every checkout would add a round trip to every delivery.
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Postgres {
                url: shown.clone(),
                message: format!("cannot make the connection pool: {e}"),
            })?;
        let store = PgStore {
            inner: Arc::new(Inner {
                pool,
                url: shown,
                tls,
                holder: super::holder::holder_id(),
                lease_ms,
                last_reclaim: AtomicI64::new(0),
            }),
        };
        store
            .run(|mut c| async move {
                let tx = c.transaction().await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .await?;
                tx.batch_execute(schema::VERSION_TABLE).await?;
                let current: i64 = tx.query_one(schema::CURRENT_VERSION, &[]).await?.get(0);
                let shown = redact(url);
                for step in schema::pending(&shown, current)? {
                    tx.batch_execute(step.postgres).await?;
                    tx.execute(
                        "INSERT INTO schema_version (version) VALUES ($1)",
                        &[&step.version],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            })
            .await?;
        tokio::spawn(renew_claims(Arc::downgrade(&store.inner)));
        Ok(store)
    }

    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Who holds this process's claims, as `claimed_by` shows it.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    async fn client(&self) -> Result<Client> {
        let e = match self.inner.pool.get().await {
            Ok(c) => return Ok(c),
            Err(PoolError::Backend(e)) => match StoreError::from(e) {
                StoreError::Postgres { message, .. } => message,
                other => other.to_string(),
            },
            Err(PoolError::Timeout(_)) => {
                "timed out (the pool's connections are all busy, or the server does not answer)"
                    .to_string()
            }
            Err(other) => other.to_string(),
        };
        let message = match tls::explain(&e, &self.inner.tls) {
            Some(fix) => format!("cannot connect ({e}): {fix}"),
            None => format!("cannot connect ({e}); is PostgreSQL running and the URL right?"),
        };
        Err(StoreError::Postgres {
            url: self.inner.url.clone(),
            message,
        })
    }

    /// Runs `work` on a pooled connection: every PostgreSQL call of every room passes here, so
    /// this is where its errors get the store's URL.
    pub(super) async fn run<T, Work>(&self, work: impl FnOnce(Client) -> Work) -> Result<T>
    where
        Work: Future<Output = Result<T>>,
    {
        let c = self.client().await?;
        work(c).await.map_err(|e| match e {
            StoreError::Postgres { url, message } if url.is_empty() => StoreError::Postgres {
                url: self.inner.url.clone(),
                message,
            },
            other => other,
        })
    }
}

/// Extends the leases of deliveries this process holds, every third of the lease, until the
/// store is dropped. A replica that dies stops doing this, which is how others notice.
async fn renew_claims(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(lease_ms) = inner.upgrade().map(|i| i.lease_ms) else {
            return;
        };
        let pause = Duration::from_millis((lease_ms / 3).max(50) as u64);
        let mut waited = Duration::ZERO;
        while waited < pause {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
            if inner.strong_count() == 0 {
                return;
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        let outcome = match inner.pool.get().await {
            Err(e) => Err(e.to_string()),
            Ok(c) => c
                .execute(
                    "UPDATE deliveries SET lease_until = $2 WHERE state = 'in_progress' AND claimed_by = $1",
                    &[&inner.holder, &(now_ms() + inner.lease_ms)],
                )
                .await
                .map_err(|e| e.to_string()),
        };
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
