//! The monthly PM review report: themes ranked by open feedback and distinct customers, the
//! urgent items, ARR Driver candidates, the program's flow figures, and a chart. `compute` is
//! pure (issues in, figures out) so the numbers can be tested on a data set with known answers.

use crate::config::label_scope;
use crate::gitlab::types::{parse_time, Issue};
use crate::policy::epics::customer_of;
use crate::policy::issue::FEEDBACK_TYPE;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub const SME_REQUEST_TYPE: &str = "Type::SME Request";
pub const ARR_DRIVER: &str = "ARR Driver";

#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub area: String,
    pub since: String,
    pub until: String,
    pub themes: Vec<ThemeRow>,
    pub high_priority: Vec<Item>,
    pub arr_driver_candidates: Vec<Item>,
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

/// The `ARR at stake` field of the Customer Feedback template, in USD ("250000", "$250,000",
/// "250k" and "1.2M" all read).
pub fn arr_at_stake(description: &str) -> Option<u64> {
    let line = description.lines().find(|l| {
        l.replace("**", "")
            .trim_start()
            .to_lowercase()
            .starts_with("arr at stake:")
    })?;
    let value = line.replace("**", "");
    let value = value.split_once(':')?.1;
    let value: String = value
        .split("<!--")
        .next()
        .unwrap_or_default()
        .trim()
        .replace([',', '$', ' '], "")
        .to_lowercase();
    let (digits, factor) = match value.chars().last()? {
        'k' => (&value[..value.len() - 1], 1_000.0),
        'm' => (&value[..value.len() - 1], 1_000_000.0),
        _ => (value.as_str(), 1.0),
    };
    let n: f64 = digits.parse().ok()?;
    (n >= 0.0).then_some((n * factor).round() as u64)
}

fn item(i: &Issue) -> Item {
    Item {
        iid: i.iid,
        title: i.title.clone(),
        customer: customer_of(&i.title, i.description.as_deref().unwrap_or("")),
        arr: arr_at_stake(i.description.as_deref().unwrap_or("")),
        web_url: i.web_url.clone(),
    }
}

fn in_scope<'a>(i: &'a Issue, scope: &str) -> Option<&'a str> {
    i.labels
        .iter()
        .find(|l| label_scope(l) == Some(scope))
        .map(|l| l.rsplit_once("::").map(|(_, v)| v).unwrap_or(l))
}

