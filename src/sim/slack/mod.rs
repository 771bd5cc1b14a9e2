//! A Slack simulator for the tests and `smeflow demo`: real HTTP on loopback, modelled on
//! Slack's API documentation, not on what smeflow expects.
//!
//! - Web API (https://api.slack.com/web): `POST /api/<method>` with `Authorization: Bearer`;
//!   every answer is HTTP 200 with `{"ok": true, …}` or `{"ok": false, "error": "…"}`, except a
//!   rate limit: HTTP 429 with `Retry-After` seconds (https://api.slack.com/apis/rate-limits).
//!   JSON bodies are taken by write methods only (https://api.slack.com/web#posting_json), so
//!   `users.info` reads its arguments from a form or the query string.
//! - `chat.postMessage` (https://api.slack.com/methods/chat.postMessage): `channel`, `text`,
//!   `thread_ts`; `not_in_channel` for a channel the app was not invited to; returns `ts`.
//! - `users.info` (https://api.slack.com/methods/users.info): `user.profile.email` present only
//!   for users with an address; `user_not_found` otherwise.
//! - Events (https://api.slack.com/apis/events-api): sent to smeflow's Request URL as an
//!   `event_callback` envelope, signed as "Verifying requests from Slack" describes; a retry
//!   (https://api.slack.com/apis/events-api#retries) is the same envelope and `event_id`, signed
//!   anew, with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`.

use crate::slack::signing;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A message the app posted.
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub ts: String,
    pub at: Instant,
}

/// One Web API call as the simulator saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
struct State_ {
    token: String,
    /// Channels the app is a member of.
    channels: BTreeSet<String>,
    /// Slack member id -> e-mail address.
    users: BTreeMap<String, Option<String>>,
    posted: Vec<Posted>,
    calls: Vec<Call>,
    /// The next n chat.postMessage calls get 429 with this Retry-After.
    rate_limited: Option<(usize, u64)>,
    next_ts: u64,
    next_event: u64,
    /// Sent envelopes by event_id, to send again as Slack's retries.
    sent: BTreeMap<String, Vec<u8>>,
}

/// A running Slack. Cloning shares it.
#[derive(Clone)]
pub struct SlackSim {
    state: Arc<Mutex<State_>>,
    url: String,
    signing_secret: String,
    http: reqwest::Client,
}

