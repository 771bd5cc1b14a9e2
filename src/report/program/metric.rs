//! What the program's metrics are made of: a metric, its goal and unit, its status (met, not
//! met, no data or not measurable, never a made-up zero) and how it is shown in words. `metrics`
//! computes them; the report, its JSON and the dashboard show them.

use serde::Serialize;

/// One metric against one goal (a metric with two goals is two entries with one number).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metric {
    /// Its number on the program's metrics page (1–8).
    pub number: u8,
    pub name: &'static str,
    pub goal: Goal,
    /// The figure the goal is about, in `goal.unit`; `None` unless `status` is Met or NotMet.
    pub value: Option<f64>,
    /// How the figure was reached, in words and the numbers behind it.
    pub detail: String,
    pub status: Status,
}

/// "at least 50", "+10% or more", "20% faster (−20% or less)".
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Goal {
    pub target: f64,
    pub unit: Unit,
    /// true: met when the value is at least `target`; false: at most.
    pub at_least: bool,
    /// The goal in words, as the program states it.
    pub text: &'static str,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A change against a baseline or an earlier period, in percent (+12.5).
    ChangePercent,
    /// A share, in percent (0–100).
    Percent,
    /// A count in the quarter.
    Count,
    /// A count per SME in the quarter.
    PerSme,
    /// Net Promoter Score (−100 to 100).
    Score,
    /// Upvotes per answer.
    PerAnswer,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Met,
    NotMet,
    /// The input was never imported: `import` is the command that brings it.
    NoData {
        import: &'static str,
    },
    /// The input exists but cannot give this figure for the quarter: `why`.
    NotMeasurable {
        why: String,
    },
}

/// One SME's knowledge transfer in the quarter.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SmeTransfer {
    pub person: String,
    pub training: usize,
    pub knowledge: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub quarter: String,
    pub list: Vec<Metric>,
    pub per_sme: Vec<SmeTransfer>,
}

impl Metric {
    /// The figure and how it was reached, or why there is none: "no data — import: `…`" where
    /// the input was never imported, never a made-up zero. The report and the dashboard show
    /// this same text.
    pub fn shown(&self) -> String {
        match (&self.status, self.value) {
            (Status::NoData { import }, _) => format!("no data — import: `{import}`"),
            (Status::NotMeasurable { why }, _) => format!("– ({why})"),
            (_, Some(v)) => format!("{}: {}", figure(v, self.goal.unit), self.detail),
            (_, None) => "–".into(),
        }
    }
}

impl Status {
    /// "met", "not met", "no data" or "not measurable".
    pub fn word(&self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "not met",
            Status::NoData { .. } => "no data",
            Status::NotMeasurable { .. } => "not measurable",
        }
    }
}

pub fn figure(value: f64, unit: Unit) -> String {
    match unit {
        Unit::ChangePercent => format!("{value:+.1}%"),
        Unit::Percent => format!("{value:.1}%"),
        Unit::Count => format!("{value:.0}"),
        Unit::Score => format!("{value:.0}"),
        Unit::PerSme => format!("{value:.1} per SME"),
        Unit::PerAnswer => format!("{value:.1} per answer"),
    }
}
