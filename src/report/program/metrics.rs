//! The SME program's eight metrics (its operations page, seed `004` "SME Metrics"), each
//! against its goal for one quarter: one pure function from what GitLab holds (the areas'
//! issues, assignment times, seed-issue notes) and what `smeflow import` stored (CRM
//! opportunities and stage changes, NPS responses, Stack Overflow posts) to a typed list that
//! the report renders and the dashboard can render the same way.
//!
//! A metric whose input was never imported says which import would give it
//! ([`Status::NoData`]); one whose input exists but says nothing for the quarter says why
//! ([`Status::NotMeasurable`]). Neither is ever shown as a zero.
//!
//! SME involvement: an opportunity is SME-involved when an SME request's "Opportunity URL"
//! names it (`policy::request::opportunity`); every other imported opportunity is the
//! baseline.

use super::figures::{compute as figures, AreaInput, Transfer};
pub use super::metric::{figure, Goal, Metric, Metrics, SmeTransfer, Status, Unit};
use super::quarter::Quarter;
use crate::policy::request::{fields, opportunity, REQUEST_TYPE};
use crate::store::crm::{Imported, Opportunity, StageChange};
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

pub const IMPORT_OPPORTUNITIES: &str = "smeflow import opportunities FILE.csv";
pub const IMPORT_HISTORY: &str = "smeflow import opportunities FILE.csv --history HISTORY.csv";
pub const IMPORT_NPS: &str = "smeflow import nps FILE.csv";
pub const IMPORT_STACKOVERFLOW: &str = "smeflow import stackoverflow FILE.csv";

pub const WIN_RATE_GOAL: Goal = Goal {
    target: 10.0,
    unit: Unit::ChangePercent,
    at_least: true,
    text: "+10% over opportunities without SMEs",
};
pub const SHIPPED_GOAL: Goal = Goal {
    target: super::SHIPPED_PER_QUARTER_GOAL as f64,
    unit: Unit::Count,
    at_least: true,
    text: "at least 5 improvements shipped per quarter",
};
pub const PIPELINE_GOAL: Goal = Goal {
    target: 15.0,
    unit: Unit::ChangePercent,
    at_least: true,
    text: "+15% quarter over quarter",
};
pub const STAGE_GOAL: Goal = Goal {
    target: 25.0,
    unit: Unit::ChangePercent,
    at_least: true,
    text: "+25% over opportunities without SMEs",
};
pub const ASSIGNMENT_GOAL: Goal = Goal {
    target: -super::ASSIGNMENT_FASTER_GOAL_PCT,
    unit: Unit::ChangePercent,
    at_least: false,
    text: "20% faster within 6 months",
};
pub const NPS_GOAL: Goal = Goal {
    target: 50.0,
    unit: Unit::Score,
    at_least: true,
    text: "NPS of at least 50",
};
pub const TRAINING_GOAL: Goal = Goal {
    target: 4.0,
    unit: Unit::PerSme,
    at_least: true,
    text: "4 training sessions per SME per quarter",
};
pub const KNOWLEDGE_GOAL: Goal = Goal {
    target: 10.0,
    unit: Unit::PerSme,
    at_least: true,
    text: "10 knowledge-base articles per SME per quarter",
};
pub const RESPONSE_RATE_GOAL: Goal = Goal {
    target: 90.0,
    unit: Unit::Percent,
    at_least: true,
    text: "answer 90% of relevant questions",
};
pub const UPVOTES_GOAL: Goal = Goal {
    target: 5.0,
    unit: Unit::PerAnswer,
    at_least: true,
    text: "5 upvotes per answer",
};

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn pct(n: usize, of: usize) -> f64 {
    n as f64 * 100.0 / of as f64
}

/// `(value − base) / base` in percent.
fn change(value: f64, base: f64) -> f64 {
    (value - base) / base * 100.0
}

fn measured(number: u8, name: &'static str, goal: Goal, value: f64, detail: String) -> Metric {
    let value = round1(value);
    let met = if goal.at_least {
        value >= goal.target
    } else {
        value <= goal.target
    };
    Metric {
        number,
        name,
        goal,
        value: Some(value),
        detail,
        status: if met { Status::Met } else { Status::NotMet },
    }
}

fn missing(number: u8, name: &'static str, goal: Goal, import: &'static str) -> Metric {
    Metric {
        number,
        name,
        goal,
        value: None,
        detail: String::new(),
        status: Status::NoData { import },
    }
}

fn unmeasurable(number: u8, name: &'static str, goal: Goal, why: String) -> Metric {
    Metric {
        number,
        name,
        goal,
        value: None,
        detail: String::new(),
        status: Status::NotMeasurable { why },
    }
}

