//! `Store`: the one store interface the service, the CLI and sync use, over two backends —
//! SQLite (one file, one machine, the default) and PostgreSQL (shared by several `serve`
//! replicas). An enum rather than a trait object: there are exactly two backends, `snapshot`
//! is generic (a trait with it would not be object-safe), and a `match` keeps each call a plain
//! static call with no boxing.
//!
//! Here: opening a store and what is not one job's. Each job's methods sit in its own room
//! (`queue/`, `memory.rs`, `snapshot.rs`, `audit.rs`, `lease.rs`), forwarded with `each!`.

use super::postgres::PgStore;
use super::{Result, SqliteStore};
use std::path::Path;

/// Cheap to clone.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path`, on the calling thread: for code
    /// outside the runtime (tests, benchmarks); async code opens through `open_either`, which
    /// does this on a blocking thread.
    pub fn open(path: &Path) -> Result<Store> {
        SqliteStore::open(path).map(Store::Sqlite)
    }

    /// Connects to the PostgreSQL store at `url` (`postgres://user@host/db`), migrating its
    /// schema if needed.
    pub async fn open_postgres(url: &str) -> Result<Store> {
        PgStore::open(url).await.map(Store::Postgres)
    }

    /// PostgreSQL when `database_url` is given, else the SQLite file at `path`.
    pub async fn open_either(database_url: Option<&str>, path: &Path) -> Result<Store> {
        match database_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => Store::open_postgres(url).await,
            None => {
                let path = path.to_path_buf();
                super::sqlite::off_runtime(move || Store::open(&path)).await
            }
        }
    }

    /// Several processes may use this store at once (PostgreSQL): no owner lock, and work in
    /// progress belongs to whoever holds its claim, not to "the" process.
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// Where the store is, for logs (a database URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Store::Sqlite(s) => s.path().display().to_string(),
            Store::Postgres(p) => p.url().to_string(),
        }
    }
}
