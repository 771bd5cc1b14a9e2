//! The SQLite backend's machinery: one file in WAL mode, a short-lived connection per call, the
//! intake writer thread (see `queue/sqlite.rs`) and a background checkpointer. What each job stores
//! lives in its own room; this file only opens, migrates and keeps the file healthy.

use super::queue::{self, FileWatch, InsertReply};
use super::{schema, NewDelivery, Result, StoreError};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Cheap to clone; the writer thread lives as long as any clone.
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) path: PathBuf,
    pub(super) writer: mpsc::SyncSender<(NewDelivery, InsertReply)>,
    pub(super) watch: std::sync::Arc<FileWatch>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store and starts its intake writer.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let mut conn = open_conn(path)?;
        migrate_sqlite(&mut conn, path)?;
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(|e| sql(path, e))?;
        let (tx, rx) = mpsc::sync_channel::<(NewDelivery, InsertReply)>(4096);
        let writer_path = path.to_path_buf();
        let watch = std::sync::Arc::new(FileWatch::new(path));
        let writer_watch = watch.clone();
        let alive = std::sync::Arc::new(());
        let writer_alive = std::sync::Arc::downgrade(&alive);
        std::thread::Builder::new()
            .name("smeflow-store-writer".into())
            .spawn(move || {
                let _alive = alive;
                queue::writer_loop(conn, &writer_path, rx, &writer_watch)
            })
            .expect("spawn store writer");
        let checkpoint_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("smeflow-store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_path, writer_alive))
            .expect("spawn store checkpointer");
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: tx,
            watch,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A short-lived connection for reads and worker updates (SQLite serialises writers; the
    /// busy timeout makes them wait their turn instead of failing).
    pub fn connect(&self) -> Result<Connection> {
        open_conn(&self.path)
    }

    /// Every row `query` returns on `c`, each read by `row`: the prepare, map and collect of the
    /// store's list reads, with their errors naming the store.
    pub(super) fn all_rows<T, C: FromIterator<T>>(
        &self,
        c: &Connection,
        query: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<C> {
        let mut stmt = c.prepare(query).map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(params, row)
            .map_err(|e| sql(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| sql(&self.path, e))
    }
}

/// Runs SQLite `work` on tokio's blocking threads and waits for it without holding a runtime
/// thread: every SQLite call of every room passes here (through `each!`). A panic in `work`
/// goes on in the caller, as if the call had been made in place.
pub(super) async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels a blocking task before it starts, and then
            // the caller's task is being dropped too.
            Err(e) => panic!("the store's blocking task was cancelled: {e}"),
        },
    }
}

pub(super) fn sql(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| sql(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| sql(path, e))?;
    // WAL lets readers work beside the writer. synchronous=FULL fsyncs every (group) commit
    // before smeflow answers 202, so not even a power cut loses an accepted delivery.
    // SMEFLOW_STORE_SYNC=normal skips the fsync: still safe against a killed process, about a
    // quarter more intake (see bench/README.md), but a power cut can lose the last commits.
    let sync = match std::env::var("SMEFLOW_STORE_SYNC").as_deref() {
        Ok("normal") => "NORMAL",
        _ => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync};"
    ))
    .map_err(|e| sql(path, e))?;
    Ok(conn)
}

/// Brings the file to the newest schema (a store from before versioning counts as version 0:
/// version 1 only creates what is missing), or refuses one a newer smeflow has migrated.
fn migrate_sqlite(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| sql(path, e))?;
    tx.execute_batch(schema::VERSION_TABLE)
        .map_err(|e| sql(path, e))?;
    let current: i64 = tx
        .query_row(schema::CURRENT_VERSION, [], |r| r.get(0))
        .map_err(|e| sql(path, e))?;
    for step in schema::pending(&path.display().to_string(), current)? {
        tx.execute_batch(step.sqlite).map_err(|e| sql(path, e))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            params![step.version],
        )
        .map_err(|e| sql(path, e))?;
    }
    tx.commit().map_err(|e| sql(path, e))
}

/// Copies the WAL back into the database in the background. The writer's own automatic
/// checkpoints would stall intake for tens of milliseconds; a passive checkpoint from here
/// never blocks it.
fn checkpoint_loop(path: PathBuf, writer_alive: std::sync::Weak<()>) {
    let Ok(conn) = open_conn(&path) else { return };
    while writer_alive.upgrade().is_some() {
        std::thread::sleep(Duration::from_millis(500));
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}
