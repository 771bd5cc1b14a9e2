//! Intake and worker benchmark, every store in one run on one machine.
//!
//! 1. Intake: accepted deliveries per second and answer latency (p50/p99) of `POST
//!    /webhooks/gitlab` on SQLite (fsync per commit), on PostgreSQL with one replica and with
//!    two replicas sharing the database, each next to a bare axum handler that only answers 202.
//! 2. A real `smeflow serve` killed with SIGKILL under load: every delivery it answered 202 for
//!    is in the store.
//! 3. Workers end to end: real `smeflow serve` processes against the GitLab simulator work off
//!    a burst of deliveries (on SQLite, then PostgreSQL with one and with two replicas):
//!    deliveries processed per second, from the first POST until the last is done.
//!
//! PostgreSQL is a throwaway server started like the tests start theirs (`tests/suite/pg/mod.rs`:
//! `initdb` in a temp dir, loopback only, as the `postgres` user when run as root), with fsync
//! on so that it is compared with SQLite on equal terms; it is stopped and removed at the end.
//! Without PostgreSQL installed its rows are skipped, saying how to install it.
//!
//! Run: `cargo build --release && cargo bench --bench intake` (the kill and worker parts run the
//! release binary). Figures are printed; nothing is asserted on timing. Knobs: BENCH_SECONDS
//! (default 5 per intake run), BENCH_CONNECTIONS (default 32), BENCH_DELIVERIES (default 300
//! per worker run), SMEFLOW_STORE_SYNC=normal (SQLite without the per-commit fsync).

#[path = "../tests/suite/pg/mod.rs"]
mod pg;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use smeflow::service::{auth::Secrets, router, AppState};
use smeflow::sim::{Access, SeedIssue, Simulator};
use smeflow::store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";
const GROUP: &str = "gitlab-com/customer-success/subject-matter-experts";
const PROJECT: &str = "gitlab-com/customer-success/subject-matter-experts/ai-sme";
const TOKEN: &str = "glpat-bench";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The constructed Issue Hook for a new issue (`tests/data/constructed-deliveries/issue-open.json`).
fn recorded_issue_open() -> Value {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/constructed-deliveries/issue-open.json"
    );
    let text = std::fs::read_to_string(fixture).expect("the recorded delivery is in the repo");
    serde_json::from_str::<Value>(&text).unwrap()["body"].clone()
}

fn payload() -> String {
    serde_json::to_string(&recorded_issue_open()).unwrap()
}

/// GitLab's Idempotency-Key is a fresh `SecureRandom.uuid` per delivery
/// (`WebHookService#generate_idempotency_key` in app/services/web_hook_service.rb; only a retry
/// or a resend from the hook's log carries an old one), so the keys land at random places in the
/// store's unique index. Counting keys (`run-1`, `run-2`, …) would always append at the index's
/// right edge and flatter the store: about 5 index pages per commit instead of 15.
fn idempotency_key() -> String {
    smeflow::sim::uuid_v4(rand::random())
}

struct Run {
    ok: u64,
    other: u64,
    latencies_us: Vec<u64>,
    elapsed: Duration,
    accepted_keys: Vec<String>,
}

/// `connections` keep-alive connections post for `seconds`, connection `i` to `addrs[i % n]`
/// (a load balancer spreading connections over the replicas).
async fn load(addrs: &[SocketAddr], seconds: u64, connections: usize) -> Run {
    let body = Arc::new(payload());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let (client, body) = (client.clone(), body.clone());
        let url = format!("http://{}/webhooks/gitlab", addrs[connection % addrs.len()]);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut keys = Vec::new();
            let (mut ok, mut other) = (0u64, 0u64);
            while Instant::now() < deadline {
                let key = idempotency_key();
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-gitlab-event", "Issue Hook")
                    .header("x-gitlab-token", SECRET)
                    .header("idempotency-key", &key)
                    .body(body.as_str().to_owned())
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == StatusCode::ACCEPTED => {
                        lat.push(t.elapsed().as_micros() as u64);
                        ok += 1;
                        keys.push(key);
                    }
                    Ok(_) => other += 1,
                    // The server was killed: stop this connection.
                    Err(_) => break,
                }
            }
            (ok, other, lat, keys)
        }));
    }
    let mut run = Run {
        ok: 0,
        other: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
        accepted_keys: Vec::new(),
    };
    for t in tasks {
        let (ok, other, lat, keys) = t.await.unwrap();
        run.ok += ok;
        run.other += other;
        run.latencies_us.extend(lat);
        run.accepted_keys.extend(keys);
    }
    run.elapsed = started.elapsed();
    run.latencies_us.sort_unstable();
    run
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// One intake row: the store's run beside the bare handler's run just before it.
struct Row {
    name: String,
    rate: f64,
    p50: f64,
    p99: f64,
    bare_rate: f64,
    bare_p99: f64,
    /// CPU time of the serving threads per accepted delivery.
    cpu_us: f64,
    bare_cpu_us: f64,
}

