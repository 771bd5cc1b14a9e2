//! The dashboard `serve` answers at `GET /`, against the simulator: off without a token, closed
//! to the webhook secret, open to the Bearer token and to the login form's session cookie; and in
//! a real browser (headless Chromium through chromedriver's WebDriver API) a person signs in and
//! sees the areas, a chart and a request waiting past 24 hours. The screenshot is kept at
//! `target/dashboard.png`.

use crate::common;

use common::*;
use serde_json::{json, Value};
use smeflow::sim::{SeedIssue, Simulator};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DASHBOARD_TOKEN: &str = "dashboard-token-for-tests-0123456789";

struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(sim: &Simulator, state: &Path, dashboard_token: Option<&str>) -> Serve {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(common::workdir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args([
            "serve",
            "--no-sync",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state",
        ])
        .arg(state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(t) = dashboard_token {
        cmd.env("SMEFLOW_DASHBOARD_TOKEN", t);
    }
    let s = Serve {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{}/healthz", s.base)).is_err() {
        assert!(Instant::now() < deadline, "serve did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// An AI area with open feedback on two themes and a request nobody took for two days.
fn program() -> (Simulator, u64) {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    for (customer, theme, status, region) in [
        ("ACME", "Theme::Duo Chat", "PM Status::New", "Region::APAC"),
        (
            "Globex",
            "Theme::Duo Chat",
            "PM Status::Reviewing",
            "Region::EMEA NEUR",
        ),
        (
            "Initech",
            "Theme::Code Suggestions",
            "PM Status::New",
            "Region::US East",
        ),
    ] {
        sim.seed_issue(
            AI_PROJECT,
            SeedIssue {
                author: "sme-bot",
                title: &format!("{customer}: feedback"),
                description: &format!("**Customer:** {customer}\n"),
                labels: &[
                    "Type::Customer Feedback",
                    "SME Workflow::Triage",
                    status,
                    theme,
                    region,
                ],
                state: "opened",
                age_days: 1,
            },
        );
    }
    let waiting = sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "Umbrella: Duo workshop for 300 developers",
            description: "**Account name:** Umbrella\n",
            labels: &["Type::SME Request", "SME Workflow::Triage"],
            state: "opened",
            age_days: 2,
        },
    );
    (sim, waiting)
}

fn get(url: &str, auth: Option<(&str, &str)>) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.get(url);
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

#[test]
fn the_dashboard_opens_only_to_its_own_token() {
    let (sim, _) = program();
    let dir = tempfile::tempdir().unwrap();

    let off = serve(&sim, &dir.path().join("a.db"), None);
    let (status, body) = get(&format!("{}/", off.base), None);
    assert_eq!(status, 404);
    assert!(
        body.contains("The dashboard is off: set SMEFLOW_DASHBOARD_TOKEN"),
        "{body}"
    );
    drop(off);

    // A dashboard token that is the webhook secret is refused: the dashboard stays off.
    let same = serve(&sim, &dir.path().join("b.db"), Some(SECRET));
    let bearer_secret = format!("Bearer {SECRET}");
    let (status, _) = get(
        &format!("{}/", same.base),
        Some(("Authorization", &bearer_secret)),
    );
    assert_eq!(status, 404);
    drop(same);

    let on = serve(&sim, &dir.path().join("c.db"), Some(DASHBOARD_TOKEN));
    let url = format!("{}/", on.base);
    let (status, body) = get(&url, None);
    assert_eq!(status, 401);
    assert!(
        body.contains("<form method=\"post\"") && !body.contains("Umbrella"),
        "{body}"
    );
    for (k, v) in [
        ("Authorization", bearer_secret.as_str()),
        ("X-Gitlab-Token", SECRET),
        ("Authorization", "Bearer wrong-token-wrong-token"),
        ("Authorization", DASHBOARD_TOKEN),
    ] {
        let (status, body) = get(&url, Some((k, v)));
        assert_eq!(status, 401, "{k}: {v}");
        assert!(!body.contains("Umbrella"));
    }
    let bearer = format!("Bearer {DASHBOARD_TOKEN}");
    let (status, body) = get(&url, Some(("Authorization", &bearer)));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Umbrella: Duo workshop for 300 developers") && body.contains("<svg"),
        "{body}"
    );
    assert!(!body.contains("<script"), "no JavaScript");

    // The login form: a wrong token is told so; the right one sets an HttpOnly session cookie.
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let wrong = client.post(&url).form(&[("token", SECRET)]).send().unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong
        .text()
        .unwrap()
        .contains("That is not the dashboard token."));
    let right = client
        .post(&url)
        .form(&[("token", DASHBOARD_TOKEN)])
        .send()
        .unwrap();
    assert_eq!(right.status().as_u16(), 303);
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap();
    let (status, body) = get(&url, Some(("Cookie", session)));
    assert_eq!(status, 200);
    assert!(body.contains("Umbrella"));
    assert!(
        !session.contains(DASHBOARD_TOKEN),
        "the cookie is not the token itself"
    );
}

/// A minimal WebDriver client: the handful of calls a person's visit needs.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let v: Value = req.send().unwrap().json().unwrap();
        v["value"].clone()
    }

    fn find(&self, css: &str) -> String {
        self.try_find(css)
            .unwrap_or_else(|v| panic!("no element {css}: {v}"))
    }

    /// The element, or what the driver said instead (e.g. while a page is loading).
    fn try_find(&self, css: &str) -> Result<String, Value> {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        match v["element-6066-11e4-a52e-4f735466cecf"].as_str() {
            Some(id) => Ok(id.to_string()),
            None => Err(v),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn browser() -> Browser {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    // build.rs marks this test ignored where they are missing (never under CI=true).
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        panic!("headless Chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver; .ci/run does this)");
    };
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/status")).send().is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::tempdir().unwrap().keep();
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chromium, "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,1600",
            format!("--user-data-dir={}", profile.display()),
        ]}
    }}});
    let v: Value = http
        .post(format!("{base}/session"))
        .json(&caps)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let session = v["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("chromedriver refused a session: {v}"))
        .to_string();
    Browser {
        driver: child,
        base,
        session,
        http,
    }
}

