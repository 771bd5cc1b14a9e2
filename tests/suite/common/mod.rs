//! Shared test set-up: a GitLab simulator with the SME group, a Maintainer token, and the real
//! `smeflow` binary pointed at it.
#![allow(dead_code)]

use assert_cmd::Command;
use smeflow::sim::{Access, Simulator};
use std::path::PathBuf;

pub const TOKEN: &str = "glpat-maintainer-token";
pub const SECRET: &str = "hook-secret-for-tests";
/// Where the tests' project hooks point unless a test runs a `serve` for them.
pub const WEBHOOK_URL: &str = "https://smeflow.internal.test/webhooks/gitlab";
pub const GROUP: &str = "gitlab-com/customer-success/subject-matter-experts";
pub const AI_PROJECT: &str = "gitlab-com/customer-success/subject-matter-experts/ai-sme";
/// A Solutions Architect (Developer on the group) who files issues in the UI.
pub const SA_TOKEN: &str = "glpat-solutions-architect";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tests' configuration (`tests/fixtures/smeflow.toml`) without its `[paths]`, for a test
/// that puts its own label sets or templates beside it, or names its own `[paths]`.
pub fn fixture_text() -> String {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let paths = text
        .find("\n[paths]\n")
        .expect("[paths] is the fixture's last table");
    text[..paths].to_string()
}

/// The tests' configuration file as committed; its `[paths]` are relative to its folder.
pub fn fixture() -> PathBuf {
    repo().join("tests/fixtures/smeflow.toml")
}

/// The tests' configuration with `[paths]` made absolute, for a test to copy and change.
pub fn config_text() -> String {
    let text = std::fs::read_to_string(fixture()).unwrap();
    // TOML basic strings: a Windows path's backslashes would be escapes.
    let repo = repo().display().to_string().replace('\\', "/");
    text.replace("= \"../../", &format!("= \"{repo}/"))
}

/// The folder the tests run the binary in: their configuration as `smeflow.toml`, and room for
/// the files a command writes by default (`smeflow.db`), outside the repository.
pub fn workdir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(concat!("workdir-", env!("CARGO_CRATE_NAME")));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("smeflow.toml"), config_text()).unwrap();
        dir
    })
    .clone()
}

/// The tests' configuration file (see `workdir`).
pub fn config() -> PathBuf {
    workdir().join("smeflow.toml")
}

/// A simulator with the group of the shipped smeflow.toml and a Maintainer on it.
pub fn gitlab() -> Simulator {
    let sim = Simulator::start_blocking();
    sim.add_group(GROUP);
    sim.add_user("sme-bot", TOKEN);
    sim.set_member(GROUP, "sme-bot", Access::Maintainer);
    sim
}

/// The real binary, configured for `sim` (fast retries so fault tests stay short).
pub fn smeflow(sim: &Simulator) -> Command {
    let mut cmd = Command::cargo_bin("smeflow").unwrap();
    cmd.current_dir(workdir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        // Not the shipped placeholder, which bootstrap-area refuses to point a hook at.
        .env("SMEFLOW_WEBHOOK_URL", WEBHOOK_URL)
        .env("SMEFLOW_CONFIG", config())
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        // The simulator applies a write before it answers 502, so there is nothing to wait out.
        .env("SMEFLOW_WRITE_SETTLE_MS", "50")
        // Where bootstrap-area keeps its per-area leases: outside the repository. Runs against
        // different simulators never share a lease (its name holds GitLab's URL).
        .env(
            "SMEFLOW_STATE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smeflow-tests.db"),
        );
    cmd
}

