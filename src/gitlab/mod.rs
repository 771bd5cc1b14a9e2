//! A small typed client for GitLab's REST API v4: token auth, pagination, and retries that
//! respect GitLab's rate limits. Errors are phrased as what the user should fix.

pub mod api;
pub mod label;
pub mod types;
pub mod web;
pub mod webhook;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// GitLab's largest page; fewer round trips for every list smeflow reads.
pub const PER_PAGE: u32 = 100;

/// How hard to try before giving up on GitLab.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited out: the run stops with a clear error.
    pub max_retry_after: Duration,
    pub request_timeout: Duration,
    /// How long after sending a write GitLab may still complete it. Puma never stops a request
    /// whose client went away; GitLab's rack-timeout ends it at 60 s (the `worker_timeout`
    /// default; gitlab-foss MR 28405), so past this a write that timed out has landed or never
    /// will, and looking for it says which. Looking sooner may find nothing yet and write twice.
    pub write_settle: Duration,
    /// How long a 429 without `Retry-After` waits: GitLab's application rate limits (the search
    /// limit among them) count per minute and say nothing of when the window ends.
    pub rate_limit_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            write_settle: Duration::from_secs(60),
            rate_limit_window: Duration::from_secs(60),
        }
    }
}

/// The token, kept out of `Debug` output and logs.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GitLabError {
    #[error("GitLab at {base} rejected the token (401 Unauthorized). Check that GITLAB_TOKEN is a valid, unexpired personal, group or project access token with the `api` scope.")]
    Unauthorized { base: String },
    #[error("GitLab refused {method} {path} (403 Forbidden: {message}). The token's user needs at least the Maintainer role on the SME group to create projects, boards, webhooks and to commit templates.")]
    Forbidden {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: not found ({message})")]
    NotFound {
        method: String,
        path: String,
        message: String,
    },
    #[error("GitLab rejected {method} {path} ({status}): {message}")]
    Rejected {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("GitLab kept rate-limiting {method} {path} (429) after {attempts} attempts; wait a few minutes and run again")]
    RateLimited {
        method: String,
        path: String,
        attempts: u32,
    },
    #[error("GitLab asked to wait {seconds}s before retrying {method} {path}; stopping instead. Run again later.")]
    RetryAfterTooLong {
        method: String,
        path: String,
        seconds: u64,
    },
    #[error("GitLab answered {method} {path} with {status} {attempts} times in a row; it may be down or overloaded. Run again later; nothing already done is repeated.")]
    Server {
        method: String,
        path: String,
        status: u16,
        attempts: u32,
    },
    #[error("cannot reach GitLab for {method} {path} after {attempts} attempts: {reason}. Check GITLAB_URL and the network.")]
    Transport {
        method: String,
        path: String,
        attempts: u32,
        reason: String,
    },
    #[error("unexpected answer to {method} {path}: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
}

impl GitLabError {
    /// A write whose outcome is unknown: GitLab may or may not have applied it.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            GitLabError::Server { .. } | GitLabError::Transport { .. }
        )
    }

    /// An ambiguous failure after which GitLab may still be working on the write: a timeout or
    /// a lost connection, or a gateway's 502/503/504 (Workhorse or a load balancer gave up, not
    /// the application). A 500 is the application's own answer: the request is over.
    pub fn may_still_land(&self) -> bool {
        match self {
            GitLabError::Transport { .. } => true,
            GitLabError::Server { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GitLabError::Unauthorized { .. } => Some(401),
            GitLabError::Forbidden { .. } => Some(403),
            GitLabError::NotFound { .. } => Some(404),
            GitLabError::Rejected { status, .. } | GitLabError::Server { status, .. } => {
                Some(*status)
            }
            GitLabError::RateLimited { .. } | GitLabError::RetryAfterTooLong { .. } => Some(429),
            _ => None,
        }
    }

    /// GitLab's error text, whichever of its shapes it came in.
    pub fn message(&self) -> &str {
        match self {
            GitLabError::Forbidden { message, .. }
            | GitLabError::NotFound { message, .. }
            | GitLabError::Rejected { message, .. } => message,
            _ => "",
        }
    }
}

pub type Result<T> = std::result::Result<T, GitLabError>;

#[derive(Clone)]
pub struct GitLab {
    base: String,
    api: String,
    token: Token,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// What GitLab last said of the request quota; shared by clones, which use one token.
    quota: std::sync::Arc<std::sync::Mutex<Option<Quota>>>,
    /// Recent note and issue creations, paced to GitLab's per-action limits; shared by clones.
    actions: std::sync::Arc<std::sync::Mutex<ActionPacer>>,
}

