//! The audit log: one line per change smeflow applied to GitLab, which run applied it (an
//! area's sync, or a webhook delivery) and in which project, newest first — the record to read
//! when someone asks why smeflow changed an issue.

use super::postgres::PgStore;
use super::sqlite::sql;
use super::{now_ms, Result, SqliteStore, Store};
use rusqlite::params;

impl Store {
    pub fn audit(&self, source: &str, project: &str, change: &str) -> Result<()> {
        each!(self, s => s.audit(source, project, change))
    }
    pub fn audit_log(&self, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
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

impl PgStore {
    pub fn audit(&self, source: &str, project: &str, change: &str) -> Result<()> {
        self.run(|c| {
            c.execute(
                "INSERT INTO audit (at, source, project, change) VALUES ($1, $2, $3, $4)",
                &[&now_ms(), &source, &project, &change],
            )?;
            Ok(())
        })
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
        self.run(|c| {
            let rows = c.query(
                "SELECT at, source, project, change FROM audit ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect())
        })
    }
}
