//! What an area's classifier learns from, trained once and only when first asked.

use super::{words, Example};
use crate::policy::classifier::{Classifier, Labelled, NO_THEME};

/// What the area learned from: the label sets' example sentences and the issues people tagged.
///
/// It trains on first use, not when made: the worker makes a new one whenever a person tags an
/// issue, but only an issue without a theme asks it anything, so a burst of tagged feedback
/// costs one training when the next untagged issue comes, not one per tagged issue.
pub struct ThemeModel {
    texts: Vec<Labelled>,
    /// This area's themes as their rules name them, for the area index only.
    vocabulary: Vec<Labelled>,
    /// Other areas' theme sentences and vocabulary: what this area is not.
    out_of_area: Vec<Labelled>,
    trained: std::sync::OnceLock<(Trained, std::time::Duration)>,
    /// Issues whose theme a person set, counted once per theme.
    pub people_examples: usize,
}

impl ThemeModel {
    /// What to learn from; the training itself (milliseconds in a release build) waits for
    /// [`ThemeModel::classifier`].
    pub fn new(sentences: &[Labelled], examples: &[Example]) -> ThemeModel {
        let mut texts = sentences.to_vec();
        for e in examples {
            for theme in &e.themes {
                texts.push(Labelled {
                    label: theme.clone(),
                    text: e.text.clone(),
                    issue: Some((e.iid, e.title.clone())),
                });
            }
        }
        let people_examples = texts.len() - sentences.len();
        ThemeModel {
            texts,
            vocabulary: Vec::new(),
            out_of_area: Vec::new(),
            trained: std::sync::OnceLock::new(),
            people_examples,
        }
    }

    /// Also indexes, apart, this area's sentences beside the other areas' theme sentences and
    /// vocabulary (`out_of_area`, labelled "(no theme)") and the unrelated ones, to tell how
    /// much nearer feedback is to another area's; `vocabulary` (this area's themes as their
    /// rules name them) joins the area's side of that index. Apart, so the themes are learned
    /// exactly as without them: taught as negatives of every theme, the other areas' sentences
    /// cost recall on the tune part of `eval/` (0.89 against 0.91) and tripled the training
    /// time.
    pub fn with_out_of_area(
        mut self,
        vocabulary: &[Labelled],
        out_of_area: &[Labelled],
    ) -> ThemeModel {
        self.vocabulary = vocabulary.to_vec();
        self.out_of_area = out_of_area.to_vec();
        self
    }

    /// The trained classifier, training it now if nothing asked before.
    pub fn classifier(&self) -> &Classifier {
        &self.trained_now().0.themes
    }

    /// How much nearer `text` is to the closest sentence about none of this area's themes than
    /// to the closest of its own (0.5: as near), among what the area classifier learned when
    /// the model learned the other areas, else among the theme classifier's sentences.
    pub fn elsewhere(&self, text: &str) -> f64 {
        let trained = &self.trained_now().0;
        match &trained.area {
            Some(area) => area.nearest_none_share(&without_customer(text)),
            None => trained.themes.nearest_none_share(text),
        }
    }

    /// How long the training took (training now if it has not happened yet).
    pub fn trained_in(&self) -> std::time::Duration {
        self.trained_now().1
    }

    pub fn is_trained(&self) -> bool {
        self.trained.get().is_some()
    }

    fn trained_now(&self) -> &(Trained, std::time::Duration) {
        self.trained.get_or_init(|| {
            let started = std::time::Instant::now();
            let themes = Classifier::train(&self.texts);
            let area = (!self.out_of_area.is_empty()).then(|| {
                let texts: Vec<Labelled> = self
                    .texts
                    .iter()
                    .map(|t| Labelled {
                        label: if t.label == NO_THEME {
                            NO_THEME.to_string()
                        } else {
                            IN_AREA.to_string()
                        },
                        ..t.clone()
                    })
                    .chain(self.vocabulary.iter().map(|t| Labelled {
                        label: IN_AREA.to_string(),
                        ..t.clone()
                    }))
                    .chain(self.out_of_area.iter().cloned())
                    .map(|t| Labelled {
                        text: without_customer(&t.text).into_owned(),
                        ..t
                    })
                    .collect();
                Classifier::index(&texts)
            });
            (Trained { themes, area }, started.elapsed())
        })
    }
}

/// `text` (a title, a line break and a description; or one sentence) without its customer's
/// name, for the area classifier. Who asked says nothing about what they asked about, but the
/// label sets' sentences and feedback titles alike start with a customer ("Globex: teams want a
/// kanban"), and in a short text the name is much of the vector: "Globex: code completion is
/// too slow in JetBrains IDEs" sat nearest to Plan's Globex kanban, "Initech: Duo Chat loses
/// chat history" to Dedicated's Initech regulator. The theme classifier keeps the names: it
/// weighs each word, and names that every theme's texts carry weigh little there.
fn without_customer(text: &str) -> std::borrow::Cow<'_, str> {
    let (title, description) = text.split_once('\n').unwrap_or((text, ""));
    let Some(customer) = crate::policy::customer::customer_of(title, description) else {
        return text.into();
    };
    let name = words(&customer);
    words(text)
        .into_iter()
        .filter(|w| !name.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
        .into()
}

/// The label of every theme's text in the area classifier.
const IN_AREA: &str = "(this area)";

struct Trained {
    themes: Classifier,
    /// This area's sentences beside the others' (vectors only), when the model has them.
    area: Option<Classifier>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Making a model is free; the worker makes one per person-tagged issue, and only the
    /// first question trains it, once.
    #[test]
    fn a_model_trains_when_first_asked_and_only_once() {
        let sentence = |label: &str, text: &str| Labelled {
            label: label.into(),
            text: text.into(),
            issue: None,
        };
        let model = ThemeModel::new(
            &[
                sentence("Theme::Duo Chat", "the assistant forgets the conversation"),
                sentence("Theme::Code Suggestions", "completion of the current line"),
            ],
            &[],
        );
        assert!(!model.is_trained());
        let first: *const Classifier = model.classifier();
        assert!(model.is_trained());
        assert!(std::ptr::eq(first, model.classifier()), "trained again");
        assert!(!model.classifier().is_empty());
    }
}
