//! `smeflow serve` under hostile clients, a lost store file, a second copy of itself, a stop
//! request with slow clients connected, and an hour-long GitLab outage: the real binary on
//! loopback, against the GitLab simulator.

use crate::common;

use common::{area_served_at, free_port, AI_PROJECT, GROUP, SA_TOKEN, SECRET, TOKEN};
use serde_json::json;
use smeflow::sim::{Fault, Match, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for "the server closes it by itself": far above the 1 s timeouts the tests
/// configure, and reached only when the server would hold the connection forever.
const CLOSED_WITHIN: Duration = Duration::from_secs(30);

struct Serve {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Serve {
    async fn start(sim: &Simulator, dir: &Path, port: u16, extra: &[&str]) -> Serve {
        Serve::start_env(sim, dir, port, extra, &[]).await
    }

    async fn start_env(
        sim: &Simulator,
        dir: &Path,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Serve {
        let (child, addr, log) = spawn(sim, &dir.join("smeflow.db"), port, extra, env);
        let svc = Serve { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(svc.url("/healthz")).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "serve did not come up: {}",
                svc.log()
            );
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

    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    fn terminate(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            assert!(
                started.elapsed() < CLOSED_WITHIN,
                "serve did not stop after SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    sim: &Simulator,
    state: &Path,
    port: u16,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, PathBuf) {
    let addr = format!("127.0.0.1:{port}");
    let log = state.with_extension(format!("{port}.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(common::workdir())
        .args(["serve", "--listen", &addr, "--state"])
        .arg(state)
        .args(extra)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.spawn().unwrap(), addr, log)
}

/// A bootstrapped AI area whose webhook points at `port`, and an SA who files issues.
async fn area(port: u16) -> Simulator {
    area_served_at(port, SECRET, &[]).await
}

async fn open_feedback(sim: &Simulator, title: &str) -> u64 {
    let url = format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F"));
    let (status, issue) = sim
        .as_user(
            SA_TOKEN,
            "POST",
            &url,
            json!({
                "title": title,
                "description": "**Customer:** Initech\n",
                "labels": "Type::Customer Feedback,Region::APAC,Priority::Low",
            }),
        )
        .await;
    assert_eq!(status, 201, "{issue}");
    issue["iid"].as_u64().unwrap()
}

fn labels(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap()["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Reads until the server closes the connection; panics if it holds it open.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    tokio::time::timeout(CLOSED_WITHIN, stream.read_to_end(&mut buf))
        .await
        .expect("the server kept the connection open")
        .ok();
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads the status line of the first response, without sending anything more.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(CLOSED_WITHIN, stream.read(&mut buf))
        .await
        .expect("no answer from the server")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn webhook_head(token: &str, content_length: usize, extra: &str) -> String {
    format!(
        "POST /webhooks/gitlab HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nx-gitlab-event: Issue Hook\r\nx-gitlab-token: {token}\r\ncontent-length: {content_length}\r\n{extra}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_slow_header_and_slow_body_connections_are_closed_by_the_server() {
    let sim = Simulator::start().await;
    sim.add_user("sme-bot", TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let svc = Serve::start(
        &sim,
        dir.path(),
        free_port(),
        &["--header-timeout", "1", "--body-timeout", "1"],
    )
    .await;

    let mut idle = TcpStream::connect(&svc.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut idle).await, "");

    let mut slow_head = TcpStream::connect(&svc.addr).await.unwrap();
    slow_head
        .write_all(b"POST /webhooks/gitlab HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut slow_head).await;

    // Promises 100 bytes, sends 10: a timeout, not a connection held forever.
    let mut short_body = TcpStream::connect(&svc.addr).await.unwrap();
    short_body
        .write_all(webhook_head(SECRET, 100, "").as_bytes())
        .await
        .unwrap();
    short_body.write_all(b"{\"object_k").await.unwrap();
    let answer = read_until_closed(&mut short_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A keep-alive connection that goes quiet after a request is closed too.
    let mut kept = TcpStream::connect(&svc.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_or_an_oversized_body_is_answered_before_any_body_is_sent() {
    let sim = Simulator::start().await;
    sim.add_user("sme-bot", TOKEN);
    let dir = tempfile::tempdir().unwrap();
    // Long body timeout: an answer can only come from the head alone.
    let svc = Serve::start(
        &sim,
        dir.path(),
        free_port(),
        &["--body-timeout", "60", "--header-timeout", "60"],
    )
    .await;
    let expect = "expect: 100-continue\r\n";

    let mut wrong = TcpStream::connect(&svc.addr).await.unwrap();
    wrong
        .write_all(webhook_head("not-the-secret", 1024 * 1024, expect).as_bytes())
        .await
        .unwrap();
    assert_eq!(
        status_line(&mut wrong).await,
        "HTTP/1.1 401 Unauthorized",
        "a wrong token costs no body"
    );

    // Without `Expect`, the client sends its body anyway: it is thrown away unread, and the
    // client gets its answer rather than a connection reset.
    let mut missing = TcpStream::connect(&svc.addr).await.unwrap();
    missing
        .write_all(
            b"POST /webhooks/gitlab HTTP/1.1\r\nhost: x\r\ncontent-length: 1048576\r\nx-gitlab-event: Issue Hook\r\n\r\n",
        )
        .await
        .unwrap();
    missing.write_all(&vec![b' '; 1024 * 1024]).await.unwrap();
    assert_eq!(status_line(&mut missing).await, "HTTP/1.1 401 Unauthorized");

    let mut huge = TcpStream::connect(&svc.addr).await.unwrap();
    huge.write_all(webhook_head(SECRET, 50 * 1024 * 1024, expect).as_bytes())
        .await
        .unwrap();
    assert_eq!(
        status_line(&mut huge).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert_eq!(
        svc.metric("smeflow_webhook_deliveries_total{outcome=\"unauthorized\"}")
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_503_and_the_service_keeps_answering() {
    let sim = Simulator::start().await;
    sim.add_user("sme-bot", TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let svc = Serve::start(
        &sim,
        dir.path(),
        free_port(),
        &["--max-connections", "8", "--header-timeout", "60"],
    )
    .await;
    // The start-up probe's connection may still be closing on a loaded machine; were it still
    // open, it would take one of the eight places and an "extra" below would get a real one.
    let deadline = Instant::now() + CLOSED_WITHIN;
    while svc.metric("smeflow_open_connections").await > 1.0 {
        assert!(
            Instant::now() < deadline,
            "the probe's connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The probe's own last connection may still count on a loaded machine (the server has not
    // yet seen it close), so one of these eight can be shed at once: a shed one has its 503 or
    // is closed within moments, and is replaced until eight are held quietly.
    let mut held: Vec<TcpStream> = Vec::new();
    for round in 0.. {
        assert!(
            round < 10,
            "the server sheds connections below its cap of 8"
        );
        while held.len() < 8 {
            held.push(TcpStream::connect(&svc.addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        held.retain(|s| {
            let mut byte = [0u8; 1];
            matches!(s.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        });
        if held.len() == 8 {
            break;
        }
    }
    let mut shed = Vec::new();
    for _ in 0..5 {
        let mut extra = TcpStream::connect(&svc.addr).await.unwrap();
        let answer = read_until_closed(&mut extra).await;
        shed.push(answer.lines().next().unwrap_or_default().to_string());
    }
    assert!(
        shed.iter().all(|l| l == "HTTP/1.1 503 Service Unavailable"),
        "{shed:?}"
    );
    drop(held);
    // The held connections are gone: the service answers again.
    let deadline = Instant::now() + CLOSED_WITHIN;
    loop {
        if let Ok(r) = reqwest::get(svc.url("/healthz")).await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "service did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(svc.metric("smeflow_connections_shed_total").await >= 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_slow_clients_and_slow_gitlab_stops_in_bounded_time_leaving_nothing_in_progress(
) {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Serve::start(
        &sim,
        dir.path(),
        port,
        &[
            "--header-timeout",
            "60",
            "--body-timeout",
            "60",
            "--drain-timeout",
            "2",
        ],
    )
    .await;
    // GitLab is slow, so deliveries are in the workers' hands when the stop comes.
    sim.set_fault(Fault::Slow {
        delay: Duration::from_secs(20),
        only: Some(Match {
            method: Some("GET".into()),
            path_contains: Some("/issues/".into()),
        }),
    });
    open_feedback(&sim, "Initech: Duo Chat loses chat history").await;
    sim.deliveries_flushed().await;
    let deadline = Instant::now() + CLOSED_WITHIN;
    while svc
        .metric("smeflow_deliveries{state=\"in_progress\"}")
        .await
        < 1.0
    {
        assert!(Instant::now() < deadline, "no delivery in progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut slow_head = TcpStream::connect(&svc.addr).await.unwrap();
    slow_head
        .write_all(b"POST /webhooks/gitlab HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut slow_body = TcpStream::connect(&svc.addr).await.unwrap();
    slow_body
        .write_all(webhook_head(SECRET, 1000, "").as_bytes())
        .await
        .unwrap();
    slow_body.write_all(b"{").await.unwrap();

    let (code, took) = svc.terminate();
    assert_eq!(code, Some(0), "{}", svc.log());
    assert!(
        svc.log().contains("smeflow serve: stopped in"),
        "{}",
        svc.log()
    );
    eprintln!("SIGTERM with slow clients and a delivery in flight: stopped in {took:?}");
    let store = smeflow::store::Store::open(&dir.path().join("smeflow.db")).unwrap();
    assert!(
        store
            .list(Some(smeflow::store::State::InProgress), 10)
            .await
            .unwrap()
            .is_empty(),
        "a stopped serve leaves nothing in progress"
    );
    assert_eq!(
        store
            .list(Some(smeflow::store::State::Pending), 10)
            .await
            .unwrap()
            .len(),
        1,
        "the interrupted delivery waits for the next start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_store_is_refused_and_the_first_keeps_its_work() {
    let sim = Simulator::start().await;
    sim.add_user("sme-bot", TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let _first = Serve::start(&sim, dir.path(), free_port(), &[]).await;
    let (mut second, _, log) = spawn(&sim, &dir.path().join("smeflow.db"), free_port(), &[], &[]);
    let status = second.wait().unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.contains("another smeflow serve already uses the store"),
        "{log}"
    );
}

#[test]
fn a_store_that_cannot_be_created_is_an_environment_problem() {
    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--state",
            "/nonexistent-dir/smeflow.db",
        ])
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("GITLAB_URL", "http://127.0.0.1:9")
        .env("GITLAB_TOKEN", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent-dir/smeflow.db"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_store_file_makes_serve_unready_and_refuse_deliveries() {
    let sim = Simulator::start().await;
    sim.add_user("sme-bot", TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let svc = Serve::start(&sim, dir.path(), free_port(), &["--workers", "0"]).await;
    let client = reqwest::Client::new();
    let post = |key: &'static str| {
        client
            .post(svc.url("/webhooks/gitlab"))
            .header("x-gitlab-token", SECRET)
            .header("x-gitlab-event", "Issue Hook")
            .header("idempotency-key", key)
            .body(
                json!({"object_kind": "issue", "project": {"path_with_namespace": AI_PROJECT},
                       "object_attributes": {"iid": 1}})
                .to_string(),
            )
            .send()
    };
    assert_eq!(post("before").await.unwrap().status(), 202);
    assert_eq!(
        reqwest::get(svc.url("/readyz")).await.unwrap().status(),
        200
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("smeflow.db{suffix}")));
    }
    let ready = reqwest::get(svc.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("deleted or replaced"));
    assert_eq!(
        post("after").await.unwrap().status(),
        503,
        "no 202 for a delivery a restart would not find"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_long_gitlab_outage_loses_nothing_burns_no_attempts_and_ends_by_itself() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    // 1 simulated second = 1 ms: the hour below takes 3.6 s, pauses are capped at 300 ms.
    let svc = Serve::start_env(
        &sim,
        dir.path(),
        port,
        &["--no-sync"],
        &[("SMEFLOW_TIME_SCALE", "1000")],
    )
    .await;
    sim.set_fault(Fault::ServerError {
        count: usize::MAX,
        only: Some(Match {
            method: Some("GET".into()),
            path_contains: Some("/issues/".into()),
        }),
    });
    let mut iids = Vec::new();
    for customer in ["Initech", "Umbrella", "Hooli"] {
        iids.push(open_feedback(&sim, &format!("{customer}: Duo Chat loses chat history")).await);
    }
    sim.deliveries_flushed().await;
    let deadline = Instant::now() + CLOSED_WITHIN;
    while svc.metric("smeflow_workers_paused").await < 1.0 {
        assert!(Instant::now() < deadline, "workers never paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(3600)).await;
    assert_eq!(svc.metric("smeflow_workers_paused").await, 1.0);
    assert!(svc.metric("smeflow_backlog").await >= 3.0);
    assert!(svc.metric("smeflow_oldest_pending_age_seconds").await >= 3.0);
    let store = smeflow::store::Store::open(&dir.path().join("smeflow.db")).unwrap();
    let waiting = store.list(None, 100).await.unwrap();
    assert!(
        waiting.iter().all(|d| d.attempts <= 1),
        "an outage costs no attempts: {:?}",
        waiting.iter().map(|d| d.attempts).collect::<Vec<_>>()
    );

    sim.clear_faults();
    let deadline = Instant::now() + CLOSED_WITHIN;
    while iids
        .iter()
        .any(|iid| !labels(&sim, *iid).contains(&"Theme::Duo Chat".to_string()))
    {
        assert!(
            Instant::now() < deadline,
            "work did not resume by itself after GitLab recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(svc.metric("smeflow_workers_paused").await, 0.0);
    assert_eq!(svc.metric("smeflow_deliveries{state=\"dead\"}").await, 0.0);
}

#[test]
fn three_bootstrap_runs_at_once_on_an_existing_project_create_everything_once() {
    let sim = common::gitlab();
    let group_id = sim.add_group(GROUP);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, project) = rt.block_on(sim.as_user(
        TOKEN,
        "POST",
        "/projects",
        json!({"name": "AI SME", "path": "ai-sme", "namespace_id": group_id}),
    ));
    assert_eq!(status, 201, "{project}");
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = common::smeflow(&sim);
            std::thread::spawn(move || cmd.args(["bootstrap-area", "ai"]).output().unwrap())
        })
        .collect();
    for run in runs {
        let out = run.join().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let seeded = sim.issues(AI_PROJECT).len();
    let boards = sim.boards(AI_PROJECT).len();
    let hooks = sim.hooks(AI_PROJECT).len();
    // What one run alone creates.
    let alone = common::gitlab();
    let alone_group = alone.add_group(GROUP);
    rt.block_on(alone.as_user(
        TOKEN,
        "POST",
        "/projects",
        json!({"name": "AI SME", "path": "ai-sme", "namespace_id": alone_group}),
    ));
    let out = common::smeflow(&alone)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(
        (seeded, boards, hooks),
        (
            alone.issues(AI_PROJECT).len(),
            alone.boards(AI_PROJECT).len(),
            alone.hooks(AI_PROJECT).len()
        ),
        "three concurrent runs create what one run creates"
    );
    assert_eq!(hooks, 1, "one webhook, so every event arrives once");
}

#[test]
fn sync_board_waits_for_another_run_holding_the_area_and_then_does_its_work() {
    let sim = common::gitlab();
    let out = common::smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let store = smeflow::store::Store::open(&state).unwrap();
    let catalog = smeflow::config::Catalog::load(&common::config()).unwrap();
    let lease = smeflow::store::lease::area_lease_name(
        &sim.url(),
        &catalog.config.gitlab.group,
        catalog.area("ai").unwrap(),
    );
    assert_eq!(
        crate::common::block_on(store.acquire_lease(&lease, "a bootstrap elsewhere", 60_000))
            .unwrap(),
        Ok(())
    );
    sim.reset_requests();
    let log = dir.path().join("sync.log");
    let mut sync = std::process::Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args(["sync-board", "ai", "--state"])
        .arg(&state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + CLOSED_WITHIN;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("waiting for another run on area ai (a bootstrap elsewhere)")
    {
        assert!(
            Instant::now() < deadline,
            "sync-board did not wait: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sim.requests().iter().all(|r| r.method == "GET"),
        "nothing written while another run holds the area"
    );
    crate::common::block_on(store.release_lease(&lease, "a bootstrap elsewhere")).unwrap();
    let status = sync.wait().unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
}
