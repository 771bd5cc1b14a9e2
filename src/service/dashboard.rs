//! The read-only dashboard `serve` answers at `GET /`: each area's open feedback by theme and PM
//! status, SME requests waiting past 24 hours, the month's flow figures and the webhook queue's
//! health, rendered on the server with inline SVG charts (no JavaScript).
//!
//! It shows customer names, so it is off unless `SMEFLOW_DASHBOARD_TOKEN` is set, and then it
//! answers only a request that carries the token (`Authorization: Bearer <token>`) or the session
//! cookie the small login form sets. The webhook secret never opens it: a dashboard token equal to
//! one of the webhook secrets is refused at start-up.
//!
//! Sessions live on the server: signing in makes a random session id, kept in memory with its
//! expiry (12 hours), so a session ends on time whatever the browser keeps, and every session
//! ends when `serve` restarts (which a new token needs). Wrong tokens are throttled per client
//! and overall, and logged; a login POST from another origin is refused; every answer carries
//! headers that keep the page out of frames, caches and other sites' reach.

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
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use subtle::ConstantTimeEq;

pub const TOKEN_ENV: &str = "SMEFLOW_DASHBOARD_TOKEN";
const COOKIE: &str = "smeflow_dashboard";
/// A dashboard token shorter than this is refused: it guards customer names.
const MIN_TOKEN_LEN: usize = 16;
/// GitLab is read at most this often, however often the page is loaded.
const CACHE_SECONDS: u64 = 60;
/// A session lasts a working day; the cookie's Max-Age says the same to the browser.
const SESSION_SECONDS: u64 = 12 * 3600;
/// Sessions kept at once: signing in is throttled, so only a flood of right tokens reaches
/// this; the oldest session then ends first.
const MAX_SESSIONS: usize = 1000;
/// Wrong tokens allowed per client, and from all clients together, within `THROTTLE_WINDOW`;
/// past either, every login (even a right one) is answered 429 until the window ends. Five
/// covers a person's typos; fifty a few people at once. A guesser gets 50 tries per 15 minutes
/// against a token of at least 16 characters.
const FAILURES_PER_CLIENT: u32 = 5;
const FAILURES_OVERALL: u32 = 50;
const THROTTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Clients whose failures are remembered one by one; past this, new ones share one count.
const MAX_CLIENTS: usize = 10_000;
/// What the page may load: no script at all, its own inline style, forms posted to itself,
/// and no framing (with X-Frame-Options for older browsers).
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What was read from GitLab, when, and the areas without a project.
type Snapshot = (Instant, Arc<Vec<AreaInput>>, Vec<String>);

pub struct Dashboard {
    token: Vec<u8>,
    catalog: Arc<Catalog>,
    gitlab: GitLab,
    cache: tokio::sync::Mutex<Option<Snapshot>>,
    /// Session id → when it expires.
    sessions: Mutex<HashMap<String, Instant>>,
    throttle: Throttle,
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
        Ok(Some(Dashboard::new(&token, catalog, gitlab)))
    }

    /// A dashboard with this token (the demo makes one up; `serve` takes it from the environment).
    pub fn new(token: &str, catalog: &Catalog, gitlab: GitLab) -> Dashboard {
        Dashboard {
            token: token.as_bytes().to_vec(),
            catalog: Arc::new(catalog.clone()),
            gitlab,
            cache: tokio::sync::Mutex::new(None),
            sessions: Mutex::new(HashMap::new()),
            throttle: Throttle::default(),
        }
    }

    /// A new session: a random id the server remembers until it expires.
    fn new_session(&self) -> String {
        let id: String = rand::random::<[u8; 32]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, expires| *expires > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(id, _)| id.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            now + std::time::Duration::from_secs(SESSION_SECONDS),
        );
        id
    }

    fn session_valid(&self, id: &str) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(id) {
            Some(expires) if *expires > Instant::now() => true,
            Some(_) => {
                sessions.remove(id);
                false
            }
            None => false,
        }
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| bool::from(t.trim().as_bytes().ct_eq(&self.token)));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && self.session_valid(v));
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

/// `POST /`: the login form. A right token starts a session (an HttpOnly, SameSite cookie,
/// `Secure` behind HTTPS); wrong ones are throttled and logged; another site's form is refused.
pub async fn login(
    State(app): State<Arc<AppState>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let Some(d) = dashboard(&app) else {
        return (StatusCode::NOT_FOUND, OFF).into_response();
    };
    let client = client_of(peer.map(|p| p.0 .0), &headers);
    if !same_origin(&headers) {
        tracing::warn!(
            client,
            origin = headers
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-"),
            "dashboard: refused a sign-in posted from another site"
        );
        return (
            StatusCode::FORBIDDEN,
            "smeflow refuses a sign-in posted from another site: open the dashboard's own page and sign in there.\n",
        )
            .into_response();
    }
    if let Err(wait) = d.throttle.check(&client) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let mut resp = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many wrong tokens: signing in is paused for {minutes} minute(s)."
            )),
        );
        if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let token = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if !bool::from(token.as_bytes().ct_eq(&d.token)) {
        let (mine, all) = d.throttle.failed(&client);
        tracing::warn!(
            client,
            failures = mine,
            failures_all_clients = all,
            "dashboard: wrong token at sign-in"
        );
        if mine == FAILURES_PER_CLIENT || all == FAILURES_OVERALL {
            tracing::warn!(
                client,
                "dashboard: sign-in paused after too many wrong tokens"
            );
        }
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the dashboard token."),
        );
    }
    d.throttle.succeeded(&client);
    tracing::info!(client, "dashboard: signed in");
    let secure = if behind_https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}{secure}",
        d.new_session()
    );
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
    )
        .into_response()
}