/// GitLab's per-user limits on single actions (`Gitlab::ApplicationRateLimiter`,
/// lib/gitlab/application_rate_limiter.rb, checked by lib/api/helpers/rate_limiter.rb):
/// `notes_create` and `issues_create`, 60 and 200 a minute on GitLab.com
/// (doc/user/gitlab_com). Past them GitLab answers 429 with a JSON body and no `Retry-After`,
/// and they show in no `RateLimit-*` header, so smeflow counts its own.
#[derive(Debug, Clone, Copy)]
pub struct ActionLimits {
    pub notes: u32,
    pub issue_creations: u32,
    /// The limits' window: a minute (shorter only in tests).
    pub window: Duration,
}

impl Default for ActionLimits {
    fn default() -> Self {
        ActionLimits {
            notes: 60,
            issue_creations: 200,
            window: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct ActionPacer {
    limits: ActionLimits,
    notes: std::collections::VecDeque<std::time::Instant>,
    issue_creations: std::collections::VecDeque<std::time::Instant>,
}

#[derive(Clone, Copy)]
enum Action {
    Note,
    IssueCreation,
}

impl Action {
    /// The limited action a request is, if any: `POST .../notes`, `POST /projects/:id/issues`.
    fn of(method: &Method, path: &str) -> Option<Action> {
        if method != Method::POST {
            return None;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            [.., "notes"] => Some(Action::Note),
            ["projects", _, "issues"] => Some(Action::IssueCreation),
            _ => None,
        }
    }
}

impl ActionPacer {
    /// Counts one action now, or says how long until the window has room for it.
    fn admit(&mut self, action: Action) -> Option<Duration> {
        let window = self.limits.window;
        let (sent, limit) = match action {
            Action::Note => (&mut self.notes, self.limits.notes),
            Action::IssueCreation => (&mut self.issue_creations, self.limits.issue_creations),
        };
        let now = std::time::Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window + window / 10)
        {
            sent.pop_front();
        }
        if sent.len() < limit.max(1) as usize {
            sent.push_back(now);
            return None;
        }
        // GitLab's window starts when it counts the first request, a little after it was
        // sent: a tenth of the window to spare keeps the next from arriving just before.
        let oldest = *sent.front().expect("full window");
        Some((window + window / 10).saturating_sub(now.duration_since(oldest)))
    }
}

/// GitLab's request quota for this token, from the `RateLimit-Remaining` and `RateLimit-Reset`
/// headers that GitLab.com (and a self-managed GitLab with user rate limits) sends with API
/// answers (doc/administration/settings/user_and_ip_rate_limits.md, "Response headers").
#[derive(Debug, Clone, Copy)]
struct Quota {
    remaining: u64,
    limit: Option<u64>,
    /// Unix time when the quota refills.
    reset_at: i64,
}

impl Quota {
    fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Quota> {
        let number =
            |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(Quota {
            remaining: number("ratelimit-remaining")?.max(0) as u64,
            limit: number("ratelimit-limit").map(|l| l.max(0) as u64),
            reset_at: number("ratelimit-reset")?,
        })
    }

    /// Close enough to the end of the quota that the requests already in flight (the executor
    /// sends up to eight at once) could use it up.
    fn nearly_spent(&self) -> bool {
        let reserve = self.limit.map_or(0, |l| l / 20).max(10);
        self.remaining <= reserve
    }
}

impl fmt::Debug for GitLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitLab")
            .field("base", &crate::redact::url(&self.base))
            .finish()
    }
}

