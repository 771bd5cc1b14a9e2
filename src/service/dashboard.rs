//! The read-only dashboard `serve` answers at `GET /`: each area's open feedback by theme and PM
//! status, SME requests waiting past 24 hours, the month's flow figures and the webhook queue's
//! health, rendered on the server with inline SVG charts (no JavaScript).
//!
//! It shows customer names, so it is off unless `SMEFLOW_DASHBOARD_TOKEN` is set, and then it
//! answers only a request that carries the token (`Authorization: Bearer <token>`) or the session
//! cookie the small login form sets. The webhook secret never opens it: a dashboard token equal to
//! one of the webhook secrets is refused at start-up.

use super::AppState;
use crate::config::{label_scope, Catalog};
use crate::gitlab::types::{parse_time, Issue};
use crate::gitlab::GitLab;
use crate::policy::issue::{FEEDBACK_TYPE, PM_STATUS_SCOPE, THEME_SCOPE};
use crate::policy::request::REQUEST_TYPE;
use crate::report::program::{self as program_report, AreaInput};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Datelike, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;

pub const TOKEN_ENV: &str = "SMEFLOW_DASHBOARD_TOKEN";
const COOKIE: &str = "smeflow_dashboard";
/// A dashboard token shorter than this is refused: it guards customer names.
const MIN_TOKEN_LEN: usize = 16;
/// GitLab is read at most this often, however often the page is loaded.
const CACHE_SECONDS: u64 = 60;

/// What was read from GitLab, when, and the areas without a project.
type Snapshot = (Instant, Arc<Vec<AreaInput>>, Vec<String>);

pub struct Dashboard {
    token: Vec<u8>,
    catalog: Arc<Catalog>,
    gitlab: GitLab,
    cache: tokio::sync::Mutex<Option<Snapshot>>,
}

impl Dashboard {
    /// The dashboard when its token is set and acceptable; `Err` says why it stays off.
    pub fn from_env(catalog: &Catalog, gitlab: GitLab) -> Result<Option<Dashboard>, String> {
        let Ok(token) = std::env::var(TOKEN_ENV) else {
            return Ok(None);
        };
        let token = token.trim().to_string();
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!("{TOKEN_ENV} must be at least {MIN_TOKEN_LEN} characters (make one with `smeflow secret new`); the dashboard is off"));
        }
        let webhook = std::env::var(&catalog.config.webhook.secret_env).unwrap_or_default();
        if webhook.split(',').any(|s| s.trim() == token) {
            return Err(format!("{TOKEN_ENV} is one of the webhook secrets ({}); the dashboard needs a token of its own and is off", catalog.config.webhook.secret_env));
        }
        Ok(Some(Dashboard {
            token: token.into_bytes(),
            catalog: Arc::new(catalog.clone()),
            gitlab,
            cache: tokio::sync::Mutex::new(None),
        }))
    }

    /// A dashboard with this token (the demo makes one up; `serve` takes it from the environment).
    pub fn new(token: &str, catalog: &Catalog, gitlab: GitLab) -> Dashboard {
        Dashboard {
            token: token.as_bytes().to_vec(),
            catalog: Arc::new(catalog.clone()),
            gitlab,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The cookie value: derived from the token, so a new token ends every session.
    fn session(&self) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.token).expect("any key length");
        mac.update(b"smeflow dashboard session v1");
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| bool::from(t.trim().as_bytes().ct_eq(&self.token)));
        let session = self.session();
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && bool::from(v.as_bytes().ct_eq(session.as_bytes())));
        bearer || cookie
    }

    async fn read(&self, now: DateTime<Utc>) -> Result<(Arc<Vec<AreaInput>>, Vec<String>), String> {
        let mut cache = self.cache.lock().await;
        if let Some((at, inputs, skipped)) = cache.as_ref() {
            if at.elapsed().as_secs() < CACHE_SECONDS {
                return Ok((inputs.clone(), skipped.clone()));
            }
        }
        let (since, _) = month(now);
        let previous_since = since - (now - since);
        let (inputs, skipped) =
            program_report::run::read(&self.gitlab, &self.catalog, previous_since)
                .await
                .map_err(|e| e.to_string())?;
        let inputs = Arc::new(inputs);
        *cache = Some((Instant::now(), inputs.clone(), skipped.clone()));
        Ok((inputs, skipped))
    }
}

/// The first instant of `now`'s month, and its name.
fn month(now: DateTime<Utc>) -> (DateTime<Utc>, String) {
    let first = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(now);
    (first, now.format("%B %Y").to_string())
}

fn dashboard(app: &AppState) -> Option<Arc<Dashboard>> {
    app.dashboard.get().cloned()
}

const OFF: &str = "The dashboard is off: set SMEFLOW_DASHBOARD_TOKEN (a token of its own, not the webhook secret) and restart smeflow serve.\n";

