//! The theme tagger with the rules shipped in label-sets/, on realistic customer feedback,
//! including texts that must not be tagged.

use crate::common;

use smeflow::config::Catalog;
use smeflow::policy::themes::{Tagger, TaggerSettings, ThemeDef};

fn tagger(area: &str) -> Tagger {
    let catalog = Catalog::load(&common::config()).unwrap();
    let area = catalog.area(area).unwrap();
    let defs = catalog
        .area_labels(area)
        .into_iter()
        .filter_map(|(_, l)| {
            l.rules.clone().map(|rules| ThemeDef {
                label: l.name.clone(),
                rules,
            })
        })
        .collect();
    Tagger::new(defs, TaggerSettings::default())
}

fn pick(t: &Tagger, title: &str, description: &str) -> Option<String> {
    t.suggest(title, description, &[])
        .into_iter()
        .next()
        .map(|s| s.label)
}

#[test]
fn ai_feedback_lands_on_the_right_theme() {
    let t = tagger("ai");
    let cases = [
        (
            "ACME: Duo Chat forgets conversation history",
            "After three or four follow-up questions it loses the context.",
            "Theme::Duo Chat",
        ),
        (
            "Globex: code completion too slow in JetBrains",
            "Suggestions take 3-4 seconds to appear, developers stop waiting.",
            "Theme::Code Suggestions",
        ),
        (
            "Initech needs models on their own GPUs",
            "They are air-gapped and want to bring your own model via vLLM.",
            "Theme::Self-Hosted Models",
        ),
        (
            "Umbrella legal asks whether our code is used for training",
            "Their privacy team needs data retention guarantees before rollout.",
            "Theme::Data Privacy & Governance",
        ),
        (
            "Hooli: answers hallucinate API names",
            "Duo made up a method that does not exist; wrong answer twice.",
            "Theme::Model Quality",
        ),
        (
            "Stark wants the Neovim plugin",
            "Half of their developers use vim, the extension only exists for VS Code.",
            "Theme::IDE & Editor Support",
        ),
        (
            "Wayne: Duo Enterprise per seat pricing too expensive",
            "Budget approved for 200 seats only.",
            "Theme::Pricing & Licensing",
        ),
    ];
    for (title, desc, want) in cases {
        assert_eq!(pick(&t, title, desc).as_deref(), Some(want), "{title}");
    }
}

#[test]
fn feedback_about_other_things_is_left_untagged() {
    let t = tagger("ai");
    for (title, desc) in [
        ("ChatOps Slack notifications stopped", "Since 17.9 the Slack notification for failed pipelines is gone."),
        ("Maintainers cannot approve their own MRs", "Approval rules are confusing for the maintain team."),
        ("Feedback from Soylent", "<!-- Duo Chat, Code Suggestions, Self-Hosted Models --> The runner autoscaler is slow."),
        ("Suggested reviewers pick the wrong people", "The suggested reviewer list ignores CODEOWNERS."),
    ] {
        assert_eq!(pick(&t, title, desc), None, "{title}");
    }
}

#[test]
fn other_areas_use_their_own_themes() {
    assert_eq!(
        pick(
            &tagger("appsec"),
            "Too many false positives in SAST",
            "Semgrep flags test files"
        )
        .as_deref(),
        Some("Theme::SAST")
    );
    assert_eq!(
        pick(
            &tagger("plan"),
            "Migrate from Jira without losing epics",
            "Jira importer drops sub-tasks"
        )
        .as_deref(),
        Some("Theme::Jira Migration & Integration")
    );
    assert_eq!(
        pick(
            &tagger("dedicated"),
            "Need PrivateLink for outbound webhooks",
            "Their firewall blocks egress"
        )
        .as_deref(),
        Some("Theme::Networking & Private Connectivity")
    );
}
