//! Policies: pure functions from what was observed in GitLab to the changes that make it match
//! what is desired. They never talk to GitLab, so their tests need no server.

pub mod address;
pub mod bounds;
pub mod cadence;
pub mod classifier;
pub mod customer;
pub mod duplicates;
pub mod epics;
pub mod issue;
pub mod provision;
pub mod request;
pub mod seeds;
pub mod similar;
pub mod themes;

use crate::config::{AreaConfig, Catalog, LabelSpec};
use crate::gitlab::label;
use crate::gitlab::types::Issue;
use crate::plan::Change;
use issue::{AreaRules, IssueContext, IssueView, FEEDBACK_TYPE, THEME_SCOPE};
use std::collections::{BTreeMap, HashMap, HashSet};
use themes::{Example, Tagger, TaggerSettings, ThemeDef, ThemeModel, Verdict};

/// Everything needed to decide about one area's issues, built once from the configuration and
/// shared by the webhook worker and the scheduled sync, so both apply the same rules.
pub struct AreaPolicy {
    pub area: AreaConfig,
    pub project: String,
    pub rules: AreaRules,
    pub tagger: Tagger,
    pub stale_days: i64,
    /// Theme labels of the area, in label-set order.
    pub themes: Vec<String>,
    /// The label sets' example sentences, the classifier's starting point.
    pub sentences: Vec<classifier::Labelled>,
    /// This area's themes as their rules name them (see [`theme_vocabulary`]), labelled by
    /// theme: beside the example sentences when telling this area's feedback from another's.
    pub vocabulary: Vec<classifier::Labelled>,
    /// The other theme sets' example sentences and vocabulary, as "(no theme)": what this
    /// area's themes are not (runner autoscaling is not an AI pricing question because it is a
    /// theme elsewhere).
    pub out_of_area: Vec<classifier::Labelled>,
}

/// A theme in the words its label set names it by: its name and description, each phrase and
/// each keyword, one text apiece, labelled `label`. The example sentences alone cannot tell a
/// theme's own feedback from another area's: they are written as customers paraphrase the
/// theme, mostly without its keywords (which the rules already catch), so feedback that names
/// the theme ("code completion", "chat window") found no sentence of its area sharing those
/// words and sat nearer to another area's sentence sharing a common one ("slow", "window").
/// Empty for a label without rules.
fn theme_vocabulary(label: &LabelSpec, as_label: &str) -> Vec<classifier::Labelled> {
    let Some(rules) = &label.rules else {
        return Vec::new();
    };
    let name = label
        .name
        .split_once("::")
        .map_or(label.name.as_str(), |(_, n)| n);
    // No colon: the area index reads what comes before one as a customer's name.
    std::iter::once(format!("{name}, {}", label.description.replace(':', ",")))
        .chain(rules.phrases.iter().cloned())
        .chain(rules.keywords.iter().cloned())
        .map(|text| classifier::Labelled {
            label: as_label.to_string(),
            text,
            issue: None,
        })
        .collect()
}

impl AreaPolicy {
    pub fn new(catalog: &Catalog, area: &AreaConfig) -> AreaPolicy {
        let project = area.project_full_path(&catalog.config.gitlab.group);
        let mut scopes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut theme_defs = Vec::new();
        let mut sentences = Vec::new();
        for (_, label) in catalog.area_labels(area) {
            if let Some(scope) = label::scope_of(&label.name) {
                scopes
                    .entry(scope.to_string())
                    .or_default()
                    .push(label.name.clone());
            }
            if let Some(rules) = &label.rules {
                sentences.extend(rules.examples.iter().map(|text| classifier::Labelled {
                    label: label.name.clone(),
                    text: text.clone(),
                    issue: None,
                }));
                theme_defs.push(ThemeDef {
                    label: label.name.clone(),
                    rules: rules.clone(),
                });
            }
        }
        let mut theme_sets: Vec<&str> = catalog
            .area_labels(area)
            .into_iter()
            .filter(|(_, l)| l.rules.is_some())
            .map(|(set, _)| set)
            .collect();
        theme_sets.dedup();
        for set in theme_sets.iter().filter_map(|s| catalog.label_sets.get(*s)) {
            sentences.extend(
                set.unrelated_examples
                    .iter()
                    .map(|text| classifier::Labelled {
                        label: classifier::NO_THEME.to_string(),
                        text: text.clone(),
                        issue: None,
                    }),
            );
        }
        let vocabulary = catalog
            .area_labels(area)
            .into_iter()
            .flat_map(|(_, label)| theme_vocabulary(label, &label.name))
            .collect();
        let out_of_area = catalog
            .label_sets
            .iter()
            .filter(|(name, _)| !theme_sets.contains(&name.as_str()))
            .flat_map(|(_, set)| &set.labels)
            .flat_map(|label| {
                let examples = label.rules.iter().flat_map(|rules| &rules.examples);
                examples
                    .map(|text| classifier::Labelled {
                        label: classifier::NO_THEME.to_string(),
                        text: text.clone(),
                        issue: None,
                    })
                    .chain(theme_vocabulary(label, classifier::NO_THEME))
                    .collect::<Vec<_>>()
            })
            .collect();
        let themes: Vec<String> = scopes.get(THEME_SCOPE).cloned().unwrap_or_default();
        // smeflow's own issues (seed issues, theme tracking issues) are not workflow items.
        let exempt_titles = themes
            .iter()
            .map(|t| epics::container_title(&area.name, t))
            .collect();
        AreaPolicy {
            area: area.clone(),
            rules: AreaRules {
                project: project.clone(),
                scopes,
                exempt_titles,
                seed_titles: catalog
                    .seed_issues
                    .keys()
                    .chain(catalog.promotion_issues.keys())
                    .cloned()
                    .collect(),
            },
            project,
            tagger: Tagger::new(theme_defs, TaggerSettings::default()),
            stale_days: catalog.config.feedback.stale_days,
            themes,
            sentences,
            vocabulary,
            out_of_area,
        }
    }

