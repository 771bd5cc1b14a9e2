//! The provisioning benchmark at GitLab.com's distance (not a timed test: it asserts nothing
//! about time and is `#[ignore]`d). Every simulator request waits `BENCH_LATENCY_MS` (150 by
//! default); the real binary provisions a fresh AI area, runs again with nothing to change, and
//! bootstraps all areas. Run with `bench/latency.sh`. `BENCH_BASELINE_BIN` names another
//! smeflow binary (an older build) measured the same way in the same run, for before/after
//! figures on one machine at one moment.

#[path = "suite/common/mod.rs"]
mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn timed(sim: &smeflow::sim::Simulator, bin: Option<&Path>, args: &[&str]) -> (Duration, usize) {
    sim.reset_requests();
    let mut cmd = smeflow(sim);
    if let Some(bin) = bin {
        // The same environment, another program.
        let mut other = assert_cmd::Command::new(bin);
        other.current_dir(workdir()).env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                other.env(k, v);
            }
        }
        cmd = other;
    }
    let started = Instant::now();
    let out = cmd
        .env(
            "SMEFLOW_STATE",
            std::env::temp_dir().join(format!("latency-bench-{}.db", std::process::id())),
        )
        .args(args)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    // BENCH_SHOW_REQUESTS=1: each request in the order answered, to see what still waits on what.
    if std::env::var("BENCH_SHOW_REQUESTS").is_ok_and(|v| v == "1") {
        for r in sim.requests() {
            println!("  {} {} {}", r.method, r.path, r.query);
        }
    }
    (took, sim.requests().len())
}

/// Fresh area, nothing to change, `--all`, each on its own simulator.
fn measure(ms: u64, bin: Option<&Path>, name: &str) {
    let sim = gitlab();
    sim.set_latency(Duration::from_millis(ms));
    let (fresh, fresh_requests) = timed(&sim, bin, &["bootstrap-area", "ai"]);
    let (again, again_requests) = timed(&sim, bin, &["bootstrap-area", "ai"]);
    let all_sim = gitlab();
    all_sim.set_latency(Duration::from_millis(ms));
    let (all, all_requests) = timed(&all_sim, bin, &["bootstrap-area", "--all"]);
    println!("{name}:");
    println!(
        "  fresh area:          {:>6.2} s  ({fresh_requests} requests)",
        fresh.as_secs_f64()
    );
    println!(
        "  nothing to change:   {:>6.2} s  ({again_requests} requests)",
        again.as_secs_f64()
    );
    println!(
        "  --all (every area):  {:>6.2} s  ({all_requests} requests, {:.1}x one area)",
        all.as_secs_f64(),
        all.as_secs_f64() / fresh.as_secs_f64()
    );
}

#[test]
#[ignore = "a benchmark: run bench/latency.sh"]
fn provisioning_at_gitlab_com_latency() {
    let ms: u64 = std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    println!("latency per request: {ms} ms");
    if let Some(baseline) = std::env::var_os("BENCH_BASELINE_BIN") {
        measure(
            ms,
            Some(Path::new(&baseline)),
            "baseline (BENCH_BASELINE_BIN)",
        );
    }
    measure(ms, None, "this build");
}
