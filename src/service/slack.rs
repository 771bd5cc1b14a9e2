//! Slack in `serve`: `POST /slack/events` (the Events API Request URL) verifies Slack's
//! signature before anything else, answers the `url_verification` challenge, stores each event
//! once by its `event_id` and answers at once (Slack wants a 2xx within 3 seconds and retries
//! otherwise); a worker then works the events off: a request message becomes one SME Request
//! issue and one answer in its thread, a checkmark assigns the SME who put it. A sweep posts
//! the 24-hour escalation in the request's thread, once.

use super::AppState;
use crate::config::Catalog;
use crate::gitlab::types::User;
use crate::gitlab::GitLab;
use crate::policy::request::{engagement, promise, slack as rules, REQUEST_TYPE};
use crate::slack::events::{self, Envelope, Event};
use crate::slack::{signing, Slack, API_URL_ENV, DEFAULT_API_URL, SIGNING_SECRET_ENV, TOKEN_ENV};
use crate::store::slack::{SlackRequest, SlackSaid};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// An area whose request channel smeflow listens to.
#[derive(Debug, Clone)]
pub struct SlackArea {
    pub project: String,
    pub channel_name: String,
    pub leads: Vec<String>,
    /// The area's `SME Request::` values ("Customer Call", ...).
    pub engagement_types: Vec<String>,
}

/// Slack's side of `serve`, present when `[slack]` is configured.
pub struct SlackService {
    signing_secret: Vec<u8>,
    pub client: Slack,
    /// Slack member id -> GitLab username.
    pub users: BTreeMap<String, String>,
    /// Request channel id -> its area.
    pub areas: HashMap<String, SlackArea>,
    pub wake: tokio::sync::Notify,
    /// How often the escalation sweep runs (SMEFLOW_SLACK_SWEEP_SECS, default 5 minutes).
    pub sweep_every: Duration,
}

