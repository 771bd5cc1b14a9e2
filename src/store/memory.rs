//! What smeflow remembers about the issues of an area so later decisions need not ask GitLab
//! again: labels people removed (overrides: never add them back), theme labels smeflow added
//! (the tagger must not learn from its own guesses), the notes it wrote (a sync need not read
//! an issue's notes), and which issues belong to a theme's container (below).

use super::postgres::PgStore;
use super::sqlite::sql;
use super::{now_ms, Result, SqliteStore, Store};
use rusqlite::{params, Connection};
use std::collections::HashMap;

/// What the store remembers about a project's issues, loaded at once for a sync.
#[derive(Debug, Default)]
pub struct IssueMemory {
    pub notes: std::collections::HashMap<u64, Vec<String>>,
    pub overrides: std::collections::HashMap<u64, Vec<String>>,
    pub auto_labels: std::collections::HashSet<(u64, String)>,
}

impl Store {
    pub async fn record_override(
        &self,
        project: &str,
        iid: u64,
        label: &str,
        by: &str,
    ) -> Result<()> {
        each!(self, s [project, label, by] => s.record_override(project, iid, label, by))
    }
    pub async fn record_auto_label(&self, project: &str, iid: u64, label: &str) -> Result<()> {
        each!(self, s [project, label] => s.record_auto_label(project, iid, label))
    }
    pub async fn auto_labels(&self, project: &str) -> Result<Vec<(u64, String)>> {
        each!(self, s [project] => s.auto_labels(project))
    }
    pub async fn record_note(&self, project: &str, iid: u64, marker: &str) -> Result<()> {
        each!(self, s [project, marker] => s.record_note(project, iid, marker))
    }
    pub async fn issue_memory(&self, project: &str) -> Result<IssueMemory> {
        each!(self, s [project] => s.issue_memory(project))
    }
    pub async fn overrides(&self, project: &str, iid: u64) -> Result<Vec<String>> {
        each!(self, s [project] => s.overrides(project, iid))
    }
}

// ---- SQLite ----

impl SqliteStore {
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
        self.all_rows(c, query, params![project], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })
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
        self.all_rows(
            &self.connect()?,
            "SELECT label FROM overrides WHERE project = ?1 AND issue_iid = ?2 ORDER BY label",
            params![project, iid as i64],
            |r| r.get(0),
        )
    }
}

const AUTO_LABELS_OF_PROJECT: &str = "SELECT issue_iid, label FROM auto_labels WHERE project = ?1";

// ---- PostgreSQL ----

