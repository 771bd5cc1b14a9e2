//! The program report's figures: per area feedback submitted and actioned, items shipped per
//! quarter, SME requests by type and region, time to SME assignment against the previous
//! period, requests that missed the 24-hour promise, and enablement and knowledge-base items
//! added. Pure, so the figures are tested on fixed data.

use crate::gitlab::label;
use crate::gitlab::types::Issue;
use crate::policy::issue::FEEDBACK_TYPE;
use crate::policy::request::promise::{promise, Promise};
use crate::policy::request::REQUEST_TYPE;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The handbook's goal: product improvements shipped from SME feedback per quarter.
pub const SHIPPED_PER_QUARTER_GOAL: usize = 5;
/// The handbook's goal for time to SME assignment: this much faster (in percent).
pub const ASSIGNMENT_FASTER_GOAL_PCT: f64 = 20.0;
const SHIPPED: &str = crate::config::labels::PM_STATUS_SHIPPED;

/// A training session or knowledge-base item, attributed to the SME behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub kind: Transfer,
    pub at: DateTime<Utc>,
    /// A GitLab username.
    pub person: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// A topic added to "List of Topics for SMEs Enablement".
    Training,
    /// An item added to "Knowledge Base & Architectural Blueprint Scenarios".
    KnowledgeBase,
}

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
    /// When smeflow told an SA their feedback shipped (its loop-closed notes).
    pub loops_closed: Vec<DateTime<Utc>>,
    /// The same notes, each attributed to the SME behind it (knowledge transfer per SME).
    pub contributions: Vec<Contribution>,
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
    /// Open requests younger than the promise with no SME yet: neither kept nor missed.
    pub waiting_for_sme: usize,
    /// Area → feedback whose SA was told in the period that it shipped (areas with none are
    /// left out).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub loops_closed: BTreeMap<String, usize>,
    /// Areas of interest, apart from the formal ones (filled by the caller that read them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interest: Vec<super::interest::InterestRow>,
    /// The program's eight metrics for a quarter (filled by the caller that read the imports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<super::metric::Metrics>,
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
        .find_map(|l| label::value_in(l, scope))
        .map(str::to_string)
}

pub fn compute(areas: &[AreaInput], since: DateTime<Utc>, now: DateTime<Utc>) -> ProgramReport {
    let previous_since = since - (now - since);
    let within = |t: Option<DateTime<Utc>>, from: DateTime<Utc>, to: DateTime<Utc>| {
        t.is_some_and(|t| t >= from && t < to)
    };
    let mut rows = Vec::new();
    let mut shipped_by_quarter: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut requests_by_type = BTreeMap::new();
    let mut requests_by_region = BTreeMap::new();
    let (mut hours_now, mut hours_before) = (Vec::new(), Vec::new());
    let mut missed_promise = Vec::new();
    let mut waiting_for_sme = 0;
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
            .filter(|i| within(i.created_at, since, now))
            .count();
        let feedback_actioned = feedback
            .iter()
            .filter(|i| within(i.updated_at, since, now))
            .filter(|i| {
                i.state.is_closed()
                    || value_in_scope(i, "PM Status").is_some_and(|s| acted.contains(&s.as_str()))
            })
            .count();
        let mut shipped = 0;
        for i in feedback.iter().filter(|i| is(i, SHIPPED)) {
            let Some(at) = i.closed_at.or(i.updated_at) else {
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
            let Some(created) = r.created_at else {
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
            let standing = promise(created, input.first_assigned.get(&r.iid).copied(), now);
            if standing == Promise::Waiting && r.state.is_open() {
                waiting_for_sme += 1;
            }
            if standing == Promise::Missed {
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
        waiting_for_sme,
        loops_closed: areas
            .iter()
            .map(|a| {
                let told = a.loops_closed.iter();
                (
                    a.area.clone(),
                    told.filter(|t| within(Some(**t), since, now)).count(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
        interest: Vec::new(),
        metrics: None,
    }
}