/// The opportunities SME requests name (their 15-character keys), across every area.
pub fn involved_opportunities(areas: &[AreaInput]) -> BTreeSet<String> {
    areas
        .iter()
        .flat_map(|a| &a.issues)
        .filter(|i| i.labels.iter().any(|l| l == REQUEST_TYPE))
        .filter_map(|i| {
            let d = i.description.as_deref()?;
            opportunity::in_url(&fields::parse(d, &[]).opportunity?)
        })
        .collect()
}

/// The stage's number: `2-Scoping`, `Stage 2`, `2 - Scoping` → 2; `Closed Won` → none.
pub fn stage_number(stage: &str) -> Option<u32> {
    let s = stage.trim();
    let s = s
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("stage "))
        .map_or(s, |_| &s[6..]);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// "1 response", "4 responses".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn money(cents: i64) -> String {
    let dollars = (cents as f64 / 100.0).round() as i64;
    let s = dollars.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("${out}")
}

/// The eight metrics for `quarter`.
pub fn compute(areas: &[AreaInput], imported: &Imported, quarter: Quarter) -> Metrics {
    let involved = involved_opportunities(areas);
    let mut list = Vec::new();
    list.push(win_rate(&imported.opportunities, &involved, quarter));
    list.push(shipped(areas, quarter));
    list.push(pipeline(&imported.opportunities, &involved, quarter));
    for stage in [2, 3] {
        list.push(progression(
            &imported.stage_changes,
            &involved,
            stage,
            quarter,
        ));
    }
    list.push(assignment(areas, quarter));
    list.push(nps(imported, &involved, quarter));
    let (training, knowledge, per_sme) = transfer(areas, quarter);
    list.push(training);
    list.push(knowledge);
    list.extend(stackoverflow(imported, quarter));
    Metrics {
        quarter: quarter.to_string(),
        list,
        per_sme,
    }
}

const WIN_RATE: &str = "Technical win rate";

fn win_rate(opps: &[Opportunity], involved: &BTreeSet<String>, q: Quarter) -> Metric {
    if opps.is_empty() {
        return missing(1, WIN_RATE, WIN_RATE_GOAL, IMPORT_OPPORTUNITIES);
    }
    if involved.is_empty() {
        return unmeasurable(1, WIN_RATE, WIN_RATE_GOAL, no_involvement());
    }
    // (won, closed) in quarter `q`, with SMEs or without.
    let rate = |q: Quarter, with: bool| {
        let closed: Vec<&Opportunity> = opps
            .iter()
            .filter(|o| o.closed && q.contains_day(o.close_date))
            .filter(|o| involved.contains(&o.id) == with)
            .collect();
        (closed.iter().filter(|o| o.won).count(), closed.len())
    };
    let (won, closed) = rate(q, true);
    let (base_won, base_closed) = rate(q, false);
    if closed == 0 {
        return unmeasurable(
            1,
            WIN_RATE,
            WIN_RATE_GOAL,
            format!("no SME-involved opportunity closed in {q}"),
        );
    }
    if base_closed == 0 || base_won == 0 {
        return unmeasurable(
            1,
            WIN_RATE,
            WIN_RATE_GOAL,
            format!("no baseline: opportunities without SMEs closed in {q}: {base_closed}, won: {base_won}"),
        );
    }
    let year_before = q.minus(4);
    let (old_won, old_closed) = rate(year_before, true);
    let then = if old_closed == 0 {
        format!("{year_before}: none closed with SMEs")
    } else {
        format!(
            "{year_before}: {:.1}% ({old_won} of {old_closed})",
            pct(old_won, old_closed)
        )
    };
    let (now, base) = (pct(won, closed), pct(base_won, base_closed));
    measured(
        1,
        WIN_RATE,
        WIN_RATE_GOAL,
        change(now, base),
        format!(
            "{now:.1}% won with SMEs ({won} of {closed} closed) against {base:.1}% without ({base_won} of {base_closed}); {then}"
        ),
    )
}

fn no_involvement() -> String {
    "no SME request names an opportunity of the import (by the Salesforce id in its Opportunity URL)"
        .into()
}

fn shipped(areas: &[AreaInput], q: Quarter) -> Metric {
    const NAME: &str = "Product feedback loop";
    if areas.is_empty() {
        return unmeasurable(
            2,
            NAME,
            SHIPPED_GOAL,
            "no formal area has a project in GitLab yet".into(),
        );
    }
    let r = figures(areas, q.start(), q.end());
    let submitted: usize = r.areas.iter().map(|a| a.feedback_submitted).sum();
    let shipped: usize = r.areas.iter().map(|a| a.shipped).sum();
    measured(
        2,
        NAME,
        SHIPPED_GOAL,
        shipped as f64,
        format!(
            "{shipped} shipped in {q}; {} submitted",
            count(submitted, "feedback item", "feedback items")
        ),
    )
}

