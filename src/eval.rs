//! `smeflow eval-themes`: how well theme tagging does on the labelled feedback in `eval/`
//! (`themes-*.jsonl`, one text per line with the theme a person gave it, or none). Precision and
//! recall of the top theme per area, for the rules alone and for rules plus classifier, so a
//! change to a label set's rules or example sentences is measured, not guessed.
//!
//! The set has a `tune` part and a `holdout` part; only the held-out part is reported by
//! default, and nothing (rules, example sentences, thresholds, the classifier's features) may be
//! chosen on it. Its texts were written by someone who never saw the classifier or the example
//! sentences; a held-out part whose figures steered changes belongs in `tune` from then on.

use crate::config::Catalog;
use crate::policy::themes::{Example, Verdict};
use crate::policy::AreaPolicy;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::Path;

/// One labelled feedback text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub area: String,
    pub split: String,
    /// The theme without its `Theme::` scope; `null` for feedback that belongs to no theme.
    pub theme: Option<String>,
    pub title: String,
    pub body: String,
}

pub const SPLITS: [&str; 2] = ["tune", "holdout"];

/// Reads every `themes-*.jsonl` of `dir`; problems name the file and line.
pub fn load(dir: &Path) -> Result<Vec<Case>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| {
            format!(
                "cannot read the evaluation set in {}: {e} (pass --data with the folder holding themes-*.jsonl)",
                dir.display()
            )
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("themes-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no themes-*.jsonl files in {}", dir.display()));
    }
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Case>(line) {
                Ok(c) if !SPLITS.contains(&c.split.as_str()) => problems.push(format!(
                    "{}:{}: split `{}` must be `tune` or `holdout`",
                    file.display(),
                    n + 1,
                    c.split
                )),
                Ok(c) => cases.push(c),
                Err(e) => problems.push(format!("{}:{}: {e}", file.display(), n + 1)),
            }
        }
    }
    if problems.is_empty() {
        Ok(cases)
    } else {
        Err(problems.join("\n"))
    }
}

/// Counts for one area and one tagger.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Texts that have a theme.
    pub themed: usize,
    /// Texts the tagger put a theme on.
    pub applied: usize,
    /// ... and it was the person's theme.
    pub correct: usize,
    /// Themed texts where the person's theme was only suggested (not applied).
    pub suggested: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.applied)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.themed)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[derive(Debug, Clone)]
pub struct AreaResult {
    pub area: String,
    pub texts: usize,
    /// Themed texts in which no keyword or phrase of their theme appears.
    pub without_keywords: usize,
    pub rules: Counts,
    pub combined: Counts,
    /// Rules plus a classifier that also learned from the *other* part's texts, as if people
    /// had tagged them in the area's project (none when evaluating the whole set).
    pub learned: Option<Counts>,
    pub trained_in: std::time::Duration,
}