impl std::fmt::Debug for SlackService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackService")
            .field("areas", &self.areas.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// How long a replica's claim to post one escalation is kept (the post is marked in the store
/// well before; the claim only covers two replicas sweeping at once).
const ESCALATION_CLAIM_MS: i64 = 24 * 3600 * 1000;

/// What the endpoints answer while Slack is not configured.
const NOT_CONFIGURED: &str = "Slack is not configured in this smeflow: add a [slack] section and `requests_id` under [areas.slack] to smeflow.toml, set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, and restart serve (README, \"Slack\")";

impl SlackService {
    /// `Ok(None)` without a `[slack]` section; an error says what is missing. The token and
    /// the signing secret come from the environment only.
    pub fn from_config(catalog: &Catalog) -> Result<Option<SlackService>, String> {
        if catalog.config.slack.is_none() {
            return Ok(None);
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (Some(token), Some(secret)) = (env(TOKEN_ENV), env(SIGNING_SECRET_ENV)) else {
            return Err(format!("smeflow.toml has a [slack] section, but {TOKEN_ENV} (the app's bot token, xoxb-…) and {SIGNING_SECRET_ENV} (Basic Information → Signing Secret) are not both set"));
        };
        let base = env(API_URL_ENV).unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let sweep_every = env("SMEFLOW_SLACK_SWEEP_SECS")
            .and_then(|v| v.parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.clamp(1, 3600)))
            .unwrap_or(Duration::from_secs(300));
        SlackService::new(catalog, Slack::new(&base, &token), &secret, sweep_every).map(Some)
    }

    /// The service for a catalog with a `[slack]` section.
    pub fn new(
        catalog: &Catalog,
        client: Slack,
        signing_secret: &str,
        sweep_every: Duration,
    ) -> Result<SlackService, String> {
        let section = catalog.config.slack.clone().unwrap_or_default();
        for (slack, gitlab) in &section.users {
            if !looks_like_id(slack, &['U', 'W']) || gitlab.trim().is_empty() {
                return Err(format!("[slack] users: `{slack} = \"{gitlab}\"` should be a Slack member id (U…, from the person's profile → ⋮ → Copy member ID) = a GitLab username"));
            }
        }
        let mut areas = HashMap::new();
        for area in &catalog.config.areas {
            let Some(id) = area.slack.requests_id.as_deref().filter(|i| !i.is_empty()) else {
                continue;
            };
            for (key, value) in [
                ("requests_id", Some(id)),
                ("area_id", area.slack.area_id.as_deref()),
            ] {
                if let Some(v) = value.filter(|v| !looks_like_id(v, &['C', 'G'])) {
                    return Err(format!("area `{}`: [areas.slack] {key} = \"{v}\" is not a Slack channel id (C…: the channel's name → About → Channel ID at the bottom); the channel's name goes in `requests`/`area`", area.slug));
                }
            }
            let policy = crate::policy::AreaPolicy::new(catalog, area);
            let has_requests = policy
                .rules
                .scopes
                .get("Type")
                .is_some_and(|v| v.iter().any(|l| l == REQUEST_TYPE));
            if !has_requests {
                return Err(format!("area `{}` has a Slack request channel (requests_id = \"{id}\") but no SME Request label set: only formal areas take requests", area.slug));
            }
            let engagement_types = crate::policy::request::engagement_types(&policy.rules);
            areas.insert(
                id.to_string(),
                SlackArea {
                    project: policy.project.clone(),
                    channel_name: area.slack.requests.clone(),
                    leads: area.leads.clone(),
                    engagement_types,
                },
            );
        }
        if areas.is_empty() {
            return Err("smeflow.toml has a [slack] section, but no area has `requests_id` (the request channel's id, C…) under [areas.slack]".into());
        }
        Ok(SlackService {
            signing_secret: signing_secret.as_bytes().to_vec(),
            client,
            users: section.users,
            areas,
            wake: tokio::sync::Notify::new(),
            sweep_every,
        })
    }
}

/// Slack ids: an upper-case letter from `first`, then upper-case letters and digits.
fn looks_like_id(id: &str, first: &[char]) -> bool {
    id.len() >= 3
        && id.starts_with(first)
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// `POST /slack/events`.
pub async fn events(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(slack) = app.slack.get() else {
        return answer(StatusCode::NOT_FOUND, json!({ "error": NOT_CONFIGURED }));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verdict = signing::verify(
        &slack.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        chrono::Utc::now().timestamp(),
    );
    if verdict != signing::Verdict::Accepted {
        tracing::warn!(why = verdict.reason(), "refused a Slack request");
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({ "error": verdict.reason() }),
        );
    }
    let envelope = match events::parse(&body) {
        Ok(e) => e,
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({ "error": e.to_string() })),
    };
    let (event_id, kind) = match envelope {
        Envelope::UrlVerification { challenge } => {
            // https://api.slack.com/events/url_verification: the challenge, as plain text.
            return (StatusCode::OK, challenge).into_response();
        }
        Envelope::Other(kind) => {
            return answer(StatusCode::OK, json!({"status": "ignored", "type": kind}))
        }
        Envelope::Event { event_id, event } => match event {
            // Only what can become work is stored: a request in a request channel (chatter
            // there is not), and the checkmark on a message of a request channel.
            Event::Message(m)
                if slack.areas.contains_key(&m.channel)
                    && rules::read_message(&m.text, m.user.as_deref()).is_some() =>
            {
                (event_id, "message")
            }
            Event::ReactionAdded {
                reaction, channel, ..
            } if reaction == rules::CHECKMARK && slack.areas.contains_key(&channel) => {
                (event_id, "reaction_added")
            }
            _ => return answer(StatusCode::OK, json!({"status": "ignored"})),
        },
    };
    let text = String::from_utf8_lossy(&body);
    match app.store.insert_slack_event(&event_id, kind, &text).await {
        Ok(true) => {
            slack.wake.notify_one();
            answer(StatusCode::OK, json!({"status": "accepted"}))
        }
        Ok(false) => answer(StatusCode::OK, json!({"status": "duplicate"})),
        Err(e) => {
            tracing::error!(error = %e, "cannot store a Slack event; Slack will retry it");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "store unavailable"}),
            )
        }
    }
}

/// `POST /slack/commands` and `/slack/interactions`: not offered; requests come from the
/// channel's workflow.
pub async fn not_offered(State(app): State<Arc<AppState>>) -> Response {
    let hint = if app.slack.get().is_some() {
        "smeflow takes SME requests from the request channel's workflow message; the /sme slash command is not offered"
    } else {
        NOT_CONFIGURED
    };
    answer(StatusCode::NOT_FOUND, json!({ "error": hint }))
}