/// `GET /`.
pub async fn page(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(d) = dashboard(&app) else {
        return (StatusCode::NOT_FOUND, OFF).into_response();
    };
    if !d.authorised(&headers) {
        return login_page(StatusCode::UNAUTHORIZED, None);
    }
    let now = Utc::now();
    let queue = app.store.counts().unwrap_or_default();
    match d.read(now).await {
        Ok((inputs, skipped)) => {
            let html = render(&inputs, &skipped, &queue, now);
            (
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::X_FRAME_OPTIONS, "DENY"),
                ],
                Html(html),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Html(format!(
                "<!doctype html><title>smeflow</title><p>smeflow could not read GitLab: {}</p>",
                esc(&e)
            )),
        )
            .into_response(),
    }
}

/// `POST /`: the login form. A right token sets an HttpOnly session cookie.
pub async fn login(State(app): State<Arc<AppState>>, body: String) -> Response {
    let Some(d) = dashboard(&app) else {
        return (StatusCode::NOT_FOUND, OFF).into_response();
    };
    let token = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if !bool::from(token.as_bytes().ct_eq(&d.token)) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the dashboard token."),
        );
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200",
        d.session()
    );
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
    )
        .into_response()
}

fn login_page(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p class=\"problem\">{}</p>", esc(p)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>smeflow dashboard: sign in</title><style>{CSS}</style></head><body><main><h1>smeflow dashboard</h1><p>This page shows customer names. Enter the dashboard token (SMEFLOW_DASHBOARD_TOKEN) to see it.</p>{problem}<form method=\"post\" action=\"/\"><label>Dashboard token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" required></label> <button type=\"submit\" id=\"sign-in\">Sign in</button></form></main></body></html>"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}main{max-width:72rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}th{background:#f4f4f4}.num{text-align:right}.problem{color:#a00}.ok{color:#070}.warn{color:#a60}section.area{margin-bottom:2rem}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn scoped<'a>(i: &'a Issue, scope: &str) -> Vec<&'a str> {
    i.labels
        .iter()
        .filter(|l| label_scope(l) == Some(scope))
        .map(|l| l.split_once("::").map(|(_, v)| v).unwrap_or(l))
        .collect()
}