/// Git's object id for a file's content, as the repository tree API reports it.
pub fn git_blob_id(content: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes a project/group path or file path as one URL path segment (`a/b` → `a%2Fb`).
pub fn enc(segment: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(segment, KEEP).to_string()
}

impl GitLab {
    pub fn new(base_url: &str, token: Token, retry: RetryPolicy) -> Result<GitLab> {
        let base = base_url.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .user_agent(concat!("smeflow/", env!("CARGO_PKG_VERSION")))
            .timeout(retry.request_timeout)
            .build()
            .map_err(|e| GitLabError::Transport {
                method: "-".into(),
                path: "-".into(),
                attempts: 0,
                reason: e.to_string(),
            })?;
        Ok(GitLab {
            api: format!("{base}/api/v4"),
            base,
            token,
            http,
            retry,
            quota: Default::default(),
            actions: Default::default(),
        })
    }

    /// See `RetryPolicy::write_settle`.
    pub fn write_settle(&self) -> Duration {
        self.retry.write_settle
    }

    /// Paces note and issue creations to these per-action limits (every clone shares them).
    pub fn set_action_limits(&self, limits: ActionLimits) {
        self.actions.lock().expect("action pacer").limits = limits;
    }

    /// Waits until a note or issue creation fits GitLab's per-action limit.
    async fn pace_action(&self, action: Action) {
        loop {
            let wait = self.actions.lock().expect("action pacer").admit(action);
            let Some(wait) = wait else { return };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "pacing to GitLab's per-action limit (notes or issue creations a minute)"
            );
            tokio::time::sleep(wait).await;
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.send(Method::GET, path, &[], None).await?;
        decode("GET", path, resp.body)
    }

    /// `None` when GitLab answers 404.
    pub async fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(GitLabError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item of a paginated list, following `X-Next-Page` until the last page. An
    /// endpoint that ignores `page` answers the same page again: that ends the list.
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut page = 1u32;
        let mut previous: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("per_page", PER_PAGE.to_string()));
            q.push(("page", page.to_string()));
            let resp = self.send(Method::GET, path, &q, None).await?;
            if previous.as_deref() == Some(resp.body.as_str()) {
                break;
            }
            previous = Some(resp.body.clone());
            let got = decode_items("GET", path, resp.body, &mut out)?;
            match resp.next_page {
                Some(next) if next > page => page = next,
                // Without the header (very large collections omit X-Total but keep X-Next-Page;
                // some proxies strip both), a full page means there may be more.
                None if resp.had_pagination_headers => break,
                None if got == PER_PAGE as usize => page += 1,
                _ => break,
            }
        }
        Ok(out)
    }

    /// Every item of a list GitLab can page by keyset (`pagination=keyset`, following the
    /// `Link: rel="next"` cursor: lib/api/issues.rb, 18.3+ for project issues). Unlike offset
    /// pages, a keyset page never shifts when an item changes between two requests. A GitLab
    /// that does not offer it for this list answers offset pages (or 400/405): then `list`.
    pub async fn list_keyset<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        q.push(("pagination".into(), "keyset".into()));
        q.push(("per_page".into(), PER_PAGE.to_string()));
        let mut at = path.to_string();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let pairs: Vec<(&str, String)> =
                q.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let resp = match self.send(Method::GET, &at, &pairs, None).await {
                Err(GitLabError::Rejected {
                    status: 400 | 405, ..
                }) if out.is_empty() => return self.list(path, query).await,
                other => other?,
            };
            if out.is_empty() && resp.next_link.is_none() && resp.next_page.is_some() {
                return self.list(path, query).await;
            }
            decode_items("GET", path, resp.body, &mut out)?;
            let Some(next) = resp.next_link.as_deref().and_then(|l| self.api_path(l)) else {
                break;
            };
            if !seen.insert(next.clone()) {
                break;
            }
            (at, q) = next;
        }
        Ok(out)
    }

    /// The API path and query of a URL GitLab gave (a `Link`), wherever its API is mounted.
    fn api_path(&self, url: &str) -> Option<(String, Vec<(String, String)>)> {
        let url = reqwest::Url::parse(url).ok()?;
        let at = url.path().find("/api/v4/")?;
        let path = url.path()[at + "/api/v4".len()..].to_string();
        let query = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Some((path, query))
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let resp = self.send(Method::POST, path, &[], Some(body)).await?;
        decode("POST", path, resp.body)
    }

    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let resp = self.send(Method::PUT, path, &[], Some(body)).await?;
        decode("PUT", path, resp.body)
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        self.send(Method::DELETE, path, &[], None).await.map(|_| ())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer> {
        // POST is not idempotent: after a 5xx or a timeout the write may have happened, so the
        // caller (the executor) checks before trying again. A 429 was never processed.
        let may_retry_ambiguous = method != Method::POST;
        let url = format!("{}{}", self.api, path);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = Attempt {
                method: &method,
                path,
                attempt,
                may_retry_ambiguous,
            };
            let delay = match self.send_once(&url, query, body, &sent).await {
                Err(e) => self.retry_unreachable(e, &sent)?,
                Ok(resp) => match self.judge(resp, &sent)? {
                    Judged::Retry(delay) => delay,
                    Judged::Final(resp) => return self.finish(method, path, resp).await,
                },
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One request, paced for the instance's rate limit and the action's own limit.
    async fn send_once(
        &self,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        sent: &Attempt<'_>,
    ) -> std::result::Result<reqwest::Response, reqwest::Error> {
        let (method, path, attempt) = (sent.method, sent.path, sent.attempt);
        self.pace().await;
        if let Some(action) = Action::of(method, path) {
            self.pace_action(action).await;
        }
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("PRIVATE-TOKEN", &self.token.0)
            .query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        tracing::debug!(%method, path, attempt, "GitLab request");
        req.send().await
    }

    /// How long to wait before trying again after GitLab could not be reached, or the error
    /// when this request may not (or need not) be tried again.
    fn retry_unreachable(&self, e: reqwest::Error, sent: &Attempt<'_>) -> Result<Duration> {
        let (method, path, attempt) = (sent.method, sent.path, sent.attempt);
        let reason = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            e.without_url().to_string()
        };
        if !sent.may_retry_ambiguous || attempt >= self.retry.max_attempts {
            return Err(GitLabError::Transport {
                method: method.to_string(),
                path: path.to_string(),
                attempts: attempt,
                reason,
            });
        }
        tracing::warn!(%method, path, attempt, reason, "GitLab unreachable, retrying");
        Ok(self.backoff(attempt))
    }

    /// Whether GitLab's answer is final, or a 429 or 5xx worth waiting out and trying again.
    fn judge(&self, resp: reqwest::Response, sent: &Attempt<'_>) -> Result<Judged> {
        let (method, path, attempt) = (sent.method, sent.path, sent.attempt);
        let status = resp.status();
        if let Some(quota) = Quota::from_headers(resp.headers()) {
            *self.quota.lock().expect("quota lock") = Some(quota);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            if attempt >= self.retry.max_attempts {
                return Err(GitLabError::RateLimited {
                    method: method.to_string(),
                    path: path.to_string(),
                    attempts: attempt,
                });
            }
            // Without Retry-After (GitLab's ApplicationRateLimiter sends none), a quick
            // retry lands in the same window and is refused again: wait it out.
            let wait = retry_after(&resp).unwrap_or(self.retry.rate_limit_window);
            if wait > self.retry.max_retry_after {
                return Err(GitLabError::RetryAfterTooLong {
                    method: method.to_string(),
                    path: path.to_string(),
                    seconds: wait.as_secs(),
                });
            }
            tracing::warn!(%method, path, wait_ms = wait.as_millis() as u64, "GitLab rate limit (429), waiting Retry-After");
            Ok(Judged::Retry(wait))
        } else if status.is_server_error() {
            if !sent.may_retry_ambiguous || attempt >= self.retry.max_attempts {
                return Err(GitLabError::Server {
                    method: method.to_string(),
                    path: path.to_string(),
                    status: status.as_u16(),
                    attempts: attempt,
                });
            }
            tracing::warn!(%method, path, status = status.as_u16(), attempt, "GitLab server error, retrying");
            Ok(Judged::Retry(self.backoff(attempt)))
        } else {
            Ok(Judged::Final(resp))
        }
    }

    async fn finish(&self, method: Method, path: &str, resp: reqwest::Response) -> Result<Answer> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| GitLabError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            attempts: 1,
            reason: e.without_url().to_string(),
        })?;
        if status.is_success() {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            return Ok(Answer {
                next_page: header("x-next-page").and_then(|v| v.trim().parse().ok()),
                had_pagination_headers: header("x-next-page").is_some(),
                next_link: header("link").and_then(next_link),
                body: text,
            });
        }
        let message = error_message(&text);
        let (m, p) = (method.to_string(), path.to_string());
        Err(match status.as_u16() {
            401 => GitLabError::Unauthorized {
                base: crate::redact::url(&self.base),
            },
            403 => GitLabError::Forbidden {
                method: m,
                path: p,
                message,
            },
            404 => GitLabError::NotFound {
                method: m,
                path: p,
                message,
            },
            code => GitLabError::Rejected {
                method: m,
                path: p,
                status: code,
                message,
            },
        })
    }

    /// Slows down before GitLab has to refuse: when the quota is nearly spent, waits for it to
    /// refill (never longer than a `Retry-After` smeflow would wait out).
    async fn pace(&self) {
        let wait = {
            // Every request waits for the refill, those already in flight included: a stale
            // quota (its reset time passed) no longer holds anything back.
            match *self.quota.lock().expect("quota lock") {
                Some(q) if q.nearly_spent() => {
                    let now = chrono::Utc::now().timestamp_millis();
                    let until = q.reset_at.saturating_mul(1000);
                    (until > now).then(|| Duration::from_millis((until - now) as u64))
                }
                _ => None,
            }
        };
        if let Some(wait) = wait {
            let wait = wait.min(self.retry.max_retry_after);
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "GitLab's request quota is nearly spent; waiting for it to refill"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.retry.max_delay);
        // Full jitter between half and all of the delay keeps many clients from retrying in step.
        let ms = capped.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
    }
}

