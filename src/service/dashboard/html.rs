//! The dashboard's pages as HTML: formatting only (the figures are `figures`). Everything a
//! person wrote — titles, customer, theme and user names — goes through `esc`, links only to
//! the URLs GitLab gave or `gitlab::web` made, and no page needs script.

use super::figures::{AreaView, Board, Count, Filter, Metric, Standing, ThemeView, Verdict};
use super::{bar_chart, esc, CSS};
use chrono::{DateTime, Utc};

/// The overview at `/`: metrics, themes ranked, requests waiting, SME load, then each area.
pub fn overview(board: &Board, filter: &Filter, queue: &str, now: DateTime<Utc>) -> String {
    let mut html = head("smeflow dashboard", "SME program dashboard", now);
    html.push_str(&filter_form(board, filter, "/"));
    html.push_str(queue);
    html.push_str(&metrics_panel(&board.metrics_quarter, &board.metrics));
    html.push_str(&areas_table(board, filter));
    html.push_str(&ranked_themes(board));
    html.push_str(&requests(board, true));
    for area in &board.areas {
        html.push_str(&area_section(area, filter, false));
    }
    html.push_str("</main></body></html>");
    html
}

/// `/dashboard/area/<slug>`: one area's themes, trend and requests.
pub fn area_page(board: &Board, filter: &Filter, now: DateTime<Utc>) -> String {
    let Some(area) = board.areas.first() else {
        return String::new();
    };
    let mut html = head(
        &format!("smeflow dashboard: {}", area.name),
        &area.name,
        now,
    );
    html.push_str(&format!(
        "<p><a href=\"/{}\" id=\"back\">All areas</a></p>",
        query(&Filter {
            area: None,
            region: filter.region.clone()
        })
    ));
    html.push_str(&filter_form(
        board,
        filter,
        &format!("/dashboard/area/{}", esc(&area.slug)),
    ));
    html.push_str(&area_section(area, filter, true));
    if area.formal {
        html.push_str(&metrics_panel(&board.metrics_quarter, &board.metrics));
        html.push_str(&requests(board, false));
    }
    html.push_str("</main></body></html>");
    html
}

fn head(title: &str, heading: &str, now: DateTime<Utc>) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body><main><h1>{}</h1><p>As of {} UTC. Read-only; refreshed from GitLab at most once a minute. Every count links to the issues behind it in GitLab.</p>",
        esc(title),
        esc(heading),
        now.format("%Y-%m-%d %H:%M")
    )
}

/// `?area=..&region=..` for links that keep the filter.
fn query(f: &Filter) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(a) = &f.area {
        q.append_pair("area", a);
    }
    if let Some(r) = &f.region {
        q.append_pair("region", r);
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        esc(&format!("?{q}"))
    }
}

fn filter_form(board: &Board, filter: &Filter, action: &str) -> String {
    let option = |value: &str, label: &str, selected: bool| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(value),
            if selected { " selected" } else { "" },
            esc(label)
        )
    };
    let mut html = format!("<form method=\"get\" action=\"{action}\" class=\"filter\">");
    if action == "/" {
        html.push_str("<label>Area <select name=\"area\" id=\"filter-area\">");
        html.push_str(&option("", "All areas", filter.area.is_none()));
        for (slug, name) in &board.all_areas {
            html.push_str(&option(
                slug,
                name,
                filter.area.as_deref() == Some(slug.as_str()),
            ));
        }
        html.push_str("</select></label> ");
    }
    html.push_str("<label>Region <select name=\"region\" id=\"filter-region\">");
    html.push_str(&option("", "All regions", filter.region.is_none()));
    for r in &board.regions {
        html.push_str(&option(r, r, filter.region.as_deref() == Some(r.as_str())));
    }
    html.push_str("</select></label> <button type=\"submit\" id=\"filter\">Show</button></form>");
    html
}

fn count(c: &Count) -> String {
    match &c.url {
        Some(url) => format!("<a href=\"{}\">{}</a>", esc(url), c.n),
        None => c.n.to_string(),
    }
}

fn usd(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::from("$");
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The metrics panel: renders whatever list `figures::metrics` gives, one row per metric.
pub fn metrics_panel(quarter: &str, metrics: &[Metric]) -> String {
    let mut html = format!("<h2 id=\"metrics\">Program metrics, {} (the last complete quarter)</h2><table class=\"metrics\"><tr><th>Metric</th><th>Figure</th><th>Goal</th><th></th></tr>", esc(quarter));
    for m in metrics {
        let (class, verdict) = match m.verdict {
            Verdict::Met => ("ok", "goal met"),
            Verdict::Below => ("warn", "below goal"),
            Verdict::NoData => ("warn", "no data"),
            Verdict::NotMeasurable => ("warn", "not measurable"),
            Verdict::NoGoal => ("", ""),
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{verdict}</td></tr>",
            esc(&m.name),
            esc(&m.value),
            esc(&m.goal)
        ));
    }
    html.push_str("</table>");
    html
}

