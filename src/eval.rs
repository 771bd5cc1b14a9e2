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
use crate::policy::themes::calibrate::{self, Calibration};
use crate::policy::themes::{Example, Outcome, Signals, ThemeModel, Verdict};
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
    /// Texts without a theme of their area that the tagger put a theme on anyway.
    pub negatives_tagged: usize,
    /// Texts on which the tagger said "none of this area's themes" (abstained).
    pub abstained: usize,
    /// ... of them, texts that had a theme (recall lost to abstaining).
    pub abstained_themed: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.applied)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.themed)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    fn add(&mut self, b: &Counts) {
        self.themed += b.themed;
        self.applied += b.applied;
        self.correct += b.correct;
        self.suggested += b.suggested;
        self.negatives_tagged += b.negatives_tagged;
        self.abstained += b.abstained;
        self.abstained_themed += b.abstained_themed;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// One text as the calibration sees it: the best theme's signals and what became of it.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    pub signals: Signals,
    /// The best theme is the person's theme.
    pub right: bool,
    /// The text has a theme of its area.
    pub themed: bool,
    /// The best theme reached `apply_at` (it is applied unless the tagger abstains).
    pub applies: bool,
    /// The best theme reached `suggest_at` (the tagger says something, or abstains).
    pub speaks: bool,
}

#[derive(Debug, Clone)]
pub struct AreaResult {
    pub area: String,
    pub texts: usize,
    /// Texts without a theme of their area.
    pub negatives: usize,
    /// Themed texts in which no keyword or phrase of their theme appears.
    pub without_keywords: usize,
    pub rules: Counts,
    /// The tagger as it was: rules and classifier on the area's own sentences, never abstaining.
    pub baseline: Counts,
    /// The tagger as shipped: the other areas' themes learned as "(no theme)", calibrated, and
    /// abstaining below [`calibrate::ABSTAIN_BELOW`].
    pub combined: Counts,
    /// The shipped tagger with a classifier that also learned from the *other* part's texts,
    /// as if people had tagged them in the area's project (none when evaluating the whole set).
    pub learned: Option<Counts>,
    pub trained_in: std::time::Duration,
    pub baseline_trained_in: std::time::Duration,
    /// Every text with some theme evidence, for calibration figures.
    pub trials: Vec<Trial>,
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
        let baseline = ThemeModel::new(&policy.sentences, &[]);
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
            negatives: mine.iter().filter(|c| c.theme.is_none()).count(),
            without_keywords: 0,
            rules: Counts::default(),
            baseline: Counts::default(),
            combined: Counts::default(),
            learned: with_tagged.as_ref().map(|_| Counts::default()),
            trained_in: model.trained_in(),
            baseline_trained_in: baseline.trained_in(),
            trials: Vec::new(),
        };
        let tagging = area.theme_tagging;
        let shipped = Some(&calibrate::SHIPPED);
        for c in mine {
            let want = c.theme.as_ref().map(|t| format!("Theme::{t}"));
            let rules_pick = policy
                .tagger
                .suggest(&c.title, &c.body, &[])
                .into_iter()
                .next()
                .map(|s| s.label);
            let outcome = |m: &ThemeModel, calibration| {
                policy
                    .tagger
                    .outcome(&c.title, &c.body, m, tagging, 0, calibration)
            };
            let now = outcome(&model, shipped);
            let before = outcome(&baseline, None);
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
                if suggested(&now).as_ref() == Some(w) {
                    result.combined.suggested += 1;
                }
                if suggested(&before).as_ref() == Some(w) {
                    result.baseline.suggested += 1;
                }
            }
            if let Some((best, signals)) = policy.tagger.signals(&c.title, &c.body, &model) {
                result.trials.push(Trial {
                    signals,
                    right: want.as_ref() == Some(&best),
                    themed: want.is_some(),
                    applies: signals.confidence >= tagging.apply_at,
                    speaks: signals.confidence >= tagging.suggest_at,
                });
            }
            if let (Some(m), Some(counts)) = (&with_tagged, result.learned.as_mut()) {
                tally_outcome(counts, want.as_ref(), &outcome(m, shipped));
            }
            tally(&mut result.rules, want.as_ref(), rules_pick.as_ref());
            tally_outcome(&mut result.baseline, want.as_ref(), &before);
            tally_outcome(&mut result.combined, want.as_ref(), &now);
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

