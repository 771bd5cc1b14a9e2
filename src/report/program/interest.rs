//! Areas of interest in the program report: they have no request process and no
//! customer-feedback mechanism, so they are not put side by side with the formal areas. What
//! they have is their members' activity in the project; what they lack for promotion is what
//! `smeflow promote-area` would ask of smeflow.toml (`Catalog::promotion_gaps`).

use crate::gitlab::types::Issue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// What was read from one area of interest.
#[derive(Debug, Clone, Default)]
pub struct InterestInput {
    pub area: String,
    pub slug: String,
    /// `None`: the area has no project in GitLab yet.
    pub issues: Option<Vec<Issue>>,
    /// What a formal area needs in smeflow.toml that this one does not have.
    pub lacks: Vec<String>,
    /// smeflow's own GitLab user: its seed issues and its edits are not members' activity.
    pub bot_id: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct InterestRow {
    pub area: String,
    pub slug: String,
    pub has_project: bool,
    pub issues_opened: usize,
    pub issues_closed: usize,
    /// People who opened, or are assigned to, an issue opened or updated in the period.
    pub people_active: usize,
    pub lacks: Vec<String>,
}

/// Pure: the period's activity per area of interest.
pub fn interest_rows(
    inputs: &[InterestInput],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<InterestRow> {
    let within = |t: &Option<DateTime<Utc>>| t.is_some_and(|t| t >= since && t < now);
    inputs
        .iter()
        .map(|input| {
            let smeflows = |id: u64| input.bot_id == Some(id);
            let issues: Vec<&Issue> = input
                .issues
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter(|i| !i.author.as_ref().is_some_and(|a| smeflows(a.id)))
                .collect();
            let mut people = BTreeSet::new();
            for i in issues
                .iter()
                .filter(|i| within(&i.created_at) || within(&i.updated_at))
            {
                people.extend(i.author.iter().map(|u| u.id));
                people.extend(i.assignees.iter().map(|u| u.id));
            }
            people.retain(|id| !smeflows(*id));
            InterestRow {
                area: input.area.clone(),
                slug: input.slug.clone(),
                has_project: input.issues.is_some(),
                issues_opened: issues.iter().filter(|i| within(&i.created_at)).count(),
                issues_closed: issues.iter().filter(|i| within(&i.closed_at)).count(),
                people_active: people.len(),
                lacks: input.lacks.clone(),
            }
        })
        .collect()
}

/// The report's section on areas of interest (empty when the program has none).
pub fn render_interest(rows: &[InterestRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n### Areas of interest\n\nNo request process and no customer-feedback mechanism yet, so not compared with the formal areas above: their members' activity in the project, and what smeflow.toml still lacks for `smeflow promote-area`.\n\n| Area | Issues opened | Issues closed | People active |\n|---|---:|---:|---:|\n",
    );
    for r in rows {
        if r.has_project {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.area, r.issues_opened, r.issues_closed, r.people_active
            ));
        } else {
            md.push_str(&format!(
                "| {} | no project yet (`smeflow bootstrap-area {}`) | | |\n",
                r.area, r.slug
            ));
        }
    }
    md.push('\n');
    for r in rows {
        if r.lacks.is_empty() {
            md.push_str(&format!(
                "- {}: smeflow.toml has what a formal area needs (`smeflow promote-area {} --dry-run`).\n",
                r.area, r.slug
            ));
        } else {
            md.push_str(&format!(
                "- {} lacks for promotion: {}.\n",
                r.area,
                r.lacks.join("; ")
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(iid: u64, author: u64, created: &str, closed: Option<&str>) -> Issue {
        serde_json::from_value(serde_json::json!({
            "id": iid, "iid": iid, "project_id": 1, "title": format!("#{iid}"),
            "state": if closed.is_some() { "closed" } else { "opened" },
            "labels": [], "web_url": "",
            "author": {"id": author, "username": format!("u{author}")},
            "created_at": created, "updated_at": closed.unwrap_or(created),
            "closed_at": closed, "assignees": [],
        }))
        .unwrap()
    }

    #[test]
    fn interest_areas_show_their_members_activity_and_what_they_lack() {
        let since: DateTime<Utc> = "2026-10-01T00:00:00Z".parse().unwrap();
        let now: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let inputs = vec![
            InterestInput {
                area: "CI/CD & Runner".into(),
                slug: "cicd".into(),
                issues: Some(vec![
                    issue(1, 10, "2026-10-03T09:00:00Z", None),
                    issue(2, 11, "2026-10-04T09:00:00Z", Some("2026-10-20T09:00:00Z")),
                    issue(3, 10, "2026-08-01T09:00:00Z", None),
                    // smeflow's own seed issue is not a member's activity.
                    issue(4, 99, "2026-10-02T09:00:00Z", None),
                ]),
                lacks: vec!["area leads".into(), "Product Managers".into()],
                bot_id: Some(99),
            },
            InterestInput {
                area: "Embedded Systems".into(),
                slug: "embedded".into(),
                issues: None,
                lacks: vec![],
                bot_id: Some(99),
            },
        ];
        let rows = interest_rows(&inputs, since, now);
        insta::assert_snapshot!(render_interest(&rows));
        assert_eq!(
            rows[0].issues_opened, 2,
            "the August issue is outside the period"
        );
        assert_eq!(rows[0].people_active, 2);
    }
}
