//! Data put straight into the simulator's state, without a request or a webhook: issues made
//! in bulk or made to look old, for tests and benchmarks of large or stale projects.

use super::{state, Simulator};

impl Simulator {
    /// Adds an issue directly (no webhook, no request recorded), e.g. to build a large or old
    /// data set. Returns its iid.
    pub fn seed_issue(&self, project: &str, seed: SeedIssue<'_>) -> u64 {
        let SeedIssue {
            author,
            title,
            description,
            labels,
            state,
            age_days,
        } = seed;
        self.with(|s| {
            let pi = s.project_index(project).expect("project exists");
            let author = s
                .users
                .iter()
                .find(|u| u.username == author)
                .map(|u| u.id)
                .expect("user exists");
            let at = (chrono::Utc::now() - chrono::Duration::days(age_days))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let id = s.id();
            let p = &mut s.projects[pi];
            let iid = p.next_iid;
            p.next_iid += 1;
            p.issues.push(state::Issue {
                id,
                iid,
                title: title.into(),
                description: description.into(),
                state: state.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                author,
                assignees: Vec::new(),
                confidential: false,
                created_at: at.clone(),
                updated_at: at.clone(),
                closed_at: (state == "closed").then(|| at.clone()),
                notes: Vec::new(),
                label_events: Vec::new(),
                epic: None,
            });
            iid
        })
    }

    /// Makes an issue look opened `hours` ago, with `moved` (`then` → `now`) replaced in its
    /// description, if given (a date it names moves with it): `hours` passing for a request
    /// that nobody takes for a day. No webhook: nobody edited it.
    pub fn backdate_creation(
        &self,
        project: &str,
        iid: u64,
        hours: i64,
        moved: Option<(&str, &str)>,
    ) {
        self.with(|s| {
            let pi = s.project_index(project).expect("project exists");
            let at = (chrono::Utc::now() - chrono::Duration::hours(hours))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            if let Some(i) = s.projects[pi].issues.iter_mut().find(|i| i.iid == iid) {
                i.created_at = at;
                if let Some((then, now)) = moved {
                    i.description = i.description.replace(then, now);
                }
            }
        })
    }

    /// Shows `field` of an issue as `value` in every answer that carries the issue: a shape
    /// smeflow may not expect (a type a newer GitLab changed, a row an import left broken, a
    /// proxy's rewrite), for tests of how smeflow copes with one unreadable issue.
    pub fn set_issue_field(&self, project: &str, iid: u64, field: &str, value: serde_json::Value) {
        self.with(|s| {
            let pi = s.project_index(project).expect("project exists");
            let id = s.projects[pi]
                .issues
                .iter()
                .find(|i| i.iid == iid)
                .expect("issue exists")
                .id;
            s.raw_issue_fields.push((id, field.to_string(), value));
        })
    }

    /// Makes an issue look untouched for `days` (for stale-review tests).
    pub fn backdate(&self, project: &str, iid: u64, days: i64) {
        self.with(|s| {
            let pi = s.project_index(project).expect("project exists");
            let at = (chrono::Utc::now() - chrono::Duration::days(days))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            if let Some(i) = s.projects[pi].issues.iter_mut().find(|i| i.iid == iid) {
                i.updated_at = at;
            }
        })
    }
}

/// An issue put straight into the simulator's state; `age_days` backdates its creation and
/// last update.
pub struct SeedIssue<'a> {
    pub author: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub labels: &'a [&'a str],
    pub state: &'a str,
    pub age_days: i64,
}
