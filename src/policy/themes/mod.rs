//! The theme tagger: scores a feedback issue's title and description against each theme's
//! rules (keywords, phrases, exclusions), and against issues people already tagged in the same
//! area (nearest neighbours), then explains its pick in one note.
//!
//! Pure and deterministic. Matching works on tokens, so "ai" never matches inside "maintain";
//! tokens are folded (lower case, plural and -ing/-ed endings removed) so "suggestion" matches
//! "Suggestions" and "scan" matches "scanning".
//!
//! Here: the tagger and its decision. Beside it: `tokens` (what a text's words are), `rules`
//! (a theme's keywords, phrases and exclusions scored on one issue), `model` (what the
//! classifier learns from) and `note` (what smeflow writes on the issue about it).

pub mod calibrate;
mod model;
mod note;
mod rules;
mod tokens;

pub use calibrate::Signals;
pub use model::ThemeModel;
pub use note::{explain, explain_abstained, explain_applied, explain_suggested};
pub(crate) use tokens::words;

use super::classifier::Similar;
use crate::config::{ThemeRules, ThemeTagging};
use rules::{excluded, rule_score, CompiledTheme};
use std::collections::{BTreeMap, HashMap};
use tokens::{cosine, term_vector, tokens, Token};

pub struct ThemeDef {
    pub label: String,
    pub rules: ThemeRules,
}

#[derive(Debug, Clone)]
pub struct TaggerSettings {
    /// Minimum score to add a theme. 2.0 = one keyword in the title, two different keywords
    /// in the description, or one phrase anywhere.
    pub threshold: f64,
    /// `Theme::` labels are scoped, so GitLab Premium keeps only one per issue anyway.
    pub max_themes: usize,
    /// How many similar human-tagged issues vote.
    pub neighbours: usize,
    /// Examples less similar than this do not vote.
    pub min_similarity: f64,
    /// A theme with no rule evidence at all needs a neighbour at least this similar.
    pub neighbour_only_similarity: f64,
}

impl Default for TaggerSettings {
    fn default() -> Self {
        TaggerSettings {
            threshold: 2.0,
            max_themes: 1,
            neighbours: 5,
            min_similarity: 0.3,
            neighbour_only_similarity: 0.6,
        }
    }
}

/// How much of a description the tagger reads: the first 16 KiB. Feedback says what it is about
/// in its first paragraphs (the template filled in generously is 2–3 KiB), and the tagger's cost
/// grows with the text (character n-grams, phrase matching): a 450 KB paste took seconds and
/// every later comment on that issue again, a 10 MB one minutes. Pasted logs past the bound
/// change nothing a person would call the theme.
pub const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;
/// GitLab titles are at most 255 characters; a longer one (another source, a future limit) is
/// read as far as this.
pub const MAX_TITLE_BYTES: usize = 1024;

/// The start of `text`, at most `max` bytes, cut at a character boundary.
pub fn bounded(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The title and description as far as the tagger reads them.
fn bounded_text<'a>(title: &'a str, description: &'a str) -> (&'a str, &'a str) {
    (
        bounded(title, MAX_TITLE_BYTES),
        bounded(description, MAX_DESCRIPTION_BYTES),
    )
}

/// An issue of the area whose themes people set or kept.
#[derive(Debug, Clone)]
pub struct Example {
    pub iid: u64,
    pub title: String,
    pub themes: Vec<String>,
    /// Title and description, what the classifier trains on.
    pub text: String,
    /// Folded term weights, computed once: a sync compares thousands of issues against these.
    terms: HashMap<String, f64>,
}

