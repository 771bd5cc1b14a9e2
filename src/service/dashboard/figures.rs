//! The dashboard's figures, pure (what was read from GitLab, a filter and the time in; what the
//! pages show out), so every count is tested on data with known answers. Each figure reuses the
//! reports' own definition: themes ranked from `report::compute`'s theme rows (distinct
//! customers, ARR at stake), the six-month trend from `report::program::compute` run month by
//! month, the 24-hour promise from `policy::request::promise`. Every count carries the GitLab
//! issue list that shows the issues behind it (`gitlab::web::issue_list`).

use crate::gitlab::label;
use crate::gitlab::types::Issue;
use crate::gitlab::web::issue_list;
use crate::policy::issue::{FEEDBACK_TYPE, PM_STATUS_SCOPE, THEME_SCOPE};
use crate::policy::request::promise::{promise, Promise, PROMISE_HOURS};
use crate::policy::request::REQUEST_TYPE;
use crate::report::program::metrics::{self as program_metrics, Status};
use crate::report::program::quarter::Quarter;
use crate::report::program::{self as program_report, AreaInput, ProgramReport};
use crate::store::crm::Imported;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// The scope of the label that says which sales region a customer is in.
pub const REGION_SCOPE: &str = "Region";
/// A waiting request with this many hours or fewer left before the promise is marked as due soon.
pub const DUE_SOON_HOURS: i64 = 6;
/// Months in the trend, the current one last.
pub const TREND_MONTHS: usize = 6;

/// What was read from one area, formal or of interest.
#[derive(Debug, Clone, Default)]
pub struct AreaData {
    pub slug: String,
    pub formal: bool,
    /// The project's page; `None` while the area has no project in GitLab.
    pub web_url: Option<String>,
    /// Its issues, SME requests' first assignments and seed-issue note times.
    pub input: AreaInput,
    /// Theme label → the theme's epic, or its tracking issue where GitLab has no epics.
    pub containers: BTreeMap<String, Link>,
    /// What smeflow.toml lacks for the area's promotion (areas of interest).
    pub lacks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// What the person narrowed the page to: an area (its slug) and a region (`Region::` value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub area: Option<String>,
    pub region: Option<String>,
}

/// A count and the GitLab issue list that shows the issues behind it (none without a project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub n: usize,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub areas: Vec<AreaView>,
    /// Every theme of the areas shown, by distinct customers, then ARR at stake.
    pub themes: Vec<RankedTheme>,
    pub requests: Vec<WaitingRequest>,
    /// SME username → open requests assigned to them, busiest first.
    pub load: Vec<(String, usize)>,
    pub metrics: Vec<Metric>,
    /// The quarter the program's metrics are for ("2026-Q3"): the last complete one.
    pub metrics_quarter: String,
    /// The regions found on the formal areas' issues, for the filter.
    pub regions: Vec<String>,
    /// Every area (slug, name), whatever the filter, for the filter.
    pub all_areas: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AreaView {
    pub slug: String,
    pub name: String,
    pub formal: bool,
    pub has_project: bool,
    pub open_feedback: Count,
    /// Ranked like the program's themes; feedback without a theme last.
    pub themes: Vec<ThemeView>,
    /// The PM statuses the theme table has a column for ("none": no PM Status label).
    pub statuses: Vec<String>,
    pub trend: Vec<MonthRow>,
    /// Every open issue (what an area of interest has instead of feedback).
    pub open_issues: Count,
    pub lacks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThemeView {
    /// The label (`Theme::Duo Chat`), or `(no theme)`.
    pub label: String,
    pub name: String,
    pub container: Option<Link>,
    pub open: Count,
    pub customers: usize,
    pub arr_at_stake: u64,
    /// One per `AreaView::statuses`.
    pub by_status: Vec<Count>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankedTheme {
    pub area: String,
    pub slug: String,
    pub theme: ThemeView,
}

/// One month of an area: what the program report counts for that month alone.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthRow {
    /// `2026-11`.
    pub month: String,
    pub feedback_in: usize,
    pub actioned: usize,
    pub shipped: usize,
    pub requests: usize,
    pub hours_to_assignment_avg: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaitingRequest {
    pub area: String,
    pub slug: String,
    pub iid: u64,
    pub title: String,
    pub url: String,
    pub requester: Option<String>,
    pub assignees: Vec<String>,
    pub age_hours: i64,
    pub standing: Standing,
}

/// Where a request stands against the 24-hour promise, as `promise::promise` decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No SME yet, this many whole hours left.
    Waiting { hours_left: i64 },
    /// No SME yet and past the promise, or the SME came after it.
    Missed,
    /// The SME came within the promise.
    Kept,
    /// Assigned, but when is not known (opened before the history the dashboard reads).
    Assigned,
}

impl Standing {
    /// How close to the promise: the page's colour class.
    pub fn class(self) -> &'static str {
        match self {
            Standing::Waiting { hours_left } if hours_left <= DUE_SOON_HOURS => "due-soon",
            Standing::Waiting { .. } => "waiting",
            Standing::Missed => "missed",
            Standing::Kept | Standing::Assigned => "kept",
        }
    }
}