impl PgStore {
    pub async fn record_override(
        &self,
        project: &str,
        iid: u64,
        label: &str,
        by: &str,
    ) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "INSERT INTO overrides (project, issue_iid, label, by_user, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&project, &(iid as i64), &label, &by, &now_ms()],
            ).await?;
            Ok(())
        }).await
    }

    pub async fn record_auto_label(&self, project: &str, iid: u64, label: &str) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "INSERT INTO auto_labels (project, issue_iid, label, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&project, &(iid as i64), &label, &now_ms()],
            ).await?;
            Ok(())
        }).await
    }

    pub async fn record_note(&self, project: &str, iid: u64, marker: &str) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "INSERT INTO notes_written (project, issue_iid, marker) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&project, &(iid as i64), &marker],
            ).await?;
            Ok(())
        }).await
    }

    async fn issue_rows(&self, query: &str, project: &str) -> Result<Vec<(u64, String)>> {
        self.run(|c| async move {
            let rows = c.query(query, &[&project]).await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
                .collect())
        })
        .await
    }

    pub async fn auto_labels(&self, project: &str) -> Result<Vec<(u64, String)>> {
        self.issue_rows(
            "SELECT issue_iid, label FROM auto_labels WHERE project = $1 ORDER BY issue_iid, label",
            project,
        )
        .await
    }

    pub async fn issue_memory(&self, project: &str) -> Result<IssueMemory> {
        let by_issue = |rows: Vec<(u64, String)>| {
            let mut map = std::collections::HashMap::<u64, Vec<String>>::new();
            for (iid, text) in rows {
                map.entry(iid).or_default().push(text);
            }
            map
        };
        Ok(IssueMemory {
            notes: by_issue(
                self.issue_rows(
                    "SELECT issue_iid, marker FROM notes_written WHERE project = $1",
                    project,
                )
                .await?,
            ),
            overrides: by_issue(
                self.issue_rows(
                    "SELECT issue_iid, label FROM overrides WHERE project = $1",
                    project,
                )
                .await?,
            ),
            auto_labels: self.auto_labels(project).await?.into_iter().collect(),
        })
    }

    pub async fn overrides(&self, project: &str, iid: u64) -> Result<Vec<String>> {
        self.run(|c| async move {
            let rows = c.query(
                "SELECT label FROM overrides WHERE project = $1 AND issue_iid = $2 ORDER BY label",
                &[&project, &(iid as i64)],
            ).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
    }
}

// ---- Theme containers ----
//
// Unlinking an issue from a theme's epic (or tracking issue) needs the id of its link, which
// GitLab only gives out in the container's member list — 25 pages for a large theme. smeflow
// keeps the ids it has learnt (the link it created, the members it read), so the list is read
// only when a member is not known here.

impl Store {
    /// Link ids smeflow knows for a theme container (epic iid, or tracking issue iid), by member
    /// issue iid: links it made itself (the id GitLab returned) and members it read.
    pub async fn theme_link_ids(
        &self,
        project: &str,
        container_iid: u64,
    ) -> Result<HashMap<u64, u64>> {
        each!(self, s [project] => s.theme_link_ids(project, container_iid))
    }
    /// Upsert: (issue_iid, link_id) pairs now known for the container.
    pub async fn record_theme_links(
        &self,
        project: &str,
        container_iid: u64,
        links: &[(u64, u64)],
    ) -> Result<()> {
        if links.is_empty() {
            return Ok(());
        }
        each!(self, s [project, links] => s.record_theme_links(project, container_iid, links))
    }
    /// The issue is no longer a member (smeflow unlinked it).
    pub async fn forget_theme_link(
        &self,
        project: &str,
        container_iid: u64,
        issue_iid: u64,
    ) -> Result<()> {
        each!(self, s [project] => s.forget_theme_link(project, container_iid, issue_iid))
    }
}

impl SqliteStore {
    pub fn theme_link_ids(&self, project: &str, container_iid: u64) -> Result<HashMap<u64, u64>> {
        self.all_rows(
            &self.connect()?,
            "SELECT issue_iid, link_id FROM theme_links WHERE project = ?1 AND container_iid = ?2",
            params![project, container_iid as i64],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
    }

    /// All pairs in one transaction: a sync that read a member list records all of it or none.
    pub fn record_theme_links(
        &self,
        project: &str,
        container_iid: u64,
        links: &[(u64, u64)],
    ) -> Result<()> {
        let mut c = self.connect()?;
        let tx = c.transaction().map_err(|e| sql(&self.path, e))?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO theme_links (project, container_iid, issue_iid, link_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (project, container_iid, issue_iid) DO UPDATE SET link_id = excluded.link_id",
                )
                .map_err(|e| sql(&self.path, e))?;
            for (issue_iid, link_id) in links {
                stmt.execute(params![
                    project,
                    container_iid as i64,
                    *issue_iid as i64,
                    *link_id as i64
                ])
                .map_err(|e| sql(&self.path, e))?;
            }
        }
        tx.commit().map_err(|e| sql(&self.path, e))
    }

    pub fn forget_theme_link(
        &self,
        project: &str,
        container_iid: u64,
        issue_iid: u64,
    ) -> Result<()> {
        let c = self.connect()?;
        c.execute(
            "DELETE FROM theme_links WHERE project = ?1 AND container_iid = ?2 AND issue_iid = ?3",
            params![project, container_iid as i64, issue_iid as i64],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }
}

impl PgStore {
    pub async fn theme_link_ids(
        &self,
        project: &str,
        container_iid: u64,
    ) -> Result<HashMap<u64, u64>> {
        self.run(|c| async move {
            let rows = c.query(
                "SELECT issue_iid, link_id FROM theme_links WHERE project = $1 AND container_iid = $2",
                &[&project, &(container_iid as i64)],
            ).await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
                .collect())
        }).await
    }

    /// One statement for the whole list (a member list of thousands is one round trip, not
    /// thousands). An issue given twice keeps its last id, as one upsert per pair would, and
    /// PostgreSQL refuses to update one row twice in a statement, so duplicates go first.
    pub async fn record_theme_links(
        &self,
        project: &str,
        container_iid: u64,
        links: &[(u64, u64)],
    ) -> Result<()> {
        let last_id: HashMap<u64, u64> = links.iter().copied().collect();
        let (issues, ids): (Vec<i64>, Vec<i64>) = last_id
            .into_iter()
            .map(|(issue, link)| (issue as i64, link as i64))
            .unzip();
        self.run(|c| async move {
            c.execute(
                "INSERT INTO theme_links (project, container_iid, issue_iid, link_id)
                 SELECT $1, $2, issue, link FROM UNNEST($3::bigint[], $4::bigint[]) AS l (issue, link)
                 ON CONFLICT (project, container_iid, issue_iid) DO UPDATE SET link_id = excluded.link_id",
                &[&project, &(container_iid as i64), &issues, &ids],
            ).await?;
            Ok(())
        }).await
    }

    pub async fn forget_theme_link(
        &self,
        project: &str,
        container_iid: u64,
        issue_iid: u64,
    ) -> Result<()> {
        self.run(|c| async move {
            c.execute(
                "DELETE FROM theme_links WHERE project = $1 AND container_iid = $2 AND issue_iid = $3",
                &[&project, &(container_iid as i64), &(issue_iid as i64)],
            ).await?;
            Ok(())
        }).await
    }
}
