//! The monthly PM review as text: the Markdown of the review issue and the SVG chart it shows.
//! Formatting only; the figures come from `figures::compute`.

use super::drivers::DriverRow;
use super::figures::{Item, Report};
use crate::config::labels::THEME_SCOPE;
use crate::gitlab::label;
use crate::markdown;
use std::collections::{BTreeMap, BTreeSet};

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
        .map(|(k, v)| format!("{} {v}", markdown::inline(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render_markdown(r: &Report, chart_url: Option<&str>) -> String {
    let mut o = format!(
        "# PM review: {} SME area, {} to {}\n\n",
        markdown::inline(&r.area),
        r.since,
        r.until
    );
    o.push_str("## Themes\n\n| Theme | Open issues | Customers | Priority | PM status | ARR at stake |\n|---|---:|---:|---|---|---:|\n");
    for t in &r.themes {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            // The "(no theme)" row is smeflow's own words; a theme's name is a label people chose.
            if t.theme == super::figures::NO_THEME {
                t.theme.clone()
            } else {
                markdown::inline(label::value_in(&t.theme, THEME_SCOPE).unwrap_or(&t.theme))
            },
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
    let list =
        |o: &mut String, title: &str, items: &[Item]| item_section(o, title, items, usize::MAX);
    o.push_str("\n## ARR drivers by theme\n\n");
    o.push_str(&render_drivers(&r.drivers, "the period before"));
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
        "\n## Flow\n\n- Feedback submitted: {}\n- Feedback actioned by PMs: {}\n- SME requests assigned: {} (time to first assignee: average {}, median {})\n- Open SME requests without an SME after 24 hours: {}\n",
        f.feedback_submitted,
        f.feedback_actioned,
        f.requests_assigned,
        hours(f.hours_to_first_assignee_avg),
        hours(f.hours_to_first_assignee_median),
        f.open_requests_older_than_24h.len()
    ));
    for i in &f.open_requests_older_than_24h {
        o.push_str(&format!(
            "  - {} {}\n",
            markdown::issue_link(i.iid, &i.web_url),
            markdown::inline(&i.title)
        ));
    }
    o.push_str("\n<!-- smeflow:pm-review -->\n");
    o
}

/// A heading and its issues, one line each (link, title, customer, ARR at stake), at most `max`
/// of them and a count of the rest.
pub(crate) fn item_section(o: &mut String, title: &str, items: &[Item], max: usize) {
    o.push_str(&format!("\n## {title}\n\n"));
    if items.is_empty() {
        o.push_str("None.\n");
    }
    for i in items.iter().take(max) {
        o.push_str(&format!(
            "- {} {}{}{}\n",
            markdown::issue_link(i.iid, &i.web_url),
            markdown::inline(&i.title),
            i.customer
                .as_deref()
                .map(|c| format!(" — {}", markdown::inline(c)))
                .unwrap_or_default(),
            i.arr
                .map(|a| format!(", {} ARR", money(a)))
                .unwrap_or_default()
        ));
    }
    if items.len() > max {
        o.push_str(&format!("- and {} more\n", items.len() - max));
    }
}

/// The ranked ARR Driver table (`drivers::drivers`); `before` names the period the trend
/// compares with.
pub fn render_drivers(rows: &[DriverRow], before: &str) -> String {
    if rows.is_empty() {
        return "No open feedback with a theme.\n".into();
    }
    let mut o = format!(
        "Ranked by ARR at stake (each customer counted once, at its largest figure), then importance (the Importance field; else Priority::High is a blocker, Priority::Low nice to have), then customers.\n\n| Rank | Theme | Customers | ARR at stake | Importance | New customers (trend vs {before}) |\n|---:|---|---:|---:|---|---|\n"
    );
    for (rank, d) in rows.iter().enumerate() {
        let mix = d
            .importance_mix
            .iter()
            .map(|(imp, n)| format!("{} {n}", imp.describe()))
            .collect::<Vec<_>>()
            .join(", ");
        let trend = match d.trend() {
            0 => "=".to_string(),
            t if t > 0 => format!("+{t}"),
            t => t.to_string(),
        };
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} ({mix}) | {} ({trend}; {} before) |\n",
            rank + 1,
            markdown::inline(label::value_in(&d.theme, THEME_SCOPE).unwrap_or(&d.theme)),
            d.customers,
            money(d.arr_at_stake),
            d.importance.describe(),
            d.new_customers,
            d.previous_customers,
        ));
    }
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
    fn money_groups_thousands() {
        assert_eq!(money(1_234_567), "$1,234,567");
        assert_eq!(money(999), "$999");
        assert_eq!(money(0), "$0");
    }
}