/// One of the program's metrics against its goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub value: String,
    pub goal: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Below,
    /// Its input is missing: no figure is made up.
    NoData,
    /// Its input exists but gives no figure for the period (the value says why).
    NotMeasurable,
    /// Shown for information; the program has set no goal for it here.
    NoGoal,
}

/// The first instant of the month `back` months before `now`'s.
pub fn month_start(now: DateTime<Utc>, back: u32) -> DateTime<Utc> {
    let months = now.year() * 12 + now.month0() as i32 - back as i32;
    NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(now)
}

fn has(i: &Issue, label: &str) -> bool {
    i.labels.iter().any(|l| l == label)
}

fn values_in_scope<'a>(i: &'a Issue, scope: &'a str) -> impl Iterator<Item = &'a str> {
    i.labels
        .iter()
        .filter_map(move |l| label::value_in(l, scope))
}

/// The area's input narrowed to one region: areas of interest have no Region labels (the set
/// is formal-only), so they are kept whole.
fn in_region(area: &AreaData, region: Option<&str>) -> AreaInput {
    let mut input = area.input.clone();
    if let (Some(region), true) = (region, area.formal) {
        input
            .issues
            .retain(|i| values_in_scope(i, REGION_SCOPE).any(|v| v == region));
    }
    input
}

pub fn compute(
    areas: &[AreaData],
    filter: &Filter,
    imported: &Imported,
    now: DateTime<Utc>,
) -> Board {
    let region = filter.region.as_deref();
    let region_label = region.map(|r| format!("{REGION_SCOPE}::{r}"));
    let regions: Vec<String> = areas
        .iter()
        .filter(|a| a.formal)
        .flat_map(|a| &a.input.issues)
        .flat_map(|i| values_in_scope(i, REGION_SCOPE))
        .map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let shown: Vec<(&AreaData, AreaInput)> = areas
        .iter()
        .filter(|a| filter.area.as_ref().is_none_or(|s| *s == a.slug))
        .map(|a| (a, in_region(a, region)))
        .collect();

    let since = month_start(now, 0);
    let mut views = Vec::new();
    let mut ranked = Vec::new();
    let mut requests = Vec::new();
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for (area, input) in &shown {
        let view = area_view(area, input, region_label.as_deref(), since, now);
        ranked.extend(
            view.themes
                .iter()
                .filter(|t| t.label != crate::report::figures::NO_THEME)
                .map(|t| RankedTheme {
                    area: view.name.clone(),
                    slug: view.slug.clone(),
                    theme: t.clone(),
                }),
        );
        views.push(view);
        if !area.formal {
            continue;
        }
        for r in input
            .issues
            .iter()
            .filter(|i| i.state.is_open() && has(i, REQUEST_TYPE))
        {
            let Some(created) = r.created_at else {
                continue;
            };
            let assignees: Vec<String> = r.assignees.iter().map(|u| u.username.clone()).collect();
            for a in &assignees {
                *load.entry(a.clone()).or_insert(0) += 1;
            }
            let first = input.first_assigned.get(&r.iid).copied();
            let standing = match (assignees.is_empty(), first) {
                (false, None) => Standing::Assigned,
                (unassigned, first) => match promise(created, first.filter(|_| !unassigned), now) {
                    Promise::Kept => Standing::Kept,
                    Promise::Missed => Standing::Missed,
                    Promise::Waiting => Standing::Waiting {
                        hours_left: PROMISE_HOURS - (now - created).num_hours(),
                    },
                },
            };
            requests.push(WaitingRequest {
                area: area.input.area.clone(),
                slug: area.slug.clone(),
                iid: r.iid,
                title: r.title.clone(),
                url: r.web_url.clone(),
                requester: r.author.as_ref().map(|u| u.username.clone()),
                assignees,
                age_hours: (now - created).num_hours(),
                standing,
            });
        }
    }
    // Those still without an SME first, the longest waiting first.
    requests.sort_by(|a, b| {
        (!a.assignees.is_empty())
            .cmp(&!b.assignees.is_empty())
            .then(b.age_hours.cmp(&a.age_hours))
            .then(a.area.cmp(&b.area))
            .then(a.iid.cmp(&b.iid))
    });
    ranked.sort_by(|a, b| rank(&a.theme, &b.theme).then(a.area.cmp(&b.area)));
    let mut load: Vec<(String, usize)> = load.into_iter().collect();
    load.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let formal: Vec<AreaInput> = shown
        .iter()
        .filter(|(a, _)| a.formal && a.web_url.is_some())
        .map(|(_, input)| input.clone())
        .collect();
    let report = program_report::compute(&formal, since, now);
    let (metrics_quarter, metrics) = metrics(&formal, &report, imported, now);
    Board {
        areas: views,
        themes: ranked,
        requests,
        load,
        metrics,
        metrics_quarter,
        regions,
        all_areas: areas
            .iter()
            .map(|a| (a.slug.clone(), a.input.area.clone()))
            .collect(),
    }
}

