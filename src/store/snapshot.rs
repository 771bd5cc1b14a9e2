//! The sync snapshot: the issues an area's last sync read and when it started (`last_sync`),
//! so the next sync asks GitLab only for issues updated since, and the worker can reload the
//! theme classifier's examples when a sync has moved on.

use super::postgres::PgStore;
use super::sqlite::sql;
use super::{Result, SqliteStore, Store};
use rusqlite::{params, OptionalExtension};

impl Store {
    /// When the last sync of this project started (`None`: never synced). The worker reloads
    /// the theme classifier's examples from the snapshot when this moves.
    pub async fn last_sync(&self, project: &str) -> Result<Option<i64>> {
        each!(self, s [project] => s.last_sync(project))
    }
    pub async fn snapshot<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        project: &str,
    ) -> Result<(Option<i64>, Vec<T>)> {
        each!(self, s [project] => s.snapshot(project))
    }
    pub async fn save_snapshot(
        &self,
        project: &str,
        issues: &[(u64, String)],
        full: bool,
        started_ms: i64,
    ) -> Result<()> {
        each!(self, s [project, issues] => s.save_snapshot(project, issues, full, started_ms))
    }
}

impl SqliteStore {
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
}

impl PgStore {
    pub async fn last_sync(&self, project: &str) -> Result<Option<i64>> {
        self.run(|c| async move {
            Ok(c.query_opt(
                "SELECT last_sync FROM sync_state WHERE project = $1",
                &[&project],
            )
            .await?
            .map(|r| r.get(0)))
        })
        .await
    }

    pub async fn snapshot<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        project: &str,
    ) -> Result<(Option<i64>, Vec<T>)> {
        let (last, texts) = self
            .run(|c| async move {
                let last: Option<i64> = c
                    .query_opt(
                        "SELECT last_sync FROM sync_state WHERE project = $1",
                        &[&project],
                    )
                    .await?
                    .map(|r| r.get(0));
                let rows = c
                    .query(
                        "SELECT issue FROM issue_snapshot WHERE project = $1 ORDER BY issue_iid",
                        &[&project],
                    )
                    .await?;
                Ok((
                    last,
                    rows.iter()
                        .map(|r| r.get::<_, String>(0))
                        .collect::<Vec<_>>(),
                ))
            })
            .await?;
        // A row that no longer parses is skipped: the next full pass reads that issue again.
        let issues = texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect();
        Ok((last, issues))
    }

    pub async fn save_snapshot(
        &self,
        project: &str,
        issues: &[(u64, String)],
        full: bool,
        started_ms: i64,
    ) -> Result<()> {
        self.run(|mut c| async move {
            let tx = c.transaction().await?;
            if full {
                tx.execute("DELETE FROM issue_snapshot WHERE project = $1", &[&project])
                    .await?;
            }
            let stmt = tx
                .prepare(
                    "INSERT INTO issue_snapshot (project, issue_iid, issue) VALUES ($1, $2, $3)
                 ON CONFLICT (project, issue_iid) DO UPDATE SET issue = excluded.issue",
                )
                .await?;
            for (iid, json) in issues {
                tx.execute(&stmt, &[&project, &(*iid as i64), json]).await?;
            }
            tx.execute(
                "INSERT INTO sync_state (project, last_sync) VALUES ($1, $2)
                 ON CONFLICT (project) DO UPDATE SET last_sync = excluded.last_sync",
                &[&project, &started_ms],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