    /// The area's classifier, trained on the label sets' sentences and on `examples` (issues
    /// people tagged). At most `EXAMPLES_PER_THEME` issues per theme are used, the newest
    /// first: a few hundred teach the wording as well as ten thousand, and keep training in
    /// milliseconds and the sync's memory flat however large the area grows.
    pub fn learn(&self, examples: &[Example]) -> ThemeModel {
        let kept: Vec<Example> = newest_per_theme(examples.iter(), |e| (e.iid, &e.themes))
            .into_iter()
            .cloned()
            .collect();
        ThemeModel::new(&self.sentences, &kept)
            .with_out_of_area(&self.vocabulary, &self.out_of_area)
    }

    /// Whether the tagger has anything to say about this issue.
    pub fn wants_theme(&self, labels: &[String]) -> bool {
        !self.themes.is_empty()
            && labels.iter().any(|l| l == FEEDBACK_TYPE)
            && !labels.iter().any(|l| label::in_scope(l, THEME_SCOPE))
    }

    /// The changes one issue needs. `ctx` carries what the caller observed (notes, overrides,
    /// the event's newest labels); the area's settings and the tagger's picks are added here.
    pub fn decide(
        &self,
        view: &IssueView,
        mut ctx: IssueContext,
        model: &ThemeModel,
    ) -> Vec<Change> {
        ctx.now.get_or_insert_with(chrono::Utc::now);
        ctx.stale_days = self.stale_days;
        ctx.pms = self.area.pms.clone();
        ctx.leads = self.area.leads.clone();
        // Areas of interest have no request process.
        ctx.no_request_process = !self.area.status.is_formal();
        if !self.area.status.is_formal() {
            // An area of interest has no customer-feedback process: a `Type::Customer
            // Feedback` label someone put there by hand is left in place, but the feedback
            // policies (PM status, missing-information and PM review notes, themes) do not run;
            // only the SME Workflow hygiene does.
            let plain = IssueView {
                labels: view
                    .labels
                    .iter()
                    .filter(|l| *l != FEEDBACK_TYPE)
                    .cloned()
                    .collect(),
                ..view.clone()
            };
            return issue::plan(&self.rules, &plain, &ctx);
        }
        if self.wants_theme(&view.labels) {
            let outcome = self.tagger.outcome(
                &view.title,
                &view.description,
                model,
                self.area.theme_tagging,
                view.iid,
                Some(&themes::calibrate::SHIPPED),
            );
            if let themes::Outcome::NoneOfThisArea(abstention) = &outcome {
                ctx.theme_hint = Some(themes::explain_abstained(abstention, &self.area.name));
            }
            let (applied, suggested): (Vec<_>, Vec<_>) = outcome
                .decisions()
                .into_iter()
                .filter(|d| !ctx.overrides.contains(&d.label))
                .partition(|d| d.verdict == Verdict::Apply);
            ctx.suggested_themes = applied.iter().map(|d| d.label.clone()).collect();
            if !applied.is_empty() {
                ctx.theme_note = Some(themes::explain_applied(&applied));
            } else if !suggested.is_empty() {
                let labels: Vec<&str> = suggested.iter().map(|d| d.label.as_str()).collect();
                ctx.theme_hint = Some(format!(
                    "{}{} -->\n{}",
                    issue::THEME_HINT_MARKER_PREFIX,
                    crate::markdown::marker_payload(&labels.join(" | ")),
                    themes::explain_suggested(&suggested)
                ));
            }
        }
        issue::plan(&self.rules, view, &ctx)
    }
}

pub fn issue_view(issue: &Issue) -> IssueView {
    IssueView {
        iid: issue.iid,
        title: issue.title.clone(),
        description: issue.description.clone().unwrap_or_default(),
        labels: issue.labels.clone(),
        state: issue.state.clone(),
        author: issue.author.as_ref().map(|a| a.username.clone()),
        updated_at: issue.updated_at,
        created_at: issue.created_at,
        closed_at: issue.closed_at,
        assignees: issue.assignees.iter().map(|a| a.username.clone()).collect(),
    }
}

