//! The durable store (SQLite, one file, WAL): webhook deliveries and their state, the audit log
//! of applied changes, and human overrides.
//!
//! Intake writes go through one writer thread that commits many deliveries per transaction
//! (group commit): each HTTP request still waits for *its* commit before answering 202, but the
//! cost of a commit is shared by everything that arrived meanwhile.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

mod backend;
pub mod lease;
pub mod migrate;
pub mod postgres;
pub mod queue;
pub mod schema;

pub use backend::Store;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS deliveries (
    id              INTEGER PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    project_path    TEXT,
    issue_iid       INTEGER,
    body            BLOB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    received_at     INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (state, next_attempt_at);
-- The claim reads the next due delivery straight off this index instead of sorting the backlog
-- (which it did while holding the write lock).
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at, id)
    WHERE state IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS deliveries_busy ON deliveries (project_path, issue_iid)
    WHERE state = 'in_progress';
-- Named leases (e.g. `area:<project>`): who holds them and until when. In the store rather than
-- in OS file locks so they hold across machines once the store is shared.
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
-- One row, written by the readiness probe: a write at least as large as a delivery, which
-- fails when the disk has no room for one.
CREATE TABLE IF NOT EXISTS probe (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    at          INTEGER NOT NULL,
    pad         BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    source      TEXT NOT NULL,
    project     TEXT NOT NULL,
    change      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auto_labels (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    label       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (project, issue_iid, label)
);
CREATE TABLE IF NOT EXISTS issue_snapshot (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    issue       TEXT NOT NULL,
    PRIMARY KEY (project, issue_iid)
);
CREATE TABLE IF NOT EXISTS sync_state (
    project     TEXT PRIMARY KEY,
    last_sync   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notes_written (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    marker      TEXT NOT NULL,
    PRIMARY KEY (project, issue_iid, marker)
);
CREATE TABLE IF NOT EXISTS overrides (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    label       TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (project, issue_iid, label)
);
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    InProgress,
    Done,
    /// Failed at least once; retried at `next_attempt_at`.
    Failed,
    /// Gave up after the maximum number of attempts; `deliveries retry` revives it.
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::InProgress => "in_progress",
            State::Done => "done",
            State::Failed => "failed",
            State::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "pending" => State::Pending,
            "in_progress" => State::InProgress,
            "done" => State::Done,
            "failed" => State::Failed,
            "dead" => State::Dead,
            _ => return None,
        })
    }
}

/// A delivery as the intake hands it over.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub dedupe_key: String,
    pub event: String,
    pub project_path: Option<String>,
    pub issue_iid: Option<u64>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub dedupe_key: String,
    pub event: String,
    pub project_path: Option<String>,
    pub issue_iid: Option<u64>,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub state: State,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub received_at: i64,
    pub next_attempt_at: i64,
    pub updated_at: i64,
}

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

type InsertReply = oneshot::Sender<Result<bool>>;