fn applied(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Themes { decisions, .. } => decisions
            .iter()
            .find(|d| d.verdict == Verdict::Apply)
            .map(|d| d.label.clone()),
        _ => None,
    }
}

fn suggested(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Themes { decisions, .. } => decisions
            .iter()
            .find(|d| d.verdict == Verdict::Suggest)
            .map(|d| d.label.clone()),
        _ => None,
    }
}

fn tally_outcome(counts: &mut Counts, want: Option<&String>, outcome: &Outcome) {
    if matches!(outcome, Outcome::NoneOfThisArea(_)) {
        counts.abstained += 1;
        if want.is_some() {
            counts.abstained_themed += 1;
        }
    }
    tally(counts, want, applied(outcome).as_ref());
}

fn tally(counts: &mut Counts, want: Option<&String>, got: Option<&String>) {
    if want.is_some() {
        counts.themed += 1;
    }
    if let Some(g) = got {
        counts.applied += 1;
        if want == Some(g) {
            counts.correct += 1;
        } else if want.is_none() {
            counts.negatives_tagged += 1;
        }
    }
}

/// What abstaining below `threshold` does on `scored` trials (each with its calibrated
/// probability; the best theme only, as `max_themes` = 1 tags): the counts a re-run would show,
/// without re-running the tagger.
fn replay(scored: &[(f64, Trial)], themed: usize, threshold: f64) -> Counts {
    let mut counts = Counts {
        themed,
        ..Default::default()
    };
    for (p, t) in scored.iter().filter(|(_, t)| t.speaks) {
        if t.applies && *p < threshold {
            counts.abstained += 1;
            counts.abstained_themed += usize::from(t.themed);
        } else if t.applies {
            counts.applied += 1;
            counts.correct += usize::from(t.right);
            counts.negatives_tagged += usize::from(!t.themed);
        }
    }
    counts
}

/// Per area, each speaking trial with its out-of-fold calibrated probability.
type PerArea = Vec<Vec<(f64, Trial)>>;

/// Folds of the cross-validation that chooses the calibration's inputs and threshold.
const FOLDS: usize = 5;

/// The signal sets and ridges `--fit` compares, by out-of-fold Brier score on the tune part.
const CANDIDATES: [([bool; calibrate::INPUTS], f64); 6] = [
    ([true, false, false, false], 0.01),
    ([true, false, false, true], 0.01),
    ([true, false, true, true], 0.01),
    ([true, true, true, true], 0.01),
    ([true, false, true, true], 1.0),
    ([true, true, true, true], 1.0),
];