/// `smeflow_slack_events{state="…"}` for `/metrics`: `dead` ones need a look
/// (`last_error` in the store's `slack_events`).
pub async fn metrics(store: &crate::store::Store) -> String {
    let counts = store.slack_event_counts().await.unwrap_or_default();
    let mut text = String::from(
        "# HELP smeflow_slack_events Slack events stored, by state\n# TYPE smeflow_slack_events gauge\n",
    );
    for state in ["pending", "in_progress", "failed", "done", "dead"] {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        text.push_str(&format!("smeflow_slack_events{{state=\"{state}\"}} {n}\n"));
    }
    text
}

/// Works stored Slack events off and runs the escalation sweep, until shutdown.
#[derive(Clone)]
pub struct SlackWorker {
    pub gitlab: GitLab,
    pub bot: User,
}

impl SlackWorker {
    pub async fn run(self, app: Arc<AppState>, slack: Arc<SlackService>) {
        let mut stopping = app.stopping.subscribe();
        let mut last_sweep: Option<std::time::Instant> = None;
        loop {
            if *stopping.borrow() {
                return;
            }
            // While the GitLab workers wait out a GitLab-wide failure, so do Slack's events.
            while !app.outage.is_paused() {
                let claimed = app
                    .store
                    .claim_slack_event()
                    .await
                    .map_err(|e| tracing::error!(error = %e, "Slack queue"))
                    .ok()
                    .flatten();
                let Some(row) = claimed else { break };
                // Its own task: a panic in one event fails that event, not the worker.
                let outcome = {
                    let (worker, app, slack, body) =
                        (self.clone(), app.clone(), slack.clone(), row.body.clone());
                    tokio::spawn(async move { worker.handle(&app, &slack, &body).await })
                        .await
                        .unwrap_or_else(|e| Err(format!("panicked: {e}")))
                };
                let (error, retry_at) = match &outcome {
                    Ok(()) => (None, 0),
                    Err(e) => {
                        tracing::warn!(event = row.event_id, error = %e, attempt = row.attempts, "Slack event failed; retrying");
                        // 30 s, 2 min, 8 min, 32 min: a request outlives a GitLab or Slack
                        // outage of half an hour before it is left dead (and counted so).
                        let backoff = 30_000 * 4_i64.pow((row.attempts.clamp(1, 5) - 1) as u32);
                        (Some(e.clone()), crate::store::now_ms() + backoff)
                    }
                };
                let _ = app
                    .store
                    .finish_slack_event(&row.event_id, error.as_deref(), retry_at)
                    .await;
            }
            if last_sweep.is_none_or(|t| t.elapsed() >= slack.sweep_every) {
                last_sweep = Some(std::time::Instant::now());
                if let Err(e) = self.sweep(&app, &slack).await {
                    tracing::warn!(error = %e, "Slack escalation sweep");
                }
            }
            tokio::select! {
                _ = slack.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopping.changed() => {}
            }
        }
    }

    async fn handle(&self, app: &AppState, slack: &SlackService, body: &str) -> Result<(), String> {
        let Ok(Envelope::Event { event, .. }) = events::parse(body.as_bytes()) else {
            return Ok(());
        };
        match event {
            Event::Message(m) => self.request(app, slack, m).await,
            Event::ReactionAdded {
                user,
                reaction,
                channel,
                ts,
            } if reaction == rules::CHECKMARK => {
                self.checkmark(app, slack, &user, &channel, &ts).await
            }
            _ => Ok(()),
        }
    }

    /// A request message: one issue (found again by its marker), one answer in the thread.
    async fn request(
        &self,
        app: &AppState,
        slack: &SlackService,
        m: events::Message,
    ) -> Result<(), String> {
        let Some(area) = slack.areas.get(&m.channel) else {
            return Ok(());
        };
        let Some(form) = rules::read_message(&m.text, m.user.as_deref()) else {
            return Ok(());
        };
        let known = known_request(app, &m.channel, &m.ts).await?;
        let (requester, gitlab_requester) = requester_names(slack, &form);
        let issue = rules::request_issue(
            &form,
            &m.channel,
            &area.channel_name,
            &m.ts,
            &requester,
            gitlab_requester,
        );
        let request = match known {
            Some(r) => r,
            None => self.open_request(app, area, &m, &issue).await?,
        };
        if request.replied {
            return Ok(());
        }
        let failures = engagement::check(
            &rules::fields_of(&issue, &area.engagement_types),
            None,
            chrono::Utc::now(),
        );
        let text = rules::reply(&request.web_url, &reference(&request), &failures);
        slack
            .client
            .post_message(&m.channel, &text, Some(&m.ts))
            .await
            .map_err(|e| e.to_string())?;
        self.mark(app, &request, SlackSaid::Replied).await
    }

