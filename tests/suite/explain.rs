//! A service that says what it does: `serve`'s log at each level, `smeflow log` over the audit
//! log, and the store options every command shares — through the real binary against the
//! GitLab simulator, with the fixture configuration in tests/fixtures (never the live
//! smeflow.toml).

use crate::common;

use common::{
    fixture_config as fixture, fixture_copy, free_port, gitlab_with_sa, AI_PROJECT, GROUP,
    SA_TOKEN, SECRET, TOKEN,
};
use serde_json::json;
use smeflow::sim::Simulator;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary with the fixture configuration, pointed at `sim`.
fn smeflow(sim: &Simulator) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(common::workdir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMEFLOW_CONFIG", fixture())
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_RETRY_BASE_MS", "10");
    cmd
}

/// The AI area bootstrapped with its webhook pointing at a `serve` on `port`.
fn bootstrap(sim: &Simulator, port: u16, state: &Path) {
    bootstrap_with(sim, port, state, &fixture(), "ai")
}

/// `area` (or `--all`) of the configuration `config`, its hooks pointing at `port`.
fn bootstrap_with(sim: &Simulator, port: u16, state: &Path, config: &Path, area: &str) {
    let out = smeflow(sim)
        .env("SMEFLOW_CONFIG", config)
        .args(["bootstrap-area", area, "--state"])
        .arg(state)
        .env(
            "SMEFLOW_WEBHOOK_URL",
            format!("http://127.0.0.1:{port}/webhooks/gitlab"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Serve {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Serve {
    /// `serve` with its stderr in a file (as a service manager would redirect it).
    async fn start(sim: &Simulator, port: u16, state: &Path, extra: &[&str]) -> Serve {
        Serve::start_with(sim, port, state, &fixture(), extra).await
    }

    async fn start_with(
        sim: &Simulator,
        port: u16,
        state: &Path,
        config: &Path,
        extra: &[&str],
    ) -> Serve {
        let addr = format!("127.0.0.1:{port}");
        let log = state.with_extension("log");
        let child = smeflow(sim)
            .env("SMEFLOW_CONFIG", config)
            .args(["serve", "--listen", &addr, "--state"])
            .arg(state)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let svc = Serve { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(svc.url("/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        svc
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `pattern` is in the log.
    async fn wait_for(&self, pattern: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            if log.contains(pattern) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no `{pattern}` in the log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metric(&self, prefix: &str) -> i64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Until GitLab has sent everything and nothing is left to work off, three times running.
    async fn settle(&self, sim: &Simulator) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet = 0;
        while quiet < 3 {
            assert!(Instant::now() < deadline, "service did not settle");
            sim.deliveries_flushed().await;
            let mut busy = 0;
            for state in ["pending", "in_progress", "failed"] {
                busy += self
                    .metric(&format!("smeflow_deliveries{{state=\"{state}\"}}"))
                    .await;
            }
            quiet = if busy == 0 { quiet + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_feedback(sim: &Simulator, title: &str) -> u64 {
    open_issue(sim, AI_PROJECT, title, "").await
}

async fn open_issue(sim: &Simulator, project: &str, title: &str, labels: &str) -> u64 {
    let url = format!("/projects/{}/issues", project.replace('/', "%2F"));
    let (status, issue) = sim
        .as_user(
            SA_TOKEN,
            "POST",
            &url,
            json!({"title": title, "description": "Duo Chat answers slowly in the IDE.", "labels": labels}),
        )
        .await;
    assert_eq!(status, 201, "{issue}");
    issue["iid"].as_u64().unwrap()
}

/// A bootstrapped area, a `serve` with `extra` flags, one feedback issue worked off.
async fn served_feedback(extra: &[&str]) -> (Simulator, Serve, u64, tempfile::TempDir) {
    let sim = gitlab_with_sa().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let port = free_port();
    bootstrap(&sim, port, &state);
    let svc = Serve::start(&sim, port, &state, extra).await;
    svc.wait_for(&format!("sync of {AI_PROJECT}:")).await;
    let iid = open_feedback(&sim, "Duo Chat is slow").await;
    svc.wait_for(&format!("{AI_PROJECT}#{iid}: labels")).await;
    svc.settle(&sim).await;
    (sim, svc, iid, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_at_its_default_level_logs_each_change_with_its_issue_and_each_sync_with_counts() {
    let (_sim, svc, iid, _dir) = served_feedback(&[]).await;
    let log = svc.log();
    // One line per change: the project with the issue, what, and why.
    let change = log
        .lines()
        .find(|l| l.contains(&format!("{AI_PROJECT}#{iid}: labels +")))
        .unwrap_or_else(|| panic!("no change line in:\n{log}"));
    assert!(
        change.contains("INFO") && change.contains("why="),
        "{change}"
    );
    // One line per sync, with its counts.
    let sync = log.lines().find(|l| l.contains("sync of")).unwrap();
    assert!(
        sync.contains("issues (") && sync.contains("planned changes applied"),
        "{sync}"
    );
    // Redirected to a file: no colour codes; no decisions or requests at this level.
    assert!(
        !log.contains('\u{1b}'),
        "ANSI codes in a redirected log:\n{log}"
    );
    assert!(!log.contains("GitLab request"), "{log}");
    assert!(!log.contains("Rendering"), "{log}");
    assert!(!log.contains("DEBUG"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_vv_adds_decisions_and_requests_without_template_noise() {
    let (_sim, svc, iid, _dir) = served_feedback(&["-vv"]).await;
    let log = svc.log();
    assert!(log.contains("GitLab request"), "{log}");
    // A decision names the project with the issue, not `issue #5` alone.
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains(&format!("{AI_PROJECT}#{iid}: delivery"))),
        "{log}"
    );
    let noise = log.lines().filter(|l| l.contains("Rendering")).count();
    assert_eq!(noise, 0, "Handlebars lines in -vv:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_log_line() {
    let (_sim, svc, iid, _dir) = served_feedback(&["--log-format", "json"]).await;
    let log = svc.log();
    // Every line, the start-up line included: a log collector reads them all as JSON.
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let change = events
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("{AI_PROJECT}#{iid}: labels")))
        })
        .unwrap_or_else(|| panic!("no change event in:\n{log}"));
    assert_eq!(change["level"], "INFO");
    assert!(change["why"].is_string(), "{change}");
    // The reconcile that made it, by its key: a collector groups one run's lines.
    assert_eq!(change["span"]["name"], "reconcile", "{change}");
    assert_eq!(
        change["span"]["issue"],
        format!("{AI_PROJECT}#{iid}"),
        "{change}"
    );
    assert!(!log.contains('\u{1b}'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smeflow_log_shows_what_serve_did_filtered_by_area_issue_and_time() {
    let (sim, svc, iid, dir) = served_feedback(&[]).await;
    drop(svc);
    let state = dir.path().join("smeflow.db");
    let run = |args: &[&str]| {
        let out = smeflow(&sim)
            .arg("log")
            .args(args)
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let all = run(&["--area", "ai"]);
    let issue = run(&["--area", "ai", "--issue", &iid.to_string()]);
    assert!(all.starts_with("when (UTC)"), "{all}");
    let mine: Vec<&str> = issue.lines().skip(1).collect();
    assert!(!mine.is_empty(), "{issue}");
    for line in &mine {
        assert!(
            line.contains(&format!("{AI_PROJECT}: ")) && line.contains(&format!("#{iid}")),
            "{line}"
        );
    }
    assert!(
        mine.iter().any(|l| l.contains("delivery:")),
        "the delivery that made the change is named:\n{issue}"
    );
    // Another issue's changes (the seed issues the sync may have touched) stay out.
    assert!(all.lines().count() >= issue.lines().count());
    // Time: nothing after 2099 or before 2000; the last hour holds all of it.
    let none = run(&["--since", "2099-01-01"]);
    assert!(none.starts_with("No changes recorded"), "{none}");
    let recent = run(&["--since", "1h", "--issue", &iid.to_string()]);
    assert_eq!(recent, issue);
    let none = run(&["--until", "2000-01-01"]);
    assert!(none.starts_with("No changes recorded"), "{none}");
    // A bad time says which forms it takes.
    let out = smeflow(&sim)
        .args(["log", "--since", "yesterday", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("an age (30m, 6h, 7d)"));
}

#[test]
fn deliveries_take_state_like_every_other_command_and_keep_store_as_an_alias() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    smeflow::store::Store::open(&state).unwrap();
    let sim = Simulator::start_blocking();
    for flag in ["--state", "--store"] {
        let out = smeflow(&sim)
            .args(["deliveries", "list", flag])
            .arg(&state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("    id  state"));
    }
    // The old state filter now has its own name, and the mix-up is explained.
    let out = smeflow(&sim)
        .args(["deliveries", "list", "--state", "dead"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use --status dead"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = smeflow(&sim)
        .args(["deliveries", "list", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--database-url") && !help.contains("--store"),
        "{help}"
    );
}

fn sighup(svc: &Serve) {
    let ok = Command::new("kill")
        .args(["-HUP", &svc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn labels_of(sim: &Simulator, project: &str, iid: u64) -> Vec<String> {
    sim.issues(project)
        .iter()
        .find(|i| i["iid"] == iid)
        .map(|i| {
            i["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The finding: after `promote-area cicd` and the smeflow.toml edit, a running `serve` kept
/// treating cicd as an area of interest until restarted. Now SIGHUP reloads it, and a broken
/// file on a later SIGHUP leaves the working configuration in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_configuration_and_keeps_the_old_one_when_the_new_one_is_broken() {
    let sim = gitlab_with_sa().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let cicd = format!("{GROUP}/cicd-sme");
    let ready = |t: String| {
        t.replace(
            "label_sets = [\"workflow\"]\n",
            "label_sets = [\"workflow\", \"themes-plan\"]\nleads = [\"carl-lead\"]\npms = [\"pete-pm\"]\ngoogle_groups = [\"sme-cicd@example.com\"]\n",
        )
        .replace(
            "area = \"#sme-cicd\"",
            "area = \"#sme-cicd\"\nrequests = \"#sme-cicd-requests\"",
        )
    };
    let config = fixture_copy(dir.path(), ready);
    let port = free_port();
    bootstrap_with(&sim, port, &state, &config, "--all");
    let svc = Serve::start_with(&sim, port, &state, &config, &[]).await;
    svc.wait_for(&format!("sync of {cicd}:")).await;

    // The program promotes cicd: GitLab gets the formal kit, smeflow.toml says formal.
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .env(
            "SMEFLOW_WEBHOOK_URL",
            format!("http://127.0.0.1:{port}/webhooks/gitlab"),
        )
        .args(["promote-area", "cicd"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("send it SIGHUP"), "{said}");
    let formal = fixture_copy(dir.path(), |t| {
        ready(t)
            .replace("status = \"interest\"", "status = \"formal\"")
            .replace(
                "label_sets = [\"workflow\", \"themes-plan\"]",
                "label_sets = [\"workflow\", \"request\", \"type\", \"pm-status\", \"priority\", \"arr-driver\", \"region\", \"themes-plan\"]",
            )
    });
    assert_eq!(formal, config);
    svc.settle(&sim).await;

    // Before SIGHUP: still an area of interest, so feedback gets no PM status.
    let before = open_issue(
        &sim,
        &cicd,
        "Runner autoscaling feedback",
        "Type::Customer Feedback",
    )
    .await;
    svc.wait_for(&format!("{cicd}#{before}: labels")).await;
    svc.settle(&sim).await;
    assert!(!labels_of(&sim, &cicd, before).contains(&"PM Status::New".to_string()));

    sighup(&svc);
    svc.wait_for("SIGHUP: reloaded").await;
    let after = open_issue(
        &sim,
        &cicd,
        "Runner cache feedback",
        "Type::Customer Feedback",
    )
    .await;
    svc.wait_for(&format!("{cicd}#{after}: labels")).await;
    svc.settle(&sim).await;
    assert!(
        labels_of(&sim, &cicd, after).contains(&"PM Status::New".to_string()),
        "{:?}\n{}",
        labels_of(&sim, &cicd, after),
        svc.log()
    );

    // A broken file: the reload is refused with the reason, the working one stays.
    std::fs::write(&config, "[gitlab\n").unwrap();
    sighup(&svc);
    let log = svc.wait_for("was not reloaded").await;
    assert!(log.contains("smeflow.toml"), "{log}");
    let third = open_issue(
        &sim,
        &cicd,
        "Runner logs feedback",
        "Type::Customer Feedback",
    )
    .await;
    svc.wait_for(&format!("{cicd}#{third}: labels")).await;
    svc.settle(&sim).await;
    assert!(labels_of(&sim, &cicd, third).contains(&"PM Status::New".to_string()));
}