/// The REST URL of the AI project on `sim`, as a person's browser or script would call it.
pub fn ai_project_api(sim: &Simulator) -> String {
    format!(
        "{}/api/v4/projects/{}",
        sim.url(),
        AI_PROJECT.replace('/', "%2F")
    )
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Write requests the last run sent, as "METHOD path" lines, sorted.
pub fn writes(sim: &Simulator) -> Vec<String> {
    let mut w: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    w.sort();
    w
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A simulator (started on the caller's runtime) with the SME group, smeflow's Maintainer and
/// an SA (`SA_TOKEN`, Developer) who files issues.
pub async fn gitlab_with_sa() -> Simulator {
    let sim = Simulator::start().await;
    sim.add_group(GROUP);
    sim.add_user("sme-bot", TOKEN);
    sim.set_member(GROUP, "sme-bot", Access::Maintainer);
    sim.add_user("jdoe", SA_TOKEN);
    sim.set_member(GROUP, "jdoe", Access::Developer);
    sim
}

/// A bootstrapped AI area whose webhook points at a service on `port` (with the hook's secrets
/// from this SMEFLOW_WEBHOOK_SECRET list), and an SA (`SA_TOKEN`) who files issues. `env` adds
/// to bootstrap's environment (e.g. DATABASE_URL, where its lease is taken).
pub async fn area_served_at(port: u16, secrets: &str, env: &[(&str, &str)]) -> Simulator {
    let sim = gitlab_with_sa().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(workdir())
        .args(["bootstrap-area", "ai"])
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", secrets)
        .env(
            "SMEFLOW_WEBHOOK_URL",
            format!("http://127.0.0.1:{port}/webhooks/gitlab"),
        )
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim
}

/// smeflow.toml with the Dedicated area's `project` set to `project`, beside the shipped
/// label sets and templates.
pub fn config_with_dedicated_project(dir: &tempfile::TempDir, project: &str) -> std::path::PathBuf {
    let text = config_text().replace(
        "project = \"dedicated-sme\"",
        &format!("project = \"{project}\""),
    );
    let path = dir.path().join("smeflow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits for a spawned run; whether it succeeded.
pub fn wait_success(mut child: std::process::Child) -> bool {
    child.wait().map(|s| s.success()).unwrap_or(false)
}

/// A small program configuration (tests/fixtures/explain.toml): one formal area with its
/// people, one area of interest.
pub fn fixture_config() -> PathBuf {
    repo().join("tests/fixtures/explain.toml")
}

/// The fixture configuration edited by `edit`, written into `dir` with its folders made
/// absolute, for a test that changes the configuration.
pub fn fixture_copy(dir: &std::path::Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(fixture_config())
        .unwrap()
        .replace("\"../../", &format!("\"{}/", repo().display()));
    let path = dir.join("smeflow.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// `smeflow serve` (one worker, no sync) for `sim` on `port`, with its store in `dir`; killed
/// when dropped.
pub struct Served {
    child: std::process::Child,
    metrics: String,
}

impl Served {
    pub async fn start(sim: &Simulator, port: u16, dir: &std::path::Path) -> Served {
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .current_dir(workdir())
            .args(["serve", "--no-sync", "--workers", "1", "--listen", &addr])
            .arg("--state")
            .arg(dir.join("smeflow.db"))
            .env("GITLAB_URL", sim.url())
            .env("GITLAB_TOKEN", TOKEN)
            .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let served = Served {
            child,
            metrics: format!("http://{addr}/metrics"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while reqwest::get(&served.metrics).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        served
    }

    /// Waits until GitLab sent everything and nothing is left to work off, three looks in a row.
    pub async fn settle(&self, sim: &Simulator) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut quiet = 0;
        while quiet < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "service did not settle"
            );
            sim.deliveries_flushed().await;
            let text = reqwest::get(&self.metrics)
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let busy = text.lines().any(|l| {
                ["pending", "in_progress", "failed"].iter().any(|s| {
                    l.starts_with(&format!("smeflow_deliveries{{state=\"{s}\"}}"))
                        && !l.ends_with(" 0")
                })
            });
            quiet = if busy { 0 } else { quiet + 1 };
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `work` on a runtime of its own, for a test that reads the (async) store from plain
/// code: on a thread of its own, so it works inside a test's runtime too.
pub fn block_on<F: std::future::Future + Send>(work: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(work)
        })
        .join()
        .unwrap()
    })
}

/// `smeflow <args>` as a child process with its own store `state` (an operator's laptop),
/// retrying fast and settling writes briefly, for runs started side by side.
pub fn laptop(sim: &Simulator, state: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(workdir())
        .args(args)
        .arg("--state")
        .arg(state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_WEBHOOK_URL", WEBHOOK_URL)
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .env("SMEFLOW_WRITE_SETTLE_MS", "50");
    cmd
}

/// `smeflow <args>` `n` times at once, each from its own laptop (stores that share nothing);
/// fails with the log of any run that did not succeed.
pub fn laptops_at_once(sim: &Simulator, dir: &std::path::Path, n: usize, args: &[&str]) {
    use std::process::Stdio;
    let runs: Vec<_> = (0..n)
        .map(|i| {
            let log = dir.join(format!("laptop{i}.log"));
            let child = laptop(sim, &dir.join(format!("laptop{i}.db")), args)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            (child, log)
        })
        .collect();
    for (mut child, log) in runs {
        let done = child.wait().unwrap().success();
        assert!(done, "{}", std::fs::read_to_string(log).unwrap());
    }
}
