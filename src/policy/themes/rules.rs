//! A theme's rules applied to one issue: keywords and phrases scored by where they appear and
//! how often, exclusions that veto the theme.

use super::tokens::{Token, DESCRIPTION_WEIGHT, TITLE_WEIGHT};
use super::Evidence;
use std::collections::HashSet;

pub(super) const PHRASE_FACTOR: f64 = 2.0;
/// Each repeat of a match adds this much of its weight, up to four repeats.
pub(super) const REPEAT_FACTOR: f64 = 0.25;

pub(super) struct CompiledTheme {
    pub(super) label: String,
    /// Each rule as folded tokens; one token for keywords.
    pub(super) keywords: Vec<Vec<String>>,
    pub(super) phrases: Vec<Vec<String>>,
    pub(super) exclude: Vec<Vec<String>>,
}

pub(super) fn rule_score(
    theme: &CompiledTheme,
    title: &[Token],
    desc: &[Token],
) -> (f64, Vec<Evidence>) {
    let mut score = 0.0;
    let mut evidence = Vec::new();
    let mut seen = HashSet::new();
    let rules = theme
        .keywords
        .iter()
        .map(|k| (k, 1.0))
        .chain(theme.phrases.iter().map(|p| (p, PHRASE_FACTOR)));
    for (rule, factor) in rules {
        let in_title = occurrences(title, rule);
        let in_desc = occurrences(desc, rule);
        if in_title.is_empty() && in_desc.is_empty() {
            continue;
        }
        let weight = if in_title.is_empty() {
            DESCRIPTION_WEIGHT
        } else {
            TITLE_WEIGHT
        } * factor;
        let repeats = (in_title.len() + in_desc.len() - 1).min(4) as f64;
        score += weight * (1.0 + REPEAT_FACTOR * repeats);
        let (tokens, at) = in_title
            .first()
            .map(|i| (title, *i))
            .unwrap_or_else(|| (desc, in_desc[0]));
        let shown = tokens[at..at + rule.len()]
            .iter()
            .map(|t| t.original.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if seen.insert(shown.to_lowercase()) {
            evidence.push(if rule.len() == 1 {
                Evidence::Keyword(shown)
            } else {
                Evidence::Phrase(shown)
            });
        }
    }
    // A keyword inside a matched phrase ("chat" in "Duo Chat") says nothing more.
    let phrases: Vec<String> = evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::Phrase(p) => Some(p.to_lowercase()),
            _ => None,
        })
        .collect();
    evidence.retain(|e| match e {
        Evidence::Keyword(k) => !phrases
            .iter()
            .any(|p| p.split(' ').any(|w| w == k.to_lowercase())),
        _ => true,
    });
    (score, evidence)
}

pub(super) fn excluded(theme: &CompiledTheme, title: &[Token], desc: &[Token]) -> bool {
    theme
        .exclude
        .iter()
        .any(|x| !occurrences(title, x).is_empty() || !occurrences(desc, x).is_empty())
}

/// Start positions of `needle` (folded tokens) in `hay`.
pub(super) fn occurrences(hay: &[Token], needle: &[String]) -> Vec<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| needle.iter().zip(&hay[i..]).all(|(n, t)| *n == t.folded))
        .collect()
}
