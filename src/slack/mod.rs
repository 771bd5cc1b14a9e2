//! Slack: the only place that knows Slack's Web API URLs and JSON shapes. `events` parses what
//! Slack sends to `serve`, `signing` checks that Slack sent it, and [`Slack`] calls the Web API
//! (https://api.slack.com/web: `POST {base}/{method}` with `Authorization: Bearer xoxb-…`, JSON
//! body, answered HTTP 200 with `{"ok": true, …}` or `{"ok": false, "error": "…"}`) at Slack's
//! pace: `chat.postMessage` about one message a second per channel, and a 429 waits its
//! `Retry-After` (https://api.slack.com/apis/rate-limits).

pub mod events;
pub mod signing;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const DEFAULT_API_URL: &str = "https://slack.com/api";
pub const TOKEN_ENV: &str = "SLACK_BOT_TOKEN";
pub const SIGNING_SECRET_ENV: &str = "SLACK_SIGNING_SECRET";
pub const API_URL_ENV: &str = "SMEFLOW_SLACK_API_URL";

/// Slack's documented pace for `chat.postMessage`: one message a second per channel.
pub const MESSAGE_GAP: Duration = Duration::from_secs(1);
/// 429s in a row before a call gives up (it is retried later with the event).
const MAX_RATE_LIMITED: usize = 5;
/// A `Retry-After` longer than this is capped: the event is retried later instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack {method} answered \"{error}\"{hint}")]
    Api {
        method: &'static str,
        error: String,
        hint: &'static str,
    },
    #[error("Slack {method}: {message}")]
    Http {
        method: &'static str,
        message: String,
    },
    #[error("Slack {method} is still rate limited after {MAX_RATE_LIMITED} waits")]
    RateLimited { method: &'static str },
}

/// A Slack Web API client with the bot token. Its Debug never shows the token.
#[derive(Clone)]
pub struct Slack {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Per channel, when it may next get a message; held across a post, so a post that waits
    /// out a 429 also holds back the next one.
    next_post: std::sync::Arc<std::sync::Mutex<HashMap<String, Turn>>>,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack").field("base", &self.base).finish()
    }
}

type Turn = std::sync::Arc<tokio::sync::Mutex<Instant>>;

/// A Slack user as `users.info` describes them (only what smeflow reads).
#[derive(Debug, Clone, PartialEq)]
pub struct SlackUser {
    pub id: String,
    pub email: Option<String>,
}

impl Slack {
    pub fn new(base: &str, token: &str) -> Slack {
        Slack {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            next_post: Default::default(),
        }
    }

    /// Posts `text` in `channel` (in the thread of `thread_ts` when given); returns the new
    /// message's `ts` (https://api.slack.com/methods/chat.postMessage).
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<String, SlackError> {
        let turn = self.turn(channel);
        let mut next = turn.lock().await;
        let wait = next.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let mut body = json!({"channel": channel, "text": text, "unfurl_links": false});
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", &body, Encoding::Json).await;
        *next = Instant::now() + MESSAGE_GAP;
        let answer = answer?;
        Ok(answer["ts"].as_str().unwrap_or_default().to_string())
    }

    /// `users.info` (https://api.slack.com/methods/users.info); the e-mail address needs the
    /// `users:read.email` scope and is absent without it.
    pub async fn user(&self, id: &str) -> Result<SlackUser, SlackError> {
        // A read method: its arguments go as a form (https://api.slack.com/web#posting_json).
        let answer = self
            .call("users.info", &json!({ "user": id }), Encoding::Form)
            .await?;
        Ok(SlackUser {
            id: id.to_string(),
            email: answer["user"]["profile"]["email"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_string),
        })
    }

    fn turn(&self, channel: &str) -> Turn {
        self.next_post
            .lock()
            .expect("pacing map")
            .entry(channel.to_string())
            .or_insert_with(|| std::sync::Arc::new(tokio::sync::Mutex::new(Instant::now())))
            .clone()
    }

    async fn call(
        &self,
        method: &'static str,
        body: &Value,
        encoding: Encoding,
    ) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base);
        for _ in 0..MAX_RATE_LIMITED {
            let req = self.http.post(&url).bearer_auth(&self.token);
            let req = match encoding {
                Encoding::Json => req.json(body),
                Encoding::Form => {
                    let pairs: Vec<(String, String)> = body
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    req.form(&pairs)
                }
            };
            let resp = req.send().await.map_err(|e| SlackError::Http {
                method,
                message: e.without_url().to_string(),
            })?;
            if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let after = retry_after(resp.headers());
                tracing::warn!(
                    method,
                    retry_after_ms = after.as_millis() as u64,
                    "Slack rate limit: waiting"
                );
                tokio::time::sleep(after).await;
                continue;
            }
            if !resp.status().is_success() {
                return Err(SlackError::Http {
                    method,
                    message: format!("HTTP {}", resp.status()),
                });
            }
            let answer: Value = resp.json().await.map_err(|e| SlackError::Http {
                method,
                message: e.without_url().to_string(),
            })?;
            if answer["ok"] == true {
                return Ok(answer);
            }
            let error = answer["error"].as_str().unwrap_or("unknown").to_string();
            return Err(SlackError::Api {
                method,
                hint: hint(&error),
                error,
            });
        }
        Err(SlackError::RateLimited { method })
    }
}

/// How a method takes its arguments: write methods JSON, read methods a form.
#[derive(Clone, Copy)]
enum Encoding {
    Json,
    Form,
}

/// Seconds (Slack sends whole seconds), at least one, at most `MAX_RETRY_AFTER`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let secs = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    Duration::from_secs(secs).min(MAX_RETRY_AFTER)
}

/// What to do about the errors a misconfigured app meets (https://api.slack.com/web#errors).
fn hint(error: &str) -> &'static str {
    match error {
        "not_in_channel" | "channel_not_found" => {
            ": invite the smeflow app to the channel (/invite @smeflow) and check the channel id in smeflow.toml"
        }
        "missing_scope" => ": add the scopes the README's Slack section lists, then reinstall the app",
        "invalid_auth" | "not_authed" | "token_revoked" => {
            ": SLACK_BOT_TOKEN is not a valid bot token (xoxb-…) for this workspace"
        }
        _ => "",
    }
}
