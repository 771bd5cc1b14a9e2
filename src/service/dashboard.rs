//! The read-only dashboard `serve` answers at `GET /` and `GET /dashboard/area/<slug>`: every
//! area's open feedback by theme with each count linked to its GitLab issue list, themes ranked
//! by customers and ARR, a six-month trend per area, open SME requests against the 24-hour
//! promise, SME load, the program metrics and the webhook queue's health, filtered by area and
//! region, rendered on the server with inline SVG charts (no JavaScript). This file is the
//! door (token, sessions, routes); `read` reads GitLab, `figures` counts (pure), `html` formats.
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

pub mod figures;
pub mod html;
pub mod read;

use super::AppState;
use crate::config::Catalog;
use crate::gitlab::GitLab;
use crate::store::crm::Imported;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use figures::{AreaData, Filter};
use std::collections::HashMap;
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

/// What was read from GitLab, and when.
type Snapshot = (Instant, Arc<Vec<AreaData>>);

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

    async fn read(&self, now: DateTime<Utc>) -> Result<Arc<Vec<AreaData>>, String> {
        let mut cache = self.cache.lock().await;
        if let Some((at, areas)) = cache.as_ref() {
            if at.elapsed().as_secs() < CACHE_SECONDS {
                return Ok(areas.clone());
            }
        }
        // Assignment history back to the trend's first month, or to the quarter the last
        // complete quarter's time to assignment is compared with, whichever is earlier.
        let since = figures::month_start(now, figures::TREND_MONTHS as u32 - 1).min(
            crate::report::program::quarter::Quarter::last_complete(now)
                .minus(2)
                .start(),
        );
        let areas = read::read(&self.gitlab, &self.catalog, since)
            .await
            .map_err(|e| e.to_string())?;
        let areas = Arc::new(areas);
        *cache = Some((Instant::now(), areas.clone()));
        Ok(areas)
    }
}

fn dashboard(app: &AppState) -> Option<Arc<Dashboard>> {
    app.dashboard.get().cloned()
}

const OFF: &str = "The dashboard is off: set SMEFLOW_DASHBOARD_TOKEN (a token of its own, not the webhook secret) and restart smeflow serve.\n";

/// The filter as the form sends it: an empty choice is no filter.
#[derive(serde::Deserialize, Default)]
pub struct FilterQuery {
    area: Option<String>,
    region: Option<String>,
}

impl FilterQuery {
    fn filter(self) -> Filter {
        let given = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Filter {
            area: given(self.area),
            region: given(self.region),
        }
    }
}

/// Reads (or takes from the cache) and renders with `page`; the sign-in form when not signed in.
async fn answer(
    app: &AppState,
    headers: &HeaderMap,
    page: impl FnOnce(&[AreaData], &Imported, DateTime<Utc>) -> Option<String>,
) -> Response {
    let Some(d) = dashboard(app) else {
        return (StatusCode::NOT_FOUND, OFF).into_response();
    };
    if !d.authorised(headers) {
        return login_page(StatusCode::UNAUTHORIZED, None);
    }
    let now = Utc::now();
    // Read only for a signed-in person: the sign-in page costs the store nothing.
    let imported = imported(app).await;
    match d.read(now).await {
        Ok(areas) => match page(&areas, &imported, now) {
            Some(html) => Html(html).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Html("<!doctype html><title>smeflow</title><p>No such area in smeflow.toml. <a href=\"/\">All areas</a></p>"),
            )
                .into_response(),
        },
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

/// `GET /`: the overview, filtered by `?area=<slug>&region=<Region:: value>`.
pub async fn page(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<FilterQuery>,
) -> Response {
    let filter = query.filter();
    let queue = app.store.counts().await.unwrap_or_default();
    answer(&app, &headers, |areas, imported, now| {
        Some(render(areas, &filter, imported, &queue, now))
    })
    .await
}

/// `GET /dashboard/area/<slug>`: one area, filtered by `?region=`.
pub async fn area_page(
    State(app): State<Arc<AppState>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(query): Query<FilterQuery>,
) -> Response {
    let mut filter = query.filter();
    filter.area = Some(slug.clone());
    answer(&app, &headers, |areas, imported, now| {
        areas.iter().any(|a| a.slug == slug).then(|| {
            let board = figures::compute(areas, &filter, imported, now);
            html::area_page(&board, &filter, now)
        })
    })
    .await
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

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}main{max-width:72rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}th{background:#f4f4f4}.num{text-align:right}.problem{color:#a00}.ok{color:#070}.warn{color:#a60}section.area{margin-bottom:2rem}tr.missed td{background:#fde8e8}tr.due-soon td{background:#fff1d6}form.filter{margin:1rem 0}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

/// The webhook queue's health: when it is unhealthy, the figures below may be behind.
fn queue_health(queue: &[(String, i64)]) -> String {
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
    format!(
        "<h2 id=\"queue\">Webhook queue</h2><p id=\"queue-health\">Queue: {health}. Waiting: {waiting}; done: {}; failed: {failed}; dead: {dead}.</p>",
        count("done")
    )
}

/// What `smeflow import` stored for the metrics; nothing (each metric then names its import)
/// when the store cannot say, which is logged.
async fn imported(app: &AppState) -> Imported {
    app.store.imported().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "dashboard: the imported CRM, NPS and Stack Overflow data could not be read; the metrics that need them show no data");
        Imported::default()
    })
}

/// The overview page for what was read, as a person filtered it.
pub fn render(
    areas: &[AreaData],
    filter: &Filter,
    imported: &Imported,
    queue: &[(String, i64)],
    now: DateTime<Utc>,
) -> String {
    let board = figures::compute(areas, filter, imported, now);
    html::overview(&board, filter, &queue_health(queue), now)
}
