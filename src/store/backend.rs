//! `Store`: the one store interface the service, the CLI and sync use, over two backends —
//! SQLite (one file, one machine, the default) and PostgreSQL (shared by several `serve`
//! replicas). An enum rather than a trait object: there are exactly two backends, `snapshot`
//! is generic (a trait with it would not be object-safe), and a `match` keeps each call a plain
//! static call with no boxing.

use super::postgres::PgStore;
use super::queue::{LeaseHeld, NotReady, QueueStats};
use super::{Delivery, IssueMemory, NewDelivery, Result, SqliteStore, State};
use std::path::Path;

/// Cheap to clone.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Store::Sqlite($s) => $body,
            Store::Postgres($s) => $body,
        }
    };
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        SqliteStore::open(path).map(Store::Sqlite)
    }

    /// Connects to the PostgreSQL store at `url` (`postgres://user@host/db`), migrating its
    /// schema if needed.
    pub fn open_postgres(url: &str) -> Result<Store> {
        PgStore::open(url).map(Store::Postgres)
    }

    /// PostgreSQL when `database_url` is given, else the SQLite file at `path`.
    pub fn open_either(database_url: Option<&str>, path: &Path) -> Result<Store> {
        match database_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => Store::open_postgres(url),
            None => Store::open(path),
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

    pub async fn insert(&self, delivery: NewDelivery) -> Result<bool> {
        each!(self, s => s.insert(delivery).await)
    }
    pub fn writable(&self) -> bool {
        each!(self, s => s.writable())
    }
    pub fn recover(&self) -> Result<usize> {
        each!(self, s => s.recover())
    }
    pub fn claim(&self, now: i64) -> Result<Option<Delivery>> {
        each!(self, s => s.claim(now))
    }
    pub fn mark_done(&self, id: i64) -> Result<()> {
        each!(self, s => s.mark_done(id))
    }
    pub fn mark_failed(&self, id: i64, attempts: u32, max: u32, error: &str) -> Result<State> {
        each!(self, s => s.mark_failed(id, attempts, max, error))
    }
    pub fn mark_failed_after(
        &self,
        id: i64,
        attempts: u32,
        max: u32,
        error: &str,
        delay_ms: i64,
    ) -> Result<State> {
        each!(self, s => s.mark_failed_after(id, attempts, max, error, delay_ms))
    }
    pub fn defer(&self, id: i64, error: &str, delay_ms: i64) -> Result<()> {
        each!(self, s => s.defer(id, error, delay_ms))
    }
    pub fn release_in_progress(&self) -> Result<usize> {
        each!(self, s => s.release_in_progress())
    }
    pub fn retry(&self, id: Option<i64>) -> Result<usize> {
        each!(self, s => s.retry(id))
    }
    pub fn get(&self, id: i64) -> Result<Option<Delivery>> {
        each!(self, s => s.get(id))
    }
    pub fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Delivery>> {
        each!(self, s => s.list(state, limit))
    }
    pub fn counts(&self) -> Result<Vec<(String, i64)>> {
        each!(self, s => s.counts())
    }
    pub fn queue_stats(&self) -> Result<QueueStats> {
        each!(self, s => s.queue_stats())
    }
    pub fn readiness(&self) -> std::result::Result<(), NotReady> {
        each!(self, s => s.readiness())
    }
    pub fn audit(&self, source: &str, project: &str, change: &str) -> Result<()> {
        each!(self, s => s.audit(source, project, change))
    }
    pub fn audit_log(&self, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
        each!(self, s => s.audit_log(limit))
    }
    pub fn record_override(&self, project: &str, iid: u64, label: &str, by: &str) -> Result<()> {
        each!(self, s => s.record_override(project, iid, label, by))
    }
    pub fn record_auto_label(&self, project: &str, iid: u64, label: &str) -> Result<()> {
        each!(self, s => s.record_auto_label(project, iid, label))
    }
    pub fn auto_labels(&self, project: &str) -> Result<Vec<(u64, String)>> {
        each!(self, s => s.auto_labels(project))
    }
    pub fn record_note(&self, project: &str, iid: u64, marker: &str) -> Result<()> {
        each!(self, s => s.record_note(project, iid, marker))
    }
    pub fn issue_memory(&self, project: &str) -> Result<IssueMemory> {
        each!(self, s => s.issue_memory(project))
    }
    pub fn overrides(&self, project: &str, iid: u64) -> Result<Vec<String>> {
        each!(self, s => s.overrides(project, iid))
    }
    /// When the last sync of this project started (`None`: never synced). The worker reloads
    /// the theme classifier's examples from the snapshot when this moves.
    pub fn last_sync(&self, project: &str) -> Result<Option<i64>> {
        each!(self, s => s.last_sync(project))
    }
    pub fn snapshot<T: serde::de::DeserializeOwned>(
        &self,
        project: &str,
    ) -> Result<(Option<i64>, Vec<T>)> {
        each!(self, s => s.snapshot(project))
    }
    pub fn save_snapshot(
        &self,
        project: &str,
        issues: &[(u64, String)],
        full: bool,
        started_ms: i64,
    ) -> Result<()> {
        each!(self, s => s.save_snapshot(project, issues, full, started_ms))
    }
    pub fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<std::result::Result<(), LeaseHeld>> {
        each!(self, s => s.acquire_lease(name, holder, ttl_ms))
    }
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        each!(self, s => s.release_lease(name, holder))
    }

    /// Claims a one-off piece of work named `name` (e.g. one area's sync at one schedule tick)
    /// for the first caller across every process sharing the store; later callers get `false`.
    /// Claims are forgotten after `keep_ms`.
    pub fn claim_once(&self, name: &str, holder: &str, keep_ms: i64) -> Result<bool> {
        Ok(self.acquire_lease(name, holder, keep_ms)?.is_ok())
    }

    /// Records an applied change: the audit log, and what later decisions need to know (themes
    /// smeflow guessed, notes it wrote). Failures are logged, never fatal: GitLab already has
    /// the change.
    pub fn remember_applied(&self, source: &str, project: &str, change: &crate::plan::Change) {
        use crate::plan::Change;
        let line = change.to_string();
        let mut outcome = self.audit(source, project, line.lines().next().unwrap_or_default());
        match change {
            Change::EditIssueLabels { iid, add, .. } => {
                for theme in add
                    .iter()
                    .filter(|l| crate::config::label_scope(l) == Some("Theme"))
                {
                    outcome = outcome.and(self.record_auto_label(project, *iid, theme));
                }
            }
            Change::AddNote { iid, body, .. } => {
                if let Some(marker) = body
                    .lines()
                    .next()
                    .filter(|l| l.starts_with("<!-- smeflow:"))
                {
                    outcome = outcome.and(self.record_note(project, *iid, marker));
                }
            }
            _ => {}
        }
        if let Err(e) = outcome {
            tracing::error!(error = %e, "cannot record an applied change in the store");
        }
    }
}

// TEMPORARY until the store10 branch lands: membership memory stand-ins.
impl Store {
    pub fn theme_link_ids(
        &self,
        _project: &str,
        _container_iid: u64,
    ) -> Result<std::collections::HashMap<u64, u64>> {
        Ok(Default::default())
    }
    pub fn record_theme_links(
        &self,
        _project: &str,
        _container_iid: u64,
        _links: &[(u64, u64)],
    ) -> Result<()> {
        Ok(())
    }
    pub fn forget_theme_link(
        &self,
        _project: &str,
        _container_iid: u64,
        _issue_iid: u64,
    ) -> Result<()> {
        Ok(())
    }
}
