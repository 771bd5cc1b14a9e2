//! The provisioning benchmark at GitLab.com's distance (not a timed test: it asserts nothing
//! about time and is `#[ignore]`d). Every simulator request waits `BENCH_LATENCY_MS` (150 by
//! default); the real binary provisions a fresh AI area, runs again with nothing to change, and
//! bootstraps all areas. Run with `bench/latency.sh`.

#[path = "suite/common/mod.rs"]
mod common;

use common::*;
use std::time::{Duration, Instant};

fn timed(sim: &smeflow::sim::Simulator, args: &[&str]) -> (Duration, usize) {
    sim.reset_requests();
    let started = Instant::now();
    let out = smeflow(sim)
        .env(
            "SMEFLOW_STATE",
            std::env::temp_dir().join(format!("latency-bench-{}.db", std::process::id())),
        )
        .args(args)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    (took, sim.requests().len())
}

#[test]
#[ignore = "a benchmark: run bench/latency.sh"]
fn provisioning_at_gitlab_com_latency() {
    let ms: u64 = std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let sim = gitlab();
    sim.set_latency(Duration::from_millis(ms));
    let (fresh, fresh_requests) = timed(&sim, &["bootstrap-area", "ai"]);
    let (again, again_requests) = timed(&sim, &["bootstrap-area", "ai"]);
    let all_sim = gitlab();
    all_sim.set_latency(Duration::from_millis(ms));
    let (all, all_requests) = timed(&all_sim, &["bootstrap-area", "--all"]);
    println!("latency per request: {ms} ms");
    println!(
        "fresh area:          {:>6.2} s  ({fresh_requests} requests)",
        fresh.as_secs_f64()
    );
    println!(
        "nothing to change:   {:>6.2} s  ({again_requests} requests)",
        again.as_secs_f64()
    );
    println!(
        "--all (every area):  {:>6.2} s  ({all_requests} requests)",
        all.as_secs_f64()
    );
}