fn report(name: &str, r: &Run) -> f64 {
    let rate = r.ok as f64 / r.elapsed.as_secs_f64();
    println!(
        "{name:<34} {rate:>9.0} accepted/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} accepted, {} other answers, {:.1}s)",
        pct(&r.latencies_us, 0.50),
        pct(&r.latencies_us, 0.99),
        r.ok,
        r.other,
        r.elapsed.as_secs_f64()
    );
    rate
}

/// The threads of one served app, to read the CPU time they spent (`/proc/self/task/*`).
#[derive(Clone, Default)]
struct Threads(Arc<std::sync::Mutex<Vec<String>>>);

impl Threads {
    /// Nanoseconds on CPU so far, summed over the threads (`schedstat`'s first field).
    fn cpu_ns(&self) -> u64 {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|tid| task_cpu_ns(tid))
            .sum()
    }
}

fn task_cpu_ns(tid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The store's intake writer threads (SQLite's group commit), by name.
fn writer_threads() -> Threads {
    let tids = std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|tid| {
                    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                        .is_ok_and(|c| c.starts_with("smeflow-store-w"))
                })
                .collect()
        })
        .unwrap_or_default();
    Threads(Arc::new(std::sync::Mutex::new(tids)))
}

/// Serves `app` on its own one-thread runtime, as a separate process would, away from the load
/// generator's runtime. `threads` learns every thread of that runtime (its worker and, for
/// PostgreSQL, the blocking threads that run the inserts).
/// `name` names its threads, so a profile (`perf report --comm`) tells the server from the load.
fn serve_on_thread(name: &str, app: Router, threads: Threads) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .on_thread_start(move || {
                if let Ok(me) = std::fs::read_link("/proc/thread-self") {
                    let tid = me.file_name().unwrap().to_string_lossy().into_owned();
                    threads.0.lock().unwrap().push(tid);
                }
            })
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn intake_router(store: Store) -> Router {
    router(Arc::new(AppState::new(
        store,
        Secrets::parse(SECRET).unwrap(),
        false,
        None,
    )))
}

/// The bare handler, then smeflow's intake on `stores` (one replica each, sharing the store),
/// checking that every 202 is stored.
fn intake_row(
    rt: &tokio::runtime::Runtime,
    name: &str,
    stores: Vec<Store>,
    seconds: u64,
    connections: usize,
) -> Row {
    let bare_threads = Threads::default();
    let bare = serve_on_thread(
        "bare-server",
        Router::new().route("/webhooks/gitlab", post(|| async { StatusCode::ACCEPTED })),
        bare_threads.clone(),
    );
    let cpu_before = bare_threads.cpu_ns();
    let bare_run = rt.block_on(load(&[bare], seconds, connections));
    let bare_rate = report("  bare axum 202 handler", &bare_run);
    let bare_cpu_us = (bare_threads.cpu_ns() - cpu_before) as f64 / 1000.0 / bare_run.ok as f64;
    let check = stores[0].clone();
    let threads = Threads::default();
    let addrs: Vec<SocketAddr> = stores
        .into_iter()
        .map(|s| serve_on_thread("intake-server", intake_router(s), threads.clone()))
        .collect();
    let writers = writer_threads();
    let (cpu_before, writer_before) = (threads.cpu_ns(), writers.cpu_ns());
    let run = rt.block_on(load(&addrs, seconds, connections));
    let rate = report(&format!("  {name}"), &run);
    let cpu_us = (threads.cpu_ns() - cpu_before) as f64 / 1000.0 / run.ok as f64;
    let writer_us = (writers.cpu_ns() - writer_before) as f64 / 1000.0 / run.ok as f64;
    println!(
        "  CPU per delivery: {cpu_us:.0} µs serving (bare handler {bare_cpu_us:.0} µs){}",
        if writer_us > 0.0 {
            format!(", {writer_us:.0} µs in the group-commit writer")
        } else {
            String::new()
        }
    );
    let stored: i64 = rt
        .block_on(check.counts())
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    let stored = stored as u64;
    println!(
        "  ratio to the bare handler {:.2}; stored {stored} of {} accepted",
        rate / bare_rate,
        run.ok
    );
    assert_eq!(stored, run.ok, "every 202 is in the store");
    Row {
        name: name.to_string(),
        rate,
        p50: pct(&run.latencies_us, 0.50),
        p99: pct(&run.latencies_us, 0.99),
        bare_rate,
        bare_p99: pct(&bare_run.latencies_us, 0.99),
        cpu_us,
        bare_cpu_us,
    }
}

