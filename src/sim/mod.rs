//! An in-process GitLab (REST API v4) simulator, served over real HTTP on loopback, for the
//! tests and `smeflow demo`. It keeps state and follows GitLab's documented behaviour for what
//! smeflow uses (as GitLab's own lib/api and doc/api describe them): status codes and error bodies, pagination
//! headers, URL-encoded ids, scoped-label exclusivity, write-only hook tokens. Faults (429 with
//! Retry-After, 500, a write applied but answered 502, slow answers) can be switched on, and
//! every request is recorded so tests can count reads and writes.
//!
//! Where things are: `api/` answers HTTP (`api/routes.rs` names the function behind every
//! endpoint), `state/` holds the data, `webhooks.rs` sends the hooks; `inspect.rs`, `seed.rs`
//! and `people.rs` are what tests read, plant and do as a person, beside the setup here.

mod api;
mod hook_health;
mod inspect;
mod people;
pub mod quick_actions;
mod seed;
pub mod slack;
mod state;
mod webhooks;

use state::{Shared, SimState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use state::{Access, MentionMade, QuickActionRun, Tier};

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
    /// The next `count` matching requests are applied `delay` after they arrive, whether or not
    /// the client is still waiting: a write GitLab completes after the client's timeout.
    LandsLate {
        count: usize,
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
                restricted_visibility: vec!["internal".into()],
                hook_test_limit: state::WindowLimit::new(5, Duration::from_secs(60)),
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
    /// Makes `email` the user's public e-mail (what `GET /users?search=` finds them by).
    pub fn set_public_email(&self, username: &str, email: &str) {
        self.with(|s| {
            if let Some(u) = s.users.iter_mut().find(|u| u.username == username) {
                u.public_email = Some(email.to_string());
            }
        })
    }

    pub fn add_group(&self, full_path: &str) -> u64 {
        self.with(|s| s.ensure_group(full_path))
    }

    pub fn set_member(&self, group: &str, username: &str, access: Access) {
        self.with(|s| s.set_member(group, username, access))
    }

    /// A group's visibility (`private`, the default for a new group, `internal` or `public`).
    pub fn set_group_visibility(&self, full_path: &str, visibility: &str) {
        self.with(|s| {
            s.ensure_group(full_path);
            let gi = s.group_index(full_path.trim_matches('/')).expect("group");
            s.groups[gi].visibility = visibility.into();
        })
    }

    /// The instance's `restricted_visibility_levels` (GitLab.com's: `internal`).
    pub fn set_restricted_visibility(&self, levels: &[&str]) {
        self.with(|s| s.restricted_visibility = levels.iter().map(|l| l.to_string()).collect())
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

    /// GitLab 19.x with the `webhook_signing_token` feature flag off: hooks still answer
    /// `token_present` / `signing_token_present`, but a `signing_token` sent is dropped silently,
    /// so `signing_token_present` stays false and deliveries are never signed.
    pub fn set_signing_flag(&self, on: bool) {
        self.with(|s| s.signing_flag_off = !on)
    }

    /// Right after the next first page of an issue list is served, a person edits issue `iid`
    /// (its `updated_at` moves to now), as happens when a sync reads a busy project.
    pub fn edit_issue_during_next_list(&self, iid: u64) {
        self.with(|s| s.edit_during_list = Some(iid))
    }

    /// A person edits issues in the work-item UI. GitLab sends a work item of type Issue as an
    /// Issue Hook with `object_kind` "issue" whichever UI was used, so the deliveries do not
    /// change; the switch lets a test say which UI it stands for.
    pub fn set_work_item_ui(&self, _on: bool) {}

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

    /// Every API request waits `latency` before it is answered (GitLab.com is about 150 ms
    /// away from most places), so benchmarks see what requests sent one after another cost.
    pub fn set_latency(&self, latency: Duration) {
        self.with(|s| s.latency = latency)
    }

    /// GitLab.com's per-action limits: `notes` comments and `issues` issue creations per user
    /// per `window` (60 and 200 a minute on GitLab.com), answered 429 with a JSON body and no
    /// `Retry-After`, and not counted in the `RateLimit-*` headers.
    pub fn set_action_limits(&self, notes: usize, issues: usize, window: Duration) {
        self.with(|s| {
            s.notes_limit = Some(state::WindowLimit::new(notes, window));
            s.issue_create_limit = Some(state::WindowLimit::new(issues, window));
        })
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

    /// Every quick action GitLab would have run from text written through the API, oldest
    /// first, with who wrote it: a writer that lets a person's `/close` through shows here.
    pub fn quick_actions(&self) -> Vec<QuickActionRun> {
        self.with(|s| s.quick_actions.clone())
    }

    /// Every mention GitLab would notify in titles, descriptions and notes written through the
    /// API, oldest first.
    pub fn mentions(&self) -> Vec<MentionMade> {
        self.with(|s| s.mentions.clone())
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
}

pub use seed::SeedIssue;
pub use webhooks::{uuid_v4, SentDelivery};

/// Whether a query string carries a non-empty `search` parameter.
pub(crate) fn carries_search(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "search" && !v.is_empty())
}