/// Headers on every dashboard answer: it shows customer names, so no cache keeps it, no other
/// site frames or sniffs it, no link leaks its address, and it runs no script.
pub async fn protect(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not "no-referrer": with it, browsers send `Origin: null` on the sign-in form's POST,
        // which the origin check must refuse (Fetch, "serializing a request origin").
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, axum::http::HeaderValue::from_static(value));
    }
    resp
}

/// Who is signing in, for the throttle and the log: the connection's address, and the address
/// a proxy in front says it saw (the last `X-Forwarded-For` entry, which that proxy appended).
/// A client can make up the header to look like many clients, but not past the overall limit.
fn client_of(peer: Option<std::net::SocketAddr>, headers: &HeaderMap) -> String {
    let ip = peer
        .map(|p| p.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty());
    match forwarded {
        Some(f) => format!("{ip} (for {})", f.chars().take(64).collect::<String>()),
        None => ip,
    }
}

/// Whether the browser reached smeflow over HTTPS: smeflow serves plain HTTP, so only through a
/// proxy that terminates TLS and says so.
fn behind_https(headers: &HeaderMap) -> bool {
    let first = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    };
    first("x-forwarded-proto").as_deref() == Some("https")
        || first("forwarded").is_some_and(|f| {
            f.split(';')
                .any(|kv| kv.trim().eq_ignore_ascii_case("proto=https"))
        })
}

/// A sign-in comes from the dashboard's own page: browsers send `Origin` with every POST, and
/// it must name the host the request was sent to (the proxy's, when one forwards it). Without
/// `Origin` (curl, scripts) `Sec-Fetch-Site` decides when present.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let host = headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok())
        .or_else(|| get(header::HOST));
    match get(header::ORIGIN) {
        Some(origin) => {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h.trim()))
        }
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v == "same-origin" || v == "none"),
    }
}

/// Counts wrong tokens per client and overall, in fixed windows.
#[derive(Default)]
struct Throttle {
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    clients: HashMap<String, Window>,
    overall: Option<Window>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Window {
    fn current(w: Option<Window>, now: Instant) -> Option<Window> {
        w.filter(|w| now.duration_since(w.started) < THROTTLE_WINDOW)
    }

    fn left(&self, now: Instant) -> std::time::Duration {
        THROTTLE_WINDOW.saturating_sub(now.duration_since(self.started))
    }
}

/// The key of clients past `MAX_CLIENTS`.
const OTHER_CLIENTS: &str = "(other clients)";

impl Throttle {
    /// `Err(how long to wait)` while this client, or everyone, has had too many wrong tokens.
    fn check(&self, client: &str) -> Result<(), std::time::Duration> {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.overall = Window::current(s.overall, now);
        if let Some(w) = s.overall.filter(|w| w.failures >= FAILURES_OVERALL) {
            return Err(w.left(now));
        }
        let key = s.key(client);
        match Window::current(s.clients.get(&key).copied(), now) {
            Some(w) if w.failures >= FAILURES_PER_CLIENT => Err(w.left(now)),
            Some(_) => Ok(()),
            None => {
                s.clients.remove(&key);
                Ok(())
            }
        }
    }

    /// Counts a wrong token; returns this client's and everyone's failures in their windows.
    fn failed(&self, client: &str) -> (u32, u32) {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.clients.len() >= MAX_CLIENTS {
            s.clients
                .retain(|_, w| now.duration_since(w.started) < THROTTLE_WINDOW);
        }
        let key = s.key(client);
        let fresh = Window {
            started: now,
            failures: 0,
        };
        let mut mine = Window::current(s.clients.get(&key).copied(), now).unwrap_or(fresh);
        mine.failures += 1;
        s.clients.insert(key, mine);
        let mut all = Window::current(s.overall, now).unwrap_or(fresh);
        all.failures += 1;
        s.overall = Some(all);
        (mine.failures, all.failures)
    }

    fn succeeded(&self, client: &str) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.clients.remove(client);
    }
}

impl ThrottleState {
    fn key(&self, client: &str) -> String {
        if self.clients.contains_key(client) || self.clients.len() < MAX_CLIENTS {
            client.to_string()
        } else {
            OTHER_CLIENTS.to_string()
        }
    }
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