/// Cheap to clone; the writer thread lives as long as any clone.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: mpsc::SyncSender<(NewDelivery, InsertReply)>,
    watch: std::sync::Arc<queue::FileWatch>,
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
        let watch = std::sync::Arc::new(queue::FileWatch::new(path));
        let writer_watch = watch.clone();
        let alive = std::sync::Arc::new(());
        let writer_alive = std::sync::Arc::downgrade(&alive);
        std::thread::Builder::new()
            .name("smeflow-store-writer".into())
            .spawn(move || {
                let _alive = alive;
                writer_loop(conn, &writer_path, rx, &writer_watch)
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

    /// Durably stores a delivery. `Ok(true)` when new, `Ok(false)` for a duplicate (same key).
    /// Returns only after the transaction holding it has committed.
    pub async fn insert(&self, delivery: NewDelivery) -> Result<bool> {
        let (tx, rx) = oneshot::channel();
        let writer = self.writer.clone();
        // `send` blocks only when 4096 deliveries are already queued: back-pressure, not loss.
        match writer.try_send((delivery, tx)) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(item)) => {
                tokio::task::spawn_blocking(move || writer.send(item))
                    .await
                    .map_err(|_| StoreError::WriterGone)?
                    .map_err(|_| StoreError::WriterGone)?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(StoreError::WriterGone),
        }
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Can the store take a write right now? For `/readyz`.
    pub fn writable(&self) -> bool {
        self.connect()
            .and_then(|c| {
                c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
                    .map_err(|e| sql(&self.path, e))
            })
            .is_ok()
    }

    /// At start-up: deliveries a killed process left in progress are taken up again.
    pub fn recover(&self) -> Result<usize> {
        let c = self.connect()?;
        c.execute(
            "UPDATE deliveries SET state = 'pending', updated_at = ?1 WHERE state = 'in_progress'",
            params![now_ms()],
        )
        .map_err(|e| sql(&self.path, e))
    }

    /// Claims the delivery due first whose issue no other worker is processing.
    pub fn claim(&self, now: i64) -> Result<Option<Delivery>> {
        let mut c = self.connect()?;
        let tx = c
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sql(&self.path, e))?;
        let found: Option<Delivery> = tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM deliveries d
                     WHERE state IN ('pending', 'failed') AND next_attempt_at <= ?1
                       AND NOT EXISTS (
                         SELECT 1 FROM deliveries o
                         WHERE o.state = 'in_progress' AND o.project_path IS d.project_path
                           AND o.issue_iid IS d.issue_iid AND d.issue_iid IS NOT NULL)
                     ORDER BY next_attempt_at, id LIMIT 1"
                ),
                params![now],
                row_to_delivery,
            )
            .optional()
            .map_err(|e| sql(&self.path, e))?;
        if let Some(d) = &found {
            tx.execute(
                "UPDATE deliveries SET state = 'in_progress', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
                params![d.id, now],
            )
            .map_err(|e| sql(&self.path, e))?;
        }
        tx.commit().map_err(|e| sql(&self.path, e))?;
        Ok(found.map(|mut d| {
            d.attempts += 1;
            d.state = State::InProgress;
            d
        }))
    }

    pub fn mark_done(&self, id: i64) -> Result<()> {
        self.set_state(id, State::Done, None, now_ms())
    }

    /// Records a failure: retried later with backoff, or dead after `max_attempts`.
    pub fn mark_failed(
        &self,
        id: i64,
        attempts: u32,
        max_attempts: u32,
        error: &str,
    ) -> Result<State> {
        let state = if attempts >= max_attempts {
            State::Dead
        } else {
            State::Failed
        };
        // 2s, 4s, 8s … capped at 10 minutes.
        let delay_ms = 1000i64 * (1i64 << attempts.min(9)).min(600);
        self.set_state(id, state, Some(error), now_ms() + delay_ms)?;
        Ok(state)
    }

    fn set_state(
        &self,
        id: i64,
        state: State,
        error: Option<&str>,
        next_attempt_at: i64,
    ) -> Result<()> {
        let c = self.connect()?;
        c.execute(
            "UPDATE deliveries SET state = ?2, last_error = COALESCE(?3, last_error), next_attempt_at = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, state.as_str(), error, next_attempt_at, now_ms()],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    /// Puts failed or dead deliveries back in the queue, now. Returns how many.
    pub fn retry(&self, id: Option<i64>) -> Result<usize> {
        let c = self.connect()?;
        let now = now_ms();
        match id {
            Some(id) => c.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1 AND state IN ('failed', 'dead', 'done')",
                params![id, now],
            ),
            None => c.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?1, updated_at = ?1 WHERE state IN ('failed', 'dead')",
                params![now],
            ),
        }
        .map_err(|e| sql(&self.path, e))
    }

    pub fn get(&self, id: i64) -> Result<Option<Delivery>> {
        let c = self.connect()?;
        c.query_row(
            &format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?1"),
            params![id],
            row_to_delivery,
        )
        .optional()
        .map_err(|e| sql(&self.path, e))
    }

    /// Newest first; `state` filters.
    pub fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Delivery>> {
        let c = self.connect()?;
        let mut stmt = c
            .prepare(&format!(
                "SELECT {COLUMNS} FROM deliveries WHERE (?1 IS NULL OR state = ?1) ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(
                params![state.map(State::as_str), limit as i64],
                row_to_delivery,
            )
            .map_err(|e| sql(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| sql(&self.path, e))
    }

    /// Counts per state, for `/metrics`.
    pub fn counts(&self) -> Result<Vec<(String, i64)>> {
        let c = self.connect()?;
        let mut stmt = c
            .prepare("SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state")
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| sql(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| sql(&self.path, e))
    }

    pub fn audit(&self, source: &str, project: &str, change: &str) -> Result<()> {
        let c = self.connect()?;
        c.execute(
            "INSERT INTO audit (at, source, project, change) VALUES (?1, ?2, ?3, ?4)",
            params![now_ms(), source, project, change],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
        let c = self.connect()?;
        let mut stmt = c
            .prepare("SELECT at, source, project, change FROM audit ORDER BY id DESC LIMIT ?1")
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| sql(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| sql(&self.path, e))
    }

    /// A person removed a label smeflow manages: never add it to this issue again.
    pub fn record_override(
        &self,
        project: &str,
        iid: u64,
        label: &str,
        by_user: &str,
    ) -> Result<()> {
        let c = self.connect()?;
        c.execute(
            "INSERT OR IGNORE INTO overrides (project, issue_iid, label, by_user, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![project, iid as i64, label, by_user, now_ms()],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    /// smeflow itself added this label: the tagger must not learn from its own guesses.
    pub fn record_auto_label(&self, project: &str, iid: u64, label: &str) -> Result<()> {
        let c = self.connect()?;
        c.execute(
            "INSERT OR IGNORE INTO auto_labels (project, issue_iid, label, at) VALUES (?1, ?2, ?3, ?4)",
            params![project, iid as i64, label, now_ms()],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    /// (issue iid, label) pairs smeflow added in a project.
    pub fn auto_labels(&self, project: &str) -> Result<Vec<(u64, String)>> {
        self.issue_rows(&self.connect()?, AUTO_LABELS_OF_PROJECT, project)
    }

    /// The (issue iid, text) rows of `query`, whose one parameter is the project.
    fn issue_rows(&self, c: &Connection, query: &str, project: &str) -> Result<Vec<(u64, String)>> {
        let mut stmt = c.prepare(query).map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(params![project], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .map_err(|e| sql(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| sql(&self.path, e))
    }

    /// When the last sync of this project started (`None`: never synced). The worker reloads
    /// the theme classifier's examples from the snapshot when this moves.
    pub fn last_sync(&self, project: &str) -> Result<Option<i64>> {
        let c = self.connect()?;
        c.query_row(
            "SELECT last_sync FROM sync_state WHERE project = ?1",
            params![project],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| sql(&self.path, e))
    }

    /// The last sync's start and the issues it kept, parsed row by row (a row that no longer
    /// parses is skipped: the next full pass reads that issue again).
    pub fn snapshot<T: serde::de::DeserializeOwned>(
        &self,
        project: &str,
    ) -> Result<(Option<i64>, Vec<T>)> {
        let c = self.connect()?;
        let last: Option<i64> = c
            .query_row(
                "SELECT last_sync FROM sync_state WHERE project = ?1",
                params![project],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql(&self.path, e))?;
        let mut stmt = c
            .prepare("SELECT issue FROM issue_snapshot WHERE project = ?1 ORDER BY issue_iid")
            .map_err(|e| sql(&self.path, e))?;
        let mut rows = stmt
            .query(params![project])
            .map_err(|e| sql(&self.path, e))?;
        let mut issues = Vec::new();
        while let Some(row) = rows.next().map_err(|e| sql(&self.path, e))? {
            let text: String = row.get(0).map_err(|e| sql(&self.path, e))?;
            if let Ok(issue) = serde_json::from_str(&text) {
                issues.push(issue);
            }
        }
        Ok((last, issues))
    }

    /// Records a sync: the issues it read (all of them when `full`) and when it started.
    pub fn save_snapshot(
        &self,
        project: &str,
        issues: &[(u64, String)],
        full: bool,
        started_ms: i64,
    ) -> Result<()> {
        let mut c = self.connect()?;
        let tx = c.transaction().map_err(|e| sql(&self.path, e))?;
        if full {
            tx.execute(
                "DELETE FROM issue_snapshot WHERE project = ?1",
                params![project],
            )
            .map_err(|e| sql(&self.path, e))?;
        }
        {
            let mut stmt = tx
                .prepare("INSERT OR REPLACE INTO issue_snapshot (project, issue_iid, issue) VALUES (?1, ?2, ?3)")
                .map_err(|e| sql(&self.path, e))?;
            for (iid, json) in issues {
                stmt.execute(params![project, *iid as i64, json])
                    .map_err(|e| sql(&self.path, e))?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO sync_state (project, last_sync) VALUES (?1, ?2)",
            params![project, started_ms],
        )
        .map_err(|e| sql(&self.path, e))?;
        tx.commit().map_err(|e| sql(&self.path, e))
    }

    /// smeflow wrote a note carrying this marker (so a sync need not read the issue's notes).
    pub fn record_note(&self, project: &str, iid: u64, marker: &str) -> Result<()> {
        let c = self.connect()?;
        c.execute(
            "INSERT OR IGNORE INTO notes_written (project, issue_iid, marker) VALUES (?1, ?2, ?3)",
            params![project, iid as i64, marker],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    /// Markers of notes written, and overrides, for every issue of a project.
    pub fn issue_memory(&self, project: &str) -> Result<IssueMemory> {
        let c = self.connect()?;
        let by_issue = |rows: Vec<(u64, String)>| {
            let mut map = std::collections::HashMap::<u64, Vec<String>>::new();
            for (iid, text) in rows {
                map.entry(iid).or_default().push(text);
            }
            map
        };
        let rows = |query| self.issue_rows(&c, query, project);
        Ok(IssueMemory {
            notes: by_issue(rows(
                "SELECT issue_iid, marker FROM notes_written WHERE project = ?1",
            )?),
            overrides: by_issue(rows(
                "SELECT issue_iid, label FROM overrides WHERE project = ?1",
            )?),
            auto_labels: rows(AUTO_LABELS_OF_PROJECT)?.into_iter().collect(),
        })
    }

    pub fn overrides(&self, project: &str, iid: u64) -> Result<Vec<String>> {
        let c = self.connect()?;
        let mut stmt = c
            .prepare(
                "SELECT label FROM overrides WHERE project = ?1 AND issue_iid = ?2 ORDER BY label",
            )
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(params![project, iid as i64], |r| r.get(0))
            .map_err(|e| sql(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| sql(&self.path, e))
    }
}

const AUTO_LABELS_OF_PROJECT: &str = "SELECT issue_iid, label FROM auto_labels WHERE project = ?1";

/// What the store remembers about a project's issues, loaded at once for a sync.
#[derive(Debug, Default)]
pub struct IssueMemory {
    pub notes: std::collections::HashMap<u64, Vec<String>>,
    pub overrides: std::collections::HashMap<u64, Vec<String>>,
    pub auto_labels: std::collections::HashSet<(u64, String)>,
}

const COLUMNS: &str = "id, dedupe_key, event, project_path, issue_iid, body, state, attempts, last_error, received_at, next_attempt_at, updated_at";

fn row_to_delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = r.get(6)?;
    Ok(Delivery {
        id: r.get(0)?,
        dedupe_key: r.get(1)?,
        event: r.get(2)?,
        project_path: r.get(3)?,
        issue_iid: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
        body: r.get(5)?,
        state: State::parse(&state).unwrap_or(State::Failed),
        attempts: r.get::<_, i64>(7)? as u32,
        last_error: r.get(8)?,
        received_at: r.get(9)?,
        next_attempt_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

fn sql(path: &Path, source: rusqlite::Error) -> StoreError {
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

/// Takes everything queued, inserts it in one transaction, commits, then answers each sender.
fn writer_loop(
    mut conn: Connection,
    path: &Path,
    rx: mpsc::Receiver<(NewDelivery, InsertReply)>,
    watch: &queue::FileWatch,
) {
    const MAX_BATCH: usize = 512;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let outcome = insert_batch(&mut conn, &batch).and_then(|inserted| {
            // Committed into a file that is no longer at the path: a restart would never see
            // these deliveries, so they must not be acknowledged.
            if watch.same_file(path) {
                Ok(inserted)
            } else {
                Err(rusqlite::Error::InvalidParameterName(
                    queue::NotReady::FileReplaced.to_string(),
                ))
            }
        });
        watch.commit_outcome(outcome.is_ok());
        match outcome {
            Ok(inserted) => {
                for ((_, reply), new) in batch.into_iter().zip(inserted) {
                    let _ = reply.send(Ok(new));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, "store commit failed");
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Sqlite {
                        path: path.display().to_string(),
                        source: rusqlite::Error::InvalidParameterName(msg.clone()),
                    }));
                }
            }
        }
    }
}

fn insert_batch(
    conn: &mut Connection,
    batch: &[(NewDelivery, InsertReply)],
) -> rusqlite::Result<Vec<bool>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(batch.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO deliveries (dedupe_key, event, project_path, issue_iid, body, state, received_at, next_attempt_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6, ?6)",
        )?;
        let now = now_ms();
        for (d, _) in batch {
            let n = stmt.execute(params![
                d.dedupe_key,
                d.event,
                d.project_path,
                d.issue_iid.map(|v| v as i64),
                d.body,
                now
            ])?;
            out.push(n == 1);
        }
    }
    tx.commit()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(key: &str, iid: u64) -> NewDelivery {
        NewDelivery {
            dedupe_key: key.into(),
            event: "Issue Hook".into(),
            project_path: Some("g/ai-sme".into()),
            issue_iid: Some(iid),
            body: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn duplicates_are_stored_once_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        assert!(store.insert(delivery("k1", 1)).await.unwrap());
        assert!(!store.insert(delivery("k1", 1)).await.unwrap());
        drop(store);
        let again = Store::open(&path).unwrap();
        assert_eq!(again.list(None, 10).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn one_issue_is_never_claimed_twice_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.insert(delivery("a", 1)).await.unwrap();
        store.insert(delivery("b", 1)).await.unwrap();
        store.insert(delivery("c", 2)).await.unwrap();
        let now = now_ms();
        let first = store.claim(now).unwrap().unwrap();
        let second = store.claim(now).unwrap().unwrap();
        assert_eq!(first.issue_iid, Some(1));
        assert_eq!(
            second.issue_iid,
            Some(2),
            "issue 1 is busy, so issue 2 goes next"
        );
        assert!(store.claim(now).unwrap().is_none());
        store.mark_done(first.id).unwrap();
        assert_eq!(store.claim(now).unwrap().unwrap().dedupe_key, "b");
    }

    #[test]
    fn smeflows_own_labels_and_human_overrides_are_remembered_per_issue() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .record_auto_label("g/p", 3, "Theme::Duo Chat")
            .unwrap();
        store
            .record_auto_label("g/p", 3, "Theme::Duo Chat")
            .unwrap();
        store
            .record_override("g/p", 3, "Theme::Duo Chat", "jdoe")
            .unwrap();
        assert_eq!(
            store.auto_labels("g/p").unwrap(),
            vec![(3, "Theme::Duo Chat".to_string())]
        );
        assert!(store.auto_labels("g/other").unwrap().is_empty());
        assert_eq!(
            store.overrides("g/p", 3).unwrap(),
            vec!["Theme::Duo Chat".to_string()]
        );
        assert!(store.overrides("g/p", 4).unwrap().is_empty());
    }

    #[tokio::test]
    async fn in_progress_work_is_recovered_and_failures_end_dead() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.insert(delivery("a", 1)).await.unwrap();
        let d = store.claim(now_ms()).unwrap().unwrap();
        assert_eq!(store.recover().unwrap(), 1);
        let d2 = store.claim(now_ms()).unwrap().unwrap();
        assert_eq!(d2.id, d.id);
        assert_eq!(d2.attempts, 2);
        assert_eq!(
            store.mark_failed(d2.id, 2, 3, "500").unwrap(),
            State::Failed
        );
        assert!(
            store.claim(now_ms()).unwrap().is_none(),
            "backoff delays the retry"
        );
        assert_eq!(store.mark_failed(d2.id, 3, 3, "500").unwrap(), State::Dead);
        assert_eq!(store.retry(None).unwrap(), 1);
        assert!(store.claim(now_ms()).unwrap().is_some());
    }
}