/// Distinct customers first, then ARR at stake, then open feedback, then the name.
fn rank(a: &ThemeView, b: &ThemeView) -> std::cmp::Ordering {
    b.customers
        .cmp(&a.customers)
        .then(b.arr_at_stake.cmp(&a.arr_at_stake))
        .then(b.open.n.cmp(&a.open.n))
        .then(a.name.cmp(&b.name))
}

fn area_view(
    area: &AreaData,
    input: &AreaInput,
    region_label: Option<&str>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AreaView {
    let web = area.web_url.as_deref();
    // A count's issue list: the feedback (and region) labels plus `with`, minus `without`.
    let list = |with: &[&str], without: &[&str], base: &[&str]| {
        web.map(|w| {
            let mut labels: Vec<&str> = base.to_vec();
            labels.extend(region_label);
            labels.extend_from_slice(with);
            issue_list(w, &labels, without, "opened")
        })
    };
    let feedback = [FEEDBACK_TYPE];
    let report = crate::report::compute(
        &input.area,
        &input.issues,
        &input.first_assigned,
        since,
        now,
    );
    let open_feedback: Vec<&Issue> = input
        .issues
        .iter()
        .filter(|i| i.state.is_open() && has(i, FEEDBACK_TYPE))
        .collect();
    let theme_labels: Vec<&str> = report
        .themes
        .iter()
        .map(|t| t.theme.as_str())
        .filter(|t| *t != crate::report::figures::NO_THEME)
        .collect();
    let statuses: Vec<String> = report
        .themes
        .iter()
        .flat_map(|t| t.pm_status.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let status_labels: Vec<String> = statuses
        .iter()
        .filter(|s| *s != "none")
        .map(|s| format!("{PM_STATUS_SCOPE}::{s}"))
        .collect();
    let status_labels: Vec<&str> = status_labels.iter().map(String::as_str).collect();
    let mut themes: Vec<ThemeView> = report
        .themes
        .iter()
        .map(|t| {
            let themed = t.theme != crate::report::figures::NO_THEME;
            let (with, without): (Vec<&str>, Vec<&str>) = if themed {
                (vec![t.theme.as_str()], vec![])
            } else {
                (vec![], theme_labels.clone())
            };
            let by_status = statuses
                .iter()
                .map(|s| {
                    let n = t.pm_status.get(s).copied().unwrap_or(0);
                    let url = if s == "none" {
                        let mut not = without.clone();
                        not.extend(&status_labels);
                        list(&with, &not, &feedback)
                    } else {
                        let label = format!("{PM_STATUS_SCOPE}::{s}");
                        let mut w = with.clone();
                        w.push(&label);
                        list(&w, &without, &feedback)
                    };
                    Count { n, url }
                })
                .collect();
            ThemeView {
                label: t.theme.clone(),
                name: label::value_in(&t.theme, THEME_SCOPE)
                    .unwrap_or(&t.theme)
                    .to_string(),
                container: area.containers.get(&t.theme).cloned(),
                open: Count {
                    n: t.open_issues,
                    url: list(&with, &without, &feedback),
                },
                customers: t.customers,
                arr_at_stake: t.arr_at_stake,
                by_status,
            }
        })
        .collect();
    // The report puts feedback without a theme last; the rest by customers and ARR.
    let untagged = themes
        .iter()
        .position(|t| t.label == crate::report::figures::NO_THEME)
        .map(|at| themes.remove(at));
    themes.sort_by(rank);
    themes.extend(untagged);

    let trend = (0..TREND_MONTHS as u32)
        .rev()
        .map(|back| {
            let from = month_start(now, back);
            let to = if back == 0 {
                now
            } else {
                month_start(now, back - 1)
            };
            let report = program_report::compute(std::slice::from_ref(input), from, to);
            let row = &report.areas[0];
            MonthRow {
                month: from.format("%Y-%m").to_string(),
                feedback_in: row.feedback_submitted,
                actioned: row.feedback_actioned,
                shipped: row.shipped,
                requests: row.requests_opened,
                hours_to_assignment_avg: row.hours_to_assignment_avg,
            }
        })
        .collect();
    AreaView {
        slug: area.slug.clone(),
        name: input.area.clone(),
        formal: area.formal,
        has_project: web.is_some(),
        open_feedback: Count {
            n: open_feedback.len(),
            url: list(&[], &[], &feedback),
        },
        themes,
        statuses,
        trend,
        open_issues: Count {
            n: input.issues.iter().filter(|i| i.state.is_open()).count(),
            url: list(&[], &[], &[]),
        },
        lacks: area.lacks.clone(),
    }
}

/// The program's eight metrics for the last complete quarter, as `report --program` shows them
/// by default (the same figures and the same words, "no data — import …" where an input was
/// never imported), then the 24-hour promise this month.
pub fn metrics(
    formal: &[AreaInput],
    report: &ProgramReport,
    imported: &Imported,
    now: DateTime<Utc>,
) -> (String, Vec<Metric>) {
    let quarter = Quarter::last_complete(now);
    let computed = program_metrics::compute(formal, imported, quarter);
    let mut list: Vec<Metric> = computed
        .list
        .iter()
        .map(|m| Metric {
            name: format!("{}. {}", m.number, m.name),
            value: m.shown(),
            goal: m.goal.text.to_string(),
            verdict: match m.status {
                Status::Met => Verdict::Met,
                Status::NotMet => Verdict::Below,
                Status::NoData { .. } => Verdict::NoData,
                Status::NotMeasurable { .. } => Verdict::NotMeasurable,
            },
        })
        .collect();
    let missed = report.missed_promise.len();
    list.push(Metric {
        name: "24-hour promise: requests this month that missed it".into(),
        value: missed.to_string(),
        goal: "none".into(),
        verdict: if missed == 0 {
            Verdict::Met
        } else {
            Verdict::Below
        },
    });
    (computed.quarter, list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WEB: &str = "https://gitlab.example.com/sme/ai-sme";

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// An issue as GitLab lists it; `closed` also closes it.
    fn issue(iid: u64, title: &str, labels: &[&str], created: &str, closed: Option<&str>) -> Issue {
        serde_json::from_value(json!({
            "id": 1000 + iid, "iid": iid, "project_id": 1, "title": title,
            "description": "",
            "state": if closed.is_some() { "closed" } else { "opened" },
            "labels": labels, "web_url": format!("{WEB}/-/issues/{iid}"),
            "author": {"id": 7, "username": "sa-jane"},
            "created_at": created, "updated_at": closed.unwrap_or(created),
            "closed_at": closed, "assignees": [],
        }))
        .unwrap()
    }

    fn feedback(
        iid: u64,
        customer: &str,
        arr: u64,
        labels: &[&str],
        created: &str,
        closed: Option<&str>,
    ) -> Issue {
        let mut all = vec!["Type::Customer Feedback"];
        all.extend_from_slice(labels);
        let mut i = issue(
            iid,
            &format!("{customer}: feedback {iid}"),
            &all,
            created,
            closed,
        );
        i.description = Some(format!(
            "**Customer:** {customer}\n**ARR at stake:** {arr}\n"
        ));
        i
    }

    fn request(iid: u64, title: &str, labels: &[&str], created: &str, sme: Option<&str>) -> Issue {
        let mut all = vec!["Type::SME Request"];
        all.extend_from_slice(labels);
        let mut i = issue(iid, title, &all, created, None);
        i.assignees = sme
            .map(|u| serde_json::from_value(json!([{"id": 50, "username": u}])).unwrap())
            .unwrap_or_default();
        i
    }

    const NOW: &str = "2026-11-25T12:00:00Z";

    /// The AI area (formal, hand-counted below), an area of interest with a project, and one
    /// without.
    fn program() -> Vec<AreaData> {
        let mut closed_request = request(
            12,
            "Stark: demo",
            &[],
            "2026-11-05T09:00:00Z",
            Some("sme-bob"),
        );
        closed_request.state = "closed".into();
        let ai = AreaData {
            slug: "ai".into(),
            formal: true,
            web_url: Some(WEB.into()),
            input: AreaInput {
                area: "AI".into(),
                loops_closed: Vec::new(),
                contributions: Vec::new(),
                issues: vec![
                    feedback(
                        1,
                        "ACME",
                        250_000,
                        &["Theme::Duo Chat", "PM Status::New", "Region::APAC"],
                        "2026-11-10T09:00:00Z",
                        None,
                    ),
                    feedback(
                        2,
                        "Globex",
                        100_000,
                        &[
                            "Theme::Duo Chat",
                            "PM Status::Reviewing",
                            "Region::EMEA NEUR",
                        ],
                        "2026-10-05T09:00:00Z",
                        None,
                    ),
                    feedback(
                        3,
                        "acme",
                        50_000,
                        &["Theme::Duo Chat", "PM Status::New", "Region::APAC"],
                        "2026-11-12T09:00:00Z",
                        None,
                    ),
                    feedback(
                        4,
                        "Initech",
                        400_000,
                        &[
                            "Theme::Code Suggestions",
                            "PM Status::New",
                            "Region::US East",
                        ],
                        "2026-09-01T09:00:00Z",
                        None,
                    ),
                    feedback(5, "Hooli", 0, &[], "2026-11-20T09:00:00Z", None),
                    feedback(
                        6,
                        "Soylent",
                        900_000,
                        &["Theme::Duo Chat", "PM Status::Shipped"],
                        "2026-08-01T09:00:00Z",
                        Some("2026-11-15T09:00:00Z"),
                    ),
                    feedback(
                        13,
                        "Umbrella",
                        500_000,
                        &[
                            "Theme::Self-Hosted Models",
                            "PM Status::Planned",
                            "Region::EMEA NEUR",
                        ],
                        "2026-11-21T09:00:00Z",
                        None,
                    ),
                    request(
                        7,
                        "Vandelay: workshop",
                        &["Region::APAC"],
                        "2026-11-24T06:00:00Z",
                        None,
                    ),
                    request(8, "Wonka: demo", &[], "2026-11-24T16:00:00Z", None),
                    request(
                        9,
                        "Hooli <script>alert(1)</script>: \"call\" & more",
                        &[],
                        "2026-11-25T10:00:00Z",
                        None,
                    ),
                    request(
                        10,
                        "Cyberdyne: review",
                        &[],
                        "2026-11-02T09:00:00Z",
                        Some("sme-ana"),
                    ),
                    request(
                        11,
                        "Tyrell: call",
                        &[],
                        "2026-10-10T09:00:00Z",
                        Some("sme-ana"),
                    ),
                    closed_request,
                ],
                first_assigned: [
                    (10, t("2026-11-02T12:00:00Z")),
                    (11, t("2026-10-11T15:00:00Z")),
                    (12, t("2026-11-05T10:00:00Z")),
                ]
                .into(),
                enablement_added: vec![
                    t("2026-11-03T09:00:00Z"),
                    t("2026-11-04T09:00:00Z"),
                    t("2026-10-04T09:00:00Z"),
                ],
                knowledge_added: vec![],
            },
            containers: [(
                "Theme::Duo Chat".to_string(),
                Link {
                    title: "AI: Duo Chat".into(),
                    url: "https://gitlab.example.com/groups/sme/-/epics/3".into(),
                },
            )]
            .into(),
            lacks: vec![],
        };
        let cicd = AreaData {
            slug: "cicd".into(),
            formal: false,
            web_url: Some("https://gitlab.example.com/sme/cicd-sme".into()),
            input: AreaInput {
                area: "CI/CD & Runner".into(),
                loops_closed: Vec::new(),
                issues: vec![
                    issue(
                        1,
                        "Runner autoscaling notes",
                        &[],
                        "2026-11-01T09:00:00Z",
                        None,
                    ),
                    issue(
                        2,
                        "Fleet tips",
                        &["SME Workflow::Triage"],
                        "2026-11-02T09:00:00Z",
                        None,
                    ),
                    issue(
                        3,
                        "Old question",
                        &[],
                        "2026-10-01T09:00:00Z",
                        Some("2026-10-02T09:00:00Z"),
                    ),
                ],
                ..Default::default()
            },
            containers: BTreeMap::new(),
            lacks: vec!["area leads".into()],
        };
        let embedded = AreaData {
            slug: "embedded".into(),
            formal: false,
            web_url: None,
            input: AreaInput {
                area: "Embedded Systems".into(),
                loops_closed: Vec::new(),
                ..Default::default()
            },
            ..Default::default()
        };
        vec![ai, cicd, embedded]
    }

    fn list(with: &[&str], without: &[&str]) -> Option<String> {
        Some(issue_list(WEB, with, without, "opened"))
    }

    #[test]
    fn themes_rank_by_distinct_customers_then_arr_and_each_count_links_to_its_issues() {
        let board = compute(&program(), &Filter::default(), &Imported::default(), t(NOW));
        let ranked: Vec<(&str, usize, u64, usize)> = board
            .themes
            .iter()
            .map(|r| {
                (
                    r.theme.name.as_str(),
                    r.theme.customers,
                    r.theme.arr_at_stake,
                    r.theme.open.n,
                )
            })
            .collect();
        // Duo Chat: #1 ACME, #2 Globex, #3 acme (the same customer), open; #6 is closed.
        assert_eq!(
            ranked,
            [
                ("Duo Chat", 2, 400_000, 3),
                ("Self-Hosted Models", 1, 500_000, 1),
                ("Code Suggestions", 1, 400_000, 1),
            ]
        );
        let ai = &board.areas[0];
        assert_eq!(ai.open_feedback.n, 6);
        assert_eq!(
            ai.open_feedback.url,
            list(&["Type::Customer Feedback"], &[])
        );
        assert_eq!(ai.statuses, ["New", "Planned", "Reviewing", "none"]);
        let duo = &ai.themes[0];
        assert_eq!(
            duo.container.as_ref().unwrap().url,
            "https://gitlab.example.com/groups/sme/-/epics/3"
        );
        assert_eq!(
            duo.open.url,
            list(&["Type::Customer Feedback", "Theme::Duo Chat"], &[])
        );
        assert_eq!(
            duo.by_status.iter().map(|c| c.n).collect::<Vec<_>>(),
            [2, 0, 1, 0]
        );
        assert_eq!(
            duo.by_status[2].url,
            list(
                &[
                    "Type::Customer Feedback",
                    "Theme::Duo Chat",
                    "PM Status::Reviewing"
                ],
                &[]
            )
        );
        // Feedback nobody themed: last, and its list leaves out every theme of the area.
        let untagged = ai.themes.last().unwrap();
        assert_eq!(
            (untagged.label.as_str(), untagged.open.n),
            ("(no theme)", 1)
        );
        assert_eq!(
            untagged.open.url,
            list(
                &["Type::Customer Feedback"],
                &[
                    "Theme::Duo Chat",
                    "Theme::Code Suggestions",
                    "Theme::Self-Hosted Models"
                ]
            )
        );
        assert_eq!(
            untagged.by_status[3].url,
            list(
                &["Type::Customer Feedback"],
                &[
                    "Theme::Duo Chat",
                    "Theme::Code Suggestions",
                    "Theme::Self-Hosted Models",
                    "PM Status::New",
                    "PM Status::Planned",
                    "PM Status::Reviewing"
                ]
            )
        );
    }

    #[test]
    fn the_trend_counts_each_of_six_months_as_the_program_report_would() {
        let board = compute(&program(), &Filter::default(), &Imported::default(), t(NOW));
        let row = |month: &str, feedback_in, actioned, shipped, requests, avg| MonthRow {
            month: month.to_string(),
            feedback_in,
            actioned,
            shipped,
            requests,
            hours_to_assignment_avg: avg,
        };
        let rows = board.areas[0].trend.clone();
        assert_eq!(
            rows,
            [
                row("2026-06", 0, 0, 0, 0, None),
                row("2026-07", 0, 0, 0, 0, None),
                // #6 opened in August, #4 in September.
                row("2026-08", 1, 0, 0, 0, None),
                row("2026-09", 1, 0, 0, 0, None),
                // #2 opened and moved to Reviewing; #11 took 30 hours to an SME.
                row("2026-10", 1, 1, 0, 1, Some(30.0)),
                // #1, #3, #5, #13 in; #6 shipped (closed), #13 planned; #7-#10, #12 asked,
                // #10 assigned after 3 h and #12 after 1 h.
                row("2026-11", 4, 2, 1, 5, Some(2.0)),
            ]
        );
    }

    #[test]
    fn requests_waiting_show_how_close_they_are_to_the_promise_and_load_counts_open_ones() {
        let board = compute(&program(), &Filter::default(), &Imported::default(), t(NOW));
        let requests: Vec<(u64, i64, Standing, &str)> = board
            .requests
            .iter()
            .map(|r| (r.iid, r.age_hours, r.standing, r.standing.class()))
            .collect();
        assert_eq!(
            requests,
            [
                (7, 30, Standing::Missed, "missed"),
                (8, 20, Standing::Waiting { hours_left: 4 }, "due-soon"),
                (9, 2, Standing::Waiting { hours_left: 22 }, "waiting"),
                // Assigned after 30 h, then after 3 h.
                (11, 1107, Standing::Missed, "missed"),
                (10, 555, Standing::Kept, "kept"),
            ]
        );
        assert_eq!(board.requests[0].requester.as_deref(), Some("sa-jane"));
        // #12 is closed: sme-bob carries nothing open.
        assert_eq!(board.load, [("sme-ana".to_string(), 2)]);
    }

    #[test]
    fn the_metrics_are_the_program_reports_eight_for_the_last_complete_quarter_then_the_promise() {
        // In January 2027 the last complete quarter is 2026-Q4, which holds the fixture's work.
        // Stack Overflow was imported: two questions, one answered by an SME with 7 upvotes.
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let imported = Imported {
            stackoverflow: vec![
                crate::store::crm::StackOverflowPost {
                    question_id: 1,
                    asked_on: day("2026-10-02"),
                    answer: Some((11, 7)),
                },
                crate::store::crm::StackOverflowPost {
                    question_id: 2,
                    asked_on: day("2026-11-20"),
                    answer: None,
                },
            ],
            ..Default::default()
        };
        let board = compute(
            &program(),
            &Filter::default(),
            &imported,
            t("2027-01-05T10:00:00Z"),
        );
        assert_eq!(board.metrics_quarter, "2026-Q4");
        let m: Vec<(&str, Verdict)> = board
            .metrics
            .iter()
            .map(|m| (m.name.split('.').next().unwrap_or(""), m.verdict))
            .collect();
        assert_eq!(
            m,
            [
                ("1", Verdict::NoData),
                ("2", Verdict::Below),
                ("3", Verdict::NoData),
                ("4", Verdict::NoData),
                ("4", Verdict::NoData),
                // Nothing was assigned in 2026-Q2 to compare with.
                ("5", Verdict::NotMeasurable),
                ("6", Verdict::NoData),
                ("7", Verdict::Below),
                ("7", Verdict::Below),
                ("8", Verdict::Below),
                ("8", Verdict::Met),
                (
                    "24-hour promise: requests this month that missed it",
                    Verdict::Met
                ),
            ]
        );
        let value = |i: usize| board.metrics[i].value.as_str();
        // #6 shipped in November.
        assert!(value(1).starts_with("1: "), "{}", value(1));
        // Never made up: the missing input is named with the command that brings it.
        assert_eq!(value(6), "no data — import: `smeflow import nps FILE.csv`");
        assert!(value(9).starts_with("50.0%: "), "{}", value(9));
        assert!(value(10).starts_with("7.0 per answer: "), "{}", value(10));
    }

    #[test]
    fn a_region_narrows_the_formal_areas_and_its_links_carry_the_region() {
        let filter = Filter {
            area: None,
            region: Some("APAC".into()),
        };
        let board = compute(&program(), &filter, &Imported::default(), t(NOW));
        assert_eq!(board.regions, ["APAC", "EMEA NEUR", "US East"]);
        let ai = &board.areas[0];
        assert_eq!(ai.open_feedback.n, 2);
        let duo = &ai.themes[0];
        assert_eq!((duo.customers, duo.arr_at_stake), (1, 300_000));
        assert_eq!(
            duo.open.url,
            list(
                &["Type::Customer Feedback", "Region::APAC", "Theme::Duo Chat"],
                &[]
            )
        );
        assert_eq!(
            board.requests.iter().map(|r| r.iid).collect::<Vec<_>>(),
            [7]
        );
        // An area of interest has no Region labels: it is shown whole.
        assert_eq!(board.areas[1].open_issues.n, 2);
    }

    #[test]
    fn areas_of_interest_and_areas_without_a_project_are_shown_for_what_they_have() {
        let filter = Filter {
            area: Some("cicd".into()),
            region: None,
        };
        let board = compute(&program(), &filter, &Imported::default(), t(NOW));
        assert_eq!(board.areas.len(), 1);
        let cicd = &board.areas[0];
        assert!(!cicd.formal && cicd.has_project);
        assert_eq!(
            cicd.open_issues,
            Count {
                n: 2,
                url: Some(issue_list(
                    "https://gitlab.example.com/sme/cicd-sme",
                    &[],
                    &[],
                    "opened"
                ))
            }
        );
        assert!(board.requests.is_empty() && board.themes.is_empty());
        // Only an area of interest is shown: the program's metrics have no formal area to
        // measure and say so instead of showing a zero.
        assert_eq!(
            board.metrics[1].value,
            "– (no formal area has a project in GitLab yet)"
        );
        assert_eq!(board.all_areas.len(), 3);

        let all = compute(&program(), &Filter::default(), &Imported::default(), t(NOW));
        let embedded = &all.areas[2];
        assert!(!embedded.has_project);
        assert_eq!(embedded.open_issues, Count { n: 0, url: None });
    }

    #[test]
    fn pages_escape_what_people_wrote_and_the_area_page_reads_as_pinned() {
        let areas = program();
        let now = t(NOW);
        let overview = super::super::html::overview(
            &compute(&areas, &Filter::default(), &Imported::default(), now),
            &Filter::default(),
            "",
            now,
        );
        assert!(!overview.contains("<script"), "{overview}");
        assert!(overview.contains(
            "#9 Hooli &lt;script&gt;alert(1)&lt;/script&gt;: &quot;call&quot; &amp; more"
        ));
        let filter = Filter {
            area: Some("ai".into()),
            region: None,
        };
        let page = super::super::html::area_page(
            &compute(&areas, &filter, &Imported::default(), now),
            &filter,
            now,
        );
        insta::assert_snapshot!(page.replace("><", ">\n<"));
    }
}
