//! GitLab's webhook auto-disabling met through the binary: failed deliveries disable the
//! area's hook, every plan says so, and `serve` re-enables it through GitLab's test request.

use crate::common;

use common::*;
use serde_json::json;
use smeflow::sim::Simulator;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn issues_url() -> String {
    format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F"))
}

async fn file_issue(sim: &Simulator, title: &str) {
    let (status, body) = sim
        .as_user(SA_TOKEN, "POST", &issues_url(), json!({"title": title}))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// `smeflow serve` on `port`, its store in `dir`.
fn serve(sim: &Simulator, port: u16, dir: &tempfile::TempDir) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--state"])
        .arg(dir.path().join("state.db"))
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn alert_status(sim: &Simulator) -> String {
    sim.hooks(AI_PROJECT)[0]["alert_status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_disabled_while_serve_was_down_is_shown_in_the_plan_and_re_enabled_by_serve() {
    let port = free_port();
    let sim = area_served_at(port, SECRET, &[]).await;
    // serve is down: each delivery meets a refused connection.
    for n in 0..4 {
        file_issue(&sim, &format!("Feedback {n}")).await;
        sim.deliveries_flushed().await;
    }
    assert_eq!(alert_status(&sim), "temporarily_disabled");
    assert!(sim.hooks(AI_PROJECT)[0]["disabled_until"].is_string());
    // Disabled: GitLab drops the event instead of sending it.
    file_issue(&sim, "Feedback lost").await;
    sim.deliveries_flushed().await;
    assert_eq!(sim.deliveries().len(), 4);

    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args(["bootstrap-area", "ai", "--dry-run"])
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env(
            "SMEFLOW_WEBHOOK_URL",
            format!("http://127.0.0.1:{port}/webhooks/gitlab"),
        )
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("the webhook is temporarily disabled by GitLab until"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut serve = serve(&sim, port, &dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    while alert_status(&sim) != "executable" {
        if Instant::now() > deadline {
            let _ = serve.kill();
            panic!(
                "serve did not re-enable the hook: {:?}",
                sim.hooks(AI_PROJECT)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The counter moves once GitLab has answered smeflow's test request, just after the hook.
    let mut metrics = String::new();
    while !metrics.contains("smeflow_webhooks_reenabled_total 1") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    // Events flow again.
    file_issue(&sim, "Feedback after the repair").await;
    sim.deliveries_flushed().await;
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        metrics.contains("smeflow_webhooks_reenabled_total 1"),
        "{metrics}"
    );
    // serve's start-up sync edits the issues filed meanwhile, so their hooks may come after
    // this one: what matters is that this event reached smeflow.
    let deliveries = sim.deliveries();
    let repaired = deliveries
        .iter()
        .find(|d| d.body.contains("Feedback after the repair"))
        .unwrap_or_else(|| panic!("the event after the repair was not sent: {deliveries:?}"));
    assert_eq!(repaired.status, 202, "{}", repaired.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlabs_test_request_is_limited_to_five_a_minute_and_fails_without_a_receiver() {
    let sim = area_served_at(free_port(), SECRET, &[]).await;
    file_issue(&sim, "Something to test with").await;
    let hook_id = sim.hooks(AI_PROJECT)[0]["id"].as_u64().unwrap();
    let url = format!(
        "/projects/{}/hooks/{hook_id}/test/issues_events",
        AI_PROJECT.replace('/', "%2F")
    );
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(sim.as_user(TOKEN, "POST", &url, json!({})).await.0);
    }
    assert_eq!(statuses, [422, 422, 422, 422, 422, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_carries_webhook_id_and_timestamp_signed_or_not() {
    let sim = area_served_at(free_port(), SECRET, &[]).await;
    file_issue(&sim, "Anything").await;
    sim.deliveries_flushed().await;
    let d = sim.deliveries().into_iter().next().unwrap();
    let header = |name: &str| {
        d.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("webhook-id"), Some(d.idempotency_key.clone()));
    assert!(header("webhook-timestamp").is_some_and(|t| t.parse::<i64>().is_ok()));
    assert_eq!(header("webhook-signature"), None);
    assert!(d.body.contains("\"object_kind\":\"issue\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_description_edit_is_taken_not_refused() {
    let port = free_port();
    let sim = area_served_at(port, SECRET, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut serve = serve(&sim, port, &dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    file_issue(&sim, "Long log attached").await;
    // 600 KB descriptions: the update hook repeats the new one and carries the old one, 1.8 MB.
    let long = "stack frame line\n".repeat(600 * 1024 / 17);
    for text in [long.clone(), format!("{long}more")] {
        let url = format!("{}/1", issues_url());
        let (status, body) = sim
            .as_user(SA_TOKEN, "PUT", &url, json!({"description": text}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    sim.deliveries_flushed().await;
    let _ = serve.kill();
    let _ = serve.wait();
    let last = sim.deliveries().last().cloned().unwrap();
    assert!(last.body.len() > 1024 * 1024, "{}", last.body.len());
    assert_eq!(last.status, 202);
    assert_eq!(alert_status(&sim), "executable");
}
