//! The texts of an area's meeting cadence, as `report --post` keeps them: the quarter's
//! "ARR Driver YYYY-QN" issue for the area leads, and the month's calibration issue (SMEs and
//! lead) and PM/SME meeting agenda. Pure (issues and the time in, titles and descriptions out);
//! `policy::cadence` decides whether each is created, updated or left alone.

use super::drivers::{drivers, month_key, month_start, quarter_bounds, quarter_key};
use super::figures::{item, Item, Report};
use super::render::{item_section, render_drivers};
use crate::config::labels::{PM_STATUS_SHIPPED, PRIORITY_HIGH, TYPE_CUSTOMER_FEEDBACK};
use crate::config::AreaConfig;
use crate::gitlab::label;
use crate::gitlab::types::Issue;
use crate::markdown;
use crate::policy::cadence::{marker, Desired};
use crate::policy::issue::FINAL_PM_STATUSES;
use chrono::{DateTime, Utc};

/// At most this many issues are listed under one heading; the rest are counted. An agenda
/// people read in a meeting, and a description far below GitLab's 1 MB limit.
pub const LIST_MAX: usize = 30;

/// The three issues, in the order they are planned.
pub fn desired(
    area: &AreaConfig,
    stale_days: i64,
    issues: &[Issue],
    report: &Report,
    now: DateTime<Utc>,
) -> Vec<Desired> {
    let feedback: Vec<&Issue> = issues
        .iter()
        .filter(|i| i.labels.iter().any(|l| l == TYPE_CUSTOMER_FEEDBACK))
        .collect();
    vec![
        arr_driver(area, &feedback, report, now),
        calibration(area, &feedback, now),
        agenda(area, stale_days, &feedback, now),
    ]
}

/// "ARR Driver 2026-Q1": the quarter's themes ranked, the trend against the quarter before,
/// and the feedback to bring.
pub fn arr_driver(
    area: &AreaConfig,
    feedback: &[&Issue],
    report: &Report,
    now: DateTime<Utc>,
) -> Desired {
    let quarter = quarter_key(now);
    let (start, previous) = quarter_bounds(now);
    let rows = drivers(feedback, (start, now), (previous, start));
    let mut o = format!(
        "# ARR Driver {quarter}: {} SME area\n\n{}\n\nThe themes of open customer feedback, for the quarterly ARR Driver meeting; the trend counts customers whose feedback was opened this quarter against the quarter before. smeflow keeps this description up to date until the quarter ends: comment below rather than editing it.\n\n## Themes\n\n",
        markdown::inline(&area.name),
        addressed("For the area lead(s)", &area.leads, "leads", &area.slug),
    );
    o.push_str(&render_drivers(&rows, "the previous quarter"));
    section(
        &mut o,
        "Feedback to bring (the ARR Driver label, then the largest ARR at stake)",
        &report.arr_driver_candidates,
    );
    finish(
        o,
        format!("ARR Driver {quarter}"),
        marker("arr-driver", &quarter),
    )
}

/// "SME Calibration 2026-03": the month's new feedback to calibrate, and open feedback that
/// still has no priority or no theme.
pub fn calibration(area: &AreaConfig, feedback: &[&Issue], now: DateTime<Utc>) -> Desired {
    let month = month_key(now);
    let open: Vec<&Issue> = feedback
        .iter()
        .copied()
        .filter(|i| i.state.is_open())
        .collect();
    let month_start = month_start(now);
    let fresh: Vec<Item> = feedback
        .iter()
        .filter(|i| i.created_at.is_some_and(|c| c >= month_start && c <= now))
        .map(|i| item(i))
        .collect();
    let no_priority: Vec<Item> = open
        .iter()
        .filter(|i| !has_scope(i, "Priority"))
        .map(|i| item(i))
        .collect();
    let untagged: Vec<Item> = open
        .iter()
        .filter(|i| !has_scope(i, "Theme"))
        .map(|i| item(i))
        .collect();
    let groups = area
        .google_groups
        .iter()
        .map(|g| markdown::code(g))
        .collect::<Vec<_>>()
        .join(", ");
    let mut o = format!(
        "# SME calibration {month}: {} SME area\n\n{}{}\n\nOnce a month the SMEs and the area lead agree on how new feedback is prioritised and themed, so the PM review compares like with like.\n",
        markdown::inline(&area.name),
        addressed("For the area lead(s)", &area.leads, "leads", &area.slug),
        if groups.is_empty() {
            String::new()
        } else {
            format!("\n\nFor the area's SMEs: {groups}")
        },
    );
    section(&mut o, "New feedback this month to calibrate", &fresh);
    section(&mut o, "Open feedback without a priority", &no_priority);
    section(&mut o, "Open feedback without a theme", &untagged);
    finish(
        o,
        format!("SME Calibration {month}"),
        marker("calibration", &month),
    )
}