const PIPELINE: &str = "Pipeline growth";

fn pipeline(opps: &[Opportunity], involved: &BTreeSet<String>, q: Quarter) -> Metric {
    if opps.is_empty() {
        return missing(3, PIPELINE, PIPELINE_GOAL, IMPORT_OPPORTUNITIES);
    }
    if involved.is_empty() {
        return unmeasurable(3, PIPELINE, PIPELINE_GOAL, no_involvement());
    }
    // Open and won opportunities closing in the quarter; lost ones are no longer pipeline.
    let value = |q: Quarter| -> (i64, usize) {
        let open: Vec<&Opportunity> = opps
            .iter()
            .filter(|o| involved.contains(&o.id) && q.contains_day(o.close_date))
            .filter(|o| !o.closed || o.won)
            .collect();
        (
            open.iter().filter_map(|o| o.amount_cents).sum(),
            open.iter().filter(|o| o.amount_cents.is_none()).count(),
        )
    };
    let previous = q.minus(1);
    let ((now, now_unknown), (before, before_unknown)) = (value(q), value(previous));
    if before == 0 {
        return unmeasurable(
            3,
            PIPELINE,
            PIPELINE_GOAL,
            format!("no SME-involved pipeline closing in {previous} to grow from"),
        );
    }
    let unknown = match now_unknown + before_unknown {
        0 => String::new(),
        n => format!("; {n} without an amount left out"),
    };
    measured(
        3,
        PIPELINE,
        PIPELINE_GOAL,
        change(now as f64, before as f64),
        format!(
            "{} closing in {q} against {} in {previous} (SME-involved, open or won){unknown}",
            money(now),
            money(before)
        ),
    )
}

fn progression(
    changes: &[StageChange],
    involved: &BTreeSet<String>,
    stage: u32,
    q: Quarter,
) -> Metric {
    let name = if stage == 2 {
        "Stage progression 2 → 3"
    } else {
        "Stage progression 3 → 4"
    };
    if changes.is_empty() {
        return missing(4, name, STAGE_GOAL, IMPORT_HISTORY);
    }
    if involved.is_empty() {
        return unmeasurable(4, name, STAGE_GOAL, no_involvement());
    }
    let (start, end) = (q.first_day(), q.end_day());
    let during = |d: NaiveDate| d >= start && d < end;
    // Per opportunity: was it in `stage` during the quarter, and did it move past it then?
    let mut by_id: BTreeMap<&str, Vec<&StageChange>> = BTreeMap::new();
    for c in changes {
        by_id.entry(c.id.as_str()).or_default().push(c);
    }
    let (mut with, mut without) = ((0, 0), (0, 0));
    for (id, mut rows) in by_id {
        rows.sort_by_key(|c| c.on);
        let num = |s: &str| stage_number(s);
        let there_at_start = rows
            .iter()
            .rfind(|c| c.on < start)
            .is_some_and(|c| num(&c.to_stage) == Some(stage));
        let in_quarter: Vec<&&StageChange> = rows.iter().filter(|c| during(c.on)).collect();
        let was_there = there_at_start
            || in_quarter
                .iter()
                .any(|c| num(&c.from_stage) == Some(stage) || num(&c.to_stage) == Some(stage));
        if !was_there {
            continue;
        }
        let moved = in_quarter.iter().any(|c| {
            num(&c.from_stage) == Some(stage) && num(&c.to_stage).is_some_and(|to| to > stage)
        });
        let tally = if involved.contains(id) {
            &mut with
        } else {
            &mut without
        };
        tally.0 += moved as usize;
        tally.1 += 1;
    }
    if with.1 == 0 {
        return unmeasurable(
            4,
            name,
            STAGE_GOAL,
            format!("no SME-involved opportunity was in stage {stage} in {q}"),
        );
    }
    if without.0 == 0 {
        return unmeasurable(
            4,
            name,
            STAGE_GOAL,
            format!(
                "no baseline: of {} opportunities without SMEs in stage {stage} in {q}, none moved on",
                without.1
            ),
        );
    }
    let (now, base) = (pct(with.0, with.1), pct(without.0, without.1));
    measured(
        4,
        name,
        STAGE_GOAL,
        change(now, base),
        format!(
            "{now:.1}% moved on with SMEs ({} of {}) against {base:.1}% without ({} of {})",
            with.0, with.1, without.0, without.1
        ),
    )
}

