//! The monthly PM review's figures: themes ranked by open feedback and distinct customers, the
//! urgent items, ARR Driver candidates, the program's flow figures, and the months for the
//! chart. Pure (issues in, figures out), so the numbers are tested on a data set with known
//! answers.

use super::drivers::{drivers, DriverRow};
pub use super::feedback::{arr_at_stake, MAX_ARR_USD, NO_THEME};
use crate::gitlab::label;
use crate::gitlab::types::Issue;
use crate::policy::customer::customer_of;
use crate::policy::issue::FEEDBACK_TYPE;
use crate::policy::request::promise::{promise, Promise};
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub const SME_REQUEST_TYPE: &str = crate::config::labels::TYPE_SME_REQUEST;
pub const ARR_DRIVER: &str = crate::config::labels::ARR_DRIVER;

#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub area: String,
    pub since: String,
    pub until: String,
    pub themes: Vec<ThemeRow>,
    pub high_priority: Vec<Item>,
    pub arr_driver_candidates: Vec<Item>,
    /// Themes ranked for the ARR Driver meeting, the trend against the period before this one.
    pub drivers: Vec<DriverRow>,
    pub flow: Flow,
    /// Distinct customers per theme per month (oldest month first), for the chart.
    pub monthly: Vec<(String, BTreeMap<String, usize>)>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ThemeRow {
    pub theme: String,
    pub open_issues: usize,
    pub customers: usize,
    pub priority: BTreeMap<String, usize>,
    pub pm_status: BTreeMap<String, usize>,
    pub arr_at_stake: u64,
}

#[derive(Debug, Serialize, PartialEq, Clone)]
pub struct Item {
    pub iid: u64,
    pub title: String,
    pub customer: Option<String>,
    pub arr: Option<u64>,
    pub web_url: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Flow {
    /// Feedback opened in the period.
    pub feedback_submitted: usize,
    /// Feedback updated in the period that a PM has acted on (a PM status past New / Needs
    /// Context) or that was closed.
    pub feedback_actioned: usize,
    /// SME requests opened in the period that got an assignee, and how long that took.
    pub requests_assigned: usize,
    pub hours_to_first_assignee_avg: Option<f64>,
    pub hours_to_first_assignee_median: Option<f64>,
    /// Open SME requests older than 24 hours.
    pub open_requests_older_than_24h: Vec<Item>,
}

pub(crate) fn item(i: &Issue) -> Item {
    Item {
        iid: i.iid,
        title: i.title.clone(),
        customer: customer_of(&i.title, i.description.as_deref().unwrap_or("")),
        arr: arr_at_stake(i.description.as_deref().unwrap_or("")),
        web_url: i.web_url.clone(),
    }
}

fn in_scope<'a>(i: &'a Issue, scope: &str) -> Option<&'a str> {
    i.labels.iter().find_map(|l| label::value_in(l, scope))
}

