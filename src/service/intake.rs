//! The HTTP side of `serve`: authenticate, check, store, answer. It never waits on GitLab.

use super::metrics::Metrics;
use super::AppState;
use crate::gitlab::webhook::WebhookEvent;
use crate::service::auth::Verdict;
use crate::store::NewDelivery;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// GitLab's payloads are a few KiB; anything near this is not a webhook.
pub const MAX_BODY: usize = 1024 * 1024;

/// Event kinds smeflow acts on; every other kind is acknowledged and dropped.
const HANDLED: [&str; 4] = [
    "Issue Hook",
    "Confidential Issue Hook",
    "Note Hook",
    "Confidential Note Hook",
];

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

pub async fn receive(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let m = &app.metrics;
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Metrics::inc(&m.too_large);
                return answer(
                    status,
                    json!({"error": format!("body larger than {MAX_BODY} bytes")}),
                );
            }
            Metrics::inc(&m.bad_request);
            return answer(status, json!({"error": rejection.body_text()}));
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match app
        .secrets
        .verify(header, &body, chrono::Utc::now().timestamp())
    {
        Verdict::Accepted => {}
        _ if app.insecure => {}
        verdict => {
            Metrics::inc(&m.unauthorized);
            let why = match verdict {
                Verdict::Missing => "missing X-Gitlab-Token (or webhook-signature) header",
                Verdict::Stale => "signed delivery outside the replay window",
                _ => "invalid token or signature",
            };
            tracing::warn!(why, "refused webhook delivery");
            return answer(StatusCode::UNAUTHORIZED, json!({"error": why}));
        }
    }
    let Some(event) = header("x-gitlab-event").map(str::to_string) else {
        Metrics::inc(&m.bad_request);
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "missing X-Gitlab-Event header"}),
        );
    };
    let parsed = match crate::gitlab::webhook::parse(&body) {
        Ok(event) => event,
        Err(e) => {
            Metrics::inc(&m.bad_request);
            return answer(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}));
        }
    };
    if !HANDLED.contains(&event.as_str()) {
        Metrics::inc(&m.ignored);
        return answer(
            StatusCode::ACCEPTED,
            json!({"status": "ignored", "reason": format!("smeflow does not handle {event}")}),
        );
    }
    let target = match &parsed {
        WebhookEvent::Ignored(reason) => {
            Metrics::inc(&m.ignored);
            return answer(
                StatusCode::ACCEPTED,
                json!({"status": "ignored", "reason": reason}),
            );
        }
        event => event.target().map(|(p, iid)| (p.to_string(), iid)),
    };
    let Some(target) = target else {
        Metrics::inc(&m.ignored);
        return answer(
            StatusCode::ACCEPTED,
            json!({"status": "ignored", "reason": "not about an issue"}),
        );
    };
    let dedupe_key = header("idempotency-key")
        .or_else(|| header("webhook-id"))
        .or_else(|| header("x-gitlab-event-uuid"))
        .map(str::to_string)
        .unwrap_or_else(|| body_digest(&body));
    let delivery = NewDelivery {
        dedupe_key,
        event,
        project_path: Some(target.0),
        issue_iid: Some(target.1),
        body: body.to_vec(),
    };
    match app.store.insert(delivery).await {
        Ok(true) => {
            Metrics::inc(&m.accepted);
            app.wake.notify_one();
            answer(StatusCode::ACCEPTED, json!({"status": "accepted"}))
        }
        Ok(false) => {
            Metrics::inc(&m.duplicates);
            answer(StatusCode::ACCEPTED, json!({"status": "duplicate"}))
        }
        Err(e) => {
            Metrics::inc(&m.store_errors);
            tracing::error!(error = %e, "could not store delivery");
            // GitLab re-sends on failure only by hand, but a 503 shows up in its hook log.
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "store unavailable, try again"}),
            )
        }
    }
}

fn body_digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(body);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let store = app.store.clone();
    let ok = tokio::task::spawn_blocking(move || store.writable())
        .await
        .unwrap_or(false);
    if ok {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store not writable\n").into_response()
    }
}

pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let store = app.store.clone();
    let counts = tokio::task::spawn_blocking(move || store.counts().unwrap_or_default())
        .await
        .unwrap_or_default();
    (
        [("content-type", "text/plain; version=0.0.4")],
        app.metrics.render(&counts),
    )
        .into_response()
}
