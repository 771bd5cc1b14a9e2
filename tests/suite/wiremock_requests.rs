//! Pins the exact requests smeflow sends for label creation and the templates commit, with
//! `wiremock`, independent of our own simulator's reading of the API.

use serde_json::json;
use smeflow::gitlab::{GitLab, RetryPolicy, Token};
use smeflow::plan::{Change, FileAction, FileChange};
use smeflow::reconcile::apply::Executor;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> GitLab {
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    GitLab::new(&server.uri(), Token::new("glpat-test"), retry).unwrap()
}

#[tokio::test]
async fn label_creation_sends_name_colour_and_description_as_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/sme%2Fai-sme/labels"))
        .and(header("PRIVATE-TOKEN", "glpat-test"))
        .and(body_json(json!({
            "name": "SME Workflow::Triage",
            "color": "#336699",
            "description": "New request, not yet looked at"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 7, "name": "SME Workflow::Triage", "color": "#336699",
            "description": "New request, not yet looked at", "is_project_label": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let gl = client(&server);
    let change = Change::CreateLabel {
        project: "sme/ai-sme".into(),
        name: "SME Workflow::Triage".into(),
        color: "#336699".into(),
        description: "New request, not yet looked at".into(),
    };
    Executor::new(&gl, None)
        .apply(&[change], |_, _| {})
        .await
        .unwrap();
}

#[tokio::test]
async fn templates_go_in_one_commit_with_create_and_update_actions() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/sme%2Fai-sme/repository/commits"))
        .and(body_json(json!({
            "branch": "main",
            "commit_message": "Update SME issue templates (2 files)",
            "actions": [
                {"action": "create", "file_path": ".gitlab/issue_templates/SME Request.md",
                 "content": "## Request\n", "encoding": "text"},
                {"action": "update", "file_path": ".gitlab/issue_templates/Customer Feedback.md",
                 "content": "## Feedback\n", "encoding": "text"}
            ]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "a".repeat(40)})))
        .expect(1)
        .mount(&server)
        .await;
    let gl = client(&server);
    let change = Change::CommitFiles {
        project: "sme/ai-sme".into(),
        branch: "main".into(),
        message: "Update SME issue templates (2 files)".into(),
        files: vec![
            FileChange {
                path: ".gitlab/issue_templates/SME Request.md".into(),
                action: FileAction::Create,
                content: "## Request\n".into(),
            },
            FileChange {
                path: ".gitlab/issue_templates/Customer Feedback.md".into(),
                action: FileAction::Update,
                content: "## Feedback\n".into(),
            },
        ],
    };
    Executor::new(&gl, None)
        .apply(&[change], |_, _| {})
        .await
        .unwrap();
}

#[tokio::test]
async fn a_label_that_appeared_meanwhile_is_converged_not_duplicated() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/sme%2Fai-sme/labels"))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(json!({"message": "Label already exists"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/sme%2Fai-sme/labels"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 9, "name": "Priority::High", "color": "#000000", "description": "old", "is_project_label": true}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v4/projects/sme%2Fai-sme/labels/9"))
        .and(body_json(
            json!({"color": "#d9534f", "description": "Act first"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9})))
        .expect(1)
        .mount(&server)
        .await;
    let gl = client(&server);
    let change = Change::CreateLabel {
        project: "sme/ai-sme".into(),
        name: "Priority::High".into(),
        color: "#d9534f".into(),
        description: "Act first".into(),
    };
    Executor::new(&gl, None)
        .apply(&[change], |_, _| {})
        .await
        .unwrap();
}