/// `first_assigned` maps an SME request's iid to when it was first assigned (from its system notes).
pub fn compute(
    area: &str,
    issues: &[Issue],
    first_assigned: &BTreeMap<u64, DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Report {
    let is = |i: &Issue, label: &str| i.labels.iter().any(|l| l == label);
    let feedback: Vec<&Issue> = issues.iter().filter(|i| is(i, FEEDBACK_TYPE)).collect();
    let open: Vec<&Issue> = feedback
        .iter()
        .copied()
        .filter(|i| i.state.is_open())
        .collect();

    let mut by_theme: BTreeMap<String, Vec<&Issue>> = BTreeMap::new();
    let mut no_theme: Vec<&Issue> = Vec::new();
    for i in &open {
        let mut themed = false;
        for t in i.labels.iter().filter(|l| label::in_scope(l, "Theme")) {
            by_theme.entry(t.clone()).or_default().push(i);
            themed = true;
        }
        if !themed {
            no_theme.push(i);
        }
    }
    let theme_row = |(theme, list): (String, Vec<&Issue>)| {
        let customers: BTreeSet<String> = list
            .iter()
            .map(|i| {
                customer_of(&i.title, i.description.as_deref().unwrap_or(""))
                    .map(|c| c.to_lowercase())
                    .unwrap_or_else(|| format!("#{}", i.iid))
            })
            .collect();
        let mut priority = BTreeMap::new();
        let mut pm_status = BTreeMap::new();
        for i in &list {
            *priority
                .entry(in_scope(i, "Priority").unwrap_or("none").to_string())
                .or_insert(0) += 1;
            *pm_status
                .entry(in_scope(i, "PM Status").unwrap_or("none").to_string())
                .or_insert(0) += 1;
        }
        ThemeRow {
            theme,
            open_issues: list.len(),
            customers: customers.len(),
            priority,
            pm_status,
            arr_at_stake: list
                .iter()
                .filter_map(|i| arr_at_stake(i.description.as_deref().unwrap_or("")))
                .fold(0u64, u64::saturating_add),
        }
    };
    let mut themes: Vec<ThemeRow> = by_theme.into_iter().map(theme_row).collect();
    themes.sort_by(|a, b| {
        b.open_issues
            .cmp(&a.open_issues)
            .then(b.customers.cmp(&a.customers))
            .then(a.theme.cmp(&b.theme))
    });
    // Feedback nobody has themed yet is counted too, last, so the rows add up.
    if !no_theme.is_empty() {
        themes.push(theme_row((NO_THEME.to_string(), no_theme)));
    }

    let mut high_priority: Vec<Item> = open
        .iter()
        .filter(|i| is(i, "Priority::High"))
        .map(|i| item(i))
        .collect();
    high_priority.sort_by(|a, b| b.arr.cmp(&a.arr).then(a.iid.cmp(&b.iid)));
    high_priority.truncate(10);

    // The ARR Driver label, then the largest ARR at stake, up to five.
    let mut candidates: Vec<Item> = open
        .iter()
        .filter(|i| is(i, ARR_DRIVER))
        .map(|i| item(i))
        .collect();
    let mut by_arr: Vec<Item> = open
        .iter()
        .filter(|i| !is(i, ARR_DRIVER))
        .map(|i| item(i))
        .filter(|i| i.arr.is_some())
        .collect();
    by_arr.sort_by(|a, b| b.arr.cmp(&a.arr).then(a.iid.cmp(&b.iid)));
    candidates.sort_by(|a, b| b.arr.cmp(&a.arr).then(a.iid.cmp(&b.iid)));
    candidates.extend(by_arr);
    candidates.truncate(5.max(open.iter().filter(|i| is(i, ARR_DRIVER)).count()));

    let in_period = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= since && t <= now);
    let feedback_submitted = feedback.iter().filter(|i| in_period(i.created_at)).count();
    let acted = ["Reviewing", "Planned", "In Progress", "Shipped", "Declined"];
    let feedback_actioned = feedback
        .iter()
        .filter(|i| in_period(i.updated_at))
        .filter(|i| {
            i.state.is_closed() || in_scope(i, "PM Status").is_some_and(|s| acted.contains(&s))
        })
        .count();
    let requests: Vec<&Issue> = issues.iter().filter(|i| is(i, SME_REQUEST_TYPE)).collect();
    let mut hours: Vec<f64> = requests
        .iter()
        .filter(|i| in_period(i.created_at))
        .filter_map(|i| {
            Some((*first_assigned.get(&i.iid)? - i.created_at?).num_seconds() as f64 / 3600.0)
        })
        .collect();
    hours.sort_by(f64::total_cmp);
    let avg = (!hours.is_empty()).then(|| hours.iter().sum::<f64>() / hours.len() as f64);
    let median = (!hours.is_empty()).then(|| {
        let n = hours.len();
        if n % 2 == 1 {
            hours[n / 2]
        } else {
            (hours[n / 2 - 1] + hours[n / 2]) / 2.0
        }
    });
    // Open and still without an SME past the promise, decided as the escalation decides it.
    let open_requests_older_than_24h = requests
        .iter()
        .filter(|i| {
            i.state.is_open()
                && i.assignees.is_empty()
                && i.created_at.is_some_and(|c| {
                    promise(c, first_assigned.get(&i.iid).copied(), now) == Promise::Missed
                })
        })
        .map(|i| item(i))
        .collect();

    Report {
        area: area.to_string(),
        since: since.format("%Y-%m-%d").to_string(),
        until: now.format("%Y-%m-%d").to_string(),
        themes,
        high_priority,
        arr_driver_candidates: candidates,
        drivers: drivers(&feedback, (since, now), (since - (now - since), since)),
        flow: Flow {
            feedback_submitted,
            feedback_actioned,
            requests_assigned: hours.len(),
            hours_to_first_assignee_avg: avg.map(|h| (h * 10.0).round() / 10.0),
            hours_to_first_assignee_median: median.map(|h| (h * 10.0).round() / 10.0),
            open_requests_older_than_24h,
        },
        monthly: monthly(&feedback, now),
    }
}

/// Distinct customers per theme for feedback opened in each of the last six months.
fn monthly(feedback: &[&Issue], now: DateTime<Utc>) -> Vec<(String, BTreeMap<String, usize>)> {
    let mut months: Vec<(i32, u32)> = Vec::new();
    let (mut y, mut m) = (now.year(), now.month());
    for _ in 0..6 {
        months.push((y, m));
        if m == 1 {
            y -= 1;
            m = 12;
        } else {
            m -= 1;
        }
    }
    months.reverse();
    months
        .into_iter()
        .map(|(y, m)| {
            let mut per_theme: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for i in feedback {
                let Some(c) = i.created_at else {
                    continue;
                };
                if (c.year(), c.month()) != (y, m) {
                    continue;
                }
                let who = customer_of(&i.title, i.description.as_deref().unwrap_or(""))
                    .map(|c| c.to_lowercase())
                    .unwrap_or_else(|| format!("#{}", i.iid));
                for t in i.labels.iter().filter(|l| label::in_scope(l, "Theme")) {
                    per_theme
                        .entry(label::value_in(t, "Theme").unwrap_or(t).to_string())
                        .or_default()
                        .insert(who.clone());
                }
            }
            (
                format!("{y}-{m:02}"),
                per_theme.into_iter().map(|(t, c)| (t, c.len())).collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arr_reads_the_ways_people_write_it() {
        assert_eq!(arr_at_stake("**ARR at stake:** 250000"), Some(250_000));
        assert_eq!(arr_at_stake("ARR at stake: $1,200,000"), Some(1_200_000));
        assert_eq!(
            arr_at_stake("**ARR at stake:** 80k <!-- USD -->"),
            Some(80_000)
        );
        assert_eq!(
            arr_at_stake("**ARR at stake:** <!-- USD, a number -->"),
            None
        );
        assert_eq!(arr_at_stake("ARR at stake: 1.2M"), Some(1_200_000));
        for absurd in [
            "inf",
            "NaN",
            "1e300",
            "-5",
            "2000000000000",
            "999999999999999k",
        ] {
            assert_eq!(
                arr_at_stake(&format!("ARR at stake: {absurd}")),
                None,
                "{absurd}"
            );
        }
    }
}