/// Scores every area that has cases in `split` (`None`: both parts); `only` limits to one area.
pub fn evaluate(
    catalog: &Catalog,
    cases: &[Case],
    split: Option<&str>,
    only: Option<&str>,
) -> Result<Vec<AreaResult>, String> {
    let mut results = Vec::new();
    for area in &catalog.config.areas {
        if only.is_some_and(|o| o != area.slug) {
            continue;
        }
        let mine: Vec<&Case> = cases
            .iter()
            .filter(|c| c.area == area.slug && split.is_none_or(|s| c.split == s))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let policy = AreaPolicy::new(catalog, area);
        for c in &mine {
            if let Some(t) = &c.theme {
                let label = format!("Theme::{t}");
                if !policy.themes.contains(&label) {
                    return Err(format!(
                        "evaluation case \"{}\" of area `{}` names theme `{t}`, which is not a theme of the area (themes: {})",
                        c.title,
                        area.slug,
                        policy.themes.join(", ")
                    ));
                }
            }
        }
        let model = policy.learn(&[]);
        // The other part plays the area's issues that people tagged.
        let tagged: Vec<Example> = cases
            .iter()
            .enumerate()
            .filter(|(_, c)| c.area == area.slug && split.is_some_and(|s| c.split != s))
            .filter_map(|(i, c)| {
                let theme = c.theme.as_ref()?;
                Some(Example::new(
                    i as u64 + 1,
                    &c.title,
                    &c.body,
                    vec![format!("Theme::{theme}")],
                ))
            })
            .collect();
        let with_tagged = (!tagged.is_empty()).then(|| policy.learn(&tagged));
        let mut result = AreaResult {
            area: area.slug.clone(),
            texts: mine.len(),
            without_keywords: 0,
            rules: Counts::default(),
            combined: Counts::default(),
            learned: with_tagged.as_ref().map(|_| Counts::default()),
            trained_in: model.trained_in(),
        };
        for c in mine {
            let want = c.theme.as_ref().map(|t| format!("Theme::{t}"));
            let rules_pick = policy
                .tagger
                .suggest(&c.title, &c.body, &[])
                .into_iter()
                .next()
                .map(|s| s.label);
            let decisions = policy
                .tagger
                .decide(&c.title, &c.body, &model, area.theme_tagging, 0);
            let combined_pick = decisions
                .iter()
                .find(|d| d.verdict == Verdict::Apply)
                .map(|d| d.label.clone());
            let suggested = decisions
                .iter()
                .find(|d| d.verdict == Verdict::Suggest)
                .map(|d| d.label.clone());
            if let Some(w) = &want {
                let rule_score = policy
                    .tagger
                    .score(&c.title, &c.body, &[])
                    .into_iter()
                    .find(|s| &s.label == w)
                    .map_or(0.0, |s| s.score);
                if rule_score == 0.0 {
                    result.without_keywords += 1;
                }
                if suggested.as_ref() == Some(w) {
                    result.combined.suggested += 1;
                }
            }
            if let (Some(m), Some(counts)) = (&with_tagged, result.learned.as_mut()) {
                let pick = policy
                    .tagger
                    .decide(&c.title, &c.body, m, area.theme_tagging, 0)
                    .into_iter()
                    .find(|d| d.verdict == Verdict::Apply)
                    .map(|d| d.label);
                tally(counts, want.as_ref(), pick.as_ref());
            }
            tally(&mut result.rules, want.as_ref(), rules_pick.as_ref());
            tally(&mut result.combined, want.as_ref(), combined_pick.as_ref());
        }
        results.push(result);
    }
    if let Some(o) = only {
        if results.is_empty() {
            return Err(format!("no evaluation cases for area `{o}`"));
        }
    }
    Ok(results)
}

fn tally(counts: &mut Counts, want: Option<&String>, got: Option<&String>) {
    if want.is_some() {
        counts.themed += 1;
    }
    if let Some(g) = got {
        counts.applied += 1;
        if want == Some(g) {
            counts.correct += 1;
        }
    }
}

/// The table `eval-themes` prints.
pub fn render(results: &[AreaResult], what: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Theme tagging, top theme, on {what}");
    let _ = writeln!(
        out,
        "{:<10} {:>5} {:>6} {:>11}   {:>17}   {:>17}   {:>9}   {:>8}   {:>19}",
        "area",
        "texts",
        "themed",
        "no keyword",
        "rules alone P / R",
        "combined P / R",
        "suggested",
        "training",
        "+ people's tags P / R"
    );
    let mut total = AreaResult {
        area: "all".into(),
        texts: 0,
        without_keywords: 0,
        rules: Counts::default(),
        combined: Counts::default(),
        learned: results
            .first()
            .and_then(|r| r.learned.map(|_| Counts::default())),
        trained_in: Default::default(),
    };
    let add = |a: &mut Counts, b: &Counts| {
        a.themed += b.themed;
        a.applied += b.applied;
        a.correct += b.correct;
        a.suggested += b.suggested;
    };
    for r in results {
        line(&mut out, r);
        total.texts += r.texts;
        total.without_keywords += r.without_keywords;
        add(&mut total.rules, &r.rules);
        add(&mut total.combined, &r.combined);
        if let (Some(t), Some(l)) = (total.learned.as_mut(), r.learned.as_ref()) {
            add(t, l);
        }
        total.trained_in += r.trained_in;
    }
    if results.len() > 1 {
        line(&mut out, &total);
    }
    out.push_str(
        "\nP = applied themes that are the person's theme / themes applied (negatives count as wrong);\n\
         R = texts whose theme was applied / themed texts; suggested = the person's theme was only\n\
         suggested in a note (below apply_at, at or above suggest_at); + people's tags = combined, with\n\
         the other part of the set learned as issues people tagged in the area.\n",
    );
    out
}

fn line(out: &mut String, r: &AreaResult) {
    let pr = |c: &Counts| format!("{:.2} / {:.2}", c.precision(), c.recall());
    let _ = writeln!(
        out,
        "{:<10} {:>5} {:>6} {:>5} ({:>3.0}%)   {:>17}   {:>17}   {:>9}   {:>5} ms   {:>19}",
        r.area,
        r.texts,
        r.rules.themed,
        r.without_keywords,
        ratio(r.without_keywords, r.rules.themed) * 100.0,
        pr(&r.rules),
        pr(&r.combined),
        r.combined.suggested,
        r.trained_in.as_millis(),
        r.learned.as_ref().map(pr).unwrap_or_else(|| "-".into())
    );
}
