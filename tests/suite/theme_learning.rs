//! Theme tagging that learns: the label sets' example sentences find paraphrased feedback, a
//! theme a person confirmed on one issue changes the decision on a similar new one (smeflow's
//! own guesses never teach), exclusions and a person's removal stay absolute, and the
//! labelled evaluation set keeps the shape the issue asks for.

use crate::common;

use smeflow::config::Catalog;
use smeflow::gitlab::types::Issue;
use smeflow::plan::Change;
use smeflow::policy::issue::{IssueContext, IssueView, THEME_HINT_MARKER_PREFIX};
use smeflow::policy::AreaPolicy;
use std::collections::HashSet;

const CHAT: &str = "Theme::Duo Chat";

fn catalog() -> Catalog {
    Catalog::load(&common::config()).unwrap()
}

fn feedback(iid: u64, title: &str, description: &str, labels: &[&str]) -> Issue {
    let mut all = vec!["Type::Customer Feedback".to_string()];
    all.extend(labels.iter().map(|l| l.to_string()));
    serde_json::from_value(serde_json::json!({
        "id": 1000 + iid, "iid": iid, "title": title, "description": description,
        "state": "opened", "labels": all,
    }))
    .unwrap()
}

/// The themes smeflow would add to `issue`, and the note it would write.
fn decide(
    policy: &AreaPolicy,
    issue: &Issue,
    learned_from: &[Issue],
    guessed: &[(u64, &str)],
) -> (Vec<String>, String) {
    let guessed: HashSet<(u64, String)> =
        guessed.iter().map(|(i, l)| (*i, l.to_string())).collect();
    let examples = smeflow::policy::examples(learned_from.iter(), &guessed);
    let model = policy.learn(&examples);
    let view: IssueView = smeflow::policy::issue_view(issue);
    let ctx = IssueContext {
        now: None,
        ..Default::default()
    };
    let changes = policy.decide(&view, ctx, &model);
    let mut themes = Vec::new();
    let mut notes = String::new();
    for c in changes {
        match c {
            Change::EditIssueLabels { add, .. } => {
                themes.extend(add.into_iter().filter(|l| l.starts_with("Theme::")))
            }
            Change::AddNote { body, .. } if body.starts_with("<!-- smeflow:theme") => {
                notes.push_str(&body)
            }
            _ => {}
        }
    }
    (themes, notes)
}

/// Reviewers asking for a summary of a merge request is a Duo Chat need, said without a word
/// of the theme's rules.
fn confirmed_by_a_person() -> Issue {
    feedback(
        7,
        "Hooli: reviewers ask for a short summary of each merge request",
        "**Customer:** Hooli\n\nLong MRs are skipped in review.",
        &[CHAT],
    )
}

fn similar_new_one() -> Issue {
    feedback(
        9,
        "Globex wants a short summary of every merge request",
        "**Customer:** Globex\n\nReviewers skip big MRs because they are long.",
        &[],
    )
}

#[test]
fn a_theme_a_person_confirmed_tags_a_similar_new_issue_and_the_note_links_it() {
    let catalog = catalog();
    let policy = AreaPolicy::new(&catalog, catalog.area("ai").unwrap());
    let new = similar_new_one();

    let (before, _) = decide(&policy, &new, &[], &[]);
    assert!(
        before.is_empty(),
        "no keyword, no example: not applied yet ({before:?})"
    );

    let (after, note) = decide(&policy, &new, &[confirmed_by_a_person()], &[]);
    assert_eq!(after, [CHAT]);
    insta::assert_snapshot!(note);
}

#[test]
fn smeflows_own_guess_teaches_nothing() {
    let catalog = catalog();
    let policy = AreaPolicy::new(&catalog, catalog.area("ai").unwrap());
    let (themes, _) = decide(
        &policy,
        &similar_new_one(),
        &[confirmed_by_a_person()],
        &[(7, CHAT)],
    );
    assert!(themes.is_empty(), "{themes:?}");
}

#[test]
fn between_the_thresholds_smeflow_suggests_in_a_note_and_adds_nothing() {
    let catalog = catalog();
    let policy = AreaPolicy::new(&catalog, catalog.area("ai").unwrap());
    let unsure = feedback(
        3,
        "Hooli: reviewers ask for a short summary of each merge request",
        "**Customer:** Hooli\n\nLong MRs are skipped in review.",
        &[],
    );
    let (themes, note) = decide(&policy, &unsure, &[], &[]);
    assert!(themes.is_empty(), "{themes:?}");
    assert!(note.starts_with(&format!("{THEME_HINT_MARKER_PREFIX}{CHAT} -->")));
    insta::assert_snapshot!(note);
}