fn release_binary() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/smeflow");
    bin.exists().then_some(bin)
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let connections: usize = env_or("BENCH_CONNECTIONS", 32);
    let deliveries: usize = env_or("BENCH_DELIVERIES", 300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load")
        .enable_all()
        .build()
        .unwrap();
    let sync = std::env::var("SMEFLOW_STORE_SYNC").unwrap_or_else(|_| "full".into());
    println!(
        "intake benchmark: {seconds}s per run, {connections} connections, Issue Hook payload of {} bytes, SQLite synchronous={sync}",
        payload().len()
    );
    // The SQLite figure is mostly the disk's: TMPDIR=/dev/shm shows the same code on memory.
    println!(
        "SQLite store under {} (set TMPDIR to measure another disk)",
        std::env::temp_dir().display()
    );

    // Durable like SQLite's FULL: every commit reaches the disk before the 202.
    std::env::set_var("PG_FSYNC", "on");
    let postgres = pg::try_own_server()
        .map_err(|why| eprintln!("PostgreSQL rows left out: {why}"))
        .ok();
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("bench.db")).unwrap();
    rows.push(intake_row(
        &rt,
        "SQLite, 1 replica",
        vec![sqlite],
        seconds,
        connections,
    ));
    if let Some(server) = &postgres {
        let url = server.fresh_database();
        let store = rt.block_on(Store::open_postgres(&url)).unwrap();
        rows.push(intake_row(
            &rt,
            "PostgreSQL, 1 replica",
            vec![store],
            seconds,
            connections,
        ));
        let url = server.fresh_database();
        let replicas = vec![
            rt.block_on(Store::open_postgres(&url)).unwrap(),
            rt.block_on(Store::open_postgres(&url)).unwrap(),
        ];
        rows.push(intake_row(
            &rt,
            "PostgreSQL, 2 replicas",
            replicas,
            seconds,
            connections,
        ));
    }
    println!("\n| store | accepted/s | p50 | p99 | bare handler (same run) | ratio | serving CPU per delivery (bare) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.0}/s, p99 {:.2} ms | {:.2} | {:.0} µs ({:.0} µs) |",
            r.name,
            r.rate,
            r.p50,
            r.p99,
            r.bare_rate,
            r.bare_p99,
            r.rate / r.bare_rate,
            r.cpu_us,
            r.bare_cpu_us
        );
    }
    println!();

    match release_binary() {
        Some(bin) => {
            kill_test(&rt, &bin, seconds, connections);
            workers(&rt, &bin, postgres.as_ref(), deliveries, connections);
        }
        None => println!(
            "kill and worker runs skipped: build target/release/smeflow first (cargo build --release)"
        ),
    }
    if let Some(server) = postgres {
        server.stop();
    }
}

/// SIGKILLs a real `smeflow serve` in the middle of the load, then checks the store.
fn kill_test(rt: &tokio::runtime::Runtime, bin: &Path, seconds: u64, connections: usize) {
    let sim = Simulator::start_blocking();
    sim.add_user("bench", TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let addr = free_addr();
    let mut child = std::process::Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["serve", "--workers", "0", "--listen", &addr.to_string()])
        .arg("--state")
        .arg(&db)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(seconds * 500));
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    });
    let run = rt.block_on(load(&[addr], seconds, connections));
    killer.join().unwrap();
    let _ = child.wait();
    let store = Store::open(&db).unwrap();
    let stored: std::collections::HashSet<String> = rt
        .block_on(store.list(None, usize::MAX))
        .unwrap()
        .into_iter()
        .map(|d| d.dedupe_key)
        .collect();
    let lost = run
        .accepted_keys
        .iter()
        .filter(|k| !stored.contains(*k))
        .count();
    println!(
        "kill -9 under load (SQLite): {} answered 202 before the kill, {} in the store, {lost} lost\n",
        run.ok,
        stored.len()
    );
    assert_eq!(lost, 0, "a delivery answered 202 was lost");
}