/// "PM/SME Meeting 2026-03": high-priority feedback, feedback nobody has touched for
/// `stale_days`, and what shipped this month.
pub fn agenda(
    area: &AreaConfig,
    stale_days: i64,
    feedback: &[&Issue],
    now: DateTime<Utc>,
) -> Desired {
    let month = month_key(now);
    let month_start = month_start(now);
    let open: Vec<&Issue> = feedback
        .iter()
        .copied()
        .filter(|i| i.state.is_open())
        .collect();
    let mut high: Vec<Item> = open
        .iter()
        .filter(|i| i.labels.iter().any(|l| l == PRIORITY_HIGH))
        .map(|i| item(i))
        .collect();
    high.sort_by(|a, b| b.arr.cmp(&a.arr).then(a.iid.cmp(&b.iid)));
    // As the PM review's reminder decides it (`policy::issue::pm_review`): open, no PM decision,
    // nothing happened for `stale_days` (0 turns both off).
    let stale: Vec<Item> = open
        .iter()
        .filter(|_| stale_days > 0)
        .filter(|i| {
            !i.labels
                .iter()
                .any(|l| FINAL_PM_STATUSES.contains(&l.as_str()))
        })
        .filter(|i| {
            i.updated_at
                .is_some_and(|u| (now - u).num_days() >= stale_days)
        })
        .map(|i| item(i))
        .collect();
    let shipped: Vec<Item> = feedback
        .iter()
        .filter(|i| i.labels.iter().any(|l| l == PM_STATUS_SHIPPED))
        .filter(|i| i.updated_at.is_some_and(|u| u >= month_start && u <= now))
        .map(|i| item(i))
        .collect();
    let mut people: Vec<String> = area.pms.clone();
    people.extend(area.leads.iter().filter(|l| !area.pms.contains(l)).cloned());
    let mut o = format!(
        "# PM/SME meeting {month}: {} SME area\n\n{}\n\nThe agenda of this month's meeting of the area's Product Managers and SMEs; smeflow keeps it up to date until the month ends.\n",
        markdown::inline(&area.name),
        addressed("For the PM(s) and area lead(s)", &people, "pms` and `leads", &area.slug),
    );
    section(&mut o, "High-priority feedback", &high);
    section(
        &mut o,
        &format!("Stale: open feedback not updated for {stale_days} days or more"),
        &stale,
    );
    section(&mut o, "Shipped this month: tell the customers", &shipped);
    finish(
        o,
        format!("PM/SME Meeting {month}"),
        marker("agenda", &month),
    )
}

/// The live mentions of the people smeflow decided to notify, or what to configure.
fn addressed(lead_in: &str, people: &[String], key: &str, slug: &str) -> String {
    if people.is_empty() {
        return format!(
            "No one to notify yet: add usernames under `{key}` for the {} area in smeflow.toml.",
            markdown::code(slug)
        );
    }
    let names: Vec<String> = people.iter().map(|p| markdown::mention(p)).collect();
    format!("{lead_in}: {}", names.join(" "))
}

fn section(o: &mut String, title: &str, items: &[Item]) {
    item_section(o, title, items, LIST_MAX);
}

fn finish(mut description: String, title: String, marker: String) -> Desired {
    description.push('\n');
    description.push_str(&marker);
    description.push('\n');
    Desired {
        title,
        description,
        marker,
    }
}

fn has_scope(i: &Issue, scope: &str) -> bool {
    i.labels.iter().any(|l| label::in_scope(l, scope))
}