/// Applied or suggested: either way the right theme is in front of a person, where the rules
/// alone find nothing.
#[test]
fn the_label_sets_example_sentences_find_feedback_that_names_the_need_not_the_feature() {
    let catalog = catalog();
    let cases = [
        (
            "ai",
            "Initech: can admins stop contractors from using the AI at all?",
            "Group owners want to lock it off for one subgroup.",
            "Theme::Data Privacy & Governance",
        ),
        (
            "ai",
            "Explanations are much worse in Korean",
            "Same question in English is fine.",
            "Theme::Model Quality",
        ),
        (
            "dedicated",
            "Wayne: can we pick another weekday for your changes?",
            "Our release night is Tuesday.",
            "Theme::Maintenance Windows & Upgrades",
        ),
        (
            "plan",
            "Hooli: hours per person for client billing",
            "Finance exports this by hand every month.",
            "Theme::Time Tracking & Reporting",
        ),
    ];
    for (area, title, desc, want) in cases {
        let policy = AreaPolicy::new(&catalog, catalog.area(area).unwrap());
        assert!(
            policy.tagger.suggest(title, desc, &[]).is_empty(),
            "{title}: the rules alone know it"
        );
        let (themes, note) = decide(&policy, &feedback(1, title, desc, &[]), &[], &[]);
        let found =
            themes == [want] || note.contains(&format!("smeflow thinks this may be ~\"{want}\""));
        assert!(found, "{title}: {themes:?} {note}");
        assert!(note.contains("example sentences"), "{note}");
    }
}

/// A label set's `unrelated_examples` teach what belongs to no theme: a workshop recap that
/// the classifier alone would tag as a theme stays untagged, and feedback about another product
/// gets no theme added either (at most a weak suggestion).
#[test]
fn unrelated_examples_keep_feedback_about_other_things_untagged() {
    let catalog = catalog();
    let area = catalog.area("ai").unwrap();
    let policy = AreaPolicy::new(&catalog, area);
    let (title, desc) = (
        "Notes from the onsite workshop",
        "General adoption topics, no asks.",
    );
    let applied = |model: &smeflow::policy::themes::ThemeModel| -> Vec<String> {
        policy
            .tagger
            .decide(title, desc, model, area.theme_tagging, 0)
            .into_iter()
            .filter(|d| d.verdict == smeflow::policy::themes::Verdict::Apply)
            .map(|d| d.label)
            .collect()
    };
    let themes_only: Vec<_> = policy
        .sentences
        .iter()
        .filter(|s| s.label != smeflow::policy::classifier::NO_THEME)
        .cloned()
        .collect();
    assert!(themes_only.len() < policy.sentences.len());
    let without = smeflow::policy::themes::ThemeModel::new(&themes_only, &[]);
    assert!(
        !applied(&without).is_empty(),
        "without the unrelated sentences the recap gets a theme"
    );
    assert_eq!(applied(&policy.learn(&[])), Vec::<String>::new());

    for (area, title, desc) in [
        (
            "ai",
            "Runners on our Kubernetes cluster take minutes to start jobs",
            "The autoscaler is slow in the morning.",
        ),
        (
            "appsec",
            "Pages site returns 404 on the custom domain",
            "Since yesterday.",
        ),
        (
            "plan",
            "Pipeline cache between jobs is slow",
            "Caching takes longer than the build.",
        ),
    ] {
        let policy = AreaPolicy::new(&catalog, catalog.area(area).unwrap());
        let (themes, note) = decide(&policy, &feedback(1, title, desc, &[]), &[], &[]);
        assert!(themes.is_empty(), "{title}: {themes:?} {note}");
    }
}