/// The calibration fitted on `results` (the tune part: the texts where the tagger speaks), and
/// for each abstention threshold what it does: what `--fit` prints. The signal set and the
/// threshold are judged out of fold (each fifth of the texts scored by a calibration fitted on
/// the other four), since a calibration scored on its own texts looks better than it is.
pub fn fit(results: &[AreaResult]) -> Result<String, String> {
    // Per area, the trials where the tagger speaks, each with its fold (by position, so the
    // folds are fixed and mix every area).
    let mut position = 0;
    let folded: Vec<Vec<(usize, Trial)>> = results
        .iter()
        .map(|r| {
            r.trials
                .iter()
                .filter(|t| t.speaks)
                .map(|t| {
                    position += 1;
                    (position % FOLDS, *t)
                })
                .collect()
        })
        .collect();
    let all: Vec<(Signals, bool)> = folded
        .iter()
        .flatten()
        .map(|(_, t)| (t.signals, t.themed))
        .collect();
    let none = || "the tune part needs texts with a theme of their area and texts without";
    // Out-of-fold probabilities, per area, for one candidate.
    let out_of_fold = |used, ridge| -> Option<PerArea> {
        let fitted: Vec<Calibration> = (0..FOLDS)
            .map(|k| {
                let train: Vec<(Signals, bool)> = folded
                    .iter()
                    .flatten()
                    .filter(|(f, _)| *f != k)
                    .map(|(_, t)| (t.signals, t.themed))
                    .collect();
                Calibration::fit_with(&train, used, ridge)
            })
            .collect::<Option<_>>()?;
        Some(
            folded
                .iter()
                .map(|area| {
                    area.iter()
                        .map(|(f, t)| (fitted[*f].probability(&t.signals), *t))
                        .collect()
                })
                .collect(),
        )
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Calibration on the tune part: {} texts where a theme reached suggest_at, {FOLDS}-fold out-of-fold Brier per signal set",
        all.len()
    );
    let mut best: Option<(f64, usize, PerArea)> = None;
    for (i, (used, ridge)) in CANDIDATES.iter().enumerate() {
        let oof = out_of_fold(*used, *ridge).ok_or_else(none)?;
        let flat: Vec<(f64, bool)> = oof.iter().flatten().map(|(p, t)| (*p, t.themed)).collect();
        let brier = calibrate::brier(&flat);
        let names: Vec<&str> = (0..calibrate::INPUTS)
            .filter(|k| used[*k])
            .map(|k| calibrate::INPUT_NAMES[k])
            .collect();
        let weights = Calibration::fit_with(&all, *used, *ridge)
            .map(|c| format!("{:.3?} bias {:.3}", c.weights, c.bias))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {brier:.4}  {} (ridge {ridge}): {weights}",
            names.join(" + ")
        );
        if best.as_ref().is_none_or(|b| brier < b.0) {
            best = Some((brier, i, oof));
        }
    }
    let (_, chosen, oof) = best.ok_or_else(none)?;
    let (used, ridge) = CANDIDATES[chosen];
    let fitted = Calibration::fit_with(&all, used, ridge).ok_or_else(none)?;
    let _ = writeln!(
        out,
        "Best out of fold: candidate {}; fitted on all of them:\n  weights: [{:.3}, {:.3}, {:.3}, {:.3}] ({})\n  bias: {:.3}",
        chosen + 1,
        fitted.weights[0],
        fitted.weights[1],
        fitted.weights[2],
        fitted.weights[3],
        calibrate::INPUT_NAMES.join(", "),
        fitted.bias
    );
    let _ = writeln!(
        out,
        "\nAbstaining below a threshold, out of fold:\n{:>9}   {:>17}   {:>11}   {:>15}   {:>10}",
        "abstain <", "all P / R", "lowest P", "negatives tagged", "abstained"
    );
    let negatives: usize = results.iter().map(|r| r.negatives).sum();
    for step in 0..=19 {
        let threshold = 0.05 * f64::from(step);
        let per_area: Vec<Counts> = results
            .iter()
            .zip(&oof)
            .map(|(r, scored)| replay(scored, r.combined.themed, threshold))
            .collect();
        let mut all = Counts::default();
        for c in &per_area {
            all.add(c);
        }
        let lowest = per_area
            .iter()
            .map(|c| c.precision())
            .fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            out,
            "{threshold:>9.2}   {:>17}   {lowest:>11.2}   {:>15}   {:>10}",
            format!("{:.2} / {:.2}", all.precision(), all.recall()),
            format!("{} of {negatives}", all.negatives_tagged),
            all.abstained
        );
    }
    Ok(out)
}

/// The table `eval-themes` prints.
pub fn render(results: &[AreaResult], what: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Theme tagging, top theme, on {what}");
    let _ = writeln!(
        out,
        "{:<10} {:>5} {:>6} {:>4} {:>11}   {:>11}   {:>23}   {:>23}   {:>12}   {:>9}   {:>9}   {:>15}   {:>19}",
        "area",
        "texts",
        "themed",
        "none",
        "no keyword",
        "rules P / R",
        "before P / R / F1",
        "now P / R / F1",
        "none tagged",
        "abstained",
        "suggested",
        "training ms",
        "+ people's tags P / R"
    );
    let mut total = AreaResult {
        area: "all".into(),
        texts: 0,
        negatives: 0,
        without_keywords: 0,
        rules: Counts::default(),
        baseline: Counts::default(),
        combined: Counts::default(),
        learned: results
            .first()
            .and_then(|r| r.learned.map(|_| Counts::default())),
        trained_in: Default::default(),
        baseline_trained_in: Default::default(),
        trials: Vec::new(),
    };
    for r in results {
        line(&mut out, r);
        total.texts += r.texts;
        total.negatives += r.negatives;
        total.without_keywords += r.without_keywords;
        total.rules.add(&r.rules);
        total.baseline.add(&r.baseline);
        total.combined.add(&r.combined);
        if let (Some(t), Some(l)) = (total.learned.as_mut(), r.learned.as_ref()) {
            t.add(l);
        }
        total.trained_in += r.trained_in;
        total.baseline_trained_in += r.baseline_trained_in;
        total.trials.extend(r.trials.iter().copied());
    }
    if results.len() > 1 {
        line(&mut out, &total);
    }
    out.push_str(&reliability(&total.trials));
    out.push_str(
        "\nP = applied themes that are the person's theme / themes applied (texts without a theme\n\
         count as wrong); R = texts whose theme was applied / themed texts; F1 their harmonic mean.\n\
         before = rules and classifier on the area's own sentences, never abstaining; now = also\n\
         learning the other areas' themes as \"not this area's\", calibrated, abstaining below the\n\
         calibrated probability ABSTAIN_BELOW. none tagged = texts without a theme of their area\n\
         that got one (before -> now); abstained = \"none of this area's themes\" (of them, themed\n\
         texts); suggested = the person's theme was only suggested in a note; training = before /\n\
         now; + people's tags = now, with the other part learned as issues people tagged.\n",
    );
    out
}

