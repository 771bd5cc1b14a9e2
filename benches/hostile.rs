//! `smeflow serve` under hostile clients and a large backlog, measured on loopback against the
//! release binary: connections held at once before shedding (and whether a real delivery still
//! gets a quick answer), memory after 400 unauthenticated 1 MiB bodies, the time SIGTERM takes
//! with slow clients connected, and the claim time at 10,000 pending deliveries, before (the
//! old query and indexes) and after, in the same run. Bounded: about a minute, stops by itself.
//!
//! Run: `cargo build --release && cargo bench --bench hostile` (figures are printed; nothing is
//! asserted on timing). Knob: BENCH_FLOOD (connections opened at once, default 12000).

use smeflow::sim::{Access, Simulator};
use smeflow::store::{now_ms, NewDelivery, Store};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "glpat-bench";
const SECRET: &str = "bench-secret";

fn binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/smeflow");
    assert!(bin.exists(), "run `cargo build --release` first");
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serve {
    child: Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(sim: &Simulator, dir: &Path, extra: &[&str]) -> Serve {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(binary())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "serve",
            "--listen",
            &addr,
            "--workers",
            "0",
            "--no-sync",
            "--state",
        ])
        .arg(dir.join("smeflow.db"))
        .args(extra)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let svc = Serve { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&svc.addr, "/healthz").await.0 != 200 {
        assert!(Instant::now() < deadline, "serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    svc
}

/// One request on a fresh connection: status (0 when none came) and time to the answer.
async fn request(addr: &str, raw: &[u8]) -> (u16, Duration) {
    let started = Instant::now();
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(raw).await.ok()?;
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        text.split_whitespace().nth(1)?.parse().ok()
    };
    let status = tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    (status, started.elapsed())
}