impl Example {
    pub fn new(iid: u64, title: &str, description: &str, themes: Vec<String>) -> Example {
        let (title, description) = bounded_text(title, description);
        Example {
            iid,
            title: title.to_string(),
            themes,
            text: format!("{title}\n{description}"),
            terms: term_vector(&tokens(title), &tokens(description)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    Keyword(String),
    Phrase(String),
    Neighbour {
        iid: u64,
        title: String,
        similarity: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub label: String,
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

/// Neighbour votes: similarity-weighted, scaled so two 0.5-similar neighbours make 2.5.
const NEIGHBOUR_WEIGHT: f64 = 2.5;

pub struct Tagger {
    themes: Vec<CompiledTheme>,
    settings: TaggerSettings,
}

impl Tagger {
    pub fn new(themes: Vec<ThemeDef>, settings: TaggerSettings) -> Tagger {
        let compile = |rules: &[String]| -> Vec<Vec<String>> {
            rules
                .iter()
                .map(|r| tokens(r).into_iter().map(|t| t.folded).collect::<Vec<_>>())
                .filter(|t| !t.is_empty())
                .collect()
        };
        let themes = themes
            .into_iter()
            .map(|t| {
                // A hyphenated keyword ("self-hosted") is two tokens: it matches as a phrase.
                let (single, multi): (Vec<_>, Vec<_>) = compile(&t.rules.keywords)
                    .into_iter()
                    .partition(|k| k.len() == 1);
                let mut phrases = compile(&t.rules.phrases);
                phrases.extend(multi);
                CompiledTheme {
                    label: t.label,
                    keywords: single,
                    phrases,
                    exclude: compile(&t.rules.exclude),
                }
            })
            .collect();
        Tagger { themes, settings }
    }

    pub fn settings(&self) -> &TaggerSettings {
        &self.settings
    }

    /// Every theme with its score and evidence, best first.
    pub fn score(&self, title: &str, description: &str, examples: &[Example]) -> Vec<Suggestion> {
        let (title, description) = bounded_text(title, description);
        let title_tokens = tokens(title);
        let desc_tokens = tokens(description);
        let neighbours = self.neighbours(&title_tokens, &desc_tokens, examples);
        let mut out: Vec<Suggestion> = self
            .themes
            .iter()
            .map(|theme| {
                let (mut score, mut evidence) = rule_score(theme, &title_tokens, &desc_tokens);
                let votes: Vec<&(f64, &Example)> = neighbours
                    .iter()
                    .filter(|(_, e)| e.themes.contains(&theme.label))
                    .collect();
                let best = votes.iter().map(|(s, _)| *s).fold(0.0, f64::max);
                let vetoed = excluded(theme, &title_tokens, &desc_tokens);
                let rules_agree = score > 0.0 || best >= self.settings.neighbour_only_similarity;
                if !vetoed && rules_agree {
                    for (sim, e) in votes {
                        score += NEIGHBOUR_WEIGHT * sim;
                        evidence.push(Evidence::Neighbour {
                            iid: e.iid,
                            title: e.title.clone(),
                            similarity: (sim * 100.0).round() / 100.0,
                        });
                    }
                }
                if vetoed {
                    score = 0.0;
                    evidence.clear();
                }
                Suggestion {
                    label: theme.label.clone(),
                    score,
                    evidence,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.label.cmp(&b.label))
        });
        out
    }

    /// The themes to add: at or above the threshold, at most `max_themes`, best first.
    pub fn suggest(&self, title: &str, description: &str, examples: &[Example]) -> Vec<Suggestion> {
        self.score(title, description, examples)
            .into_iter()
            .filter(|s| s.score >= self.settings.threshold)
            .take(self.settings.max_themes)
            .collect()
    }

    /// The most similar examples (cosine over folded term counts), most similar first.
    fn neighbours<'e>(
        &self,
        title: &[Token],
        desc: &[Token],
        examples: &'e [Example],
    ) -> Vec<(f64, &'e Example)> {
        if examples.is_empty() {
            return Vec::new();
        }
        let me = term_vector(title, desc);
        let mut scored: Vec<(f64, &Example)> = examples
            .iter()
            .map(|e| (cosine(&me, &e.terms), e))
            .filter(|(s, _)| *s >= self.settings.min_similarity)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.iid.cmp(&b.1.iid)));
        scored.truncate(self.settings.neighbours);
        scored
    }
}

/// A rule score of 2.0 (the rules' own bar: one title keyword or one phrase) is a confidence
/// of 0.63; 4.0 is 0.86.
const RULE_SCALE: f64 = 2.0;
/// How many similar tagged issues a note names.
const SIMILAR_SHOWN: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sure enough: smeflow adds the label.
    Apply,
    /// Likely: smeflow names it in a note and waits for a person.
    Suggest,
}

/// Rules and classifier combined for one theme of one issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub label: String,
    pub verdict: Verdict,
    pub confidence: f64,
    /// Matched keywords and phrases.
    pub matched: Vec<Evidence>,
    /// The classifier's probability alone.
    pub learned: f64,
    /// Tagged issues the text resembles, most similar first.
    pub similar: Vec<Similar>,
    /// The theme's example sentence closest to the text, when no tagged issue is similar.
    pub closest_example: Option<String>,
}