/// One try of a request, as the retry decisions and their log lines need it.
struct Attempt<'a> {
    method: &'a Method,
    path: &'a str,
    attempt: u32,
    may_retry_ambiguous: bool,
}

/// GitLab's answer to one try: final (success or an error to report), or worth waiting out.
enum Judged {
    Final(reqwest::Response),
    Retry(Duration),
}

struct Answer {
    body: String,
    next_page: Option<u32>,
    had_pagination_headers: bool,
    /// The `rel="next"` URL of the `Link` header.
    next_link: Option<String>,
}

/// The `rel="next"` target of a `Link` header (`<url>; rel="next", <url>; rel="last"`).
fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let url = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |n| close + n);
        if rest[close..params_end].contains("rel=\"next\"") {
            return Some(url.to_string());
        }
        rest = &rest[params_end..];
    }
    None
}

/// One page of a list, item by item into `out`: an item smeflow cannot read (a field of an
/// unexpected type, from a newer GitLab, an import or a proxy) is skipped and named, never the
/// whole list. How many items the page held.
fn decode_items<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: String,
    out: &mut Vec<T>,
) -> Result<usize> {
    let items: Vec<Value> = decode(method, path, body)?;
    let got = items.len();
    for item in items {
        match T::deserialize(&item) {
            Ok(v) => out.push(v),
            Err(e) => {
                let name = list_item_name(&item);
                tracing::warn!(path, item = %name, error = %e, "skipping a list item smeflow cannot read");
            }
        }
    }
    Ok(got)
}