fn areas_table(board: &Board, filter: &Filter) -> String {
    let mut html = String::from("<h2 id=\"areas\">Areas</h2><table id=\"area-list\"><tr><th>Area</th><th>Kind</th><th>Open feedback</th><th>Themes</th><th>Open issues</th></tr>");
    let keep = query(&Filter {
        area: None,
        region: filter.region.clone(),
    });
    for a in &board.areas {
        let (feedback, themes) = if a.formal && a.has_project {
            (
                count(&a.open_feedback),
                a.themes
                    .iter()
                    .filter(|t| t.label != crate::report::figures::NO_THEME)
                    .count()
                    .to_string(),
            )
        } else {
            ("–".into(), "–".into())
        };
        let open = if a.has_project {
            count(&a.open_issues)
        } else {
            "no project yet".into()
        };
        html.push_str(&format!(
            "<tr><td><a href=\"/dashboard/area/{}{keep}\">{}</a></td><td>{}</td><td class=\"num\">{feedback}</td><td class=\"num\">{themes}</td><td class=\"num\">{open}</td></tr>",
            esc(&a.slug),
            esc(&a.name),
            if a.formal { "formal" } else { "of interest" }
        ));
    }
    html.push_str("</table>");
    html
}

fn theme_cell(t: &ThemeView) -> String {
    match &t.container {
        Some(c) => format!(
            "<a class=\"theme\" href=\"{}\" title=\"{}\">{}</a>",
            esc(&c.url),
            esc(&c.title),
            esc(&t.name)
        ),
        None => esc(&t.name),
    }
}

fn ranked_themes(board: &Board) -> String {
    let mut html = String::from("<h2 id=\"themes\">Themes by customers and ARR at stake</h2><p>Open feedback, for the quarterly ARR Driver meeting. A theme links to its epic (or tracking issue) once smeflow made one.</p>");
    if board.themes.is_empty() {
        html.push_str("<p>No open feedback with a theme.</p>");
        return html;
    }
    html.push_str("<table><tr><th>#</th><th>Theme</th><th>Area</th><th>Distinct customers</th><th>ARR at stake</th><th>Open feedback</th></tr>");
    for (k, r) in board.themes.iter().enumerate() {
        html.push_str(&format!(
            "<tr><td class=\"num\">{}</td><td>{}</td><td><a href=\"/dashboard/area/{}\">{}</a></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            k + 1,
            theme_cell(&r.theme),
            esc(&r.slug),
            esc(&r.area),
            r.theme.customers,
            usd(r.theme.arr_at_stake),
            count(&r.theme.open)
        ));
    }
    html.push_str("</table>");
    html
}

