//! The scheduled sync at scale: `smeflow sync-board` (the release binary) against the simulator
//! holding 10,000 issues. Reports list requests against pages of 100, writes, wall time and the
//! peak resident memory of the smeflow process, for a first full pass, a second pass (nothing
//! to do) and an incremental pass after a few issues changed.
//!
//! Run: `cargo build --release && cargo bench --bench sync` (BENCH_ISSUES to change the size).

use smeflow::sim::{Access, SeedIssue, Simulator};
use std::time::{Duration, Instant};

const GROUP: &str = "gitlab-com/customer-success/subject-matter-experts";
const PROJECT: &str = "gitlab-com/customer-success/subject-matter-experts/ai-sme";
const TOKEN: &str = "glpat-bench";

fn smeflow(sim: &Simulator, args: &[&str], state: &std::path::Path) -> (Duration, u64, String) {
    smeflow_with(sim, args, state, &[])
}

fn smeflow_with(
    sim: &Simulator,
    args: &[&str],
    state: &std::path::Path,
    env: &[(&str, &str)],
) -> (Duration, u64, String) {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/smeflow");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    // Output goes to files: a pipe nobody reads until the end would fill up and stall smeflow.
    let out_dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (out_dir.path().join("stdout"), out_dir.path().join("stderr"));
    let started = Instant::now();
    let mut child = std::process::Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .arg("--state")
        .arg(state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", "bench")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    // Peak resident set size (VmHWM) of the smeflow process, read until it exits.
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let exit = loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    assert!(
        exit.success(),
        "{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    (took, peak_kb, stdout)
}

fn report(name: &str, sim: &Simulator, (took, peak_kb, out): &(Duration, u64, String)) {
    // smeflow's own summary line: "Area AI (...): N issues (M read now...)".
    let read_now: usize = out
        .split_once(" issues (")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("sync-board prints how many issues it read");
    let requests = sim.requests();
    let lists = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/issues"))
        .count();
    let other_reads = requests.iter().filter(|r| r.method == "GET").count() - lists;
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    println!(
        "{name:<34} {:>6.2}s  peak RSS {:>6.1} MB  issues read {read_now:>6}  issue-list requests {lists:>4} (pages of 100: {:>3})  other reads {other_reads:>3}  writes {writes:>4}",
        took.as_secs_f64(),
        *peak_kb as f64 / 1024.0,
        read_now.div_ceil(100).max(1)
    );
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        for r in requests.iter().filter(|r| r.method == "GET") {
            println!("    GET {}?{}", r.path, r.query);
        }
    }
}

fn main() {
    let n: usize = std::env::var("BENCH_ISSUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sim = Simulator::start_blocking();
    sim.add_group(GROUP);
    sim.add_user("bench", TOKEN);
    sim.set_member(GROUP, "bench", Access::Maintainer);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("bench.db");
    let bin_out = std::process::Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/smeflow"),
    )
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .args(["bootstrap-area", "ai"])
    .env("GITLAB_URL", sim.url())
    .env("GITLAB_TOKEN", TOKEN)
    .env("SMEFLOW_WEBHOOK_SECRET", "bench")
    .output()
    .unwrap();
    assert!(bin_out.status.success());

    let customers = [
        "ACME",
        "Globex",
        "Initech",
        "Umbrella",
        "Hooli",
        "Stark",
        "Wayne",
        "Soylent",
        "Tyrell",
        "Cyberdyne",
    ];
    let themes = [
        "Theme::Duo Chat",
        "Theme::Code Suggestions",
        "Theme::Self-Hosted Models",
        "Theme::Model Quality",
    ];
    let regions = ["Region::APAC", "Region::US East", "Region::EMEA NEUR"];
    let seeded = n - 4; // the four seed issues of bootstrap
    let mut scrambled = 0;
    for i in 0..seeded {
        let customer = customers[i % customers.len()];
        let theme = themes[i % themes.len()];
        let title = format!(
            "{customer}: feedback number {i} about {}",
            theme.trim_start_matches("Theme::")
        );
        let description = format!(
            "**Customer:** {customer}\n**ARR at stake:** {}\n\n{}",
            1000 * (i % 97),
            "The customer explains the problem in some detail. ".repeat(8)
        );
        // One in a hundred is scrambled: two workflow states and no PM status.
        let labels: Vec<&str> = if i % 100 == 7 {
            scrambled += 1;
            vec![
                "Type::Customer Feedback",
                "SME Workflow::Triage",
                "SME Workflow::Create",
                regions[i % 3],
                "Priority::Low",
                theme,
            ]
        } else {
            vec![
                "Type::Customer Feedback",
                "SME Workflow::Triage",
                "PM Status::New",
                regions[i % 3],
                "Priority::Medium",
                theme,
            ]
        };
        sim.seed_issue(
            PROJECT,
            SeedIssue {
                author: "bench",
                title: &title,
                description: &description,
                labels: &labels,
                state: "opened",
                age_days: 1,
            },
        );
    }
    println!("sync-board benchmark: {n} issues in the AI project ({scrambled} scrambled), release binary, store in a temp dir");

    sim.reset_requests();
    let first = smeflow(&sim, &["sync-board", "ai"], &state);
    report("first sync (full read, repairs)", &sim, &first);

    // The first sync's own edits (labels, epic links) count as updates: this pass re-reads them.
    sim.reset_requests();
    let second = smeflow(&sim, &["sync-board", "ai"], &state);
    report("second sync (re-reads its edits)", &sim, &second);
    assert_eq!(sim.writes(), 0, "a second sync writes nothing");

    // A quiet hour passes, then a person takes a theme off three issues: the next sync reads
    // only those, respects the person, and unlinks them from the theme's epic.
    for iid in 1..=n as u64 {
        sim.backdate(PROJECT, iid, 1);
    }
    sim.add_user("sme", "glpat-sme");
    sim.set_member(GROUP, "sme", Access::Developer);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for iid in [5, 9, 13] {
        let path = format!("/projects/{}/issues/{iid}", PROJECT.replace('/', "%2F"));
        let (status, _) = rt.block_on(sim.as_user(
            "glpat-sme",
            "PUT",
            &path,
            serde_json::json!({"remove_labels": "Theme::Duo Chat"}),
        ));
        assert_eq!(status, 200);
    }
    sim.reset_requests();
    let after_edit = smeflow(&sim, &["sync-board", "ai"], &state);
    report("incremental (3 issues untagged)", &sim, &after_edit);

    sim.reset_requests();
    let full = smeflow(&sim, &["sync-board", "ai", "--full"], &state);
    report("--full re-read (nothing to do)", &sim, &full);
    assert_eq!(sim.writes(), 0);

    writes_in_flight_at_latency();
}

/// A first sync that must repair every issue, against a simulator that takes `latency` per
/// request as GitLab.com does (150–400 ms a write): writes one at a time against eight in flight.
fn writes_in_flight_at_latency() {
    let n: usize = std::env::var("BENCH_LATENCY_ISSUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let latency = Duration::from_millis(150);
    println!("\nfirst sync with {latency:?} per request, {n} issues each needing a label repair");
    let mut took = Vec::new();
    for in_flight in ["1", "8"] {
        let sim = Simulator::start_blocking();
        sim.add_group(GROUP);
        sim.add_user("bench", TOKEN);
        sim.set_member(GROUP, "bench", Access::Maintainer);
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("bench.db");
        smeflow(&sim, &["bootstrap-area", "ai"], &state);
        for i in 0..n {
            sim.seed_issue(
                PROJECT,
                SeedIssue {
                    author: "bench",
                    title: &format!("Customer {i}: feedback"),
                    description: &format!("**Customer:** Customer {i}\n"),
                    labels: &[
                        "Type::Customer Feedback",
                        "SME Workflow::Triage",
                        "SME Workflow::Create",
                        "Region::APAC",
                        "Priority::Low",
                        "PM Status::New",
                        "Theme::Duo Chat",
                    ],
                    state: "opened",
                    age_days: 1,
                },
            );
        }
        sim.set_fault(smeflow::sim::Fault::Slow {
            delay: latency,
            only: None,
        });
        sim.reset_requests();
        let run = smeflow_with(
            &sim,
            &["sync-board", "ai"],
            &state,
            &[("SMEFLOW_WRITES_IN_FLIGHT", in_flight)],
        );
        report(&format!("writes in flight: {in_flight}"), &sim, &run);
        took.push(run.0);
    }
    println!(
        "eight in flight took {:.2} of the time of one at a time",
        took[1].as_secs_f64() / took[0].as_secs_f64()
    );
}
