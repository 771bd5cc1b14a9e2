//! An in-process GitLab (REST API v4) simulator, served over real HTTP on loopback, for the
//! tests and `smeflow demo`. It keeps state and follows GitLab's documented behaviour for what
//! smeflow uses (as GitLab's own lib/api and doc/api describe them): status codes and error bodies, pagination
//! headers, URL-encoded ids, scoped-label exclusivity, write-only hook tokens. Faults (429 with
//! Retry-After, 500, a write applied but answered 502, slow answers) can be switched on, and
//! every request is recorded so tests can count reads and writes.

mod api;
mod state;
mod webhooks;

use serde_json::Value;
use state::{Shared, SimState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use state::{Access, Tier};

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw path, still percent-encoded, without the query.
    pub path: String,
    pub query: String,
    pub body: String,
    pub status: u16,
}

/// Which requests a fault applies to; `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Match {
    pub method: Option<String>,
    pub path_contains: Option<String>,
}

impl Match {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// The next `count` matching requests get 429 `Retry later` with `Retry-After`.
    RateLimit {
        count: usize,
        retry_after_secs: u64,
        only: Option<Match>,
    },
    /// The next `count` matching requests get 500 and change nothing.
    ServerError { count: usize, only: Option<Match> },
    /// The next `count` matching requests are applied, but answered 502: an ambiguous failure.
    ErrorAfterApply { count: usize, only: Option<Match> },
    /// The next `count` matching requests get 404, as for an issue GitLab no longer shows
    /// (deleted, moved, or made confidential) between two reads.
    NotFound { count: usize, only: Option<Match> },
    /// Every matching request waits `delay` first.
    Slow {
        delay: Duration,
        only: Option<Match>,
    },
}

/// A running simulator. Cloning shares the same GitLab.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    url: String,
    /// Keeps the runtime of `start_blocking` alive as long as any clone.
    _runtime: Option<Arc<tokio::runtime::Runtime>>,
}

impl Simulator {
    /// Serves on 127.0.0.1 (any free port) from the current tokio runtime.
    pub async fn start() -> Simulator {
        let shared = Arc::new(Shared {
            // Like GitLab.com today: signing tokens on, the search limit at its default.
            state: Mutex::new(SimState {
                signing_supported: true,
                ..SimState::default()
            }),
            outbox: webhooks::Outbox::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let url = format!("http://{addr}");
        shared.state.lock().unwrap().base_url = url.clone();
        let app = api::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        tokio::spawn(webhooks::deliver_forever(shared.clone()));
        Simulator {
            shared,
            url,
            _runtime: None,
        }
    }

    /// For synchronous callers (tests driving the real binary): runs on its own runtime.
    pub fn start_blocking() -> Simulator {
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("simulator runtime"),
        );
        let mut sim = rt.block_on(Simulator::start());
        sim._runtime = Some(rt);
        sim
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap())
    }

    pub fn add_user(&self, username: &str, token: &str) -> u64 {
        self.with(|s| s.add_user(username, token))
    }

    /// Creates the group and any missing parents; returns the group's id.
    pub fn add_group(&self, full_path: &str) -> u64 {
        self.with(|s| s.ensure_group(full_path))
    }

    pub fn set_member(&self, group: &str, username: &str, access: Access) {
        self.with(|s| s.set_member(group, username, access))
    }

    pub fn set_tier(&self, tier: Tier) {
        self.with(|s| s.tier = tier)
    }

    pub fn set_fault(&self, fault: Fault) {
        self.with(|s| s.fault = Some(fault))
    }

    /// GitLab before 19.0 (or with `webhook_signing_token` off): hooks ignore `signing_token`
    /// and carry no `token_present` / `signing_token_present`.
    pub fn set_signing_supported(&self, on: bool) {
        self.with(|s| s.signing_supported = on)
    }

    /// Issue edits arrive as work-item events, as from GitLab 17.7's work-item UI.
    pub fn set_work_item_ui(&self, on: bool) {
        self.with(|s| s.work_item_ui = on)
    }