/// Horizontal bars, one per (label, count): a chart that needs no script.
pub fn bar_chart(title: &str, bars: &[(String, usize)]) -> String {
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let row = 22;
    let height = row * bars.len().max(1) + 10;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" width=\"560\" height=\"{height}\" viewBox=\"0 0 560 {height}\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    for (k, (label, n)) in bars.iter().enumerate() {
        let y = 5 + k * row;
        let width = 300 * n / max;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{}</text><rect x=\"200\" y=\"{y}\" width=\"{width}\" height=\"16\" fill=\"#6b4fbb\"/><text x=\"{}\" y=\"{}\" font-size=\"13\">{n}</text>",
            y + 13,
            esc(label),
            205 + width,
            y + 13
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub fn render(
    inputs: &[AreaInput],
    skipped: &[String],
    queue: &[(String, i64)],
    now: DateTime<Utc>,
) -> String {
    let (since, month_name) = month(now);
    let report = program_report::compute(inputs, since, now);
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>smeflow dashboard</title><style>{CSS}</style></head><body><main><h1>SME program dashboard</h1><p>As of {} UTC. Read-only; refreshed from GitLab at most once a minute.</p>",
        now.format("%Y-%m-%d %H:%M")
    );

    // The webhook queue first: when it is unhealthy, the figures below may be behind.
    let count = |state: &str| {
        queue
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let (waiting, failed, dead) = (
        count("pending") + count("in_progress"),
        count("failed"),
        count("dead"),
    );
    let health = if dead > 0 {
        format!("<span class=\"problem\">{dead} delivery(ies) gave up (dead): see `smeflow deliveries list --state dead`</span>")
    } else if failed > 0 {
        format!("<span class=\"warn\">{failed} delivery(ies) failed and will be retried</span>")
    } else {
        "<span class=\"ok\">healthy</span>".to_string()
    };
    html.push_str(&format!(
        "<h2 id=\"queue\">Webhook queue</h2><p id=\"queue-health\">Queue: {health}. Waiting: {waiting}; done: {}; failed: {failed}; dead: {dead}.</p>",
        count("done")
    ));

    html.push_str(&format!(
        "<h2 id=\"flow\">{} so far</h2><table><tr><th>Area</th><th>Feedback submitted</th><th>Feedback actioned</th><th>Shipped</th><th>SME requests</th><th>Avg. time to SME</th><th>Missed 24 h</th></tr>",
        esc(&month_name)
    ));
    for a in &report.areas {
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&a.area),
            a.feedback_submitted,
            a.feedback_actioned,
            a.shipped,
            a.requests_opened,
            a.hours_to_assignment_avg
                .map(|h| format!("{h:.1} h"))
                .unwrap_or_else(|| "–".into()),
            a.missed_promise
        ));
    }
    html.push_str("</table>");
    for name in skipped {
        html.push_str(&format!(
            "<p class=\"warn\">{} has no project in GitLab yet.</p>",
            esc(name)
        ));
    }

    for input in inputs {
        let slug: String = input
            .area
            .chars()
            .map(|c| {
                if c.is_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        html.push_str(&format!(
            "<section class=\"area\" id=\"area-{slug}\"><h2>{}</h2>",
            esc(&input.area)
        ));
        let open_feedback: Vec<&Issue> = input
            .issues
            .iter()
            .filter(|i| i.state == "opened" && i.labels.iter().any(|l| l == FEEDBACK_TYPE))
            .collect();
        let mut by_theme: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for i in &open_feedback {
            let themes = scoped(i, THEME_SCOPE);
            let status = scoped(i, PM_STATUS_SCOPE)
                .first()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into());
            let themes = if themes.is_empty() {
                vec!["(no theme)"]
            } else {
                themes
            };
            for t in themes {
                *by_theme
                    .entry(t.to_string())
                    .or_default()
                    .entry(status.clone())
                    .or_insert(0) += 1;
            }
        }
        html.push_str(&format!(
            "<h3>Open feedback by theme ({} issue{})</h3>",
            open_feedback.len(),
            if open_feedback.len() == 1 { "" } else { "s" }
        ));
        if by_theme.is_empty() {
            html.push_str("<p>No open feedback.</p>");
        } else {
            let bars: Vec<(String, usize)> = by_theme
                .iter()
                .map(|(t, s)| (t.clone(), s.values().sum()))
                .collect();
            html.push_str(&bar_chart(
                &format!("{}: open feedback by theme", input.area),
                &bars,
            ));
            let statuses: Vec<String> = by_theme
                .values()
                .flat_map(|s| s.keys().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            html.push_str("<table><tr><th>Theme</th>");
            for s in &statuses {
                html.push_str(&format!("<th>PM Status: {}</th>", esc(s)));
            }
            html.push_str("</tr>");
            for (theme, counts) in &by_theme {
                html.push_str(&format!("<tr><td>{}</td>", esc(theme)));
                for s in &statuses {
                    html.push_str(&format!(
                        "<td class=\"num\">{}</td>",
                        counts.get(s).copied().unwrap_or(0)
                    ));
                }
                html.push_str("</tr>");
            }
            html.push_str("</table>");
        }
        // The promise as the escalation and the reports decide it (`promise::promise`).
        let standing = |i: &Issue| {
            i.created_at
                .as_deref()
                .and_then(parse_time)
                .map(|c| crate::policy::request::promise::promise(c, None, now))
        };
        let unassigned: Vec<&Issue> = input
            .issues
            .iter()
            .filter(|i| {
                i.state == "opened"
                    && i.assignees.is_empty()
                    && i.labels.iter().any(|l| l == REQUEST_TYPE)
            })
            .collect();
        let (waiting, young): (Vec<&Issue>, Vec<&Issue>) = unassigned
            .into_iter()
            .filter(|i| standing(i).is_some())
            .partition(|i| standing(i) == Some(crate::policy::request::promise::Promise::Missed));
        html.push_str(&format!(
            "<h3>SME requests waiting past 24 hours ({})</h3>",
            waiting.len()
        ));
        let younger = match young.len() {
            0 => String::new(),
            1 => " 1 request younger than 24 hours is still waiting for an SME.".to_string(),
            n => format!(" {n} requests younger than 24 hours are still waiting for an SME."),
        };
        if waiting.is_empty() && young.is_empty() {
            html.push_str("<p class=\"ok\">None: every open request has an SME.</p>");
        } else if waiting.is_empty() {
            html.push_str(&format!(
                "<p class=\"waiting-young\">None past 24 hours.{younger}</p>"
            ));
        } else {
            html.push_str("<ul class=\"waiting\">");
            for i in waiting {
                let hours = i
                    .created_at
                    .as_deref()
                    .and_then(parse_time)
                    .map(|c| (now - c).num_hours())
                    .unwrap_or(0);
                html.push_str(&format!(
                    "<li><a href=\"{}\">#{} {}</a>: waiting {hours} hours, no assignee</li>",
                    esc(&i.web_url),
                    i.iid,
                    esc(&i.title)
                ));
            }
            html.push_str("</ul>");
            if !young.is_empty() {
                html.push_str(&format!(
                    "<p class=\"waiting-young\">{}</p>",
                    younger.trim()
                ));
            }
        }
        html.push_str("</section>");
    }
    html.push_str("</main></body></html>");
    html
}
