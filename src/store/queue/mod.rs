//! The delivery queue: webhook deliveries as the intake stores them and the workers claim,
//! finish, fail, defer and retry them, with the figures `/metrics` and `/readyz` show, and what
//! keeps the queue honest when things go wrong: readiness that checks a real write, and retries
//! that do not count GitLab outages as the delivery's fault.
//!
//! The one job whose two backends work differently, not only in dialect, so its SQL is in two
//! files: `sqlite.rs` (one process owns the file; intake goes through a group-commit writer
//! thread) and `postgres.rs` (replicas claim side by side under leases that expire when a
//! replica dies).

mod postgres;
mod sqlite;

pub use sqlite::{lock_owner, OwnerError, OwnerLock};
pub(super) use sqlite::{writer_loop, FileWatch, InsertReply};

use super::{Result, Store};
use serde::Serialize;

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

/// The backlog as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Pending, failed (waiting for a retry) and in progress.
    pub backlog: i64,
    /// When the oldest of those arrived, if any.
    pub oldest_received_at: Option<i64>,
}

/// Why the store cannot take deliveries right now, for `/readyz` and the logs.
#[derive(Debug, PartialEq, Eq)]
pub enum NotReady {
    /// The file was deleted or replaced since start-up.
    FileReplaced,
    /// The last commit of deliveries failed.
    CommitFailing,
    /// A test write failed (disk full, read-only, locked for too long).
    WriteFailed(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::FileReplaced => f.write_str(
                "the store file was deleted or replaced under the running process; restart smeflow serve",
            ),
            NotReady::CommitFailing => f.write_str("the last commit of deliveries failed"),
            NotReady::WriteFailed(e) => write!(f, "a test write failed: {e}"),
        }
    }
}

/// The columns a `Delivery` is read from, in its fields' order, on both backends.
const COLUMNS: &str = "id, dedupe_key, event, project_path, issue_iid, body, state, attempts, last_error, received_at, next_attempt_at, updated_at";

impl Store {
    /// SQLite's intake is its writer thread, awaited without a blocking thread of its own.
    pub async fn insert(&self, delivery: NewDelivery) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.insert(delivery).await,
            Store::Postgres(s) => s.insert(&delivery).await,
        }
    }
    pub async fn writable(&self) -> bool {
        each!(self, s => s.writable())
    }
    pub async fn recover(&self) -> Result<usize> {
        each!(self, s => s.recover())
    }
    pub async fn claim(&self, now: i64) -> Result<Option<Delivery>> {
        each!(self, s => s.claim(now))
    }
    pub async fn mark_done(&self, id: i64) -> Result<()> {
        each!(self, s => s.mark_done(id))
    }
    pub async fn mark_failed(
        &self,
        id: i64,
        attempts: u32,
        max: u32,
        error: &str,
    ) -> Result<State> {
        each!(self, s [error] => s.mark_failed(id, attempts, max, error))
    }
    pub async fn mark_failed_after(
        &self,
        id: i64,
        attempts: u32,
        max: u32,
        error: &str,
        delay_ms: i64,
    ) -> Result<State> {
        each!(self, s [error] => s.mark_failed_after(id, attempts, max, error, delay_ms))
    }
    pub async fn defer(&self, id: i64, error: &str, delay_ms: i64) -> Result<()> {
        each!(self, s [error] => s.defer(id, error, delay_ms))
    }
    pub async fn release_in_progress(&self) -> Result<usize> {
        each!(self, s => s.release_in_progress())
    }
    pub async fn retry(&self, id: Option<i64>) -> Result<usize> {
        each!(self, s => s.retry(id))
    }
    pub async fn get(&self, id: i64) -> Result<Option<Delivery>> {
        each!(self, s => s.get(id))
    }
    pub async fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Delivery>> {
        each!(self, s => s.list(state, limit))
    }
    pub async fn counts(&self) -> Result<Vec<(String, i64)>> {
        each!(self, s => s.counts())
    }
    pub async fn queue_stats(&self) -> Result<QueueStats> {
        each!(self, s => s.queue_stats())
    }
    pub async fn readiness(&self) -> std::result::Result<(), NotReady> {
        each!(self, s => s.readiness())
    }
}
