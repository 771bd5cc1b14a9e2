//! The program report as Markdown, with bar charts drawn in characters so they read in any
//! Markdown view (the review issue, a terminal).

use super::figures::{ProgramReport, ASSIGNMENT_FASTER_GOAL_PCT, SHIPPED_PER_QUARTER_GOAL};
use crate::markdown;
use std::collections::BTreeMap;

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

pub fn render_markdown(r: &ProgramReport) -> String {
    let mut md = areas_side_by_side(r);
    md.push_str(&shipped_per_quarter(r));
    md.push_str(&time_to_assignment(r));
    md.push_str(&requests_by_type_and_region(r));
    md.push_str(&missed_promise(r));
    if !r.loops_closed.is_empty() {
        md.push_str("\n### Loops closed (SAs told their customer's feedback shipped)\n\n");
        for (area, n) in &r.loops_closed {
            md.push_str(&format!("- {}: {n}\n", markdown::inline(area)));
        }
    }
    md.push_str(&super::interest::render_interest(&r.interest));
    if let Some(m) = &r.metrics {
        md.push_str(&super::metrics::render_markdown(m));
    }
    md
}

/// The title and one row per formal area.
fn areas_side_by_side(r: &ProgramReport) -> String {
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
    md
}

/// Items shipped per quarter against the goal, as bars.
fn shipped_per_quarter(r: &ProgramReport) -> String {
    let mut md = String::new();
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
    md.push_str("```\n");
    md
}

/// This period's time to assignment against the previous one, and the goal's verdict.
fn time_to_assignment(r: &ProgramReport) -> String {
    let mut md = String::new();
    md.push_str("\n### Time to SME assignment (goal: 20% faster within 6 months)\n\n");
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
    md
}

/// SME requests counted by type and by region, as bars.
fn requests_by_type_and_region(r: &ProgramReport) -> String {
    let mut md = String::new();
    md.push_str("\n### SME requests by type\n\n```\n");
    let counts = |m: &BTreeMap<String, usize>, md: &mut String| {
        let max = m.values().copied().max().unwrap_or(0);
        let width = m.keys().map(|k| k.chars().count()).max().unwrap_or(0);
        if m.is_empty() {
            md.push_str("(no requests in this period)\n");
        }
        for (k, n) in m {
            // Inside a fenced block nothing is Markdown: one line keeps a key from closing it.
            let k = markdown::one_line(k);
            md.push_str(&format!("{k:<width$}  {:<20} {n:>3}\n", bar(*n, max)));
        }
    };
    counts(&r.requests_by_type, &mut md);
    md.push_str("```\n\n### SME requests by region\n\n```\n");
    counts(&r.requests_by_region, &mut md);
    md.push_str("```\n");
    md
}

/// The requests that missed the 24-hour promise, and those still waiting inside it.
fn missed_promise(r: &ProgramReport) -> String {
    let mut md = String::new();
    md.push_str("\n### Requests that missed the 24-hour promise\n\n");
    let waiting = match r.waiting_for_sme {
        1 => "1 request opened less than 24 hours ago is still waiting for an SME.".to_string(),
        n => format!("{n} requests opened less than 24 hours ago are still waiting for an SME."),
    };
    match (r.missed_promise.is_empty(), r.waiting_for_sme) {
        (true, 0) => md.push_str("None: every request had an SME within 24 hours.\n"),
        (true, _) => md.push_str(&format!("None so far. {waiting}\n")),
        (false, _) => {}
    }
    for m in &r.missed_promise {
        let when = match m.assigned_after_hours {
            Some(h) => format!("assigned after {h:.1} h"),
            None => "still unassigned".into(),
        };
        let link = if m.web_url.is_empty() {
            format!("#{}", m.iid)
        } else {
            markdown::issue_link(m.iid, &m.web_url)
        };
        md.push_str(&format!(
            "- {}: {link} {} ({when})\n",
            markdown::inline(&m.area),
            markdown::inline(&m.title)
        ));
    }
    if !r.missed_promise.is_empty() && r.waiting_for_sme > 0 {
        md.push_str(&format!("\n{waiting}\n"));
    }
    md
}