#[test]
fn an_exclusion_vetoes_what_the_classifier_learned_and_a_removal_stays_final() {
    let catalog = catalog();
    let policy = AreaPolicy::new(&catalog, catalog.area("ai").unwrap());
    let chatops = feedback(
        4,
        "Globex wants a short summary of every merge request in chatops",
        "**Customer:** Globex\n\nReviewers skip big MRs because they are long.",
        &[],
    );
    let (themes, _) = decide(&policy, &chatops, &[confirmed_by_a_person()], &[]);
    assert!(!themes.contains(&CHAT.to_string()), "{themes:?}");

    let examples = smeflow::policy::examples([confirmed_by_a_person()].iter(), &HashSet::new());
    let model = policy.learn(&examples);
    let ctx = IssueContext {
        overrides: vec![CHAT.to_string()],
        ..Default::default()
    };
    let changes = policy.decide(
        &smeflow::policy::issue_view(&similar_new_one()),
        ctx,
        &model,
    );
    assert!(
        changes.iter().all(|c| !c.to_string().contains(CHAT)),
        "{changes:?}"
    );
}

/// The evaluation set is what the issue asks for: at least 160 texts across the four formal
/// areas with negatives, at least a quarter without any keyword of their theme, and a held-out
/// part in every area.
#[test]
fn the_evaluation_set_is_large_varied_and_has_a_held_out_part() {
    let catalog = catalog();
    let cases = smeflow::eval::load(&common::repo().join("eval")).unwrap();
    assert!(cases.len() >= 160, "{}", cases.len());
    for area in ["ai", "appsec", "dedicated", "plan"] {
        let mine: Vec<_> = cases.iter().filter(|c| c.area == area).collect();
        assert!(
            mine.iter().any(|c| c.theme.is_none()),
            "{area}: no negatives"
        );
        assert!(
            mine.iter().filter(|c| c.split == "holdout").count() >= 15,
            "{area}"
        );
    }
    let results = smeflow::eval::evaluate(&catalog, &cases, None, None).unwrap();
    let themed: usize = results.iter().map(|r| r.rules.themed).sum();
    let without: usize = results.iter().map(|r| r.without_keywords).sum();
    assert!(
        without * 4 >= themed,
        "{without} of {themed} without keywords"
    );
}

/// The README's claim, kept true: on the held-out part, over the four formal areas, the
/// combined tagger is at least 0.90 precise, tags fewer texts that belong to no theme than the
/// tagger without abstention did, and finds far more than the rules alone. Recall was 0.89
/// before the abstention and is 0.82 with it, below the 0.85 the issue asks of the
/// maintainers' set (whose recall was 0.95): the bar here is 0.80 so that a change losing more
/// fails. A label-set or model change that loses this is judged on the tune part, not fitted
/// to these texts.
#[test]
fn on_the_held_out_part_the_combined_tagger_meets_the_targets_and_finds_more_than_the_rules() {
    let catalog = catalog();
    let cases = smeflow::eval::load(&common::repo().join("eval")).unwrap();
    let results = smeflow::eval::evaluate(&catalog, &cases, Some("holdout"), None).unwrap();
    assert_eq!(results.len(), 4);
    let total = |pick: fn(&smeflow::eval::AreaResult) -> smeflow::eval::Counts| {
        results
            .iter()
            .map(pick)
            .fold(smeflow::eval::Counts::default(), |mut a, b| {
                a.themed += b.themed;
                a.applied += b.applied;
                a.correct += b.correct;
                a
            })
    };
    let (combined, rules) = (total(|r| r.combined), total(|r| r.rules));
    let figures = format!(
        "combined {:.2} / {:.2}, rules {:.2} / {:.2}",
        combined.precision(),
        combined.recall(),
        rules.precision(),
        rules.recall()
    );
    assert!(
        combined.precision() >= 0.90 && combined.recall() >= 0.80,
        "{figures}"
    );
    let tagged_without_theme =
        |pick: fn(&smeflow::eval::AreaResult) -> smeflow::eval::Counts| -> usize {
            results.iter().map(|r| pick(r).negatives_tagged).sum()
        };
    assert!(
        tagged_without_theme(|r| r.combined) < tagged_without_theme(|r| r.baseline),
        "{figures}"
    );
    assert!(
        combined.recall() > 1.4 * rules.recall() && combined.precision() > rules.precision() - 0.03,
        "{figures}"
    );
}

