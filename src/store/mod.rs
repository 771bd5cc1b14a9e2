//! What smeflow remembers between runs, on SQLite (one file, one machine, the default) or
//! PostgreSQL (shared by several `serve` replicas). Callers see one type, [`Store`]; inside,
//! the store is cut by job, and each job's room holds its types, the `Store` methods callers
//! use, and the SQL of both backends side by side — so a change to what a job remembers is
//! written, and reviewed, for both backends in one file:
//!
//! | room          | what it remembers                                                        |
//! |---------------|--------------------------------------------------------------------------|
//! | [`queue`]     | webhook deliveries: insert, claim, mark, retry, list, counts, readiness |
//! | [`memory`]    | per issue: overrides, labels smeflow added, notes it wrote; theme links  |
//! | [`snapshot`]  | the last sync of an area: its issues and when it started (`last_sync`)   |
//! | [`audit`]     | the audit log of changes applied to GitLab                               |
//! | [`lease`]     | named leases (an area while a run writes to it; once-only claims)        |
//! | [`slack`]     | Slack events (intake, deduplicated) and request messages' issues         |
//! | [`crm`]       | what `smeflow import` read: opportunities, stage changes, NPS, Stack Overflow |
//!
//! The queue is a folder (`queue/{mod,sqlite,postgres}.rs`): its backends differ in how they
//! work (a group-commit writer thread and one owner per file, against replicas claiming under
//! expiring leases), not only in dialect, and each side is long enough to read on its own.
//!
//! The store is told what to remember (`reconcile::apply::record` decides what a write means);
//! it never reads a `plan::Change`. The machinery under the rooms: `backend.rs` (the `Store`
//! enum and opening), `sqlite.rs` and `postgres.rs` (connections, and what each backend runs
//! in the background), [`tls`] (PostgreSQL's `sslmode` and `sslrootcert`, read as libpq reads
//! them), [`schema`] (the versioned DDL of both dialects) and [`migrate`] (`store migrate`,
//! SQLite → PostgreSQL).
//!
//! A new thing to remember: a table in a new [`schema`] version (both dialects), a room (or a
//! section of one) with the methods on both backends and on `Store`, a copy in [`migrate`], and
//! a case in `tests/store_suite.rs`, which runs on both backends.

/// Forwards a `Store` call to whichever backend it is, awaited. PostgreSQL's methods are async
/// themselves; SQLite's are plain functions, run on a blocking thread by
/// `sqlite::off_runtime` (the one place the store leaves the runtime), so callers never wait
/// on the file from a runtime thread. The borrowed arguments named in brackets are copied for
/// that thread (it may outlive the caller's borrow); the rest are `Copy`. Defined before the
/// rooms so each room can use it for its own `Store` methods.
macro_rules! each {
    ($self:expr, $s:ident $([$($arg:ident),*])? => $body:expr) => {
        match $self {
            Store::Sqlite($s) => {
                let $s = $s.clone();
                $($(let $arg = ::std::borrow::ToOwned::to_owned($arg);)*)?
                $crate::store::sqlite::off_runtime(move || {
                    $($(let $arg = ::std::borrow::Borrow::borrow(&$arg);)*)?
                    $body
                })
                .await
            }
            Store::Postgres($s) => $body.await,
        }
    };
}

pub mod audit;
mod backend;
pub mod crm;
pub mod holder;
pub mod lease;
pub mod memory;
pub mod migrate;
pub mod postgres;
pub mod queue;
pub mod schema;
pub mod slack;
pub mod snapshot;
mod sqlite;
pub mod tls;

pub use backend::Store;
pub use memory::IssueMemory;
pub use queue::{Delivery, NewDelivery, State};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("database {url}: {message}")]
    Postgres { url: String, message: String },
    #[error("the store {store} has schema version {found}, newer than this smeflow understands (up to {supported}): a newer smeflow has migrated it — upgrade smeflow here too instead of running an older one against it")]
    NewerSchema {
        store: String,
        found: i64,
        supported: i64,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Milliseconds since the Unix epoch: compact, sortable, and timezone-free in SQL.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
