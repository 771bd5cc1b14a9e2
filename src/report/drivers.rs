//! The ARR Driver figures: per theme of open feedback, its distinct customers, the ARR at stake
//! (each customer counted once, at the largest figure it gave), how important it is to them
//! (blocker, retention risk, nice to have) and the trend of new customers against the period
//! before; ranked for the quarterly ARR Driver meeting. Also the calendar arithmetic that names
//! the periods of smeflow's cadence issues ("2026-Q1", "2026-03"). Pure, like `figures`.

use super::feedback::{arr_at_stake, field, NO_THEME};
use crate::config::labels::{PRIORITY_HIGH, PRIORITY_LOW};
use crate::gitlab::label;
use crate::gitlab::types::Issue;
use crate::policy::customer::customer_of;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// How much a theme matters to the customers who asked, most important first (the order ranks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Importance {
    /// A deal or a renewal is blocked.
    Blocker,
    /// The customer may leave over it.
    RetentionRisk,
    NiceToHave,
    /// Nobody said.
    Unstated,
}

impl Importance {
    pub fn describe(self) -> &'static str {
        match self {
            Importance::Blocker => "blocker",
            Importance::RetentionRisk => "retention risk",
            Importance::NiceToHave => "nice to have",
            Importance::Unstated => "not stated",
        }
    }
}

/// The Customer Feedback template's `Importance:` field when filled in, else the priority label:
/// `Priority::High` ("blocks a deal or a renewal") is a blocker, `Priority::Low` nice to have.
pub fn importance_of(issue: &Issue) -> Importance {
    let description = issue.description.as_deref().unwrap_or("");
    if let Some(stated) = importance_field(description) {
        return stated;
    }
    if issue.labels.iter().any(|l| l == PRIORITY_HIGH) {
        Importance::Blocker
    } else if issue.labels.iter().any(|l| l == PRIORITY_LOW) {
        Importance::NiceToHave
    } else {
        Importance::Unstated
    }
}

/// `**Importance:** retention risk` (any case, the template's hint comment ignored); a value
/// that is none of the three reads as not filled in.
fn importance_field(description: &str) -> Option<Importance> {
    let value = crate::text::strip_comments(&field(description, "importance")?);
    let value: String = value
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    match value.as_str() {
        "blocker" => Some(Importance::Blocker),
        "retentionrisk" => Some(Importance::RetentionRisk),
        "nicetohave" => Some(Importance::NiceToHave),
        _ => None,
    }
}

/// One theme's line of the ranked ARR Driver list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DriverRow {
    pub theme: String,
    pub open_issues: usize,
    pub customers: usize,
    /// Each customer's largest ARR at stake, added with saturation (each value is bounded by
    /// `figures::MAX_ARR_USD`).
    pub arr_at_stake: u64,
    /// The most important of its feedback.
    pub importance: Importance,
    /// Customers per importance.
    pub importance_mix: BTreeMap<Importance, usize>,
    /// Distinct customers whose feedback was opened in the period, and in the period before.
    pub new_customers: usize,
    pub previous_customers: usize,
}

impl DriverRow {
    /// New customers against the period before: positive when the theme is growing.
    pub fn trend(&self) -> i64 {
        self.new_customers as i64 - self.previous_customers as i64
    }
}

/// The customer an issue counts for: its customer, case-folded, or the issue itself.
fn who(i: &Issue) -> String {
    customer_of(&i.title, i.description.as_deref().unwrap_or(""))
        .map(|c| c.to_lowercase())
        .unwrap_or_else(|| format!("#{}", i.iid))
}

