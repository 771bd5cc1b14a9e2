//! The audit log: one line per change smeflow applied to GitLab, which run applied it (an
//! area's sync, or a webhook delivery) and in which project, newest first — the record to read
//! when someone asks why smeflow changed an issue.

use super::postgres::PgStore;
use super::sqlite::sql;
use super::{now_ms, Result, SqliteStore, Store};
use rusqlite::params;

/// Which audit lines `smeflow log` asks for; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// The project's full path.
    pub project: Option<String>,
    pub issue_iid: Option<u64>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
    /// The newest this many.
    pub limit: usize,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// `sync:<area>` or `delivery:<id>`.
    pub source: String,
    pub project: String,
    pub change: String,
}

impl AuditQuery {
    /// The bounds as bind values (the SQL is one statement whatever is set), and the two
    /// shapes an issue takes in a change's line: `issue #5 labels ...`, `note on issue #5: ...`.
    fn binds(
        &self,
    ) -> (
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    ) {
        let issue = |end: &str| self.issue_iid.map(|i| format!("%issue #{i}{end}%"));
        (
            self.since_ms.unwrap_or(i64::MIN),
            self.until_ms.unwrap_or(i64::MAX),
            self.project.clone(),
            issue(" "),
            issue(":"),
            self.limit.min(i64::MAX as usize) as i64,
        )
    }
}

impl Store {
    /// The audit lines `query` selects, oldest first.
    pub async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut rows = each!(self, s [query] => s.audit_entries(query))?;
        rows.reverse();
        Ok(rows)
    }

    pub async fn audit(&self, source: &str, project: &str, change: &str) -> Result<()> {
        each!(self, s [source, project, change] => s.audit(source, project, change))
    }
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
        each!(self, s => s.audit_log(limit))
    }
}

impl SqliteStore {
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
        self.all_rows(
            &self.connect()?,
            "SELECT at, source, project, change FROM audit ORDER BY id DESC LIMIT ?1",
            params![limit as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    }
}

impl SqliteStore {
    fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let (since, until, project, issue_sp, issue_colon, limit) = query.binds();
        self.all_rows(
            &self.connect()?,
            "SELECT at, source, project, change FROM audit
             WHERE at >= ?1 AND at < ?2 AND (?3 IS NULL OR project = ?3)
               AND (?4 IS NULL OR change LIKE ?4 OR change LIKE ?5)
             ORDER BY id DESC LIMIT ?6",
            params![since, until, project, issue_sp, issue_colon, limit],
            |r| {
                Ok(AuditEntry {
                    at_ms: r.get(0)?,
                    source: r.get(1)?,
                    project: r.get(2)?,
                    change: r.get(3)?,
                })
            },
        )
    }
}

impl PgStore {
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let (since, until, project, issue_sp, issue_colon, limit) = query.binds();
        self.run(|c| async move {
            let rows = c
                .query(
                    "SELECT at, source, project, change FROM audit
                 WHERE at >= $1 AND at < $2 AND ($3::TEXT IS NULL OR project = $3)
                   AND ($4::TEXT IS NULL OR change LIKE $4 OR change LIKE $5)
                 ORDER BY id DESC LIMIT $6",
                    &[&since, &until, &project, &issue_sp, &issue_colon, &limit],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| AuditEntry {
                    at_ms: r.get(0),
                    source: r.get(1),
                    project: r.get(2),
                    change: r.get(3),
                })
                .collect())
        })
        .await
    }

    pub async fn audit(&self, source: &str, project: &str, change: &str) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "INSERT INTO audit (at, source, project, change) VALUES ($1, $2, $3, $4)",
                &[&now_ms(), &source, &project, &change],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn audit_log(&self, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
        self.run(|c| async move {
            let rows = c
                .query(
                    "SELECT at, source, project, change FROM audit ORDER BY id DESC LIMIT $1",
                    &[&(limit as i64)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect())
        })
        .await
    }
}
