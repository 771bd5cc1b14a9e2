//! The program lead's view across all areas (`smeflow report --program`): feedback submitted and
//! actioned, items shipped per quarter against the handbook's goal (at least 5 product
//! improvements from SME feedback per quarter), SME requests by type and region, time to SME
//! assignment against the previous period (the goal: 20% faster within 6 months), requests that
//! missed the 24-hour promise, and enablement topics and knowledge-base items added. `compute` is
//! pure so the figures are tested on fixed data; `run` reads GitLab and posts the review issue.

use crate::config::label_scope;
use crate::gitlab::types::{parse_time, Issue};
use crate::policy::issue::FEEDBACK_TYPE;
use crate::policy::request::REQUEST_TYPE;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The handbook's goal: product improvements shipped from SME feedback per quarter.
pub const SHIPPED_PER_QUARTER_GOAL: usize = 5;
/// The handbook's goal for time to SME assignment: this much faster (in percent).
pub const ASSIGNMENT_FASTER_GOAL_PCT: f64 = 20.0;
const SHIPPED: &str = "PM Status::Shipped";

/// What was read from one area.
#[derive(Debug, Clone, Default)]
pub struct AreaInput {
    pub area: String,
    pub issues: Vec<Issue>,
    /// SME request iid → when it was first assigned.
    pub first_assigned: BTreeMap<u64, DateTime<Utc>>,
    /// When each note on "List of Topics for SMEs Enablement" was added.
    pub enablement_added: Vec<DateTime<Utc>>,
    /// When each note on "Knowledge Base & Architectural Blueprint Scenarios" was added.
    pub knowledge_added: Vec<DateTime<Utc>>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ProgramReport {
    pub since: String,
    pub until: String,
    /// The period before, of the same length, that time to assignment is compared with.
    pub previous_since: String,
    pub areas: Vec<AreaRow>,
    /// Quarter ("2026-Q4") → area → feedback items shipped.
    pub shipped_by_quarter: BTreeMap<String, BTreeMap<String, usize>>,
    pub requests_by_type: BTreeMap<String, usize>,
    pub requests_by_region: BTreeMap<String, usize>,
    pub assignment: Assignment,
    pub missed_promise: Vec<Missed>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct AreaRow {
    pub area: String,
    pub feedback_submitted: usize,
    pub feedback_actioned: usize,
    pub shipped: usize,
    pub requests_opened: usize,
    pub requests_assigned: usize,
    pub hours_to_assignment_avg: Option<f64>,
    pub missed_promise: usize,
    pub enablement_topics_added: usize,
    pub knowledge_items_added: usize,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Assignment {
    pub avg_hours: Option<f64>,
    pub median_hours: Option<f64>,
    pub previous_avg_hours: Option<f64>,
    pub previous_median_hours: Option<f64>,
    /// Negative is faster: (avg - previous avg) / previous avg, in percent.
    pub avg_change_pct: Option<f64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Missed {
    pub area: String,
    pub iid: u64,
    pub title: String,
    /// Hours until the first assignee; `None` while still unassigned.
    pub assigned_after_hours: Option<f64>,
    pub web_url: String,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn avg_median(mut hours: Vec<f64>) -> (Option<f64>, Option<f64>) {
    if hours.is_empty() {
        return (None, None);
    }
    hours.sort_by(f64::total_cmp);
    let n = hours.len();
    let avg = hours.iter().sum::<f64>() / n as f64;
    let median = if n % 2 == 1 {
        hours[n / 2]
    } else {
        (hours[n / 2 - 1] + hours[n / 2]) / 2.0
    };
    (Some(round1(avg)), Some(round1(median)))
}

pub fn quarter(t: DateTime<Utc>) -> String {
    format!("{}-Q{}", t.year(), (t.month() - 1) / 3 + 1)
}

fn value_in_scope(i: &Issue, scope: &str) -> Option<String> {
    i.labels
        .iter()
        .find(|l| label_scope(l) == Some(scope))
        .and_then(|l| l.split_once("::").map(|(_, v)| v.to_string()))
}

pub fn compute(areas: &[AreaInput], since: DateTime<Utc>, now: DateTime<Utc>) -> ProgramReport {
    let previous_since = since - (now - since);
    let within = |t: Option<DateTime<Utc>>, from: DateTime<Utc>, to: DateTime<Utc>| {
        t.is_some_and(|t| t >= from && t < to)
    };
    let time = |s: &Option<String>| s.as_deref().and_then(parse_time);
    let mut rows = Vec::new();
    let mut shipped_by_quarter: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut requests_by_type = BTreeMap::new();
    let mut requests_by_region = BTreeMap::new();
    let (mut hours_now, mut hours_before) = (Vec::new(), Vec::new());
    let mut missed_promise = Vec::new();
    let acted = ["Reviewing", "Planned", "In Progress", "Shipped", "Declined"];
    for input in areas {
        let is = |i: &Issue, label: &str| i.labels.iter().any(|l| l == label);
        let feedback: Vec<&Issue> = input
            .issues
            .iter()
            .filter(|i| is(i, FEEDBACK_TYPE))
            .collect();
        let feedback_submitted = feedback
            .iter()
            .filter(|i| within(time(&i.created_at), since, now))
            .count();
        let feedback_actioned = feedback
            .iter()
            .filter(|i| within(time(&i.updated_at), since, now))
            .filter(|i| {
                i.state == "closed"
                    || value_in_scope(i, "PM Status").is_some_and(|s| acted.contains(&s.as_str()))
            })
            .count();
        let mut shipped = 0;
        for i in feedback.iter().filter(|i| is(i, SHIPPED)) {
            let Some(at) = time(&i.closed_at).or(time(&i.updated_at)) else {
                continue;
            };
            *shipped_by_quarter
                .entry(quarter(at))
                .or_default()
                .entry(input.area.clone())
                .or_insert(0) += 1;
            if within(Some(at), since, now) {
                shipped += 1;
            }
        }
        let requests: Vec<&Issue> = input
            .issues
            .iter()
            .filter(|i| is(i, REQUEST_TYPE))
            .collect();
        let mut area_hours = Vec::new();
        let mut missed = 0;
        let mut opened = 0;
        for r in &requests {
            let Some(created) = time(&r.created_at) else {
                continue;
            };
            let hours = input
                .first_assigned
                .get(&r.iid)
                .map(|at| (*at - created).num_seconds() as f64 / 3600.0);
            if within(Some(created), previous_since, since) {
                hours_before.extend(hours);
            }
            if !within(Some(created), since, now) {
                continue;
            }
            opened += 1;
            *requests_by_type
                .entry(
                    value_in_scope(r, crate::policy::request::ENGAGEMENT_SCOPE)
                        .unwrap_or_else(|| "(no type)".into()),
                )
                .or_insert(0) += 1;
            *requests_by_region
                .entry(value_in_scope(r, "Region").unwrap_or_else(|| "(no region)".into()))
                .or_insert(0) += 1;
            area_hours.extend(hours);
            let late = match hours {
                Some(h) => h > 24.0,
                None => now - created > Duration::hours(24),
            };
            if late {
                missed += 1;
                missed_promise.push(Missed {
                    area: input.area.clone(),
                    iid: r.iid,
                    title: r.title.clone(),
                    assigned_after_hours: hours.map(round1),
                    web_url: r.web_url.clone(),
                });
            }
        }
        hours_now.extend(area_hours.iter().copied());
        let (avg, _) = avg_median(area_hours.clone());
        rows.push(AreaRow {
            area: input.area.clone(),
            feedback_submitted,
            feedback_actioned,
            shipped,
            requests_opened: opened,
            requests_assigned: area_hours.len(),
            hours_to_assignment_avg: avg,
            missed_promise: missed,
            enablement_topics_added: input
                .enablement_added
                .iter()
                .filter(|t| within(Some(**t), since, now))
                .count(),
            knowledge_items_added: input
                .knowledge_added
                .iter()
                .filter(|t| within(Some(**t), since, now))
                .count(),
        });
    }
    let (avg, median) = avg_median(hours_now);
    let (previous_avg, previous_median) = avg_median(hours_before);
    let avg_change_pct = match (avg, previous_avg) {
        (Some(a), Some(p)) if p > 0.0 => Some(round1((a - p) / p * 100.0)),
        _ => None,
    };
    ProgramReport {
        since: since.format("%Y-%m-%d").to_string(),
        until: now.format("%Y-%m-%d").to_string(),
        previous_since: previous_since.format("%Y-%m-%d").to_string(),
        areas: rows,
        shipped_by_quarter,
        requests_by_type,
        requests_by_region,
        assignment: Assignment {
            avg_hours: avg,
            median_hours: median,
            previous_avg_hours: previous_avg,
            previous_median_hours: previous_median,
            avg_change_pct,
        },
        missed_promise,
    }
}

fn hours(h: Option<f64>) -> String {
    h.map(|h| format!("{h:.1} h")).unwrap_or_else(|| "–".into())
}

/// A bar of `n` out of `max`, 20 characters at most: a chart that reads in any Markdown view.
fn bar(n: usize, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let width = (n * 20).div_ceil(max);
    "█".repeat(width)
}

pub fn review_title(now: DateTime<Utc>) -> String {
    format!("SME Program Review {}", now.format("%Y-%m"))
}

pub fn render_markdown(r: &ProgramReport) -> String {
    let mut md = format!(
        "## SME Program Review: {} to {}\n\n### Areas side by side\n\n| Area | Feedback submitted | Feedback actioned | Shipped | Requests | Assigned | Avg. time to SME | Missed 24 h | Enablement topics added | Knowledge-base items added |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        r.since, r.until
    );
    for a in &r.areas {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            a.area,
            a.feedback_submitted,
            a.feedback_actioned,
            a.shipped,
            a.requests_opened,
            a.requests_assigned,
            hours(a.hours_to_assignment_avg),
            a.missed_promise,
            a.enablement_topics_added,
            a.knowledge_items_added
        ));
    }
    md.push_str(&format!(
        "\n### Shipped from SME feedback, per quarter (goal: at least {SHIPPED_PER_QUARTER_GOAL})\n\n```\n"
    ));
    let totals: Vec<(String, usize)> = r
        .shipped_by_quarter
        .iter()
        .map(|(q, by_area)| (q.clone(), by_area.values().sum()))
        .collect();
    let max = totals
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
        .max(SHIPPED_PER_QUARTER_GOAL);
    if totals.is_empty() {
        md.push_str("(nothing shipped yet)\n");
    }
    for (q, n) in &totals {
        let verdict = if *n >= SHIPPED_PER_QUARTER_GOAL {
            "goal met"
        } else {
            "below goal"
        };
        md.push_str(&format!("{q}  {:<20} {n:>3}  {verdict}\n", bar(*n, max)));
    }
    md.push_str("```\n\n### Time to SME assignment (goal: 20% faster within 6 months)\n\n");
    let a = &r.assignment;
    md.push_str(&format!(
        "| | This period | Previous period ({} to {}) |\n|---|---:|---:|\n| Average | {} | {} |\n| Median | {} | {} |\n\n",
        r.previous_since,
        r.since,
        hours(a.avg_hours),
        hours(a.previous_avg_hours),
        hours(a.median_hours),
        hours(a.previous_median_hours)
    ));
    match a.avg_change_pct {
        Some(p) if p <= -ASSIGNMENT_FASTER_GOAL_PCT => md.push_str(&format!(
            "Average time to SME assignment changed by {p:+.1}%: the goal of {ASSIGNMENT_FASTER_GOAL_PCT:.0}% faster is met.\n"
        )),
        Some(p) => md.push_str(&format!(
            "Average time to SME assignment changed by {p:+.1}% (the goal is {:.0}%).\n",
            -ASSIGNMENT_FASTER_GOAL_PCT
        )),
        None => md.push_str("No change can be computed: one of the periods has no assigned request.\n"),
    }
    md.push_str("\n### SME requests by type\n\n```\n");
    let counts = |m: &BTreeMap<String, usize>, md: &mut String| {
        let max = m.values().copied().max().unwrap_or(0);
        let width = m.keys().map(|k| k.chars().count()).max().unwrap_or(0);
        if m.is_empty() {
            md.push_str("(no requests in this period)\n");
        }
        for (k, n) in m {
            md.push_str(&format!("{k:<width$}  {:<20} {n:>3}\n", bar(*n, max)));
        }
    };
    counts(&r.requests_by_type, &mut md);
    md.push_str("```\n\n### SME requests by region\n\n```\n");
    counts(&r.requests_by_region, &mut md);
    md.push_str("```\n\n### Requests that missed the 24-hour promise\n\n");
    if r.missed_promise.is_empty() {
        md.push_str("None: every request had an SME within 24 hours.\n");
    }
    for m in &r.missed_promise {
        let when = match m.assigned_after_hours {
            Some(h) => format!("assigned after {h:.1} h"),
            None => "still unassigned".into(),
        };
        let link = if m.web_url.is_empty() {
            format!("#{}", m.iid)
        } else {
            format!("[#{}]({})", m.iid, m.web_url)
        };
        md.push_str(&format!("- {}: {link} {} ({when})\n", m.area, m.title));
    }
    md
}

pub mod run {
    //! Reading every area from GitLab, and `--post`.

    use super::*;
    use crate::config::Catalog;
    use crate::gitlab::types::Note;
    use crate::gitlab::{GitLab, GitLabError};
    use crate::plan::Change;
    use crate::policy::request::route::{seed_iids, ENABLEMENT, KNOWLEDGE_BASE};
    use crate::reconcile::apply::{ApplyError, Executor};

    #[derive(Debug, thiserror::Error)]
    pub enum ProgramReportError {
        #[error(transparent)]
        GitLab(#[from] GitLabError),
        #[error(transparent)]
        Apply(#[from] ApplyError),
        #[error("`report --program --post` needs the program project: add `[program]` with `project = \"group/path\"` to smeflow.toml")]
        NoProgramProject,
    }

    async fn notes(gl: &GitLab, project: &str, iid: u64) -> Result<Vec<Note>, GitLabError> {
        gl.notes(project, iid).await
    }

    /// Reads every formal area (one that is not bootstrapped yet is left out and named in
    /// `skipped`).
    pub async fn read(
        gl: &GitLab,
        catalog: &Catalog,
        previous_since: DateTime<Utc>,
    ) -> Result<(Vec<AreaInput>, Vec<String>), GitLabError> {
        let mut inputs = Vec::new();
        let mut skipped = Vec::new();
        // Areas of interest have no feedback or request process: nothing to put side by side.
        for area in catalog.config.areas.iter().filter(|a| a.status.is_formal()) {
            let project = area.project_full_path(&catalog.config.gitlab.group);
            let issues: Vec<Issue> = match gl.all_issues(&project).await {
                Ok(issues) => issues,
                Err(GitLabError::NotFound { .. }) => {
                    skipped.push(area.name.clone());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut input = AreaInput {
                area: area.name.clone(),
                ..Default::default()
            };
            for i in issues
                .iter()
                .filter(|i| i.labels.iter().any(|l| l == REQUEST_TYPE))
                .filter(|i| !i.assignees.is_empty())
                .filter(|i| {
                    i.created_at
                        .as_deref()
                        .and_then(parse_time)
                        .is_some_and(|c| c >= previous_since)
                })
            {
                // GitLab keeps the assignment history as system notes.
                if let Some(at) = notes(gl, &project, i.iid)
                    .await?
                    .iter()
                    .filter(|n| n.system && n.body.starts_with("assigned to"))
                    .find_map(|n| n.created_at.as_deref().and_then(parse_time))
                {
                    input.first_assigned.insert(i.iid, at);
                }
            }
            let titles = [ENABLEMENT.to_string(), KNOWLEDGE_BASE.to_string()];
            let seeds = seed_iids(titles.iter(), &issues.iter().collect::<Vec<_>>());
            for (title, iid) in seeds {
                let added: Vec<DateTime<Utc>> = notes(gl, &project, iid)
                    .await?
                    .iter()
                    .filter(|n| !n.system)
                    .filter_map(|n| n.created_at.as_deref().and_then(parse_time))
                    .collect();
                if title == ENABLEMENT {
                    input.enablement_added = added;
                } else {
                    input.knowledge_added = added;
                }
            }
            input.issues = issues;
            inputs.push(input);
        }
        Ok((inputs, skipped))
    }

    /// Creates or updates the month's "SME Program Review YYYY-MM" issue in the program project.
    pub async fn post(
        gl: &GitLab,
        catalog: &Catalog,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ProgramReportError> {
        let project = catalog
            .config
            .program
            .project
            .clone()
            .ok_or(ProgramReportError::NoProgramProject)?;
        let title = review_title(now);
        // By exact title among smeflow's own issues: search is full-text and rate-limited.
        let me = gl.current_user().await?.id;
        let existing = gl
            .issues_by_author(&project, me)
            .await?
            .into_iter()
            .find(|i| i.title == title);
        let change = match existing {
            None => Some(Change::CreateIssue {
                project: project.clone(),
                title: title.clone(),
                description: body.to_string(),
                labels: Vec::new(),
            }),
            Some(i) if i.description.as_deref().unwrap_or("").trim_end() != body.trim_end() => {
                Some(Change::UpdateIssueDescription {
                    project: project.clone(),
                    iid: i.iid,
                    title: title.clone(),
                    description: body.to_string(),
                })
            }
            Some(_) => None,
        };
        match change {
            None => Ok(format!("\"{title}\" in {project} is already up to date.")),
            Some(c) => {
                Executor::new(gl, None).apply(&[c], |_, _| {}).await?;
                Ok(format!("Posted \"{title}\" in {project}."))
            }
        }
    }
}