    /// The request's issue, found or created under the area's lock (the GitLab workers write
    /// there too), and remembered with its message.
    async fn open_request(
        &self,
        app: &AppState,
        area: &SlackArea,
        m: &events::Message,
        issue: &rules::RequestIssue,
    ) -> Result<SlackRequest, String> {
        let lock = app.area_lock(&area.project);
        let _lock = lock.read().await;
        let made = match self.issue_already_made(area, m).await? {
            Some(i) => i,
            None => self
                .gitlab
                .create_issue(
                    &area.project,
                    &issue.title,
                    &issue.description,
                    &issue.labels,
                )
                .await
                .map_err(|e| e.to_string())?,
        };
        tracing::info!(
            project = area.project,
            iid = made.iid,
            channel = m.channel,
            "SME request from Slack"
        );
        let r = SlackRequest {
            channel: m.channel.clone(),
            ts: m.ts.clone(),
            project: area.project.clone(),
            issue_iid: made.iid,
            web_url: made.web_url.clone(),
            replied: false,
            escalated: false,
        };
        app.store
            .record_slack_request(&r)
            .await
            .map_err(|e| e.to_string())?;
        Ok(r)
    }

    /// The store may be new or lost: smeflow's own issues say whether it made one, by the
    /// message's marker.
    async fn issue_already_made(
        &self,
        area: &SlackArea,
        m: &events::Message,
    ) -> Result<Option<crate::gitlab::types::Issue>, String> {
        let marker = rules::marker(&m.channel, &m.ts);
        // Slack's ts is the message's Unix time; an hour's margin covers clock skew.
        let posted =
            m.ts.split('.')
                .next()
                .and_then(|secs| secs.parse::<i64>().ok())
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .unwrap_or_else(chrono::Utc::now);
        let mine = self
            .gitlab
            .issues_by_author_since(
                &area.project,
                self.bot.id,
                posted - chrono::Duration::hours(1),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(mine.into_iter().find(|i| {
            i.description
                .as_deref()
                .is_some_and(|d| d.contains(&marker))
        }))
    }

    /// The green checkmark: the SME who put it is assigned, and the request moves to In Progress.
    async fn checkmark(
        &self,
        app: &AppState,
        slack: &SlackService,
        user: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), String> {
        let Some(request) = app
            .store
            .slack_request(channel, ts)
            .await
            .map_err(|e| e.to_string())?
        else {
            // The request message may still wait for a retry (GitLab was down): the checkmark
            // waits with it instead of being lost. Otherwise it is on a message that is no request.
            let waiting = app
                .store
                .slack_event_counts()
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .any(|(state, n)| (state == "pending" || state == "failed") && *n > 0);
            return if waiting {
                Err("the request message is not worked off yet".into())
            } else {
                Ok(())
            };
        };
        let Some(sme) = self.gitlab_user(slack, user).await? else {
            tracing::warn!(
                slack_user = user,
                "a checkmark by someone smeflow cannot find in GitLab"
            );
            let text = format!("<@{user}> thanks for taking this! smeflow could not find your GitLab account (no `{user} = \"<gitlab username>\"` under [slack] users in smeflow.toml, and no GitLab user with your Slack e-mail as public e-mail), so please assign yourself on <{}|{}>.", request.web_url, reference(&request));
            slack
                .client
                .post_message(channel, &text, Some(ts))
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        };
        let lock = app.area_lock(&request.project);
        let _lock = lock.read().await;
        let issue = self
            .gitlab
            .issue(&request.project, request.issue_iid)
            .await
            .map_err(|e| e.to_string())?;
        if issue.assignees.iter().any(|a| a.id == sme.id) {
            return Ok(());
        }
        let mut ids: Vec<u64> = issue.assignees.iter().map(|a| a.id).collect();
        ids.push(sme.id);
        let triaged = issue.labels.iter().any(|l| l == promise::TRIAGE);
        let (add, remove) = if triaged {
            (
                vec![promise::IN_PROGRESS.to_string()],
                vec![promise::TRIAGE.to_string()],
            )
        } else {
            (Vec::new(), Vec::new())
        };
        self.gitlab
            .assign_issue(&request.project, request.issue_iid, &ids, &add, &remove)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(
            project = request.project,
            iid = request.issue_iid,
            sme = sme.username,
            "assigned by a Slack checkmark"
        );
        Ok(())
    }

    /// The mapping first, then the e-mail address Slack and GitLab share.
    async fn gitlab_user(&self, slack: &SlackService, user: &str) -> Result<Option<User>, String> {
        if let Some(username) = slack.users.get(user) {
            return self
                .gitlab
                .user_by_username(username)
                .await
                .map_err(|e| e.to_string());
        }
        let profile = slack.client.user(user).await.map_err(|e| e.to_string())?;
        let Some(email) = profile.email else {
            return Ok(None);
        };
        let found = self
            .gitlab
            .users_with_email(&email)
            .await
            .map_err(|e| e.to_string())?;
        // A search also matches names: only one hit is an answer.
        Ok((found.len() == 1)
            .then(|| found.into_iter().next())
            .flatten())
    }

    /// The 24-hour promise, in Slack: each open request without an assignee past it gets the
    /// escalation in its thread, once.
    async fn sweep(&self, app: &AppState, slack: &SlackService) -> Result<(), String> {
        let open = app
            .store
            .unescalated_slack_requests()
            .await
            .map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
        for request in open {
            let Some(area) = slack.areas.get(&request.channel) else {
                continue;
            };
            let issue = match self.gitlab.issue(&request.project, request.issue_iid).await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(iid = request.issue_iid, error = %e, "escalation check");
                    continue;
                }
            };
            let Some(created) = issue.created_at else {
                continue;
            };
            if !issue.state.is_open() || !issue.assignees.is_empty() {
                // Taken or closed: the promise was kept, or no longer matters; not asked again.
                self.mark(app, &request, SlackSaid::Escalated).await?;
                continue;
            }
            if !promise::missed(created, now, false) {
                continue;
            }
            // Replicas sharing a PostgreSQL store sweep too: the first to claim it posts it.
            let name = format!("slack-escalation:{}:{}", request.channel, request.ts);
            // One holder for the claim and its release: each holder_id() is a new run.
            let holder = crate::store::holder::holder_id();
            let claimed = app
                .store
                .claim_once(&name, &holder, ESCALATION_CLAIM_MS)
                .await
                .map_err(|e| e.to_string())?;
            if !claimed {
                continue;
            }
            let text = rules::escalation(
                &area.leads,
                &slack.users,
                now - created,
                &request.web_url,
                &reference(&request),
            );
            let posted = slack
                .client
                .post_message(&request.channel, &text, Some(&request.ts))
                .await;
            if let Err(e) = posted {
                // Given back, so the next sweep (this replica's or another's) tries again.
                let _ = app.store.release_lease(&name, &holder).await;
                return Err(e.to_string());
            }
            self.mark(app, &request, SlackSaid::Escalated).await?;
        }
        Ok(())
    }

    async fn mark(&self, app: &AppState, r: &SlackRequest, what: SlackSaid) -> Result<(), String> {
        app.store
            .mark_slack_request(&r.channel, &r.ts, what)
            .await
            .map_err(|e| e.to_string())
    }
}

/// `ai-sme#12`: how the thread names the issue.
fn reference(r: &SlackRequest) -> String {
    let project = r.project.rsplit('/').next().unwrap_or(&r.project);
    format!("{project}#{}", r.issue_iid)
}

/// Whether this message already has its issue (a redelivered or retried event).
async fn known_request(
    app: &AppState,
    channel: &str,
    ts: &str,
) -> Result<Option<SlackRequest>, String> {
    app.store
        .slack_request(channel, ts)
        .await
        .map_err(|e| e.to_string())
}

/// Who asked, as the issue names them (their GitLab username when `[slack] users` maps their
/// Slack member id), and that username alone when there is one.
fn requester_names<'s>(
    slack: &'s SlackService,
    form: &rules::SlackForm,
) -> (String, Option<&'s str>) {
    let requester = form
        .requester
        .as_deref()
        .map(|id| match slack.users.get(id) {
            Some(gitlab) => gitlab.clone(),
            None => format!("Slack member {id}"),
        })
        .unwrap_or_else(|| "the request workflow".into());
    let gitlab_requester = form
        .requester
        .as_deref()
        .and_then(|id| slack.users.get(id))
        .map(String::as_str);
    (requester, gitlab_requester)
}