/// How a warning names a list item: its web URL, else its iid or id, else its start.
fn list_item_name(item: &Value) -> String {
    let field = |k: &str| item.get(k).filter(|v| !v.is_null());
    if let Some(url) = field("web_url").and_then(Value::as_str) {
        return crate::redact::url(url);
    }
    for key in ["iid", "id"] {
        if let Some(v) = field(key) {
            return format!("{key} {v}");
        }
    }
    item.to_string().chars().take(80).collect()
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn decode<T: DeserializeOwned>(method: &str, path: &str, body: String) -> Result<T> {
    // DELETE and some PUTs answer 204 with no body; `()`-like callers ask for Value.
    let body = if body.trim().is_empty() {
        "null"
    } else {
        &body
    };
    serde_json::from_str(body).map_err(|e| GitLabError::Decode {
        method: method.into(),
        path: path.into(),
        reason: e.to_string(),
    })
}

/// GitLab puts errors in `message` (a string, or an object of field → reasons) or in `error`.
pub fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.trim().chars().take(200).collect();
    };
    let flatten = |v: &Value| -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Object(map) => map
                .iter()
                .map(|(field, reasons)| {
                    let reasons = match reasons {
                        Value::Array(a) => a
                            .iter()
                            .map(|r| {
                                r.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| r.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                        other => other
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| other.to_string()),
                    };
                    format!("{field} {reasons}")
                })
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    };
    v.get("message")
        .or_else(|| v.get("error"))
        .map(flatten)
        .unwrap_or_else(|| body.trim().chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_error_shape_gitlab_uses() {
        assert_eq!(
            error_message(r#"{"message":"401 Unauthorized"}"#),
            "401 Unauthorized"
        );
        assert_eq!(
            error_message(r#"{"error":"name is missing"}"#),
            "name is missing"
        );
        assert_eq!(
            error_message(r#"{"message":{"path":["has already been taken"]}}"#),
            "path has already been taken"
        );
        assert_eq!(error_message("Retry later\n"), "Retry later");
    }

    #[test]
    fn encodes_paths_as_one_segment() {
        assert_eq!(
            enc("gitlab-com/customer-success/sme"),
            "gitlab-com%2Fcustomer-success%2Fsme"
        );
        assert_eq!(
            enc(".gitlab/issue_templates/SME Request.md"),
            ".gitlab%2Fissue_templates%2FSME%20Request.md"
        );
    }

    #[test]
    fn token_never_shows_in_debug_output() {
        let t = Token::new("glpat-secret");
        assert!(!format!("{t:?}").contains("glpat"));
    }
}