/// `first_assigned` maps an SME request's iid to when it was first assigned (from its system notes).
pub fn compute(
    area: &str,
    issues: &[Issue],
    first_assigned: &BTreeMap<u64, DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Report {
    let created = |i: &Issue| i.created_at.as_deref().and_then(parse_time);
    let updated = |i: &Issue| i.updated_at.as_deref().and_then(parse_time);
    let is = |i: &Issue, label: &str| i.labels.iter().any(|l| l == label);
    let feedback: Vec<&Issue> = issues.iter().filter(|i| is(i, FEEDBACK_TYPE)).collect();
    let open: Vec<&Issue> = feedback
        .iter()
        .copied()
        .filter(|i| i.state == "opened")
        .collect();

    let mut by_theme: BTreeMap<String, Vec<&Issue>> = BTreeMap::new();
    for i in &open {
        for t in i.labels.iter().filter(|l| label_scope(l) == Some("Theme")) {
            by_theme.entry(t.clone()).or_default().push(i);
        }
    }
    let mut themes: Vec<ThemeRow> = by_theme
        .into_iter()
        .map(|(theme, list)| {
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
                    .sum(),
            }
        })
        .collect();
    themes.sort_by(|a, b| {
        b.open_issues
            .cmp(&a.open_issues)
            .then(b.customers.cmp(&a.customers))
            .then(a.theme.cmp(&b.theme))
    });

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
    let feedback_submitted = feedback.iter().filter(|i| in_period(created(i))).count();
    let acted = ["Reviewing", "Planned", "In Progress", "Shipped", "Declined"];
    let feedback_actioned = feedback
        .iter()
        .filter(|i| in_period(updated(i)))
        .filter(|i| {
            i.state == "closed" || in_scope(i, "PM Status").is_some_and(|s| acted.contains(&s))
        })
        .count();
    let requests: Vec<&Issue> = issues.iter().filter(|i| is(i, SME_REQUEST_TYPE)).collect();
    let mut hours: Vec<f64> = requests
        .iter()
        .filter(|i| in_period(created(i)))
        .filter_map(|i| {
            Some((*first_assigned.get(&i.iid)? - created(i)?).num_seconds() as f64 / 3600.0)
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
    let open_requests_older_than_24h = requests
        .iter()
        .filter(|i| {
            i.state == "opened" && created(i).is_some_and(|c| now - c > Duration::hours(24))
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
                let Some(c) = i.created_at.as_deref().and_then(parse_time) else {
                    continue;
                };
                if (c.year(), c.month()) != (y, m) {
                    continue;
                }
                let who = customer_of(&i.title, i.description.as_deref().unwrap_or(""))
                    .map(|c| c.to_lowercase())
                    .unwrap_or_else(|| format!("#{}", i.iid));
                for t in i.labels.iter().filter(|l| label_scope(l) == Some("Theme")) {
                    per_theme
                        .entry(t.trim_start_matches("Theme::").to_string())
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

fn money(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    format!("${out}")
}

fn mix(m: &BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render_markdown(r: &Report, chart_url: Option<&str>) -> String {
    let mut o = format!(
        "# PM review: {} SME area, {} to {}\n\n",
        r.area, r.since, r.until
    );
    o.push_str("## Themes\n\n| Theme | Open issues | Customers | Priority | PM status | ARR at stake |\n|---|---:|---:|---|---|---:|\n");
    for t in &r.themes {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            t.theme.trim_start_matches("Theme::"),
            t.open_issues,
            t.customers,
            mix(&t.priority),
            mix(&t.pm_status),
            money(t.arr_at_stake)
        ));
    }
    if r.themes.is_empty() {
        o.push_str("| (no open feedback with a theme) | | | | | |\n");
    }
    if let Some(url) = chart_url {
        o.push_str(&format!(
            "\n![Themes by customers, last six months]({url})\n"
        ));
    }
    let list = |o: &mut String, title: &str, items: &[Item]| {
        o.push_str(&format!("\n## {title}\n\n"));
        if items.is_empty() {
            o.push_str("None.\n");
        }
        for i in items {
            o.push_str(&format!(
                "- [#{}]({}) {}{}{}\n",
                i.iid,
                i.web_url,
                i.title,
                i.customer
                    .as_deref()
                    .map(|c| format!(" — {c}"))
                    .unwrap_or_default(),
                i.arr
                    .map(|a| format!(", {} ARR", money(a)))
                    .unwrap_or_default()
            ));
        }
    };
    list(&mut o, "Top Priority::High feedback", &r.high_priority);
    list(
        &mut o,
        "Candidates for the quarterly ARR Driver meeting",
        &r.arr_driver_candidates,
    );
    let f = &r.flow;
    let hours = |h: Option<f64>| {
        h.map(|h| format!("{h:.1} h"))
            .unwrap_or_else(|| "n/a".into())
    };
    o.push_str(&format!(
        "\n## Flow\n\n- Feedback submitted: {}\n- Feedback actioned by PMs: {}\n- SME requests assigned: {} (time to first assignee: average {}, median {})\n- Open SME requests older than 24 hours: {}\n",
        f.feedback_submitted,
        f.feedback_actioned,
        f.requests_assigned,
        hours(f.hours_to_first_assignee_avg),
        hours(f.hours_to_first_assignee_median),
        f.open_requests_older_than_24h.len()
    ));
    for i in &f.open_requests_older_than_24h {
        o.push_str(&format!("  - [#{}]({}) {}\n", i.iid, i.web_url, i.title));
    }
    o.push_str("\n<!-- smeflow:pm-review -->\n");
    o
}

/// Stacked columns: one per month, a segment per theme sized by its distinct customers.
pub fn render_svg(r: &Report) -> String {
    const COLOURS: [&str; 10] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf",
    ];
    let themes: BTreeSet<&String> = r.monthly.iter().flat_map(|(_, m)| m.keys()).collect();
    let themes: Vec<&String> = themes.into_iter().collect();
    let max = r
        .monthly
        .iter()
        .map(|(_, m)| m.values().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, left, bottom, top) = (640.0, 320.0, 40.0, 40.0, 30.0);
    let plot_h = h - bottom - top;
    let col_w = (w - left - 180.0) / r.monthly.len().max(1) as f64;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<text x=\"{left}\" y=\"18\" font-size=\"13\">{} — distinct customers per theme, by month opened</text>\n",
        esc(&r.area)
    );
    o.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n",
        h - bottom,
        w - 180.0,
        h - bottom
    ));
    for (mi, (month, per)) in r.monthly.iter().enumerate() {
        let x = left + mi as f64 * col_w + col_w * 0.15;
        let mut y = h - bottom;
        for (ti, t) in themes.iter().enumerate() {
            let n = per.get(*t).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let seg = plot_h * n as f64 / max as f64;
            y -= seg;
            o.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{seg:.1}\" fill=\"{}\"><title>{} {}: {n}</title></rect>\n",
                col_w * 0.7,
                COLOURS[ti % COLOURS.len()],
                esc(t),
                month
            ));
        }
        let total: usize = per.values().sum();
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{total}</text>\n",
            x + col_w * 0.35,
            y - 4.0
        ));
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{month}</text>\n",
            x + col_w * 0.35,
            h - bottom + 16.0
        ));
    }
    for (ti, t) in themes.iter().enumerate() {
        let y = top + 14.0 * ti as f64;
        o.push_str(&format!(
            "<rect x=\"{}\" y=\"{y:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{:.1}\">{}</text>\n",
            w - 170.0,
            COLOURS[ti % COLOURS.len()],
            w - 155.0,
            y + 9.0,
            esc(t)
        ));
    }
    o.push_str("</svg>\n");
    o
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
        assert_eq!(money(1_234_567), "$1,234,567");
    }
}

