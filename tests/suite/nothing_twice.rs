//! Nothing twice, as operators meet it: a run stopped with Ctrl-C or killed outright, a lease
//! held on another machine, an adopted project whose lease every command must name alike, and a
//! write GitLab completes after smeflow stopped waiting. The real binary against the GitLab
//! simulator, each run with a store of its own.

use crate::common;

use common::{SECRET, TOKEN};
use smeflow::sim::{Fault, Match, Simulator};
use smeflow::store::Store;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Far above what any step here takes; reached only when a run would wait for a lease.
const PATIENCE: Duration = Duration::from_secs(30);

fn spawn(sim: &Simulator, state: &Path, args: &[&str], log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args(args)
        .arg("--state")
        .arg(state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_WEBHOOK_URL", "http://127.0.0.1:9/webhooks/gitlab")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until `sim` has seen a write: the run holds the lease and is applying its plan.
fn until_writing(sim: &Simulator) {
    let deadline = Instant::now() + PATIENCE;
    while !sim.requests().iter().any(|r| r.method == "POST") {
        assert!(Instant::now() < deadline, "the run never started writing");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn slow_writes(sim: &Simulator) {
    sim.set_fault(Fault::Slow {
        delay: Duration::from_millis(200),
        only: Some(Match {
            method: Some("POST".into()),
            path_contains: None,
        }),
    });
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Runs `bootstrap-area ai` to the end on `state`; its stderr.
fn bootstrap_again(sim: &Simulator, state: &Path, log: &Path) -> String {
    let mut again = spawn(sim, state, &["bootstrap-area", "ai"], log);
    let status = again.wait().unwrap();
    let err = std::fs::read_to_string(log).unwrap();
    assert!(status.success(), "{err}");
    err
}

/// A `bootstrap-area ai` (store `smeflow.db` and log `1.log` in the folder) sent `signal` while
/// it writes to a slow GitLab; how it ended.
fn bootstrap_stopped_by(
    signal_name: &str,
) -> (Simulator, tempfile::TempDir, std::process::ExitStatus) {
    let sim = common::gitlab();
    slow_writes(&sim);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let log = dir.path().join("1.log");
    let mut run = spawn(&sim, &state, &["bootstrap-area", "ai"], &log);
    until_writing(&sim);
    signal(&run, signal_name);
    let status = run.wait().unwrap();
    (sim, dir, status)
}

#[test]
fn ctrl_c_during_bootstrap_gives_the_lease_back_and_the_next_run_starts_at_once() {
    let (sim, dir, status) = bootstrap_stopped_by("-INT");
    let state = dir.path().join("smeflow.db");
    let err = std::fs::read_to_string(dir.path().join("1.log")).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("stopped by SIGINT"), "{err}");
    sim.clear_faults();

    let started = Instant::now();
    let err = bootstrap_again(&sim, &state, &dir.path().join("2.log"));
    assert!(!err.contains("waiting for another run"), "{err}");
    assert!(started.elapsed() < PATIENCE, "{err}");
    assert_eq!(
        sim.hooks(common::AI_PROJECT).len(),
        1,
        "the rest applied once"
    );
}

#[test]
fn a_lease_left_by_a_killed_run_on_this_host_is_taken_over_at_once() {
    let (sim, dir, _) = bootstrap_stopped_by("-KILL");
    let state = dir.path().join("smeflow.db");
    sim.clear_faults();

    let err = bootstrap_again(&sim, &state, &dir.path().join("2.log"));
    assert!(
        !err.contains("waiting for another run"),
        "the killed run's pid is gone from this host: nothing to wait for\n{err}"
    );
}

#[test]
fn a_lease_held_on_another_host_is_waited_for_not_taken() {
    let sim = common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let catalog = smeflow::config::Catalog::load(&common::config()).unwrap();
    let area = catalog.area("ai").unwrap();
    let lease =
        smeflow::store::lease::area_lease_name(&sim.url(), &catalog.config.gitlab.group, area);
    // A pid that is not running here, but on another machine that shares the store.
    let elsewhere = "pid 4000000 on some-other-host (run 0000abcd)";
    let store = Store::open(&state).unwrap();
    assert_eq!(
        crate::common::block_on(store.acquire_lease(&lease, elsewhere, 60_000)).unwrap(),
        Ok(())
    );
    let log = dir.path().join("run.log");
    let mut run = spawn(&sim, &state, &["bootstrap-area", "ai"], &log);
    wait_for_line(
        &log,
        &format!("waiting for another run on area ai ({elsewhere})"),
    );
    assert!(sim.requests().iter().all(|r| r.method == "GET"));
    crate::common::block_on(store.release_lease(&lease, elsewhere)).unwrap();
    assert!(run.wait().unwrap().success());
}

#[test]
fn an_adopted_project_has_one_lease_name_for_every_command() {
    let sim = common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let full_path = "gitlab-com/customer-success/sa-sme-team-dedicated";
    let config = common::config_with_dedicated_project(&dir, full_path);
    let state = dir.path().join("smeflow.db");
    // The name every holder uses: GitLab's URL and the project's full path, once.
    let lease = format!("area:{}/{full_path}", sim.url());
    let store = Store::open(&state).unwrap();
    assert_eq!(
        crate::common::block_on(store.acquire_lease(&lease, "serve's scheduled sync", 60_000))
            .unwrap(),
        Ok(())
    );
    let log = dir.path().join("sync.log");
    let config = config.to_string_lossy().into_owned();
    let mut sync = spawn(
        &sim,
        &state,
        &["sync-board", "dedicated", "--config", &config],
        &log,
    );
    wait_for_line(
        &log,
        "waiting for another run on area dedicated (serve's scheduled sync)",
    );
    crate::common::block_on(store.release_lease(&lease, "serve's scheduled sync")).unwrap();
    sync.wait().unwrap();
}

fn wait_for_line(log: &Path, line: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(line)
    {
        assert!(
            Instant::now() < deadline,
            "never printed `{line}`:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_note_gitlab_completes_after_the_timeout_is_not_posted_again() {
    let sim = common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let boot = spawn(
        &sim,
        &state,
        &["bootstrap-area", "ai"],
        &dir.path().join("boot.log"),
    );
    assert!(common::wait_success(boot));
    let iid = sim.seed_issue(
        common::AI_PROJECT,
        smeflow::sim::SeedIssue {
            author: "sme-bot",
            title: "Initech: Duo Chat loses the chat history after a restart",
            description: "**Customer:** Initech\n",
            labels: &[
                "Type::Customer Feedback",
                "SME Workflow::Triage",
                "PM Status::New",
                "Region::APAC",
                "Priority::Medium",
            ],
            state: "opened",
            age_days: 0,
        },
    );
    // GitLab takes 1.5 s over the note, the client gives up after 0.3 s: the note lands after
    // smeflow stopped waiting. smeflow looks again only once GitLab cannot still be at it.
    sim.set_fault(Fault::LandsLate {
        count: 1,
        delay: Duration::from_millis(1500),
        only: Some(Match {
            method: Some("POST".into()),
            path_contains: Some("/notes".into()),
        }),
    });
    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args(["sync-board", "ai", "--state"])
        .arg(&state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_REQUEST_TIMEOUT_MS", "300")
        .env("SMEFLOW_WRITE_SETTLE_MS", "2500")
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let theme_notes: Vec<String> = sim
        .notes(common::AI_PROJECT, iid)
        .iter()
        .filter_map(|n| n["body"].as_str().map(str::to_string))
        .filter(|b| b.contains("smeflow tagged this issue"))
        .collect();
    assert_eq!(theme_notes.len(), 1, "{theme_notes:#?}");
    let posts = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/issues/{iid}/notes")))
        .count();
    assert_eq!(
        posts, 1,
        "one POST: the late one landed, so it is not sent again"
    );
}