/// What the tagger concludes about one issue.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Themes to apply or suggest, best first, and the calibrated probability that the feedback
    /// belongs to one of the area's themes.
    Themes {
        decisions: Vec<Decision>,
        calibrated: f64,
    },
    /// "None of this area's themes": the best theme reached `apply_at`, but the chance that the
    /// feedback belongs to any of the area's themes is too low. Nothing is tagged; the issue is left for triage, and the note says so.
    NoneOfThisArea(Abstention),
    /// No theme came near `suggest_at`: nothing to say.
    Nothing,
}

/// Why the tagger abstained.
#[derive(Debug, Clone, PartialEq)]
pub struct Abstention {
    /// The theme that came closest.
    pub closest: String,
    /// The calibrated probability that the feedback belongs to one of the area's themes.
    pub calibrated: f64,
    /// How much nearer the feedback is to the closest sentence about something outside the
    /// area's themes (another area's theme, an unrelated example) than to the closest of the
    /// area's own (0.5: as near).
    pub elsewhere: f64,
}

impl Outcome {
    /// The themes to act on; none when the tagger abstains.
    pub fn decisions(self) -> Vec<Decision> {
        match self {
            Outcome::Themes { decisions, .. } => decisions,
            _ => Vec::new(),
        }
    }
}

impl Tagger {
    /// The themes worth acting on, best first; none when the tagger abstains (see
    /// [`Tagger::outcome`]).
    pub fn decide(
        &self,
        title: &str,
        description: &str,
        model: &ThemeModel,
        tagging: ThemeTagging,
        this_iid: u64,
    ) -> Vec<Decision> {
        self.outcome(
            title,
            description,
            model,
            tagging,
            this_iid,
            Some(&calibrate::SHIPPED),
        )
        .decisions()
    }