impl SlackSim {
    /// Serves on 127.0.0.1 (any free port) from the current tokio runtime. `token` is the bot
    /// token it accepts, `signing_secret` what it signs events with.
    pub async fn start(token: &str, signing_secret: &str) -> SlackSim {
        let state = Arc::new(Mutex::new(State_ {
            token: token.to_string(),
            next_ts: 1,
            next_event: 1,
            ..State_::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::post(web_api).get(web_api))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SlackSim {
            state,
            url,
            signing_secret: signing_secret.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// The Web API base smeflow is pointed at (SMEFLOW_SLACK_API_URL).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    /// The app is invited to this channel.
    pub fn add_channel(&self, id: &str) {
        self.state.lock().unwrap().channels.insert(id.to_string());
    }

    pub fn add_user(&self, id: &str, email: Option<&str>) {
        self.state
            .lock()
            .unwrap()
            .users
            .insert(id.to_string(), email.map(str::to_string));
    }

    /// The next `count` chat.postMessage calls are answered 429 with `Retry-After: secs`.
    pub fn rate_limit(&self, count: usize, secs: u64) {
        self.state.lock().unwrap().rate_limited = Some((count, secs));
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.state.lock().unwrap().posted.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    fn new_ts(&self) -> String {
        let mut s = self.state.lock().unwrap();
        s.next_ts += 1;
        format!("{}.{:06}", chrono::Utc::now().timestamp(), s.next_ts)
    }

    fn envelope(&self, event: Value) -> (String, Vec<u8>) {
        let id = {
            let mut s = self.state.lock().unwrap();
            s.next_event += 1;
            format!("Ev{:010}", s.next_event)
        };
        let body = json!({
            "token": "verification-token-unused",
            "team_id": "T0SIM",
            "api_app_id": "A0SMEFLOW",
            "event": event,
            "type": "event_callback",
            "event_id": id,
            "event_time": chrono::Utc::now().timestamp(),
        });
        let bytes = serde_json::to_vec(&body).expect("JSON");
        self.state
            .lock()
            .unwrap()
            .sent
            .insert(id.clone(), bytes.clone());
        (id, bytes)
    }

    /// The request workflow posts `text` in `channel`: a `message` event with
    /// `subtype: bot_message` (https://api.slack.com/events/message/bot_message) is sent to
    /// `url`. Returns the message's ts, the event id and smeflow's HTTP status.
    pub async fn workflow_posts(
        &self,
        url: &str,
        channel: &str,
        text: &str,
    ) -> (String, String, u16) {
        let ts = self.new_ts();
        let (id, body) = self.envelope(json!({
            "type": "message", "subtype": "bot_message", "bot_id": "B0WORKFLOW",
            "channel": channel, "channel_type": "channel", "text": text, "ts": ts.clone(),
            "event_ts": ts.clone(),
        }));
        let status = self.send(url, &body, None).await;
        (ts, id, status)
    }

    /// `user` puts `reaction` on the message `ts` of `channel`. Returns the event id and status.
    pub async fn react(
        &self,
        url: &str,
        user: &str,
        reaction: &str,
        channel: &str,
        ts: &str,
    ) -> (String, u16) {
        let now = self.new_ts();
        let (id, body) = self.envelope(json!({
            "type": "reaction_added", "user": user, "reaction": reaction,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": now,
        }));
        (id.clone(), self.send(url, &body, None).await)
    }

    /// Slack sends the event again (it saw no 2xx within 3 seconds): same body, a fresh
    /// signature, `X-Slack-Retry-Num: n` and `X-Slack-Retry-Reason: http_timeout`.
    pub async fn retry(&self, url: &str, event_id: &str, n: u32) -> u16 {
        let body = self.state.lock().unwrap().sent.get(event_id).cloned();
        let Some(body) = body else { return 0 };
        self.send(url, &body, Some(n)).await
    }

    /// The Request URL check: a `url_verification` with a challenge. Returns status and body.
    pub async fn verify_url(&self, url: &str) -> (u16, String) {
        let body = br#"{"token":"unused","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let resp = self
            .signed(url, body)
            .send()
            .await
            .expect("smeflow answers");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    /// A POST of `body` signed now, as Slack signs every request it sends.
    fn signed(&self, url: &str, body: &[u8]) -> reqwest::RequestBuilder {
        let ts = chrono::Utc::now().timestamp().to_string();
        self.http
            .post(url)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", &ts)
            .header(
                "x-slack-signature",
                signing::sign(self.signing_secret.as_bytes(), &ts, body),
            )
            .body(body.to_vec())
    }

    async fn send(&self, url: &str, body: &[u8], retry: Option<u32>) -> u16 {
        let mut req = self.signed(url, body);
        if let Some(n) = retry {
            req = req
                .header("x-slack-retry-num", n.to_string())
                .header("x-slack-retry-reason", "http_timeout");
        }
        match req.send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }
}

fn ok(v: Value) -> Response {
    let mut v = v;
    v["ok"] = json!(true);
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn fail(error: &str) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": false, "error": error})),
    )
        .into_response()
}

/// Arguments from a JSON body (write methods), a form body, or the query string.
fn arguments(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    json_allowed: bool,
) -> Option<BTreeMap<String, String>> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        if !json_allowed {
            return None;
        }
        let v: Value = serde_json::from_slice(body).ok()?;
        return Some(
            v.as_object()?
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect(),
        );
    }
    let mut args: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    args.extend(form_urlencoded::parse(body).into_owned());
    Some(args)
}

async fn web_api(
    State(state): State<Arc<Mutex<State_>>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let record = |s: &mut State_, status: u16| {
        s.calls.push(Call {
            method: method.clone(),
            status,
            at: Instant::now(),
        })
    };
    if token != Some(s.token.as_str()) {
        record(&mut s, 200);
        return fail(if token.is_none() {
            "not_authed"
        } else {
            "invalid_auth"
        });
    }
    match method.as_str() {
        "chat.postMessage" => {
            if let Some((n, secs)) = s.rate_limited {
                if n > 0 {
                    s.rate_limited = (n > 1).then_some((n - 1, secs));
                    record(&mut s, 429);
                    let mut resp = (
                        StatusCode::TOO_MANY_REQUESTS,
                        axum::Json(json!({"ok": false, "error": "ratelimited"})),
                    )
                        .into_response();
                    resp.headers_mut()
                        .insert("retry-after", secs.to_string().parse().expect("digits"));
                    return resp;
                }
            }
            record(&mut s, 200);
            let Some(args) = arguments(&headers, query.as_deref(), &body, true) else {
                return fail("invalid_arguments");
            };
            let Some(channel) = args.get("channel").filter(|c| !c.is_empty()) else {
                return fail("channel_not_found");
            };
            if !s.channels.contains(channel) {
                return fail("not_in_channel");
            }
            let Some(text) = args.get("text").filter(|t| !t.is_empty()) else {
                return fail("no_text");
            };
            s.next_ts += 1;
            let ts = format!("{}.{:06}", chrono::Utc::now().timestamp(), s.next_ts);
            let thread_ts = args.get("thread_ts").filter(|t| !t.is_empty()).cloned();
            s.posted.push(Posted {
                channel: channel.clone(),
                text: text.clone(),
                thread_ts: thread_ts.clone(),
                ts: ts.clone(),
                at: Instant::now(),
            });
            ok(
                json!({"channel": channel, "ts": ts, "message": {"type": "message", "text": text, "ts": ts, "thread_ts": thread_ts, "bot_id": "B0SMEFLOW"}}),
            )
        }
        "users.info" => {
            record(&mut s, 200);
            let Some(args) = arguments(&headers, query.as_deref(), &body, false) else {
                return fail("invalid_arguments");
            };
            let id = args.get("user").cloned().unwrap_or_default();
            match s.users.get(&id) {
                Some(email) => {
                    let mut profile = json!({"real_name": id, "display_name": id});
                    if let Some(e) = email {
                        profile["email"] = json!(e);
                    }
                    ok(
                        json!({"user": {"id": id, "team_id": "T0SIM", "name": id, "deleted": false, "profile": profile}}),
                    )
                }
                None => fail("user_not_found"),
            }
        }
        _ => {
            record(&mut s, 200);
            fail("unknown_method")
        }
    }
}
