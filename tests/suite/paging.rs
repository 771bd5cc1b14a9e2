//! Reading long lists from GitLab: issue lists by keyset, so an issue edited while a sync reads
//! the area is neither skipped nor unlinked from its theme epic, and a list whose endpoint
//! ignores `page` ends instead of being asked for page after page.

use crate::common;

use common::*;
use serde_json::json;
use smeflow::gitlab::{GitLab, RetryPolicy, Token};
use smeflow::sim::{Access, SeedIssue};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[test]
fn an_issue_edited_during_a_full_sync_pushes_no_other_off_the_list() {
    let sim = gitlab();
    sim.add_user("jdoe", SA_TOKEN);
    sim.set_member(GROUP, "jdoe", Access::Developer);
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // More than one page of feedback on one theme, from distinct customers: all in its epic.
    for n in 0..130 {
        sim.seed_issue(
            AI_PROJECT,
            SeedIssue {
                author: "jdoe",
                title: &format!("Customer {n}: Duo Chat forgets the conversation"),
                description: &format!("**Customer:** Customer {n}\n"),
                labels: &[
                    "Type::Customer Feedback",
                    "Theme::Duo Chat",
                    "Region::EMEA",
                    "Priority::Low",
                    "PM Status::New",
                    "SME Workflow::Triage",
                ],
                state: "opened",
                age_days: 1,
            },
        );
    }
    // A store of its own: the sync's snapshot is this GitLab's alone.
    let state = tempfile::tempdir().unwrap();
    let state = state.path().join("state.db");
    // The simulator has no per-action limits here: no need to pace 130 notes over minutes.
    let out = smeflow(&sim)
        .env("SMEFLOW_STATE", &state)
        .env("SMEFLOW_ACTION_WINDOW_MS", "1")
        .args(["sync-board", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let members = sim.epics(GROUP)[0]["issue_ids"].as_array().map(Vec::len);
    assert_eq!(members, Some(130), "{:?}", sim.epics(GROUP));

    // Someone edits the issue that comes first in a list by `updated_at` while the sync reads.
    let mut issues = sim.issues(AI_PROJECT);
    issues.sort_by(|a, b| a["updated_at"].as_str().cmp(&b["updated_at"].as_str()));
    let first = issues[0]["iid"].as_u64().unwrap();
    sim.edit_issue_during_next_list(first);
    sim.reset_requests();
    let out = smeflow(&sim)
        .env("SMEFLOW_STATE", &state)
        .args(["sync-board", "ai", "--full", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Every issue read once (offset pages by `updated_at` read the edited one twice and
    // skipped the one it pushed back onto the page already read), and none unlinked.
    let total = sim.issues(AI_PROJECT).len();
    assert!(
        text.contains(&format!("{total} issues ({total} read now)")),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("unlink"), "{text}");
    let keyset = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/issues") && r.query.contains("pagination=keyset"))
        .count();
    assert_eq!(keyset, 2, "two keyset pages of 100");
}

#[tokio::test]
async fn a_list_whose_endpoint_ignores_page_ends_at_the_repeated_page() {
    let server = MockServer::start().await;
    let page: Vec<_> = (0..100)
        .map(|n| json!({"id": n, "name": format!("Label {n}"), "color": "#000000"}))
        .collect();
    // No pagination headers, and the same full page whatever `page` says.
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/sme%2Fai-sme/labels"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .expect(2)
        .mount(&server)
        .await;
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let gl = GitLab::new(&server.uri(), Token::new("glpat-test"), retry).unwrap();
    let labels = tokio::time::timeout(Duration::from_secs(20), gl.project_labels("sme/ai-sme"))
        .await
        .expect("the list ends")
        .unwrap();
    assert_eq!(labels.len(), 100);
}