    /// Every theme not excluded, rules and classifier joined as two independent witnesses
    /// (1 - (1 - rules)(1 - classifier)), best first; and the classifier's "(no theme)"
    /// probability.
    fn weigh(&self, title: &str, description: &str, model: &ThemeModel) -> (Vec<Decision>, f64) {
        let text = format!("{title}\n{description}");
        let learned: HashMap<String, f64> = model
            .classifier()
            .scores(&text)
            .into_iter()
            .map(|s| (s.label, s.probability))
            .collect();
        let (title_tokens, desc_tokens) = (tokens(title), tokens(description));
        let mut out: Vec<Decision> = self
            .themes
            .iter()
            .filter(|t| !excluded(t, &title_tokens, &desc_tokens))
            .map(|theme| {
                let (score, matched) = rule_score(theme, &title_tokens, &desc_tokens);
                let by_rules = 1.0 - (-score / RULE_SCALE).exp();
                let by_model = learned.get(&theme.label).copied().unwrap_or(0.0);
                Decision {
                    label: theme.label.clone(),
                    verdict: Verdict::Suggest,
                    confidence: 1.0 - (1.0 - by_rules) * (1.0 - by_model),
                    matched,
                    learned: by_model,
                    similar: Vec::new(),
                    closest_example: None,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then_with(|| a.label.cmp(&b.label))
        });
        (out, model.elsewhere(&text))
    }

    /// What the calibration looks at for the best theme; `None` when no theme has any evidence.
    pub fn signals(
        &self,
        title: &str,
        description: &str,
        model: &ThemeModel,
    ) -> Option<(String, Signals)> {
        let (title, description) = bounded_text(title, description);
        let (weighed, elsewhere) = self.weigh(title, description, model);
        signals_of(&weighed, elsewhere)
    }

    /// The tagger's conclusion. With a `calibration`, it abstains when the best theme's
    /// calibrated probability of belonging to one of the area's themes is below
    /// [`calibrate::ABSTAIN_BELOW`] where it would apply the best theme; without one it never does
    /// (how it decided before, which `eval-themes` shows beside it).
    pub fn outcome(
        &self,
        title: &str,
        description: &str,
        model: &ThemeModel,
        tagging: ThemeTagging,
        this_iid: u64,
        calibration: Option<&calibrate::Calibration>,
    ) -> Outcome {
        let (title, description) = bounded_text(title, description);
        let (weighed, elsewhere) = self.weigh(title, description, model);
        let Some((best, signals)) = signals_of(&weighed, elsewhere) else {
            return Outcome::Nothing;
        };
        let calibrated = calibration.map_or(signals.confidence, |c| c.probability(&signals));
        let mut out: Vec<Decision> = weighed
            .into_iter()
            .filter(|d| d.confidence >= tagging.suggest_at && d.confidence > 0.0)
            .take(self.settings.max_themes)
            .map(|mut d| {
                if d.confidence >= tagging.apply_at {
                    d.verdict = Verdict::Apply;
                }
                d
            })
            .collect();
        if out.is_empty() {
            return Outcome::Nothing;
        }
        // The gate guards what smeflow would add: a suggestion tags nothing and costs a person
        // one look, and the paraphrases only the classifier knows (suggestions, mostly) are
        // where feedback of the area looks least like it.
        let would_apply = out[0].verdict == Verdict::Apply;
        if calibration.is_some() && would_apply && calibrated < calibrate::ABSTAIN_BELOW {
            return Outcome::NoneOfThisArea(Abstention {
                closest: best,
                calibrated,
                elsewhere,
            });
        }
        let text = format!("{title}\n{description}");
        for d in &mut out {
            d.similar = model
                .classifier()
                .similar_issues(&text, &d.label, this_iid, SIMILAR_SHOWN);
            if d.similar.is_empty() {
                d.closest_example = model
                    .classifier()
                    .closest_sentence(&text, &d.label)
                    .map(|(sentence, _)| sentence);
            }
        }
        Outcome::Themes {
            decisions: out,
            calibrated,
        }
    }
}

/// The best theme's signals, from every theme's decision (best first).
fn signals_of(weighed: &[Decision], elsewhere: f64) -> Option<(String, Signals)> {
    let best = weighed.first().filter(|d| d.confidence > 0.0)?;
    let second = weighed.get(1).map_or(0.0, |d| d.confidence);
    let by_rules = if best.learned < 1.0 {
        1.0 - (1.0 - best.confidence) / (1.0 - best.learned)
    } else {
        0.0
    };
    Some((
        best.label.clone(),
        Signals {
            confidence: best.confidence,
            by_rules,
            margin: best.confidence - second,
            elsewhere,
        },
    ))
}

/// Rule scores for every theme, by label (for reports and debugging).
pub fn scores_by_label(tagger: &Tagger, title: &str, description: &str) -> BTreeMap<String, f64> {
    tagger
        .score(title, description, &[])
        .into_iter()
        .map(|s| (s.label, s.score))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tagger_reads_a_bounded_start_of_the_text_cut_between_characters() {
        assert_eq!(bounded("short", 16), "short");
        assert_eq!(bounded("ééé", 3), "é");
        let huge = format!("{}{}", "é".repeat(MAX_DESCRIPTION_BYTES), "chat history");
        assert!(bounded(&huge, MAX_DESCRIPTION_BYTES).len() <= MAX_DESCRIPTION_BYTES);
        let example = Example::new(1, "t", &huge, vec![]);
        assert!(example.text.len() <= MAX_DESCRIPTION_BYTES + 2);
    }

    use super::tokens::fold;
    use super::*;

    fn rules(k: &[&str], p: &[&str], x: &[&str]) -> ThemeRules {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        ThemeRules {
            keywords: v(k),
            phrases: v(p),
            exclude: v(x),
            examples: Vec::new(),
        }
    }

    fn ai() -> Tagger {
        let defs = vec![
            ThemeDef {
                label: "Theme::Code Suggestions".into(),
                rules: rules(
                    &["completion", "suggestion"],
                    &["code suggestions", "code completion"],
                    &["suggested reviewer"],
                ),
            },
            ThemeDef {
                label: "Theme::Duo Chat".into(),
                rules: rules(
                    &["chat", "conversation"],
                    &["duo chat", "chat history"],
                    &["chatops", "slack notification"],
                ),
            },
            ThemeDef {
                label: "Theme::Self-Hosted Models".into(),
                rules: rules(
                    &["self-hosted", "gpu", "ai"],
                    &["air-gapped", "bring your own model"],
                    &[],
                ),
            },
            ThemeDef {
                label: "Theme::IDE & Editor Support".into(),
                rules: rules(&["vscode", "jetbrains", "ide"], &["vs code"], &[]),
            },
            ThemeDef {
                label: "Theme::Model Quality".into(),
                rules: rules(&["hallucination", "wrong"], &["wrong answer"], &[]),
            },
        ];
        Tagger::new(defs, TaggerSettings::default())
    }

    fn top(t: &Tagger, title: &str, desc: &str) -> Vec<String> {
        t.suggest(title, desc, &[])
            .into_iter()
            .map(|s| s.label)
            .collect()
    }

    #[test]
    fn chat_history_complaint_is_duo_chat() {
        assert_eq!(
            top(
                &ai(),
                "ACME: Duo Chat forgets our conversation history",
                "After a few messages it loses context."
            ),
            ["Theme::Duo Chat"]
        );
    }

    #[test]
    fn plural_and_ing_forms_match_their_rule() {
        let t = ai();
        assert_eq!(
            top(&t, "Code suggestions are slow", ""),
            ["Theme::Code Suggestions"]
        );
        assert_eq!(fold("scanning"), "scan");
        assert_eq!(fold("suggestions"), "suggestion");
        assert_eq!(fold("policies"), "policy");
        assert_eq!(fold("gpus"), "gpu");
        assert_eq!(fold("status"), "status");
    }

    #[test]
    fn hyphenated_keywords_and_phrases_match_across_punctuation() {
        assert_eq!(
            top(
                &ai(),
                "Need models on our own GPUs",
                "We run everything air-gapped and self-hosted."
            ),
            ["Theme::Self-Hosted Models"]
        );
    }

    #[test]
    fn chatops_notifications_are_not_duo_chat() {
        let t = ai();
        assert!(top(
            &t,
            "ChatOps Slack notifications broken",
            "The chat integration posts nothing since the upgrade"
        )
        .is_empty());
    }

    #[test]
    fn short_keywords_do_not_match_inside_other_words() {
        assert!(top(
            &ai(),
            "We maintain a big monorepo",
            "Paid plan, maintainers complain"
        )
        .is_empty());
        assert_eq!(
            top(&ai(), "AI answers need GPUs", ""),
            ["Theme::Self-Hosted Models"]
        );
    }

    #[test]
    fn template_hints_urls_and_code_do_not_create_matches() {
        let desc = "<!-- pick a theme: Duo Chat, Code Suggestions, chat history -->\nSee https://example.com/duo-chat/chat-history and `chat`\n```\nchat chat chat\n```";
        assert!(top(&ai(), "ACME: feedback", desc).is_empty());
    }

    #[test]
    fn an_exclusion_vetoes_even_strong_evidence() {
        let t = ai();
        let s = t.score(
            "Code suggestions and code completion",
            "The suggested reviewer feature",
            &[],
        );
        let cs = s
            .iter()
            .find(|s| s.label == "Theme::Code Suggestions")
            .unwrap();
        assert_eq!(cs.score, 0.0);
    }

    #[test]
    fn at_most_max_themes_best_first_with_stable_ties() {
        let t = ai();
        let all = t.score("Duo Chat and code suggestions in VS Code", "", &[]);
        assert!(all[0].score >= all[1].score);
        assert_eq!(
            t.suggest("Duo Chat and code suggestions in VS Code", "", &[])
                .len(),
            1
        );
        let wide = Tagger {
            settings: TaggerSettings {
                max_themes: 3,
                ..Default::default()
            },
            ..ai()
        };
        let picked = wide.suggest("Duo Chat and code suggestions in VS Code", "", &[]);
        assert_eq!(picked.len(), 3);
        assert_eq!(
            picked,
            wide.suggest("Duo Chat and code suggestions in VS Code", "", &[]),
            "deterministic"
        );
    }

    #[test]
    fn one_description_keyword_is_not_enough_but_a_title_keyword_is() {
        let t = ai();
        assert!(top(&t, "Feedback from Globex", "They use the IDE a lot.").is_empty());
        assert_eq!(
            top(&t, "IDE integration feedback", ""),
            ["Theme::IDE & Editor Support"]
        );
    }

    #[test]
    fn similar_issues_people_tagged_lift_a_weak_match_and_are_explained() {
        let t = ai();
        let title = "Globex: answers about our pipeline are wrong";
        let desc = "It suggests YAML keywords that do not exist in our pipeline configuration.";
        let before = t
            .score(title, desc, &[])
            .into_iter()
            .find(|s| s.label == "Theme::Model Quality")
            .unwrap();
        assert!(before.score < 2.5);
        let examples = vec![
            Example::new(
                12,
                "Initech: pipeline answers invent YAML keywords",
                "Keywords that do not exist in pipeline configuration",
                vec!["Theme::Model Quality".into()],
            ),
            Example::new(
                13,
                "Umbrella: answers about pipeline YAML keywords",
                "Invents configuration keywords",
                vec!["Theme::Model Quality".into()],
            ),
            Example::new(
                14,
                "Hooli: VS Code extension crashes",
                "The extension crashes on start",
                vec!["Theme::IDE & Editor Support".into()],
            ),
        ];
        let picked = t.suggest(title, desc, &examples);
        assert_eq!(picked[0].label, "Theme::Model Quality");
        assert!(picked[0].score > before.score);
        let note = explain(&picked);
        assert!(
            note.contains("#12")
                && note.contains("**wrong**")
                && note.contains("~\"Theme::Model Quality\""),
            "{note}"
        );
    }

    #[test]
    fn neighbours_alone_need_a_close_match() {
        let t = ai();
        let examples = vec![Example::new(
            5,
            "Slow merge request page",
            "diffs load slowly",
            vec!["Theme::Duo Chat".into()],
        )];
        assert!(t
            .suggest(
                "Pipeline editor is slow",
                "the page loads slowly",
                &examples
            )
            .is_empty());
        let close = vec![Example::new(
            6,
            "Merge request page loads slowly with big diffs",
            "",
            vec!["Theme::Duo Chat".into()],
        )];
        let got = t.suggest("Merge request page loads slowly with big diffs", "", &close);
        assert_eq!(got[0].label, "Theme::Duo Chat");
    }

    #[test]
    fn explanation_names_the_matched_words_and_the_way_out() {
        let t = ai();
        let picked = t.suggest("Duo Chat loses chat history", "", &[]);
        let note = explain(&picked);
        assert!(
            note.contains("**Duo Chat**") && note.contains("**chat history**"),
            "{note}"
        );
        assert!(note.contains("will not add it to this issue again"));
    }
}