fn assignment(areas: &[AreaInput], q: Quarter) -> Metric {
    const NAME: &str = "SME engagement efficiency";
    let before = q.minus(2);
    let now = figures(areas, q.start(), q.end()).assignment.avg_hours;
    let then = figures(areas, before.start(), before.end())
        .assignment
        .avg_hours;
    match (now, then) {
        (Some(now), Some(then)) if then > 0.0 => measured(
            5,
            NAME,
            ASSIGNMENT_GOAL,
            change(now, then),
            format!("average time to SME assignment {now:.1} h in {q} against {then:.1} h in {before}"),
        ),
        (None, _) => unmeasurable(
            5,
            NAME,
            ASSIGNMENT_GOAL,
            format!("no SME request opened in {q} has been assigned"),
        ),
        _ => unmeasurable(
            5,
            NAME,
            ASSIGNMENT_GOAL,
            format!("no SME request opened in {before} (6 months before) was assigned: nothing to compare with"),
        ),
    }
}

fn nps(imported: &Imported, involved: &BTreeSet<String>, q: Quarter) -> Metric {
    const NAME: &str = "Customer satisfaction (NPS)";
    if imported.nps.is_empty() {
        return missing(6, NAME, NPS_GOAL, IMPORT_NPS);
    }
    let score = |with: bool| {
        let scores: Vec<i64> = imported
            .nps
            .iter()
            .filter(|r| q.contains_day(r.on))
            .filter(|r| {
                r.opportunity
                    .as_ref()
                    .is_some_and(|o| involved.contains(o) == with)
            })
            .map(|r| r.score)
            .collect();
        let promoters = scores.iter().filter(|s| **s >= 9).count();
        let detractors = scores.iter().filter(|s| **s <= 6).count();
        (promoters, scores.len() - promoters - detractors, detractors)
    };
    let (p, n, d) = score(true);
    let total = p + n + d;
    if total == 0 {
        return unmeasurable(
            6,
            NAME,
            NPS_GOAL,
            format!("no response in {q} about an SME-involved opportunity"),
        );
    }
    let (bp, bn, bd) = score(false);
    let baseline = match bp + bn + bd {
        0 => "no responses without SMEs".to_string(),
        b => format!(
            "{:.0} without SMEs ({})",
            pct(bp, b) - pct(bd, b),
            count(b, "response", "responses")
        ),
    };
    measured(
        6,
        NAME,
        NPS_GOAL,
        pct(p, total) - pct(d, total),
        format!(
            "{}: {}, {}, {}; {baseline}",
            count(total, "response", "responses"),
            count(p, "promoter", "promoters"),
            count(n, "passive", "passives"),
            count(d, "detractor", "detractors")
        ),
    )
}

/// Training sessions and knowledge-base items per SME. The SMEs of a quarter are the people
/// assigned to an SME request opened in it and the people who added an item in it.
fn transfer(areas: &[AreaInput], q: Quarter) -> (Metric, Metric, Vec<SmeTransfer>) {
    const TRAINING: &str = "Knowledge transfer: training sessions";
    const KNOWLEDGE: &str = "Knowledge transfer: knowledge-base articles";
    let mut people: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for a in areas {
        for i in a
            .issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| l == REQUEST_TYPE))
            .filter(|i| i.created_at.is_some_and(|t| q.contains(t)))
        {
            for u in &i.assignees {
                people.entry(u.username.clone()).or_default();
            }
        }
        for c in a.contributions.iter().filter(|c| q.contains(c.at)) {
            let tally = people.entry(c.person.clone()).or_default();
            match c.kind {
                Transfer::Training => tally.0 += 1,
                Transfer::KnowledgeBase => tally.1 += 1,
            }
        }
    }
    let per_sme: Vec<SmeTransfer> = people
        .iter()
        .map(|(person, (training, knowledge))| SmeTransfer {
            person: person.clone(),
            training: *training,
            knowledge: *knowledge,
        })
        .collect();
    if per_sme.is_empty() {
        let why = format!("no SME was assigned a request opened in {q} or added an item in it");
        return (
            unmeasurable(7, TRAINING, TRAINING_GOAL, why.clone()),
            unmeasurable(7, KNOWLEDGE, KNOWLEDGE_GOAL, why),
            per_sme,
        );
    }
    let smes = per_sme.len();
    let one = |name, goal: Goal, of: fn(&SmeTransfer) -> usize, what: (&str, &str)| {
        let total: usize = per_sme.iter().map(of).sum();
        let at_goal = per_sme
            .iter()
            .filter(|s| of(s) as f64 >= goal.target)
            .count();
        measured(
            7,
            name,
            goal,
            total as f64 / smes as f64,
            format!(
                "{} from {}; {at_goal} of {smes} at the goal",
                count(total, what.0, what.1),
                count(smes, "SME", "SMEs")
            ),
        )
    };
    (
        one(
            TRAINING,
            TRAINING_GOAL,
            |s| s.training,
            ("enablement topic", "enablement topics"),
        ),
        one(
            KNOWLEDGE,
            KNOWLEDGE_GOAL,
            |s| s.knowledge,
            ("knowledge-base item", "knowledge-base items"),
        ),
        per_sme,
    )
}