/// Ranks the themes of open `feedback`: ARR at stake, then importance, then customers, then
/// the theme's name. `period` and `previous` are half-open `[start, end)` windows of creation
/// time for the trend. Feedback without a theme is left out: it drives no theme.
pub fn drivers(
    feedback: &[&Issue],
    period: (DateTime<Utc>, DateTime<Utc>),
    previous: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<DriverRow> {
    let within = |i: &Issue, (from, to): (DateTime<Utc>, DateTime<Utc>)| {
        i.created_at.is_some_and(|c| c >= from && c < to)
    };
    let mut by_theme: BTreeMap<&str, Vec<&Issue>> = BTreeMap::new();
    for i in feedback.iter().filter(|i| i.state.is_open()) {
        for t in i.labels.iter().filter(|l| label::in_scope(l, "Theme")) {
            by_theme.entry(t.as_str()).or_default().push(i);
        }
    }
    let mut rows: Vec<DriverRow> = by_theme
        .into_iter()
        .map(|(theme, list)| {
            // Per customer: the largest ARR it gave and its most important ask, so a customer
            // who filed twice is neither summed twice nor counted twice.
            let mut customers: BTreeMap<String, (Option<u64>, Importance)> = BTreeMap::new();
            for i in &list {
                let arr = arr_at_stake(i.description.as_deref().unwrap_or(""));
                let entry = customers
                    .entry(who(i))
                    .or_insert((None, Importance::Unstated));
                entry.0 = entry.0.max(arr);
                entry.1 = entry.1.min(importance_of(i));
            }
            let mut importance_mix = BTreeMap::new();
            for (_, imp) in customers.values() {
                *importance_mix.entry(*imp).or_insert(0) += 1;
            }
            let count = |window| {
                list.iter()
                    .filter(|i| within(i, window))
                    .map(|i| who(i))
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            };
            DriverRow {
                theme: theme.to_string(),
                open_issues: list.len(),
                customers: customers.len(),
                arr_at_stake: customers
                    .values()
                    .filter_map(|(arr, _)| *arr)
                    .fold(0u64, u64::saturating_add),
                importance: customers
                    .values()
                    .map(|(_, imp)| *imp)
                    .min()
                    .unwrap_or(Importance::Unstated),
                importance_mix,
                new_customers: count(period),
                previous_customers: count(previous),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.arr_at_stake
            .cmp(&a.arr_at_stake)
            .then(a.importance.cmp(&b.importance))
            .then(b.customers.cmp(&a.customers))
            .then(a.theme.cmp(&b.theme))
    });
    debug_assert!(rows.iter().all(|r| r.theme != NO_THEME));
    rows
}

/// The quarter `at` falls in, as the cadence issues name it: "2026-Q1".
pub fn quarter_key(at: DateTime<Utc>) -> String {
    format!("{}-Q{}", at.year(), (at.month() - 1) / 3 + 1)
}

/// The month `at` falls in: "2026-03".
pub fn month_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}

/// Midnight UTC on the first day of `at`'s quarter, and of the quarter before it.
pub fn quarter_bounds(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first_month = (at.month() - 1) / 3 * 3 + 1;
    let start = first_day(at.year(), first_month);
    let previous = if first_month == 1 {
        first_day(at.year() - 1, 10)
    } else {
        first_day(at.year(), first_month - 3)
    };
    (start, previous)
}

/// Midnight UTC on the first day of `at`'s month.
pub fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    first_day(at.year(), at.month())
}

fn first_day(year: i32, month: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn quarters_and_months_turn_at_midnight_utc() {
        assert_eq!(quarter_key(at(2026, 3, 31, 23)), "2026-Q1");
        assert_eq!(quarter_key(at(2026, 4, 1, 0)), "2026-Q2");
        assert_eq!(quarter_key(at(2026, 12, 31, 23)), "2026-Q4");
        assert_eq!(month_key(at(2026, 3, 31, 23)), "2026-03");
        assert_eq!(month_key(at(2026, 4, 1, 0)), "2026-04");
        assert_eq!(
            quarter_bounds(at(2026, 2, 10, 0)),
            (at(2026, 1, 1, 0), at(2025, 10, 1, 0))
        );
        assert_eq!(
            quarter_bounds(at(2026, 4, 1, 0)),
            (at(2026, 4, 1, 0), at(2026, 1, 1, 0))
        );
    }

    #[test]
    fn importance_reads_the_field_before_the_labels() {
        let issue = |description: &str, labels: &[&str]| Issue {
            description: Some(description.into()),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            ..serde_json::from_value(serde_json::json!({
                "id": 1, "iid": 1, "title": "t", "state": "opened", "web_url": "u", "project_id": 1
            }))
            .unwrap()
        };
        assert_eq!(
            importance_of(&issue("**Importance:** Retention risk", &[PRIORITY_HIGH])),
            Importance::RetentionRisk
        );
        assert_eq!(
            importance_of(&issue(
                "**Importance:** <!-- blocker, retention risk or nice to have -->",
                &[PRIORITY_HIGH]
            )),
            Importance::Blocker
        );
        assert_eq!(
            importance_of(&issue("Importance: nice-to-have", &[])),
            Importance::NiceToHave
        );
        assert_eq!(
            importance_of(&issue("Importance: urgent!!", &[PRIORITY_LOW])),
            Importance::NiceToHave
        );
        assert_eq!(importance_of(&issue("", &[])), Importance::Unstated);
    }
}