fn requests(board: &Board, with_area: bool) -> String {
    let mut html = format!(
        "<h2 id=\"requests\">SME requests waiting ({})</h2><p>Open SME requests, those without an SME first. The promise: an SME within 24 hours of the request.</p>",
        board.requests.len()
    );
    if board.requests.is_empty() {
        html.push_str("<p class=\"ok\">None open.</p>");
    } else {
        html.push_str("<table class=\"requests\"><tr><th>Request</th>");
        if with_area {
            html.push_str("<th>Area</th>");
        }
        html.push_str(
            "<th>Age</th><th>Requester</th><th>Assignee</th><th>24-hour promise</th></tr>",
        );
        for r in &board.requests {
            let standing = match r.standing {
                Standing::Waiting { hours_left } => format!("waiting, {hours_left} h left"),
                Standing::Missed if r.assignees.is_empty() => "missed, no SME yet".into(),
                Standing::Missed => "missed".into(),
                Standing::Kept => "kept".into(),
                Standing::Assigned => "assigned".into(),
            };
            html.push_str(&format!(
                "<tr class=\"{}\"><td><a href=\"{}\">#{} {}</a></td>",
                r.standing.class(),
                esc(&r.url),
                r.iid,
                esc(&r.title)
            ));
            if with_area {
                html.push_str(&format!(
                    "<td><a href=\"/dashboard/area/{}\">{}</a></td>",
                    esc(&r.slug),
                    esc(&r.area)
                ));
            }
            html.push_str(&format!(
                "<td class=\"num\">{} h</td><td>{}</td><td>{}</td><td>{standing}</td></tr>",
                r.age_hours,
                esc(r.requester.as_deref().unwrap_or("–")),
                if r.assignees.is_empty() {
                    "none".to_string()
                } else {
                    esc(&r.assignees.join(", "))
                }
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("<h3 id=\"load\">SME load (open requests assigned)</h3>");
    if board.load.is_empty() {
        html.push_str("<p>No open request is assigned.</p>");
    } else {
        html.push_str("<table><tr><th>SME</th><th>Open requests</th></tr>");
        for (sme, n) in &board.load {
            html.push_str(&format!(
                "<tr><td>{}</td><td class=\"num\">{n}</td></tr>",
                esc(sme)
            ));
        }
        html.push_str("</table>");
    }
    html
}

fn area_section(a: &AreaView, filter: &Filter, detailed: bool) -> String {
    let keep = query(&Filter {
        area: None,
        region: filter.region.clone(),
    });
    let heading = if detailed {
        format!(
            "Open feedback by theme ({} issue{})",
            a.open_feedback.n,
            plural(a.open_feedback.n)
        )
    } else {
        format!(
            "<a href=\"/dashboard/area/{}{keep}\">{}</a>",
            esc(&a.slug),
            esc(&a.name)
        )
    };
    let mut html = format!(
        "<section class=\"area\" id=\"area-{}\"><h2>{heading}</h2>",
        esc(&a.slug)
    );
    if !a.has_project {
        html.push_str(&format!(
            "<p class=\"warn\">{} has no project in GitLab yet (`smeflow bootstrap-area {}`).</p></section>",
            esc(&a.name),
            esc(&a.slug)
        ));
        return html;
    }
    if !a.formal {
        html.push_str(&format!(
            "<p>An area of interest: no request process and no customer feedback yet. Open issues: {}.</p>",
            count(&a.open_issues)
        ));
        if !a.lacks.is_empty() {
            html.push_str(&format!(
                "<p>For promotion smeflow.toml lacks: {}.</p>",
                esc(&a.lacks.join("; "))
            ));
        }
        html.push_str("</section>");
        return html;
    }
    if !detailed {
        html.push_str(&format!(
            "<h3>Open feedback by theme ({} issue{})</h3>",
            a.open_feedback.n,
            plural(a.open_feedback.n)
        ));
    }
    if a.themes.is_empty() {
        html.push_str("<p>No open feedback.</p>");
    } else {
        let bars: Vec<(String, usize)> = a
            .themes
            .iter()
            .map(|t| (t.name.clone(), t.open.n))
            .collect();
        html.push_str(&bar_chart(
            &format!("{}: open feedback by theme", a.name),
            &bars,
        ));
        html.push_str("<table class=\"themes\"><tr><th>Theme</th><th>Open</th><th>Customers</th><th>ARR at stake</th>");
        for s in &a.statuses {
            html.push_str(&format!("<th>PM Status: {}</th>", esc(s)));
        }
        html.push_str("</tr>");
        for t in &a.themes {
            html.push_str(&format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
                theme_cell(t),
                count(&t.open),
                t.customers,
                usd(t.arr_at_stake)
            ));
            for c in &t.by_status {
                html.push_str(&format!("<td class=\"num\">{}</td>", count(c)));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }
    if detailed {
        html.push_str(&trend(a));
    }
    html.push_str("</section>");
    html
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The six months side by side, with a bar for feedback in so the direction shows at a glance.
fn trend(a: &AreaView) -> String {
    let max = a
        .trend
        .iter()
        .map(|m| m.feedback_in)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut html = String::from("<h3 id=\"trend\">Six-month trend</h3><table class=\"trend\"><tr><th>Month</th><th>Feedback in</th><th>Actioned</th><th>Shipped</th><th>SME requests</th><th>Avg. time to SME</th></tr>");
    for m in &a.trend {
        let width = 80 * m.feedback_in / max;
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{} <svg width=\"80\" height=\"10\" role=\"img\" aria-label=\"{} feedback in\"><rect width=\"{width}\" height=\"10\" fill=\"#6b4fbb\"/></svg></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            m.month,
            m.feedback_in,
            m.feedback_in,
            m.actioned,
            m.shipped,
            m.requests,
            m.hours_to_assignment_avg
                .map(|h| format!("{h:.1} h"))
                .unwrap_or_else(|| "–".into())
        ));
    }
    html.push_str("</table>");
    html
}