async fn get(addr: &str, path: &str) -> (u16, Duration) {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

fn webhook(token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /webhooks/gitlab HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-gitlab-token: {token}\r\nx-gitlab-event: Issue Hook\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn probe_body(n: u64) -> String {
    format!(
        r#"{{"object_kind":"issue","project":{{"path_with_namespace":"g/ai-sme"}},"object_attributes":{{"iid":{n},"action":"open"}}}}"#
    )
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn flood(sim: &Simulator) {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(sim, dir.path(), &[]).await;
    let n: usize = std::env::var("BENCH_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12_000);
    let mut held = Vec::new();
    let mut refused_connect = 0;
    for _ in 0..n {
        match TcpStream::connect(&svc.addr).await {
            Ok(s) => held.push(s),
            Err(_) => refused_connect += 1,
        }
    }
    // Which of them were answered 503 and closed, and which the server holds.
    let mut checks = Vec::new();
    for mut s in held {
        checks.push(tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let shed = matches!(
                tokio::time::timeout(Duration::from_millis(1500), s.read(&mut buf)).await,
                Ok(Ok(n)) if n > 0 && buf.starts_with(b"HTTP/1.1 503")
            );
            (shed, s)
        }));
    }
    let mut shed = 0;
    let mut open = Vec::new();
    for c in checks {
        let (was_shed, s) = c.await.unwrap();
        if was_shed {
            shed += 1;
        } else {
            open.push(s);
        }
    }
    let (during, during_t) = request(&svc.addr, &webhook(SECRET, &probe_body(1))).await;
    println!(
        "flood: {n} connections opened ({refused_connect} refused at connect): {} held by the server, {shed} answered 503",
        open.len()
    );
    println!("  a real delivery while the cap is full: {during} in {during_t:?}");
    // The header timeout (5 s) reaps the idle flood; then intake answers again.
    let started = Instant::now();
    let after = loop {
        let (status, _) = request(&svc.addr, &webhook(SECRET, &probe_body(2))).await;
        if status == 202 || started.elapsed() > Duration::from_secs(30) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ready = get(&svc.addr, "/readyz").await.0;
    println!(
        "  with the flood still connected: delivery {after} after {:.1?}, /readyz {ready}",
        started.elapsed()
    );
    drop(open);
}

async fn big_bodies(sim: &Simulator) {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(sim, dir.path(), &[]).await;
    let pid = svc.child.id();
    let before = rss_kib(pid);
    let body = "x".repeat(1024 * 1024);
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for _ in 0..8 {
        let mut batch = Vec::new();
        for _ in 0..50 {
            let (addr, raw) = (svc.addr.clone(), webhook("wrong-token", &body));
            batch.push(tokio::spawn(async move { request(&addr, &raw).await.0 }));
        }
        for b in batch {
            *statuses.entry(b.await.unwrap()).or_default() += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    println!(
        "400 unauthenticated 1 MiB bodies (50 at a time) in {:.1?}: answers {statuses:?}; RSS {} -> {} MiB (peak {} MiB)",
        started.elapsed(),
        before.0 / 1024,
        after.0 / 1024,
        after.1 / 1024
    );
}

async fn sigterm(sim: &Simulator) {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = start(
        sim,
        dir.path(),
        &["--header-timeout", "60", "--body-timeout", "60"],
    )
    .await;
    let mut slow = Vec::new();
    for i in 0..400 {
        let mut s = TcpStream::connect(&svc.addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"POST /webhooks/gitlab HTTP/1.1\r\n")
                .await
                .unwrap();
        } else {
            let head = webhook(SECRET, &" ".repeat(1000));
            s.write_all(&head[..head.len() - 990]).await.unwrap();
        }
        slow.push(s);
    }
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &svc.child.id().to_string()])
        .status()
        .unwrap();
    let code = loop {
        if let Some(status) = svc.child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "SIGTERM with 200 slow-header and 200 slow-body clients (timeouts 60 s, drain 10 s): exit {code:?} after {:.2?}",
        started.elapsed()
    );
    drop(slow);
}

/// A store on a 4 MiB tmpfs that fills up (root only: it mounts one; skipped otherwise).
async fn full_disk(sim: &Simulator) {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir.path())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        println!("full disk: skipped (needs root to mount a small tmpfs)");
        return;
    }
    let svc = start(sim, dir.path(), &[]).await;
    let before = (
        get(&svc.addr, "/readyz").await.0,
        request(&svc.addr, &webhook(SECRET, &probe_body(1))).await.0,
    );
    let filler = dir.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k", "count=1000"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let big = format!("{{\"object_kind\":\"issue\",\"project\":{{\"path_with_namespace\":\"g/ai-sme\"}},\"object_attributes\":{{\"iid\":3,\"description\":\"{}\"}}}}", "x".repeat(8000));
    let full = (
        get(&svc.addr, "/readyz").await.0,
        request(&svc.addr, &webhook(SECRET, &big)).await.0,
    );
    std::fs::remove_file(&filler).unwrap();
    let freed = (
        get(&svc.addr, "/readyz").await.0,
        request(&svc.addr, &webhook(SECRET, &probe_body(4))).await.0,
    );
    println!("full disk (/readyz, delivery): before {before:?}, disk full {full:?}, space freed {freed:?}");
    drop(svc);
    let _ = Command::new("umount").arg(dir.path()).status();
}

const OLD_CLAIM: &str = "SELECT id FROM deliveries d
     WHERE state IN ('pending', 'failed') AND next_attempt_at <= ?1
       AND NOT EXISTS (
         SELECT 1 FROM deliveries o
         WHERE o.state = 'in_progress' AND o.project_path IS d.project_path
           AND o.issue_iid IS d.issue_iid AND d.issue_iid IS NOT NULL)
     ORDER BY id LIMIT 1";

async fn claims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claim.db");
    let store = Store::open(&path).unwrap();
    let mut inserts = Vec::new();
    for i in 0..10_000u64 {
        let store = store.clone();
        inserts.push(tokio::spawn(async move {
            store
                .insert(NewDelivery {
                    dedupe_key: format!("k{i}"),
                    event: "Issue Hook".into(),
                    project_path: Some("g/ai-sme".into()),
                    issue_iid: Some(i % 500),
                    body: vec![b'x'; 3000],
                })
                .await
                .unwrap()
        }));
    }
    for i in inserts {
        i.await.unwrap();
    }
    // Before: the old query on the old indexes, on a copy of the same 10,000 deliveries.
    let old_path = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        c.execute("VACUUM INTO ?1", [old_path.to_str().unwrap()])
            .unwrap();
    }
    let old = rusqlite::Connection::open(&old_path).unwrap();
    old.execute_batch("DROP INDEX deliveries_due; DROP INDEX deliveries_busy;")
        .unwrap();
    const N: u32 = 200;
    let started = Instant::now();
    for _ in 0..N {
        old.execute_batch("BEGIN IMMEDIATE").unwrap();
        let id: i64 = old.query_row(OLD_CLAIM, [now_ms()], |r| r.get(0)).unwrap();
        old.execute(
            "UPDATE deliveries SET state = 'in_progress', attempts = attempts + 1 WHERE id = ?1",
            [id],
        )
        .unwrap();
        old.execute_batch("COMMIT").unwrap();
    }
    let before = started.elapsed() / N;
    let started = Instant::now();
    for _ in 0..N {
        store.claim(now_ms()).await.unwrap().unwrap();
    }
    let after = started.elapsed() / N;
    println!(
        "claim at 10,000 pending (500 issues): before {before:.2?} per claim, after {after:.2?} (mean of {N}, each in its own write transaction)"
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = Simulator::start().await;
        sim.add_group("g");
        sim.add_user("bench-bot", TOKEN);
        sim.set_member("g", "bench-bot", Access::Maintainer);
        claims().await;
        full_disk(&sim).await;
        big_bodies(&sim).await;
        sigterm(&sim).await;
        flood(&sim).await;
    });
}
