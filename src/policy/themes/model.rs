//! What an area's classifier learns from, trained once and only when first asked.

use super::Example;
use crate::policy::classifier::{Classifier, Labelled};

/// What the area learned from: the label sets' example sentences and the issues people tagged.
///
/// It trains on first use, not when made: the worker makes a new one whenever a person tags an
/// issue, but only an issue without a theme asks it anything, so a burst of tagged feedback
/// costs one training when the next untagged issue comes, not one per tagged issue.
pub struct ThemeModel {
    texts: Vec<Labelled>,
    trained: std::sync::OnceLock<(Classifier, std::time::Duration)>,
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
            trained: std::sync::OnceLock::new(),
            people_examples,
        }
    }

    /// The trained classifier, training it now if nothing asked before.
    pub fn classifier(&self) -> &Classifier {
        &self.trained_now().0
    }

    /// How long the training took (training now if it has not happened yet).
    pub fn trained_in(&self) -> std::time::Duration {
        self.trained_now().1
    }

    pub fn is_trained(&self) -> bool {
        self.trained.get().is_some()
    }

    fn trained_now(&self) -> &(Classifier, std::time::Duration) {
        self.trained.get_or_init(|| {
            let started = std::time::Instant::now();
            let classifier = Classifier::train(&self.texts);
            (classifier, started.elapsed())
        })
    }
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