    /// GitLab's `search_rate_limit` (an admin setting; 30 a minute by default).
    pub fn set_search_rate_limit(&self, per_window: usize, window: Duration) {
        self.with(|s| s.search_limit = state::WindowLimit::new(per_window, window))
    }

    /// GitLab.com's authenticated API request limit: `per_window` requests per user, answered
    /// with `RateLimit-Limit/Observed/Remaining/Reset/ResetTime` headers, and 429 with
    /// `Retry-After` past it (Rack::Attack's throttle; doc/administration/settings/
    /// user_and_ip_rate_limits.md, "Response headers").
    pub fn set_request_rate_limit(&self, per_window: usize, window: Duration) {
        self.with(|s| s.request_limit = Some(state::WindowLimit::new(per_window, window)))
    }

    /// Requests that carried `search` (what GitLab's search limit counts).
    pub fn searches(&self) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| carries_search(&r.query))
                .count()
        })
    }

    pub fn clear_faults(&self) {
        self.with(|s| s.fault = None)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    pub fn reset_requests(&self) {
        self.with(|s| s.requests.clear())
    }

    pub fn count(&self, method: &str) -> usize {
        self.with(|s| s.requests.iter().filter(|r| r.method == method).count())
    }

    /// Requests that ask GitLab to change something (POST, PUT, PATCH, DELETE), answered or not.
    pub fn writes(&self) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.method != "GET" && r.method != "HEAD")
                .count()
        })
    }

    pub fn project_id(&self, full_path: &str) -> Option<u64> {
        self.with(|s| s.project_index(full_path).map(|i| s.projects[i].id))
    }

    /// The project's own labels, as the API shows them.
    pub fn labels(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .labels
                        .iter()
                        .map(|l| l.to_json(true))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// A file's content on the default branch.
    pub fn file(&self, project: &str, path: &str) -> Option<String> {
        self.with(|s| {
            s.project_index(project)
                .and_then(|i| s.projects[i].files.get(path).cloned())
        })
    }

    pub fn commits(&self, project: &str) -> usize {
        self.with(|s| {
            s.project_index(project)
                .map(|i| s.projects[i].commits)
                .unwrap_or(0)
        })
    }

    pub fn issues(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .issues
                        .iter()
                        .map(|is| s.issue_json(i, is))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Notes on an issue, oldest first.
    pub fn notes(&self, project: &str, iid: u64) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .and_then(|i| {
                    s.projects[i]
                        .issues
                        .iter()
                        .find(|is| is.iid == iid)
                        .map(|is| is.notes.iter().map(|n| s.note_json(is, n)).collect())
                })
                .unwrap_or_default()
        })
    }

    pub fn boards(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .boards
                        .iter()
                        .map(|b| b.to_json(&s.projects[i]))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Hooks including their secrets under "token" and "signing_token" (the HTTP API never
    /// returns them).
    pub fn hooks(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .hooks
                        .iter()
                        .map(|h| {
                            let mut v = h.to_json(s.projects[i].id, s.signing_supported);
                            v["token"] = Value::from(h.token.clone());
                            v["signing_token"] = Value::from(h.signing_token.clone());
                            v
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Group epics with the global ids of their issues.
    pub fn epics(&self, group: &str) -> Vec<Value> {
        self.with(|s| {
            s.group_index(group)
                .map(|gi| {
                    s.groups[gi]
                        .epics
                        .iter()
                        .map(|e| {
                            let mut v = s.epic_json(gi, e);
                            v["issue_ids"] = e
                                .issues
                                .iter()
                                .map(|(_, id)| *id)
                                .collect::<Vec<_>>()
                                .into();
                            v
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// iids of the issues of the same project linked to an issue.
    pub fn links(&self, project: &str, iid: u64) -> Vec<u64> {
        self.with(|s| {
            s.project_index(project)
                .map(|pi| {
                    s.projects[pi]
                        .links
                        .iter()
                        .filter(|l| l.target_project.is_none())
                        .filter_map(|l| match (l.source_iid == iid, l.target_iid == iid) {
                            (true, _) => Some(l.target_iid),
                            (_, true) => Some(l.source_iid),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Adds an issue directly (no webhook, no request recorded), e.g. to build a large or old
    /// data set. Returns its iid.
    pub fn seed_issue(&self, project: &str, seed: SeedIssue<'_>) -> u64 {
        let SeedIssue {
            author,
            title,
            description,
            labels,
            state,
            age_days,
        } = seed;
        self.with(|s| {
            let pi = s.project_index(project).expect("project exists");
            let author = s
                .users
                .iter()
                .find(|u| u.username == author)
                .map(|u| u.id)
                .expect("user exists");
            let at = (chrono::Utc::now() - chrono::Duration::days(age_days))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let id = s.id();
            let p = &mut s.projects[pi];
            let iid = p.next_iid;
            p.next_iid += 1;
            p.issues.push(state::Issue {
                id,
                iid,
                title: title.into(),
                description: description.into(),
                state: state.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                author,
                assignees: Vec::new(),
                confidential: false,
                created_at: at.clone(),
                updated_at: at.clone(),
                closed_at: (state == "closed").then(|| at.clone()),
                notes: Vec::new(),
                label_events: Vec::new(),
                epic: None,
            });
            iid
        })
    }

    /// Makes an issue look untouched for `days` (for stale-review tests).
    pub fn backdate(&self, project: &str, iid: u64, days: i64) {
        self.with(|s| {
            let pi = s.project_index(project).expect("project exists");
            let at = (chrono::Utc::now() - chrono::Duration::days(days))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            if let Some(i) = s.projects[pi].issues.iter_mut().find(|i| i.iid == iid) {
                i.updated_at = at;
            }
        })
    }

    /// Webhook deliveries the simulator has sent (or tried to), oldest first.
    pub fn deliveries(&self) -> Vec<webhooks::SentDelivery> {
        self.shared.outbox.sent()
    }

    /// Sends a delivery again with the same headers, as "Resend request" in GitLab's hook log.
    pub async fn resend(&self, index: usize) -> Option<u16> {
        webhooks::resend(&self.shared, index).await
    }

    /// Waits until every queued webhook delivery has been sent.
    pub async fn deliveries_flushed(&self) {
        self.shared.outbox.flushed().await
    }

    /// Acts as a person in the UI: an API call with that user's token, through the same code
    /// (and the same webhooks) as a real request.
    /// A person (by token) opens an issue through the API, as GitLab's UI would.
    pub async fn open_issue_as(&self, token: &str, project: &str, issue: Value) -> (u16, Value) {
        let path = format!("/projects/{}/issues", crate::gitlab::enc(project));
        self.as_user(token, "POST", &path, issue).await
    }

    /// A person (by token) edits an issue (assignees, description, state_event...), as GitLab's
    /// UI would: `PUT /projects/:id/issues/:iid`.
    pub async fn edit_issue_as(
        &self,
        token: &str,
        project: &str,
        iid: u64,
        changes: Value,
    ) -> (u16, Value) {
        let path = format!("/projects/{}/issues/{iid}", crate::gitlab::enc(project));
        self.as_user(token, "PUT", &path, changes).await
    }

    /// `as_user` for synchronous tests (the simulator's own runtime serves it).
    pub fn as_user_blocking(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime")
                        .block_on(self.as_user(token, method, path, body))
                })
                .join()
                .expect("request thread")
        })
    }

    pub async fn as_user(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v4{path}", self.url);
        let req = client
            .request(method.parse().expect("method"), url)
            .header("PRIVATE-TOKEN", token)
            .json(&body);
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let v = resp.json().await.unwrap_or(Value::Null);
                (status, v)
            }
            Err(e) => (0, Value::from(e.to_string())),
        }
    }
}

pub use webhooks::SentDelivery;

/// An issue put straight into the simulator's state; `age_days` backdates its creation and
/// last update.
pub struct SeedIssue<'a> {
    pub author: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub labels: &'a [&'a str],
    pub state: &'a str,
    pub age_days: i64,
}

/// Whether a query string carries a non-empty `search` parameter.
pub(crate) fn carries_search(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "search" && !v.is_empty())
}