/// A `smeflow serve` process with workers, stopped (SIGKILL: its work is measured already) when
/// dropped.
struct Replica {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum StoreAt {
    Sqlite(PathBuf),
    Postgres(String),
}

fn spawn_replica(bin: &Path, sim: &Simulator, store: &StoreAt, log: &Path) -> Replica {
    let addr = free_addr();
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["serve", "--no-sync", "--listen", &addr.to_string()])
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    match store {
        StoreAt::Sqlite(path) => cmd.arg("--state").arg(path),
        StoreAt::Postgres(url) => cmd.env("DATABASE_URL", url),
    };
    let replica = Replica {
        child: cmd.spawn().unwrap(),
        addr,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = format!("http://{addr}/readyz");
    while !reqwest::blocking::get(&ready).is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
        assert!(
            Instant::now() < deadline,
            "replica did not become ready: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    replica
}

/// The count of deliveries in `state` on a replica's `/metrics` (the whole store's).
fn deliveries_in(addr: SocketAddr, state: &str) -> u64 {
    let text = reqwest::blocking::get(format!("http://{addr}/metrics"))
        .and_then(|r| r.text())
        .unwrap_or_default();
    let prefix = format!("smeflow_deliveries{{state=\"{state}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Posts one "issue opened" delivery per issue, spread over the replicas, and returns how many
/// were answered 202.
async fn post_each(addrs: &[SocketAddr], issues: &[u64], connections: usize, prefix: &str) -> u64 {
    let template = recorded_issue_open();
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let issues = Arc::new(issues.to_vec());
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let (client, next, issues, mut body) = (
            client.clone(),
            next.clone(),
            issues.clone(),
            template.clone(),
        );
        let url = format!("http://{}/webhooks/gitlab", addrs[connection % addrs.len()]);
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&iid) = issues.get(i) else { break };
                body["object_attributes"]["iid"] = iid.into();
                body["object_attributes"]["id"] = (900_000 + iid).into();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-gitlab-event", "Issue Hook")
                    .header("x-gitlab-token", SECRET)
                    .header("idempotency-key", format!("{prefix}-{iid}"))
                    .body(serde_json::to_vec(&body).unwrap())
                    .send()
                    .await;
                if resp.is_ok_and(|r| r.status() == StatusCode::ACCEPTED) {
                    accepted += 1;
                }
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    accepted
}

/// Workers end to end: replicas with the default two workers each work off one new-issue
/// delivery per issue against the simulator; deliveries done per second from the first POST.
fn workers(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    postgres: Option<&pg::Server>,
    deliveries: usize,
    connections: usize,
) {
    let sim = Simulator::start_blocking();
    sim.add_group(GROUP);
    sim.add_user("bench", TOKEN);
    sim.set_member(GROUP, "bench", Access::Maintainer);
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["bootstrap-area", "ai", "--state"])
        .arg(dir.path().join("bootstrap.db"))
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bootstrap-area ai: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // New feedback as people file it: a customer, a theme, no workflow labels yet — every
    // delivery has triage labels to add and an epic to link, as in real intake.
    let themes = ["Duo Chat", "Code Suggestions", "Self-Hosted Models"];
    let seed = |n: usize| -> Vec<u64> {
        (0..n)
            .map(|i| {
                let theme = format!("Theme::{}", themes[i % themes.len()]);
                sim.seed_issue(
                    PROJECT,
                    SeedIssue {
                        author: "bench",
                        title: &format!("ACME: feedback {i} on {}", themes[i % themes.len()]),
                        description: "**Customer:** ACME\n**ARR at stake:** 50000\n\nThe customer explains the problem.",
                        labels: &["Type::Customer Feedback", &theme],
                        state: "opened",
                        age_days: 0,
                    },
                )
            })
            .collect()
    };
    println!(
        "workers end to end: {deliveries} new-issue deliveries (one per issue), `smeflow serve` with 2 workers per replica, GitLab simulator in this process"
    );
    let mut runs: Vec<(String, StoreAt, usize)> = vec![(
        "SQLite, 1 replica".into(),
        StoreAt::Sqlite(dir.path().join("workers.db")),
        1,
    )];
    if let Some(server) = postgres {
        runs.push((
            "PostgreSQL, 1 replica".into(),
            StoreAt::Postgres(server.fresh_database()),
            1,
        ));
        runs.push((
            "PostgreSQL, 2 replicas".into(),
            StoreAt::Postgres(server.fresh_database()),
            2,
        ));
    }
    for (name, store, count) in runs {
        let issues = seed(deliveries);
        let replicas: Vec<Replica> = (0..count)
            .map(|n| {
                spawn_replica(
                    bin,
                    &sim,
                    &store,
                    &dir.path().join(format!("{name}-{n}.log")),
                )
            })
            .collect();
        let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
        let started = Instant::now();
        let accepted = rt.block_on(post_each(&addrs, &issues, connections, &name));
        let deadline = started + Duration::from_secs(300);
        let (done, dead) = loop {
            let (done, dead) = (
                deliveries_in(addrs[0], "done"),
                deliveries_in(addrs[0], "dead"),
            );
            if done + dead >= accepted || Instant::now() > deadline {
                break (done, dead);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = started.elapsed().as_secs_f64();
        println!(
            "  {name:<24} {:>7.1} deliveries processed/s   ({done} done, {dead} dead of {accepted} accepted, {took:.2}s)",
            done as f64 / took
        );
        drop(replicas);
    }
}