fn stackoverflow(imported: &Imported, q: Quarter) -> Vec<Metric> {
    const RATE: &str = "Stack Overflow: response rate";
    const UPVOTES: &str = "Stack Overflow: upvotes per answer";
    if imported.stackoverflow.is_empty() {
        return vec![
            missing(8, RATE, RESPONSE_RATE_GOAL, IMPORT_STACKOVERFLOW),
            missing(8, UPVOTES, UPVOTES_GOAL, IMPORT_STACKOVERFLOW),
        ];
    }
    let posts: Vec<_> = imported
        .stackoverflow
        .iter()
        .filter(|p| q.contains_day(p.asked_on))
        .collect();
    let questions: BTreeSet<i64> = posts.iter().map(|p| p.question_id).collect();
    let answered: BTreeSet<i64> = posts
        .iter()
        .filter(|p| p.answer.is_some())
        .map(|p| p.question_id)
        .collect();
    let scores: Vec<i64> = posts.iter().filter_map(|p| p.answer.map(|a| a.1)).collect();
    if questions.is_empty() {
        let why = format!("no relevant question asked in {q}");
        return vec![
            unmeasurable(8, RATE, RESPONSE_RATE_GOAL, why.clone()),
            unmeasurable(8, UPVOTES, UPVOTES_GOAL, why),
        ];
    }
    let rate = measured(
        8,
        RATE,
        RESPONSE_RATE_GOAL,
        pct(answered.len(), questions.len()),
        format!(
            "{} of {} questions asked in {q} answered by an SME",
            answered.len(),
            questions.len()
        ),
    );
    let upvotes = if scores.is_empty() {
        unmeasurable(
            8,
            UPVOTES,
            UPVOTES_GOAL,
            format!("no SME answer to a question asked in {q}"),
        )
    } else {
        let total: i64 = scores.iter().sum();
        measured(
            8,
            UPVOTES,
            UPVOTES_GOAL,
            total as f64 / scores.len() as f64,
            format!(
                "{total} {} on {}",
                if total == 1 { "upvote" } else { "upvotes" },
                count(scores.len(), "answer", "answers")
            ),
        )
    };
    vec![rate, upvotes]
}

/// The metrics as a Markdown section: one row per goal, and the per-SME figures.
pub fn render_markdown(m: &Metrics) -> String {
    let q = &m.quarter;
    let mut md = format!(
        "\n### The program's metrics, {q}\n\n| # | Metric | Goal | {q} | Status |\n|---:|---|---|---|---|\n"
    );
    for metric in &m.list {
        let value = match (&metric.status, metric.value) {
            (Status::NoData { .. } | Status::NotMeasurable { .. }, _) | (_, None) => metric.shown(),
            (_, Some(v)) => format!("**{}**: {}", figure(v, metric.goal.unit), metric.detail),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {value} | {} |\n",
            metric.number,
            metric.name,
            metric.goal.text,
            metric.status.word()
        ));
    }
    if !m.per_sme.is_empty() {
        md.push_str(&format!(
            "\n#### Knowledge transfer per SME, {q}\n\n| SME | Training sessions (enablement topics) | Knowledge-base items |\n|---|---:|---:|\n"
        ));
        for s in &m.per_sme {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                crate::markdown::inline(&s.person),
                s.training,
                s.knowledge
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_numbered_by_the_number_it_starts_with() {
        assert_eq!(stage_number("2-Scoping"), Some(2));
        assert_eq!(stage_number("Stage 3 - Technical Evaluation"), Some(3));
        assert_eq!(stage_number(" 4 - Proposal"), Some(4));
        assert_eq!(stage_number("Closed Won"), None);
        assert_eq!(stage_number("Stage"), None);
        assert_eq!(stage_number("Étape 2"), None);
    }

    #[test]
    fn money_is_whole_dollars_with_thousands() {
        assert_eq!(money(17_000_000), "$170,000");
        assert_eq!(money(99), "$1");
        assert_eq!(money(100_000_000_000_000), "$1,000,000,000,000");
    }
}