/// The title of the month's review issue; `--post` finds it again by this exact title.
pub fn review_title(now: DateTime<Utc>) -> String {
    format!("PM Review {}", now.format("%Y-%m"))
}

pub mod run {
    //! Reading GitLab for the report, and `--post`.

    use super::*;
    use crate::gitlab::types::Project;
    use crate::gitlab::{GitLab, GitLabError};
    use crate::plan::{Change, FileAction, FileChange};
    use crate::reconcile::apply::{ApplyError, Executor};

    #[derive(Debug, thiserror::Error)]
    pub enum ReportError {
        #[error(transparent)]
        NoProject(#[from] crate::reconcile::provision::NotBootstrapped),
        #[error(transparent)]
        GitLab(#[from] GitLabError),
        #[error(transparent)]
        Apply(#[from] ApplyError),
    }

    pub async fn build(
        gl: &GitLab,
        project: &str,
        area: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Report, Project), ReportError> {
        let info = gl
            .project(project)
            .await?
            .ok_or_else(|| crate::reconcile::provision::NotBootstrapped(project.to_string()))?;
        let issues = gl.all_issues(project).await?;
        let mut first_assigned = BTreeMap::new();
        for i in issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| l == SME_REQUEST_TYPE) && !i.assignees.is_empty())
        {
            let created = i.created_at.as_deref().and_then(parse_time);
            if created.is_none_or(|c| c < since) {
                continue;
            }
            // GitLab keeps the assignment history as system notes.
            let notes = gl.notes(project, i.iid).await?;
            if let Some(at) = notes
                .iter()
                .filter(|n| n.system && n.body.starts_with("assigned to"))
                .find_map(|n| n.created_at.as_deref().and_then(parse_time))
            {
                first_assigned.insert(i.iid, at);
            }
        }
        Ok((compute(area, &issues, &first_assigned, since, now), info))
    }

    /// Commits the chart and creates or updates the month's "PM Review YYYY-MM" issue.
    pub async fn post(
        gl: &GitLab,
        project: &str,
        info: &Project,
        report: &Report,
        now: DateTime<Utc>,
    ) -> Result<String, ReportError> {
        let branch = info
            .default_branch
            .clone()
            .unwrap_or_else(|| "main".to_string());
        let path = format!("reports/{}/themes-by-customers.svg", now.format("%Y-%m"));
        let svg = render_svg(report);
        let mut changes = Vec::new();
        let existing = gl.repository_file(project, &path, &branch).await?;
        let same = existing
            .as_ref()
            .is_some_and(|f| f.blob_id == crate::gitlab::git_blob_id(&svg));
        if !same {
            changes.push(Change::CommitFiles {
                project: project.to_string(),
                branch: branch.clone(),
                message: format!("PM review chart for {}", now.format("%Y-%m")),
                files: vec![FileChange {
                    path: path.clone(),
                    action: if existing.is_some() {
                        FileAction::Update
                    } else {
                        FileAction::Create
                    },
                    content: svg,
                }],
            });
        }
        let chart_url = format!("{}/-/raw/{branch}/{path}", info.web_url);
        let body = render_markdown(report, Some(&chart_url));
        let title = review_title(now);
        // Found among smeflow's own issues by exact title: GitLab's search is full-text and
        // rate-limited, so "PM Review 2026-11" would also find "PM Review 2026-10".
        let me = gl.current_user().await?.id;
        let existing = gl
            .issues_by_author(project, me)
            .await?
            .into_iter()
            .find(|i| i.title == title);
        match existing {
            None => changes.push(Change::CreateIssue {
                project: project.to_string(),
                title: title.clone(),
                description: body,
                labels: Vec::new(),
            }),
            Some(issue)
                if issue.description.as_deref().unwrap_or("").trim_end() != body.trim_end() =>
            {
                changes.push(Change::UpdateIssueDescription {
                    project: project.to_string(),
                    iid: issue.iid,
                    title: title.clone(),
                    description: body,
                })
            }
            Some(_) => {}
        }
        let n = changes.len();
        Executor::new(gl, None).apply(&changes, |_, _| {}).await?;
        Ok(if n == 0 {
            format!("\"{title}\" is already up to date.")
        } else {
            format!("Posted \"{title}\" ({n} change(s)).")
        })
    }
}