/// How well the calibrated probability that a text belongs to one of its area's themes matches
/// how often it does, on the texts where the tagger speaks: a reliability table and Brier
/// scores (against the raw confidence of the best theme read as that probability).
fn reliability(trials: &[Trial]) -> String {
    let speaking: Vec<&Trial> = trials.iter().filter(|t| t.speaks).collect();
    let calibrated: Vec<(f64, bool)> = speaking
        .iter()
        .map(|t| (calibrate::SHIPPED.probability(&t.signals), t.themed))
        .collect();
    let raw: Vec<(f64, bool)> = speaking
        .iter()
        .map(|t| (t.signals.confidence, t.themed))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nBelongs to a theme of its area? on {} texts where a theme reached suggest_at: Brier {:.3} calibrated, {:.3} raw confidence",
        speaking.len(),
        calibrate::brier(&calibrated),
        calibrate::brier(&raw)
    );
    let _ = writeln!(
        out,
        "{:>11}   {:>5}   {:>14}   {:>8}",
        "calibrated", "texts", "mean predicted", "observed"
    );
    for bin in 0..5 {
        let (lo, hi) = (bin as f64 * 0.2, (bin + 1) as f64 * 0.2);
        let inside: Vec<&(f64, bool)> = calibrated
            .iter()
            .filter(|(p, _)| *p >= lo && (*p < hi || bin == 4))
            .collect();
        if inside.is_empty() {
            continue;
        }
        let n = inside.len() as f64;
        let _ = writeln!(
            out,
            "{:>11}   {:>5}   {:>14.2}   {:>8.2}",
            format!("{lo:.1}-{hi:.1}"),
            inside.len(),
            inside.iter().map(|(p, _)| p).sum::<f64>() / n,
            inside.iter().filter(|(_, r)| *r).count() as f64 / n
        );
    }
    out
}

fn line(out: &mut String, r: &AreaResult) {
    let pr = |c: &Counts| format!("{:.2} / {:.2}", c.precision(), c.recall());
    let prf = |c: &Counts| format!("{:.2} / {:.2} / {:.2}", c.precision(), c.recall(), c.f1());
    let _ = writeln!(
        out,
        "{:<10} {:>5} {:>6} {:>4} {:>5} ({:>3.0}%)   {:>11}   {:>23}   {:>23}   {:>12}   {:>9}   {:>9}   {:>15}   {:>19}",
        r.area,
        r.texts,
        r.rules.themed,
        r.negatives,
        r.without_keywords,
        ratio(r.without_keywords, r.rules.themed) * 100.0,
        pr(&r.rules),
        prf(&r.baseline),
        prf(&r.combined),
        format!(
            "{} -> {}",
            r.baseline.negatives_tagged, r.combined.negatives_tagged
        ),
        format!(
            "{} ({})",
            r.combined.abstained, r.combined.abstained_themed
        ),
        r.combined.suggested,
        format!(
            "{} / {}",
            r.baseline_trained_in.as_millis(),
            r.trained_in.as_millis()
        ),
        r.learned.as_ref().map(pr).unwrap_or_else(|| "-".into())
    );
}