impl Browser {
    /// The text a person sees once `heading` is on the page (a loaded machine can take a
    /// while to navigate, so this waits for the page rather than for a fixed time).
    fn text_once(&self, heading: &str) -> String {
        let mut seen = String::new();
        for _ in 0..100 {
            if let Ok(body) = self.try_find("body") {
                let text = self.call("GET", &format!("/element/{body}/text"), Value::Null);
                seen = text.as_str().unwrap_or_default().to_string();
            }
            if seen.contains(heading) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        seen
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/click"), json!({}));
    }

    fn attribute(&self, css: &str, name: &str) -> String {
        let element = self.find(css);
        let v = self.call(
            "GET",
            &format!("/element/{element}/attribute/{name}"),
            Value::Null,
        );
        v.as_str().unwrap_or_default().to_string()
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine;
        let shot = self.call("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap())
            .unwrap();
        let path = repo().join("target").join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("dashboard screenshot: {}", path.display());
    }
}

/// A person opens the dashboard, types the token into the sign-in form and sends it; returns
/// what the page then shows.
fn sign_in(browser: &Browser, base: &str) -> String {
    browser.call("POST", "/url", json!({"url": format!("{base}/")}));
    let field = browser.find("#token");
    browser.call(
        "POST",
        &format!("/element/{field}/value"),
        json!({"text": DASHBOARD_TOKEN}),
    );
    browser.click("#sign-in");
    browser.text_once("SME program dashboard")
}

#[cfg_attr(
    smeflow_tests_without_browser,
    ignore = "needs headless Chromium: apt-get install -y chromium chromium-driver"
)]
#[test]
fn a_person_signs_in_and_sees_the_areas_a_chart_and_a_waiting_request() {
    let browser = browser();
    let (sim, waiting) = program();
    let dir = tempfile::tempdir().unwrap();
    let svc = serve(&sim, &dir.path().join("s.db"), Some(DASHBOARD_TOKEN));

    let seen = sign_in(&browser, &svc.base);
    for visible in [
        "SME program dashboard".to_string(),
        "AI".into(),
        "Open feedback by theme (3 issues)".into(),
        "Duo Chat".into(),
        format!("#{waiting} Umbrella: Duo workshop for 300 developers"),
        "48 h".into(),
        "missed, no SME yet".into(),
        "Queue: healthy".into(),
        // The program's eight metrics: nothing was imported, so each names its import.
        "Program metrics".into(),
        "1. Technical win rate".into(),
        "no data — import: `smeflow import nps FILE.csv`".into(),
        "8. Stack Overflow: response rate".into(),
    ] {
        assert!(
            seen.contains(visible.as_str()),
            "a person does not see \"{visible}\":\n{seen}"
        );
    }
    let chart = browser.find("#area-ai svg");
    let rect = browser.call("GET", &format!("/element/{chart}/rect"), Value::Null);
    assert!(
        rect["width"].as_f64().unwrap_or(0.0) > 100.0
            && rect["height"].as_f64().unwrap_or(0.0) > 20.0,
        "the chart is not drawn: {rect}"
    );
    browser.screenshot("dashboard.png");
}

/// The AI area's project page, as GitLab (the simulator) names it.
fn ai_web_url(sim: &Simulator) -> String {
    format!("{}/{AI_PROJECT}", sim.url())
}

/// GitLab's issue list for open feedback with `labels`, as a person would filter it by hand.
fn expected_list(sim: &Simulator, labels: &[&str]) -> String {
    let encoded: Vec<String> = labels
        .iter()
        .map(|l| {
            format!(
                "label_name[]={}",
                l.replace("::", "%3A%3A").replace(' ', "%20")
            )
        })
        .collect();
    format!(
        "{}/-/issues?{}&state=opened",
        ai_web_url(sim),
        encoded.join("&")
    )
}

