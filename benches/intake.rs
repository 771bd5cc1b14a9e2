//! Intake benchmark: accepted deliveries per second and answer latency of `POST
//! /webhooks/gitlab` with the durable store, next to a bare axum handler that only answers 202,
//! in the same run; then kills a real `smeflow serve` with SIGKILL under load and checks that
//! every delivery it answered 202 for is in the store.
//!
//! Run: `cargo bench --bench intake` (figures are printed; nothing is asserted on timing).
//! Knobs: BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 32).

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use smeflow::service::{auth::Secrets, router, AppState};
use smeflow::store::Store;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";

fn payload() -> String {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/deliveries/issue-open.json"
    );
    let body = std::fs::read_to_string(fixture)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|v| v["body"].clone())
        .unwrap_or_else(|| serde_json::json!({
            "object_kind": "issue", "event_type": "issue",
            "user": {"id": 1, "username": "jdoe"},
            "project": {"id": 1, "path_with_namespace": "g/ai-sme"},
            "object_attributes": {"iid": 1, "title": "ACME: Duo Chat forgets history", "description": "Customer: ACME\n".repeat(20), "action": "open", "state": "opened"},
            "labels": [], "changes": {}
        }));
    serde_json::to_string(&body).unwrap()
}

struct Run {
    ok: u64,
    other: u64,
    latencies_us: Vec<u64>,
    elapsed: Duration,
    accepted_keys: Vec<String>,
}

async fn load(addr: SocketAddr, seconds: u64, connections: usize, key_prefix: &str) -> Run {
    let body = Arc::new(payload());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, body, counter, prefix) = (
            client.clone(),
            body.clone(),
            counter.clone(),
            key_prefix.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut keys = Vec::new();
            let (mut ok, mut other) = (0u64, 0u64);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let key = format!("{prefix}-{n}");
                let t = Instant::now();
                let resp = client
                    .post(format!("http://{addr}/webhooks/gitlab"))
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

fn report(name: &str, r: &Run) -> f64 {
    let rate = r.ok as f64 / r.elapsed.as_secs_f64();
    println!(
        "{name:<28} {rate:>9.0} accepted/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} accepted, {} other answers, {:.1}s)",
        pct(&r.latencies_us, 0.50),
        pct(&r.latencies_us, 0.99),
        r.ok,
        r.other,
        r.elapsed.as_secs_f64()
    );
    rate
}

/// Serves `app` on its own runtime thread, as a separate process would, away from the load
/// generator's runtime.
fn serve_on_thread(app: Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
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

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("intake benchmark: {seconds}s per run, {connections} connections, Issue Hook payload of {} bytes", payload().len());

    let bare = serve_on_thread(
        Router::new().route("/webhooks/gitlab", post(|| async { StatusCode::ACCEPTED })),
    );
    let bare_run = rt.block_on(load(bare, seconds, connections, "bare"));
    let bare_rate = report("bare axum 202 handler", &bare_run);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let app = Arc::new(AppState::new(
        store.clone(),
        Secrets::parse(SECRET).unwrap(),
        false,
        None,
    ));
    let addr = serve_on_thread(router(app));
    let run = rt.block_on(load(addr, seconds, connections, "durable"));
    let rate = report("smeflow intake (SQLite WAL)", &run);
    let stored = store.list(None, usize::MAX).unwrap().len() as u64;
    println!(
        "ratio to bare handler: {:.2}  stored {stored} of {} accepted",
        rate / bare_rate,
        run.ok
    );
    assert_eq!(stored, run.ok, "every 202 is in the store");

    kill_test(&rt, seconds, connections);
}

/// SIGKILLs a real `smeflow serve` in the middle of the load, then checks the store.
fn kill_test(rt: &tokio::runtime::Runtime, seconds: u64, connections: usize) {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/smeflow");
    if !bin.exists() {
        println!("kill test skipped: build target/release/smeflow first (cargo build --release)");
        return;
    }
    let sim = smeflow::sim::Simulator::start_blocking();
    sim.add_user("bench", "glpat-bench");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = std::process::Command::new(&bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "serve",
            "--workers",
            "0",
            "--listen",
            &addr.to_string(),
            "--state",
        ])
        .arg(&db)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", "glpat-bench")
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
    let run = rt.block_on(load(addr, seconds, connections, "kill"));
    killer.join().unwrap();
    let _ = child.wait();
    let store = Store::open(&db).unwrap();
    let stored: std::collections::HashSet<String> = store
        .list(None, usize::MAX)
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
        "kill -9 under load: {} answered 202 before the kill, {} in the store, {lost} lost",
        run.ok,
        stored.len()
    );
    assert_eq!(lost, 0, "a delivery answered 202 was lost");
}
