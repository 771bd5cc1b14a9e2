//! One bad issue never stops smeflow (issue 20), through the real binary against the simulator:
//! absurd durations and amounts read as unreadable instead of panicking or wrapping; a panic on
//! one issue (provoked with the debug build's `SMEFLOW_PANIC_ON`) skips that issue in
//! `sync-board` and the scheduled sync, and fails only its delivery in `serve`, which stays
//! truthful about its workers; an issue GitLab returns in a shape smeflow cannot read is skipped
//! and named; credentials in URLs never show; the dashboard throttles wrong tokens, keeps
//! sessions on the server, refuses other sites' sign-ins and sends protective headers. The
//! request-template and feedback parsers are property-tested (no panic on any input).

use crate::common;

use common::*;
use serde_json::{json, Value};
use smeflow::sim::{Access, SeedIssue, Simulator};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FEEDBACK: &str = "Type::Customer Feedback";

fn bootstrapped() -> Simulator {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    sim
}

fn seed(sim: &Simulator, title: &str, description: &str, labels: &[&str]) -> u64 {
    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title,
            description,
            labels,
            state: "opened",
            age_days: 0,
        },
    )
}

fn labels_of(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.issues(AI_PROJECT)
        .into_iter()
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

fn note_bodies(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.notes(AI_PROJECT, iid)
        .iter()
        .filter(|n| n["system"] != true)
        .map(|n| n["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn sync_board(sim: &Simulator, state: &Path, env: &[(&str, &str)]) -> std::process::Output {
    smeflow(sim)
        .args(["sync-board", "ai", "--state"])
        .arg(state)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn an_expected_duration_past_any_bound_is_named_as_unreadable_instead_of_a_panic() {
    let sim = bootstrapped();
    sim.add_user("ae-jane", "glpat-jane");
    sim.set_member(GROUP, "ae-jane", Access::Reporter);
    let meeting = (chrono::Utc::now() + chrono::Duration::hours(96))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    let description = format!(
        "**Account name:** ACME Corp\n**Engagement type:** Customer Call\n**Next customer meeting:** {meeting}\n**Expected duration:** 99999999999999999999 weeks\n\n### The exact questions for the SME\n\n1. Can Duo Chat run air-gapped?\n\n### Rules of engagement\n\n- [x] Discovery is done and its notes are linked\n- [x] A prep call with the SME is booked before the customer meeting\n"
    );
    let iid = sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "ae-jane",
            title: "ACME: Duo Chat air-gapped",
            description: &description,
            labels: &[
                "Type::SME Request",
                "SME Workflow::Triage",
                "SME Request::Customer Call",
            ],
            state: "opened",
            age_days: 0,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = sync_board(&sim, &dir.path().join("s.db"), &[]);
    assert!(
        out.status.success(),
        "exit {:?}\n{}{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    let notes = note_bodies(&sim, iid);
    assert!(
        notes.iter().any(|n| n.contains(
            "smeflow could not read **Expected duration:** `99999999999999999999 weeks`"
        )),
        "{notes:#?}"
    );
}

#[test]
fn an_arr_that_is_not_an_amount_is_left_out_instead_of_showing_as_eighteen_quintillion() {
    let sim = bootstrapped();
    for (customer, arr) in [("ACME", "inf"), ("Globex", "1e300"), ("Initech", "$1,000")] {
        seed(
            &sim,
            &format!("{customer}: Duo Chat forgets"),
            &format!("**Customer:** {customer}\n**ARR at stake:** {arr}\n"),
            &[
                FEEDBACK,
                "Theme::Duo Chat",
                "Priority::High",
                "PM Status::New",
            ],
        );
    }
    let out = smeflow(&sim).args(["report", "ai"]).output().unwrap();
    let report = stdout(&out);
    assert!(out.status.success(), "{report}{}", stderr(&out));
    let theme_row = report
        .lines()
        .find(|l| l.starts_with("| Duo Chat") || l.contains("Duo Chat |"))
        .unwrap_or_else(|| panic!("no Duo Chat row:\n{report}"));
    assert!(theme_row.ends_with("$1,000 |"), "{theme_row}");
    assert!(!report.contains("18,446,744"), "{report}");
}

#[test]
fn sync_board_skips_and_names_an_issue_it_panics_on_and_syncs_the_rest() {
    let sim = bootstrapped();
    let poisoned = seed(
        &sim,
        "ACME: POISON in the title",
        "**Customer:** ACME\n",
        &[FEEDBACK],
    );
    let fine = seed(
        &sim,
        "Globex: Duo Chat forgets our conversation history",
        "**Customer:** Globex\n",
        &[FEEDBACK],
    );
    let dir = tempfile::tempdir().unwrap();
    let out = sync_board(
        &sim,
        &dir.path().join("s.db"),
        &[("SMEFLOW_PANIC_ON", "POISON")],
    );
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "not a crash (101):\n{o}{e}");
    assert!(
        o.contains(&format!(
            "! skipped issue #{poisoned}: smeflow panicked: SMEFLOW_PANIC_ON"
        )),
        "{o}"
    );
    assert!(
        e.contains("1 issue(s) could not be read from GitLab, or made smeflow fail"),
        "{e}"
    );
    assert!(
        labels_of(&sim, fine).contains(&"SME Workflow::Triage".to_string()),
        "the rest of the area was synced: {:?}",
        labels_of(&sim, fine)
    );
    assert_eq!(labels_of(&sim, poisoned), [FEEDBACK], "nothing done to it");
}

#[test]
fn sync_board_stops_an_area_that_panics_past_its_issues_with_a_message_not_a_crash() {
    let sim = bootstrapped();
    let dir = tempfile::tempdir().unwrap();
    let out = sync_board(
        &sim,
        &dir.path().join("s.db"),
        &[("SMEFLOW_PANIC_ON", "(sync of area ai)")],
    );
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "not a crash (101):\n{e}");
    assert!(
        e.contains("the sync of area AI stopped: smeflow panicked: SMEFLOW_PANIC_ON"),
        "{e}"
    );
}

#[test]
fn an_issue_gitlab_returns_in_a_shape_smeflow_cannot_read_is_skipped_and_named() {
    let sim = bootstrapped();
    let odd = seed(&sim, "ACME: odd", "**Customer:** ACME\n", &[FEEDBACK]);
    let fine = seed(
        &sim,
        "Globex: Duo Chat forgets our conversation history",
        "**Customer:** Globex\n",
        &[FEEDBACK],
    );
    sim.set_issue_field(AI_PROJECT, odd, "title", Value::Null);
    let dir = tempfile::tempdir().unwrap();
    let out = sync_board(&sim, &dir.path().join("s.db"), &[]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{o}{e}");
    assert!(
        e.contains("skipping a list item smeflow cannot read")
            && e.contains(&format!("ai-sme/-/issues/{odd}")),
        "{e}"
    );
    assert!(
        labels_of(&sim, fine).contains(&"SME Workflow::Triage".to_string()),
        "{o}"
    );
}

#[test]
fn credentials_in_gitlab_url_and_webhook_url_never_show_in_plans_errors_or_logs() {
    let sim = gitlab();
    let with_password = sim.url().replacen("http://", "http://sme-bot:pa55word@", 1);
    let hook = "https://hooks.example.com/webhooks/gitlab?token=hook-s3cret";
    let out = smeflow(&sim)
        .env("GITLAB_URL", &with_password)
        .env("SMEFLOW_WEBHOOK_URL", hook)
        .env("RUST_LOG", "debug")
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("-> http://sme-bot:***@127.0.0.1:"), "{o}");
    assert!(
        o.contains("+ webhook https://hooks.example.com/webhooks/gitlab?token=*** ("),
        "{o}"
    );
    // A rejected token: the error names the GitLab, without its password.
    let refused = smeflow(&sim)
        .env("GITLAB_URL", &with_password)
        .env("GITLAB_TOKEN", "glpat-wrong")
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    let (ro, re) = (stdout(&refused), stderr(&refused));
    assert!(!refused.status.success());
    assert!(re.contains("sme-bot:***@127.0.0.1"), "{re}");
    let bad_scheme = smeflow(&sim)
        .env("GITLAB_URL", "ftp://sme-bot:pa55word@gitlab.example.com")
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    let all = format!("{o}{e}{ro}{re}{}", stderr(&bad_scheme));
    assert!(!all.contains("pa55word"), "{all}");
    assert!(!all.contains("hook-s3cret"), "{all}");
}

/// `serve` on `port` with one worker, its start-up sync, and these extra settings.
struct Serve {
    child: Child,
    base: String,
    state: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `smeflow serve` on `port` against `sim`, with `args` after `serve` and `env` added, its log
/// to `log` (piped: the caller reads it when it stops, so only for a short log). Returns once
/// the port accepts connections.
fn spawn_serve(
    sim: &Simulator,
    port: u16,
    state: &Path,
    (args, env): (&[&str], &[(&str, &str)]),
    log: Stdio,
) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .arg("serve")
        .args(args)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--state"])
        .arg(state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

impl Serve {
    async fn start(sim: &Simulator, port: u16, state: &Path, env: &[(&str, &str)]) -> Serve {
        let child = spawn_serve(sim, port, state, (&["--workers", "1"], env), Stdio::null());
        Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
            state: state.to_path_buf(),
        }
    }

    async fn metric(&self, line: &str) -> i64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .args(args)
            .arg("--store")
            .arg(&self.state)
            .output()
            .unwrap();
        format!("{}{}", stdout(&out), stderr(&out))
    }
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_feedback(sim: &Simulator, title: &str) -> u64 {
    let (status, issue) = sim
        .as_user(
            SA_TOKEN,
            "POST",
            &format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F")),
            json!({"title": title, "description": "**Customer:** ACME\n", "labels": FEEDBACK}),
        )
        .await;
    assert_eq!(status, 201, "{issue}");
    issue["iid"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_one_delivery_or_issue_is_contained_and_serve_stays_truthful() {
    let port = free_port();
    let sim = area_served_at(port, SECRET, &[]).await;
    // Issues that were there before serve started: its start-up sync meets the poisoned one.
    let seeded_poison = seed(
        &sim,
        "ACME: POISON before start",
        "**Customer:** ACME\n",
        &[FEEDBACK],
    );
    let seeded_fine = seed(
        &sim,
        "Globex: Duo Chat forgets our conversation history",
        "**Customer:** Globex\n",
        &[FEEDBACK],
    );
    let dir = tempfile::tempdir().unwrap();
    let svc = Serve::start(
        &sim,
        port,
        &dir.path().join("smeflow.db"),
        &[
            ("SMEFLOW_PANIC_ON", "POISON"),
            ("SMEFLOW_TIME_SCALE", "1000"),
        ],
    )
    .await;
    let triaged = |iid: u64| labels_of(&sim, iid).contains(&"SME Workflow::Triage".to_string());
    until(
        "the start-up sync went past the poisoned issue",
        async || triaged(seeded_fine),
    )
    .await;
    assert!(!triaged(seeded_poison));

    // Two poisoned issues arrive first, then a good one: the one worker works them all off.
    let poisoned = [
        open_feedback(&sim, "Initech: POISON one").await,
        open_feedback(&sim, "Hooli: POISON two").await,
    ];
    let fine = open_feedback(&sim, "Umbrella: Duo Chat loses context").await;
    until("the good delivery was handled", async || triaged(fine)).await;
    until("both poisoned deliveries went dead", async || {
        sim.deliveries_flushed().await;
        svc.metric("smeflow_deliveries{state=\"dead\"}").await >= 2
    })
    .await;
    for iid in poisoned {
        assert!(!triaged(iid));
    }
    assert!(
        svc.metric("smeflow_panics_total{during=\"delivery\"}")
            .await
            >= 10,
        "five attempts each"
    );
    assert!(svc.metric("smeflow_panics_total{during=\"sync\"}").await >= 1);
    assert_eq!(svc.metric("smeflow_workers_running").await, 1);
    let ready = reqwest::get(format!("{}/readyz", svc.base)).await.unwrap();
    assert_eq!(ready.status(), 200);

    // The operator sees why.
    let dead = svc.cli(&["deliveries", "list", "--status", "dead"]);
    let id = dead
        .lines()
        .find_map(|l| l.split_whitespace().next()?.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("{dead}"));
    let shown = svc.cli(&["deliveries", "show", &id.to_string()]);
    assert!(
        shown.contains("dead (5 attempts)")
            && shown.contains("last error: smeflow panicked: SMEFLOW_PANIC_ON"),
        "{shown}"
    );
}

const DASHBOARD_TOKEN: &str = "dashboard-token-for-robust-tests";

fn dashboard(sim: &Simulator, state: &Path) -> (Child, String) {
    let port = free_port();
    let child = spawn_serve(
        sim,
        port,
        state,
        (
            &["--no-sync"],
            &[("SMEFLOW_DASHBOARD_TOKEN", DASHBOARD_TOKEN)],
        ),
        Stdio::piped(),
    );
    (child, format!("http://127.0.0.1:{port}"))
}

fn client_from(local: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_dashboard_throttles_wrong_tokens_per_client_and_overall_and_logs_them() {
    let sim = bootstrapped();
    let dir = tempfile::tempdir().unwrap();
    let (child, base) = dashboard(&sim, &dir.path().join("d.db"));
    let url = format!("{base}/");
    let login = |client: &reqwest::blocking::Client, token: &str| {
        client.post(&url).form(&[("token", token)]).send().unwrap()
    };
    let guesser = client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(login(&guesser, "wrong-token-wrong-token").status(), 401);
    }
    let paused = login(&guesser, "wrong-token-wrong-token");
    assert_eq!(paused.status(), 429);
    assert!(paused.headers().contains_key("retry-after"));
    assert_eq!(
        login(&guesser, DASHBOARD_TOKEN).status(),
        429,
        "not even the right token while paused"
    );
    // Another client is not held up by one guesser.
    let person = client_from("127.0.0.3");
    assert_eq!(login(&person, DASHBOARD_TOKEN).status(), 303);

    // Many clients together: past the overall limit, nobody signs in by form for a while.
    let mut failures = 5;
    'clients: for n in 10..30 {
        let c = client_from(&format!("127.0.0.{n}"));
        for _ in 0..5 {
            if failures == 50 {
                break 'clients;
            }
            assert_eq!(login(&c, "wrong-token-wrong-token").status(), 401);
            failures += 1;
        }
    }
    assert_eq!(
        login(&client_from("127.0.0.99"), DASHBOARD_TOKEN).status(),
        429
    );
    let log = stop(child);
    assert!(
        log.matches("dashboard: wrong token at sign-in").count() >= 50,
        "{log}"
    );
    assert!(log.contains("127.0.0.2"), "the client is named: {log}");
    assert!(
        log.contains("sign-in paused after too many wrong tokens"),
        "{log}"
    );
}

#[test]
fn dashboard_sessions_live_on_the_server_and_the_page_is_protected() {
    let sim = bootstrapped();
    seed(
        &sim,
        "ACME: feedback",
        "**Customer:** ACME\n",
        &[FEEDBACK, "Theme::Duo Chat"],
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("d.db");
    let (child, base) = dashboard(&sim, &state);
    let url = format!("{base}/");
    let client = client_from("127.0.0.1");
    let sign_in = |extra: &[(&str, &str)]| {
        let mut req = client.post(&url).form(&[("token", DASHBOARD_TOKEN)]);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.send().unwrap()
    };

    // Another site's form is refused; the dashboard's own page signs in.
    let forged = sign_in(&[("Origin", "https://evil.example.com")]);
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("set-cookie").is_none());
    assert_eq!(sign_in(&[("Origin", "null")]).status(), 403);
    assert_eq!(sign_in(&[("Sec-Fetch-Site", "cross-site")]).status(), 403);
    let own = sign_in(&[("Origin", base.as_str())]);
    assert_eq!(own.status(), 303);
    let cookie = own.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    // Behind a proxy that terminates TLS, the cookie is Secure.
    let proxied = sign_in(&[("X-Forwarded-Proto", "https"), ("Origin", base.as_str())]);
    let secure = proxied.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(secure.contains("; Secure"), "{secure}");

    // Each sign-in is a session of its own (random ids, not a value derived from the token).
    let session = cookie.split(';').next().unwrap().to_string();
    let other = secure.split(';').next().unwrap().to_string();
    assert_ne!(session, other);
    let page = client.get(&url).header("Cookie", &session).send().unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert!(page.text().unwrap().contains("SME program dashboard"));
    for (name, want) in [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(h[name], want, "{name}");
    }
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    // The sign-in page carries them too.
    let anonymous = client.get(&url).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["x-frame-options"], "DENY");

    // A restart (which a new token needs) ends every session: the server forgot them.
    let _ = stop(child);
    let (child, base) = dashboard(&sim, &state);
    let again = client
        .get(format!("{base}/"))
        .header("Cookie", &session)
        .send()
        .unwrap();
    assert_eq!(again.status(), 401);
    let _ = stop(child);
}

#[test]
fn readyz_says_not_ready_without_internal_error_text() {
    let sim = gitlab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("r.db");
    let (child, base) = dashboard(&sim, &state);
    assert_eq!(
        reqwest::blocking::get(format!("{base}/readyz"))
            .unwrap()
            .status(),
        200
    );
    // Another process holds the store's write lock: the probe write fails with SQLite's own
    // error, which belongs in the log, not in an answer to anyone who asks.
    let holder = rusqlite::Connection::open(&state).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let ready = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .get(format!("{base}/readyz"))
        .send()
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body = ready.text().unwrap();
    assert!(body.starts_with("not ready: "), "{body}");
    assert!(
        !body.contains("locked") && !body.to_lowercase().contains("database"),
        "{body}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    let _ = stop(child);
}

mod parsers {
    //! No input makes the request-template or feedback parsers panic: generated descriptions mix
    //! the template's own lines with hostile values (huge numbers, `inf`, odd zones, control
    //! characters, Unicode), and every rule that reads a description runs on them.
    use proptest::prelude::*;
    use smeflow::config::Catalog;
    use smeflow::gitlab::types::Issue;
    use smeflow::policy::request::{fields, route};
    use smeflow::policy::themes::ThemeModel;
    use smeflow::policy::{issue_view, AreaPolicy};

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 256,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20),
            ..ProptestConfig::default()
        }
    }

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("**Account name:**".to_string()),
            Just("**Engagement type:**".to_string()),
            Just("**Next customer meeting:**".to_string()),
            Just("**Expected duration:**".to_string()),
            Just("**Customer:**".to_string()),
            Just("**ARR at stake:**".to_string()),
            Just("ARR at stake:".to_string()),
            Just("### The exact questions for the SME".to_string()),
            Just("- [x]".to_string()),
            Just("- PM enhancement:".to_string()),
            Just("- FAQ:".to_string()),
            Just("- Docs:".to_string()),
            Just("<!--".to_string()),
            "[#*_ -]{0,4}[A-Za-z ]{0,12}:",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[0-9]{1,40}(\\.[0-9]{0,20})? ?(weeks|w|minutes|min|h|days|k|m|M)?",
            1 => "(inf|-inf|NaN|infinity|1e300|-1|0|1e-400|\\$[0-9,]{1,30})",
            2 => "[0-9]{1,6}[-/][0-9]{1,3}[-/][0-9]{1,3}[T ]?[0-9]{1,3}[:.][0-9]{1,3}(:[0-9]{1,3})? ?([A-Za-z]{1,5}|[+-][0-9]{1,6}|UTC ?[+-][0-9:]{1,6})?",
            1 => "[0-9]{1,2} ?(am|pm|AM|PM) ?[A-Z]{1,4}",
            1 => any::<String>(),
            1 => "\\PC{0,40}",
        ]
    }

    fn description() -> impl Strategy<Value = String> {
        prop::collection::vec((label(), value(), "[\\n\\r\\t ]{0,3}"), 0..12).prop_map(|lines| {
            lines
                .into_iter()
                .map(|(l, v, sep)| format!("{l} {v}{sep}\n"))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn the_template_and_feedback_parsers_never_panic(text in description(), raw in any::<String>()) {
            for t in [&text, &raw] {
                let types = vec!["Customer Call".to_string(), "Demo".to_string()];
                let _ = fields::parse(t, &types);
                let _ = fields::parse_meeting(t);
                let _ = fields::parse_duration(t);
                let _ = smeflow::report::arr_at_stake(t);
                let _ = route::action_items(t);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..config() })]

        #[test]
        fn every_rule_that_reads_a_description_runs_on_any_of_them(text in description()) {
            static AREA: std::sync::OnceLock<(AreaPolicy, ThemeModel)> = std::sync::OnceLock::new();
            let (policy, model) = AREA.get_or_init(|| {
                let catalog = Catalog::load(&super::common::config()).unwrap();
                let policy = AreaPolicy::new(&catalog, catalog.area("ai").unwrap());
                let model = policy.learn(&[]);
                (policy, model)
            });
            for kind in [
                vec!["Type::SME Request", "SME Request::Customer Call", "SME Workflow::Triage"],
                vec!["Type::Customer Feedback"],
                vec!["Type::SME Support Feedback"],
            ] {
                for state in ["opened", "closed"] {
                    let issue: Issue = serde_json::from_value(serde_json::json!({
                        "id": 1, "iid": 1, "title": "ACME: feedback", "description": text,
                        "state": state, "labels": kind, "web_url": "",
                        "created_at": "2026-11-02T10:00:00Z",
                    }))
                    .unwrap();
                    let _ = policy.decide(&issue_view(&issue), Default::default(), model);
                }
            }
        }
    }
}