#[cfg_attr(
    smeflow_tests_without_browser,
    ignore = "needs headless Chromium: apt-get install -y chromium chromium-driver"
)]
#[test]
fn a_person_opens_an_area_and_follows_a_theme_to_its_epic_and_its_issues() {
    let browser = browser();
    let (sim, _) = program();
    // The sync makes Duo Chat's epic: ACME and Globex are two customers.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let out = smeflow(&sim)
        .args(["sync-board", "ai", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let epic = sim
        .epics(GROUP)
        .into_iter()
        .find(|e| e["title"] == "AI: Duo Chat")
        .expect("the sync made Duo Chat's epic");
    let svc = serve(&sim, &state, Some(DASHBOARD_TOKEN));

    let seen = sign_in(&browser, &svc.base);
    assert!(
        seen.contains("Themes by customers and ARR at stake"),
        "{seen}"
    );
    browser.click("#area-list a[href='/dashboard/area/ai']");
    let seen = browser.text_once("Six-month trend");
    let here = browser.call("GET", "/url", Value::Null);
    assert_eq!(here, format!("{}/dashboard/area/ai", svc.base));
    assert!(
        seen.contains("Open feedback by theme (3 issues)") && seen.contains("All areas"),
        "{seen}"
    );

    // Duo Chat ranks first (two customers); its name leads to its epic, its count to the issues.
    let theme = "#area-ai table.themes tr:nth-child(2)";
    assert_eq!(
        browser.attribute(&format!("{theme} a.theme"), "href"),
        epic["web_url"].as_str().unwrap()
    );
    let count = format!("{theme} td:nth-child(2) a");
    let list = browser.attribute(&count, "href");
    let want = expected_list(&sim, &["Type::Customer Feedback", "Theme::Duo Chat"]);
    assert_eq!(list, want);
    // The count is the number of issues that list shows.
    let behind = sim
        .issues(AI_PROJECT)
        .into_iter()
        .filter(|i| i["state"] == "opened")
        .filter(|i| {
            let labels = i["labels"].as_array().cloned().unwrap_or_default();
            ["Type::Customer Feedback", "Theme::Duo Chat"]
                .iter()
                .all(|l| labels.iter().any(|x| x == l))
        })
        .count();
    let shown = browser.call(
        "GET",
        &format!("/element/{}/text", browser.find(&count)),
        Value::Null,
    );
    assert_eq!(shown.as_str(), Some(behind.to_string().as_str()));
    assert_eq!(behind, 2);
    browser.screenshot("dashboard-area.png");

    browser.click(&count);
    let mut went = Value::Null;
    for _ in 0..100 {
        went = browser.call("GET", "/url", Value::Null);
        if went.as_str().is_some_and(|u| u.contains("/-/issues")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let went = went
        .as_str()
        .unwrap_or_default()
        .replace("%5B", "[")
        .replace("%5D", "]");
    assert_eq!(went, want, "the browser went to GitLab's issue list");
}

#[test]
fn an_area_page_is_behind_the_token_and_is_filtered_by_region() {
    let (sim, _) = program();
    smeflow(&sim)
        .args(["bootstrap-area", "cicd"])
        .assert()
        .success();
    let dir = tempfile::tempdir().unwrap();
    let svc = serve(&sim, &dir.path().join("s.db"), Some(DASHBOARD_TOKEN));
    let bearer = format!("Bearer {DASHBOARD_TOKEN}");
    let auth = Some(("Authorization", bearer.as_str()));

    let (status, body) = get(&format!("{}/dashboard/area/ai", svc.base), None);
    assert_eq!(status, 401);
    assert!(
        body.contains("<form method=\"post\"") && !body.contains("ACME"),
        "{body}"
    );
    let (status, _) = get(&format!("{}/dashboard/area/nope", svc.base), auth);
    assert_eq!(status, 404);

    let (status, body) = get(&format!("{}/dashboard/area/ai", svc.base), auth);
    assert_eq!(status, 200);
    assert!(body.contains("Open feedback by theme (3 issues)"), "{body}");
    assert!(!body.contains("<script"), "no JavaScript");

    // Globex is the only customer in EMEA NEUR: one issue, and the list says so too.
    let (_, body) = get(
        &format!("{}/dashboard/area/ai?region=EMEA%20NEUR", svc.base),
        auth,
    );
    assert!(body.contains("Open feedback by theme (1 issue)"), "{body}");
    assert!(
        body.contains(
            &expected_list(
                &sim,
                &[
                    "Type::Customer Feedback",
                    "Region::EMEA NEUR",
                    "Theme::Duo Chat"
                ]
            )
            .replace('&', "&amp;")
        ),
        "{body}"
    );

    // The overview shows the area of interest with its open issues, and filters by area.
    let (_, body) = get(&format!("{}/?area=cicd", svc.base), auth);
    assert!(body.contains("An area of interest"), "{body}");
    assert!(!body.contains("id=\"area-ai\""), "{body}");
}
