//! The delivery queue on SQLite: one `serve` owns the file (an OS lock), intake writes go
//! through one writer thread that commits many deliveries per transaction (group commit: each
//! HTTP request still waits for *its* commit before answering 202, but the cost of a commit is
//! shared by everything that arrived meanwhile), and a file deleted or replaced under the
//! running process is noticed before it takes deliveries no restart would see.

use super::{Delivery, NewDelivery, NotReady, QueueStats, State, COLUMNS};
use crate::store::sqlite::sql;
use crate::store::{now_ms, Result, SqliteStore, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The store file as it was when opened (device and inode), so a file deleted or replaced
/// under the running process is noticed instead of taking deliveries no restart will see.
#[derive(Debug, Default)]
pub struct FileWatch {
    identity: Option<(u64, u64)>,
    /// The writer's last group commit failed (full disk, I/O error): not ready until one works.
    last_commit_failed: AtomicBool,
}

impl FileWatch {
    pub(in crate::store) fn new(path: &Path) -> FileWatch {
        FileWatch {
            identity: identity(path),
            last_commit_failed: AtomicBool::new(false),
        }
    }

    /// Is the file at the path still the one this process opened?
    pub(in crate::store) fn same_file(&self, path: &Path) -> bool {
        match (self.identity, identity(path)) {
            (Some(opened), Some(now)) => opened == now,
            // Platforms without inode numbers cannot tell; do not refuse work for it.
            (None, _) => cfg!(not(unix)),
            (Some(_), None) => false,
        }
    }

    pub(in crate::store) fn commit_outcome(&self, ok: bool) {
        self.last_commit_failed.store(!ok, Ordering::Relaxed);
    }
}

#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Held by the one `serve` that owns a store file; dropping it (or the process dying) lets the
/// next one in.
#[derive(Debug)]
pub struct OwnerLock {
    _file: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("another smeflow serve already uses the store {0}: stop it first, or give this one its own --state file")]
    Taken(String),
    #[error("cannot open the store {path} to lock it: {source} (check that the directory exists and is writable)")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Takes the store file for this process alone. An OS lock suits a SQLite file, which only one
/// machine can safely use anyway; the kernel drops it when the process dies, so a kill -9 never
/// leaves a stale owner behind.
pub fn lock_owner(path: &Path) -> std::result::Result<OwnerLock, OwnerError> {
    let io = |source| OwnerError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    // flock(2) on Linux: independent of the fcntl locks SQLite itself takes on the same file.
    match file.try_lock() {
        Ok(()) => Ok(OwnerLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(OwnerError::Taken(path.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

pub(in crate::store) type InsertReply = oneshot::Sender<Result<bool>>;

impl SqliteStore {
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
        self.all_rows(
            &self.connect()?,
            &format!(
                "SELECT {COLUMNS} FROM deliveries WHERE (?1 IS NULL OR state = ?1) ORDER BY id DESC LIMIT ?2"
            ),
            params![
                state.map(State::as_str),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            row_to_delivery,
        )
    }

    /// Counts per state, for `/metrics`.
    pub fn counts(&self) -> Result<Vec<(String, i64)>> {
        self.all_rows(
            &self.connect()?,
            "SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Whether a delivery stored now would be in the file a restart reads, with a real write.
    pub fn readiness(&self) -> std::result::Result<(), NotReady> {
        if !self.watch.same_file(&self.path) {
            return Err(NotReady::FileReplaced);
        }
        if self.watch.last_commit_failed.load(Ordering::Relaxed) {
            // A successful probe write clears it: the disk has room again.
            self.probe_write().map_err(NotReady::WriteFailed)?;
            self.watch.commit_outcome(true);
            return Ok(());
        }
        self.probe_write().map_err(NotReady::WriteFailed)
    }

    fn probe_write(&self) -> std::result::Result<(), String> {
        let c = self.connect().map_err(|e| e.to_string())?;
        // 64 KiB: more than any delivery GitLab sends, so if this fits, a delivery does.
        c.execute(
            "INSERT OR REPLACE INTO probe (id, at, pad) VALUES (1, ?1, zeroblob(65536))",
            params![now_ms()],
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// A failure that is not the delivery's fault (GitLab down, rate-limited, the store busy):
    /// tried again after `delay_ms`, and the attempt does not count toward dead.
    pub fn defer(&self, id: i64, error: &str, delay_ms: i64) -> Result<()> {
        let c = self.connect()?;
        let now = now_ms();
        c.execute(
            "UPDATE deliveries SET state = 'failed', attempts = MAX(attempts - 1, 0), last_error = ?2,
                 next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, error, now + delay_ms, now],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    /// Like `mark_failed`, with the delay chosen by the caller (the worker's backoff policy).
    pub fn mark_failed_after(
        &self,
        id: i64,
        attempts: u32,
        max_attempts: u32,
        error: &str,
        delay_ms: i64,
    ) -> Result<super::State> {
        let state = if attempts >= max_attempts {
            super::State::Dead
        } else {
            super::State::Failed
        };
        self.set_state(id, state, Some(error), now_ms() + delay_ms)?;
        Ok(state)
    }

    /// Puts deliveries this process left in progress back in the queue (at shutdown, after
    /// the drain deadline). Only the owner calls it, so every in-progress row is its own.
    pub fn release_in_progress(&self) -> Result<usize> {
        self.recover()
    }

    pub fn queue_stats(&self) -> Result<QueueStats> {
        let c = self.connect()?;
        c.query_row(
            "SELECT COUNT(*), MIN(received_at) FROM deliveries
             WHERE state IN ('pending', 'failed', 'in_progress')",
            [],
            |r| {
                Ok(QueueStats {
                    backlog: r.get(0)?,
                    oldest_received_at: r.get(1)?,
                })
            },
        )
        .map_err(|e| sql(&self.path, e))
    }
}

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

/// Takes everything queued, inserts it in one transaction, commits, then answers each sender.
pub(in crate::store) fn writer_loop(
    mut conn: Connection,
    path: &Path,
    rx: mpsc::Receiver<(NewDelivery, InsertReply)>,
    watch: &FileWatch,
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
                    NotReady::FileReplaced.to_string(),
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
    use crate::store::{now_ms, NewDelivery, State, Store};

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
    async fn in_progress_work_is_recovered_and_failures_end_dead() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.insert(delivery("a", 1)).await.unwrap();
        let d = store.claim(now_ms()).await.unwrap().unwrap();
        assert_eq!(store.recover().await.unwrap(), 1);
        let d2 = store.claim(now_ms()).await.unwrap().unwrap();
        assert_eq!(d2.id, d.id);
        assert_eq!(d2.attempts, 2);
        assert_eq!(
            store.mark_failed(d2.id, 2, 3, "500").await.unwrap(),
            State::Failed
        );
        assert!(
            store.claim(now_ms()).await.unwrap().is_none(),
            "backoff delays the retry"
        );
        assert_eq!(
            store.mark_failed(d2.id, 3, 3, "500").await.unwrap(),
            State::Dead
        );
        assert_eq!(store.retry(None).await.unwrap(), 1);
        assert!(store.claim(now_ms()).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_retrying_delivery_does_not_hold_up_fresh_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.insert(delivery("old", 1)).await.unwrap();
        let old = store.claim(now_ms()).await.unwrap().unwrap();
        store
            .mark_failed_after(old.id, old.attempts, 5, "500", 1_000)
            .await
            .unwrap();
        store.insert(delivery("fresh", 2)).await.unwrap();
        // Both are due by now; the fresh one has been waiting longer than the retry's due time.
        let next = store.claim(now_ms() + 5_000).await.unwrap().unwrap();
        assert_eq!(next.dedupe_key, "fresh");
    }

    #[test]
    fn a_second_owner_is_refused_and_the_first_ones_exit_frees_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let first = lock_owner(&path).unwrap();
        let err = lock_owner(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("another smeflow serve already uses"),
            "{err}"
        );
        drop(first);
        lock_owner(&path).unwrap();
    }

    #[tokio::test]
    async fn a_deleted_store_file_is_not_ready_and_refuses_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.readiness().await, Ok(()));
        store.insert(delivery("before", 1)).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(store.readiness().await, Err(NotReady::FileReplaced));
        assert!(
            store.insert(delivery("after", 2)).await.is_err(),
            "a delivery no restart would see must not be acknowledged"
        );
    }
}