/// Feedback issues whose themes people set (not smeflow's own guesses): what the tagger learns from.
pub fn examples<'a>(
    issues: impl Iterator<Item = &'a Issue>,
    guessed: &HashSet<(u64, String)>,
) -> Vec<Example> {
    let tagged: Vec<(&Issue, Vec<String>)> = issues
        .filter(|i| i.labels.iter().any(|l| l == FEEDBACK_TYPE))
        .filter_map(|i| {
            let themes: Vec<String> = i
                .labels
                .iter()
                .filter(|l| label::in_scope(l, THEME_SCOPE))
                .filter(|l| !guessed.contains(&(i.iid, (*l).clone())))
                .cloned()
                .collect();
            (!themes.is_empty()).then_some((i, themes))
        })
        .collect();
    // Only what training will use is prepared (an example's term weights are its cost).
    newest_per_theme(tagged.iter(), |(i, themes)| (i.iid, themes))
        .into_iter()
        .map(|(i, themes)| {
            Example::new(
                i.iid,
                &i.title,
                i.description.as_deref().unwrap_or(""),
                themes.clone(),
            )
        })
        .collect()
}

/// How many issues people tagged with one theme the classifier learns from, the newest first: a
/// few hundred teach the wording as well as ten thousand, and keep training in milliseconds and
/// a sync's memory flat however large the area grows.
pub const EXAMPLES_PER_THEME: usize = 200;

/// The newest items (by iid) while some theme of theirs has fewer than `EXAMPLES_PER_THEME`.
fn newest_per_theme<'a, T>(
    items: impl Iterator<Item = T>,
    key: impl Fn(&T) -> (u64, &'a Vec<String>),
) -> Vec<T>
where
    T: 'a,
{
    let mut items: Vec<T> = items.collect();
    items.sort_by_key(|t| std::cmp::Reverse(key(t).0));
    let mut per_theme: HashMap<String, usize> = HashMap::new();
    items
        .into_iter()
        .filter(|t| {
            let (_, themes) = key(t);
            let wanted = themes
                .iter()
                .any(|th| per_theme.get(th).copied().unwrap_or(0) < EXAMPLES_PER_THEME);
            if wanted {
                for th in themes {
                    *per_theme.entry(th.clone()).or_default() += 1;
                }
            }
            wanted
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classifier_learns_from_the_newest_tagged_issues_of_each_theme_only() {
        let issue = |iid: u64, theme: &str| -> Issue {
            serde_json::from_value(serde_json::json!({
                "id": iid, "iid": iid, "project_id": 1, "title": format!("Customer {iid}"),
                "description": "They ask for it.", "state": "opened", "web_url": "",
                "labels": [FEEDBACK_TYPE, theme],
            }))
            .unwrap()
        };
        let mut issues: Vec<Issue> = (1..=500).map(|i| issue(i, "Theme::Duo Chat")).collect();
        issues.extend((501..=510).map(|i| issue(i, "Theme::Code Suggestions")));
        let learned = examples(issues.iter(), &HashSet::new());
        let chat: Vec<u64> = learned
            .iter()
            .filter(|e| e.themes == ["Theme::Duo Chat"])
            .map(|e| e.iid)
            .collect();
        assert_eq!(chat.len(), EXAMPLES_PER_THEME);
        assert_eq!(
            chat.iter().min(),
            Some(&(500 - EXAMPLES_PER_THEME as u64 + 1))
        );
        assert_eq!(
            learned.len() - chat.len(),
            10,
            "a theme under the cap keeps every example"
        );
    }

    #[test]
    fn an_interest_area_runs_workflow_hygiene_but_no_feedback_policy() {
        let catalog = Catalog::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smeflow.toml"),
        )
        .expect("shipped config is valid");
        let policy = AreaPolicy::new(&catalog, catalog.area("cicd").unwrap());
        assert!(
            policy.themes.is_empty(),
            "no themes, so no tagging or epics"
        );
        let now = chrono::Utc::now();
        let feedback = |state: &str| IssueView {
            iid: 7,
            title: "ACME: runners are slow".into(),
            description: "no customer line".into(),
            labels: vec![FEEDBACK_TYPE.into(), "PM Status::Reviewing".into()],
            state: state.into(),
            author: Some("sa".into()),
            updated_at: Some(now - chrono::Duration::days(400)),
            created_at: None,
            closed_at: None,
            assignees: Vec::new(),
        };
        let ctx = || IssueContext {
            now: Some(now),
            ..Default::default()
        };
        // Closed without a PM decision, long quiet, no customer: a formal area would write
        // notes about all three; an area of interest has no such process.
        let untrained = policy.learn(&[]);
        assert!(policy
            .decide(&feedback("closed"), ctx(), &untrained)
            .is_empty());
        let open: Vec<String> = policy
            .decide(&feedback("opened"), ctx(), &untrained)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(open.len(), 1, "{open:?}");
        assert!(open[0].contains("+\"SME Workflow::Triage\""), "{open:?}");
        // The same issue in a formal area gets the feedback policies.
        let formal = AreaPolicy::new(&catalog, catalog.area("ai").unwrap());
        assert!(!formal
            .decide(&feedback("closed"), ctx(), &formal.learn(&[]))
            .is_empty());
    }
}