/// Through the real binary: `serve` receives the simulator's webhooks. smeflow only suggests a
/// theme on an unsure issue; a person applies it with one click; a similar issue filed next is
/// tagged on its own, and the worker learned it without listing the project's issues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_serve_a_persons_one_click_answer_teaches_the_worker() {
    use common::{free_port, gitlab_with_sa, AI_PROJECT, SA_TOKEN as SA, SECRET, TOKEN};
    use serde_json::json;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let port = free_port();
    let sim = gitlab_with_sa().await;
    let hook = format!("http://127.0.0.1:{port}/webhooks/gitlab");
    let boot = common::smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_WEBHOOK_URL", &hook)
        .output()
        .unwrap();
    assert!(boot.status.success(), "{}", common::stderr(&boot));

    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{port}");
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _serve = Killed(
        Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .current_dir(common::workdir())
            .args([
                "serve",
                "--no-sync",
                "--workers",
                "1",
                "--listen",
                &addr,
                "--state",
            ])
            .arg(dir.path().join("smeflow.db"))
            .env("GITLAB_URL", sim.url())
            .env("GITLAB_TOKEN", TOKEN)
            .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let metrics = format!("http://{addr}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(&metrics).await.is_err() {
        assert!(Instant::now() < deadline, "serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Settled: GitLab sent everything and nothing is left to work off, three looks in a row.
    let settle = || async {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet = 0;
        while quiet < 3 {
            assert!(Instant::now() < deadline, "service did not settle");
            sim.deliveries_flushed().await;
            let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
            let busy = text.lines().any(|l| {
                ["pending", "in_progress", "failed"].iter().any(|s| {
                    l.starts_with(&format!("smeflow_deliveries{{state=\"{s}\"}}"))
                        && !l.ends_with(" 0")
                })
            });
            quiet = if busy { 0 } else { quiet + 1 };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let issues = format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F"));
    let open = |title: &'static str, description: &'static str| {
        let (sim, issues) = (&sim, &issues);
        async move {
            let body = json!({"title": title, "description": description, "labels": "Type::Customer Feedback,Region::AMER,Priority::Medium"});
            let (status, issue) = sim.as_user(SA, "POST", issues, body).await;
            assert_eq!(status, 201, "{issue}");
            issue["iid"].as_u64().unwrap()
        }
    };
    let themes = |iid: u64| -> Vec<String> {
        sim.issues(AI_PROJECT)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .unwrap()["labels"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l.as_str().filter(|l| l.starts_with("Theme::")))
            .map(str::to_string)
            .collect()
    };
    let notes = |iid: u64| -> String {
        sim.notes(AI_PROJECT, iid)
            .iter()
            .map(|n| n["body"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };

    let unsure = open(
        "Hooli: reviewers ask for a short summary of each merge request",
        "**Customer:** Hooli\n\nLong MRs are skipped in review.",
    )
    .await;
    let before = open(
        "Globex wants a short summary of every merge request",
        "**Customer:** Globex\n\nReviewers skip big MRs because they are long.",
    )
    .await;
    settle().await;
    assert!(themes(unsure).is_empty() && themes(before).is_empty());
    assert!(
        notes(unsure).contains("smeflow thinks this may be ~\"Theme::Duo Chat\""),
        "{}",
        notes(unsure)
    );

    // The person's one click.
    let url = format!("{issues}/{unsure}");
    let (status, _) = sim
        .as_user(SA, "PUT", &url, json!({"add_labels": CHAT}))
        .await;
    assert_eq!(status, 200);
    settle().await;

    let after = open(
        "Initech wants a short summary of every merge request",
        "**Customer:** Initech\n\nReviewers skip big MRs because they are long.",
    )
    .await;
    settle().await;
    assert_eq!(themes(after), [CHAT], "{}", notes(after));
    assert!(
        notes(after).contains(&format!("#{unsure} \"Hooli: reviewers ask")),
        "{}",
        notes(after)
    );
    let listed_feedback = sim.requests().iter().any(|r| {
        r.method == "GET"
            && r.path.ends_with("/issues")
            && (r.query.contains("Customer%20Feedback") || r.query.contains("Customer+Feedback"))
    });
    assert!(
        !listed_feedback,
        "the worker listed the project's feedback to learn"
    );
}

/// Thresholds the wrong way round and an empty example sentence (of a theme or an unrelated
/// one) are refused, naming the file and what to fix; `eval-themes` refuses a case whose theme
/// the area does not have.
#[test]
fn bad_thresholds_examples_and_evaluation_cases_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["label-sets", "issue-templates", "seed-issues"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(common::repo().join(sub)).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.path().join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    let config = common::fixture_text();
    let config = config.replacen("apply_at = 0.5", "apply_at = 0.3", 1);
    std::fs::write(dir.path().join("smeflow.toml"), config).unwrap();
    let set = dir.path().join("label-sets/themes-plan.toml");
    let text = std::fs::read_to_string(&set).unwrap();
    let text = text.replacen("\nexamples = [", "\nexamples = [\" \",", 1);
    let text = text.replacen("unrelated_examples = [", "unrelated_examples = [\"\",", 1);
    std::fs::write(&set, text).unwrap();
    let out = assert_cmd::Command::cargo_bin("smeflow")
        .unwrap()
        .args(["check-config", "--config"])
        .arg(dir.path().join("smeflow.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(`ai`): theme_tagging needs 0 <= suggest_at <= apply_at <= 1 (got suggest_at = 0.35, apply_at = 0.3)"),
        "{err}"
    );
    assert!(
        err.contains(
            "themes-plan.toml: label[0] `Theme::Epics & Roadmaps`: an example sentence is empty"
        ),
        "{err}"
    );
    assert!(
        err.contains("themes-plan.toml: an unrelated example sentence is empty"),
        "{err}"
    );

    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("themes-x.jsonl"),
        "{\"area\":\"plan\",\"split\":\"holdout\",\"theme\":\"Epics\",\"title\":\"t\",\"body\":\"b\"}\n{\"area\":\"plan\",\"split\":\"test\",\"theme\":null,\"title\":\"t\",\"body\":\"b\"}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("smeflow")
            .unwrap()
            .current_dir(common::workdir())
            .args(["eval-themes", "--data"])
            .arg(data.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("themes-x.jsonl:2: split `test` must be `tune` or `holdout`"),
        "{err}"
    );
    std::fs::write(
        data.path().join("themes-x.jsonl"),
        "{\"area\":\"plan\",\"split\":\"holdout\",\"theme\":\"Epics\",\"title\":\"t\",\"body\":\"b\"}\n",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&run(&[]).stderr).to_string();
    assert!(
        err.contains("names theme `Epics`, which is not a theme of the area (themes: Theme::Epics & Roadmaps,"),
        "{err}"
    );
}

/// Through `sync-board`: the sync retrains on the area's issues, so a theme a person set on one
/// issue decides a similar untagged one; the dry run before it plans nothing for that theme.
#[test]
fn a_sync_learns_from_the_issues_people_tagged() {
    use smeflow::sim::SeedIssue;
    let sim = common::gitlab();
    let boot = common::smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(boot.status.success(), "{}", common::stderr(&boot));
    let dir = tempfile::tempdir().unwrap();
    let seed = |title: &str, description: &str, theme: Option<&str>| {
        let mut labels = vec![
            "Type::Customer Feedback",
            "SME Workflow::Triage",
            "PM Status::New",
            "Region::APAC",
            "Priority::Medium",
        ];
        labels.extend(theme);
        sim.seed_issue(
            common::AI_PROJECT,
            SeedIssue {
                author: "sme-bot",
                title,
                description,
                labels: &labels,
                state: "opened",
                age_days: 0,
            },
        )
    };
    let sync = |extra: &[&str]| {
        let out = common::smeflow(&sim)
            .args(["sync-board", "ai", "--state"])
            .arg(dir.path().join("s.db"))
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        common::stdout(&out)
    };
    let untagged = seed(
        "Globex wants a short summary of every merge request",
        "**Customer:** Globex\n\nReviewers skip big MRs because they are long.",
        None,
    );
    let before = sync(&["--dry-run"]);
    assert!(!before.contains(CHAT), "{before}");

    let confirmed = seed(
        "Hooli: reviewers ask for a short summary of each merge request",
        "**Customer:** Hooli\n\nLong MRs are skipped in review.",
        Some(CHAT),
    );
    sync(&[]);
    let issue = sim
        .issues(common::AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == untagged)
        .unwrap();
    assert!(
        issue["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == CHAT),
        "{issue}"
    );
    let notes: Vec<String> = sim
        .notes(common::AI_PROJECT, untagged)
        .iter()
        .map(|n| n["body"].as_str().unwrap().to_string())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&format!("#{confirmed} \"Hooli"))),
        "{notes:?}"
    );
}
