//! The HTTP side of `serve`: authenticate, check, store, answer. It never waits on GitLab.

use super::metrics::Metrics;
use super::AppState;
use crate::gitlab::webhook::{self, WebhookEvent};
use crate::service::auth::Verdict;
use crate::store::NewDelivery;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// The largest delivery taken. An issue's description may be 1 MB (1,048,576 characters,
/// GitLab's limit), and an update hook carries it three times (`object_attributes` and both
/// sides of `changes.description`); JSON escaping of newlines and quotes adds to that. 8 MiB
/// takes such a delivery with room to spare; anything larger is not one of GitLab's.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Bodies up to this size are read at once; a larger one waits for one of
/// `LARGE_BODIES_AT_ONCE` places, so large deliveries held in memory stay bounded
/// (4 × 8 MiB) however many arrive together.
pub const SMALL_BODY: usize = 1024 * 1024;
pub const LARGE_BODIES_AT_ONCE: usize = 4;

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

/// An answer after which the connection is closed: the client may still be sending a body
/// smeflow will not read.
fn answer_and_close(status: StatusCode, body: Value) -> Response {
    let mut resp = answer(status, body);
    resp.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    resp
}

fn refuse(m: &Metrics, verdict: Verdict) -> Response {
    Metrics::inc(&m.unauthorized);
    let why = match verdict {
        Verdict::Missing => "missing X-Gitlab-Token (or webhook-signature) header",
        Verdict::Stale => "signed delivery outside the replay window",
        _ => "invalid token or signature",
    };
    tracing::warn!(why, "refused webhook delivery");
    answer_and_close(StatusCode::UNAUTHORIZED, json!({"error": why}))
}

enum BodyError {
    TooLarge,
    Broken(String),
}

/// Reads the body up to `limit` bytes, stopping as soon as it is exceeded. Past
/// `SMALL_BODY` it holds one of the large-body places (taken before reading when the head
/// declares a large body), released when the delivery is answered.
async fn read_body<'a>(
    mut body: Body,
    limit: usize,
    large: &'a tokio::sync::Semaphore,
    mut place: Option<tokio::sync::SemaphorePermit<'a>>,
) -> Result<(Bytes, Option<tokio::sync::SemaphorePermit<'a>>), BodyError> {
    use axum::body::HttpBody;
    let mut buf = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            if place.is_none() && buf.len() + data.len() > SMALL_BODY {
                place = Some(
                    large
                        .acquire()
                        .await
                        .map_err(|e| BodyError::Broken(e.to_string()))?,
                );
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok((buf.into(), place))
}

/// What a refused client already sends is read and thrown away (a few MiB at most, within the
/// body timeout), so it can read the answer instead of a connection reset; nothing is kept. A
/// client waiting on `Expect: 100-continue` sends nothing until asked, so it is not asked.
async fn drain_unless_waiting(headers: &HeaderMap, mut body: Body, timeout: std::time::Duration) {
    use axum::body::HttpBody;
    const DRAIN_AT_MOST: usize = 4 * MAX_BODY;
    let waiting = headers
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if waiting {
        return;
    }
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_AT_MOST {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, drain).await;
}

pub async fn receive(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    // Every stage either hands the delivery on or is the answer itself.
    match take_in(&app, &headers, body).await {
        Ok(answer) | Err(answer) => answer,
    }
}

/// A delivery from its head to its row in the store: the head is judged first, then the body
/// is read and verified, then what it is about, then it is stored.
async fn take_in(app: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, Response> {
    let m = &app.metrics;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let (decided, body) = judge_head(app, headers, declared, body).await?;
    // Held until the delivery is answered: its bytes are in memory until then.
    let (body, _place) = read_in_time(app, declared, body).await?;
    if decided.is_none() {
        match app
            .secrets
            .verify(header, &body, chrono::Utc::now().timestamp())
        {
            Verdict::Accepted => {}
            verdict => return Err(refuse(m, verdict)),
        }
    }
    let Some(event) = header("x-gitlab-event").map(str::to_string) else {
        Metrics::inc(&m.bad_request);
        return Err(answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "missing X-Gitlab-Event header"}),
        ));
    };
    let target = target_of(m, &body)?;
    if !HANDLED.contains(&event.as_str()) {
        Metrics::inc(&m.ignored);
        return Err(answer(
            StatusCode::ACCEPTED,
            json!({"status": "ignored", "reason": format!("smeflow does not handle {event}")}),
        ));
    }
    let target = target.map_err(|reason| {
        Metrics::inc(&m.ignored);
        answer(
            StatusCode::ACCEPTED,
            json!({"status": "ignored", "reason": reason}),
        )
    })?;
    // `webhook-id` first: on a signed delivery it is covered by the signature, while a replayer
    // can set any Idempotency-Key. GitLab sends the same value in both (WebHookService), signed
    // or not, so unsigned deliveries dedupe as before.
    let dedupe_key = header("webhook-id")
        .or_else(|| header("idempotency-key"))
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
    Ok(store(app, delivery).await)
}

/// Whatever the head alone condemns is answered before a byte of body is buffered; a client
/// waiting on `Expect: 100-continue` never gets to send it. Gives the body back with the
/// verdict of the headers (`None`: only the body's signature can tell).
async fn judge_head(
    app: &AppState,
    headers: &HeaderMap,
    declared: Option<u64>,
    body: Body,
) -> Result<(Option<Verdict>, Body), Response> {
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        drain_unless_waiting(headers, body, app.body_timeout).await;
        return Err(too_large(&app.metrics));
    }
    let decided = if app.insecure {
        Some(Verdict::Accepted)
    } else {
        app.secrets
            .verify_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))
    };
    match decided {
        Some(Verdict::Accepted) | None => Ok((decided, body)),
        Some(verdict) => {
            drain_unless_waiting(headers, body, app.body_timeout).await;
            Err(refuse(&app.metrics, verdict))
        }
    }
}

/// The body, within the body timeout and `MAX_BODY`, with the large-body place it holds.
async fn read_in_time<'a>(
    app: &'a AppState,
    declared: Option<u64>,
    body: Body,
) -> Result<(Bytes, Option<tokio::sync::SemaphorePermit<'a>>), Response> {
    let m = &app.metrics;
    let read = async {
        let place = match declared {
            Some(n) if n > SMALL_BODY as u64 => match app.large_bodies.acquire().await {
                Ok(place) => Some(place),
                Err(e) => return Err(BodyError::Broken(e.to_string())),
            },
            _ => None,
        };
        read_body(body, MAX_BODY, &app.large_bodies, place).await
    };
    match tokio::time::timeout(app.body_timeout, read).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(BodyError::TooLarge)) => Err(too_large(m)),
        Ok(Err(BodyError::Broken(e))) => {
            Metrics::inc(&m.bad_request);
            Err(answer_and_close(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("cannot read the body: {e}")}),
            ))
        }
        Err(_) => {
            Metrics::inc(&m.bad_request);
            Err(answer_and_close(
                StatusCode::REQUEST_TIMEOUT,
                json!({"error": format!("body not received within {} s", app.body_timeout.as_secs_f64())}),
            ))
        }
    }
}

fn too_large(m: &Metrics) -> Response {
    Metrics::inc(&m.too_large);
    answer_and_close(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"error": format!("body larger than {MAX_BODY} bytes")}),
    )
}

/// The issue a delivery is about (`Ok(Err(reason))`: it is about none, and is ignored), or
/// the 400 for a body that is not a webhook.
// The 400 is the rare path, answered once per bad body; boxing it would cost every delivery.
#[allow(clippy::result_large_err)]
fn target_of(m: &Metrics, body: &[u8]) -> Result<Result<(String, u64), String>, Response> {
    // Building the whole document before the commit was half of intake's own CPU per delivery
    // (issue 11): the glance reads only the target, and `parse` still decides every delivery
    // that is not plainly about an issue, with the same answers as before.
    if let Some(target) = webhook::glance_target(body) {
        return Ok(Ok(target));
    }
    match webhook::parse(body) {
        Err(e) => {
            Metrics::inc(&m.bad_request);
            Err(answer(
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string()}),
            ))
        }
        Ok(WebhookEvent::Ignored(reason)) => Ok(Err(reason)),
        Ok(event) => Ok(event
            .target()
            .map(|(p, iid)| (p.to_string(), iid))
            .ok_or_else(|| "not about an issue".to_string())),
    }
}

/// Stores the delivery once (a second copy is a duplicate) and wakes a worker for it.
async fn store(app: &AppState, delivery: NewDelivery) -> Response {
    let m = &app.metrics;
    match app.store.insert(delivery).await {
        Ok(true) => {
            Metrics::inc(&m.accepted);
            app.wake.notify_one();
            accepted()
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

/// The answer to nearly every delivery, written once rather than built and serialised per
/// request.
fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        r#"{"status":"accepted"}"#,
    )
        .into_response()
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

/// Ready only when a delivery stored now would survive a restart: a real write succeeds, the
/// last commit did, and the file at the store's path is still the one this process opened.
pub async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    use std::sync::atomic::Ordering;
    let not_ready = |why: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
    };
    // Deliveries answered 202 must be worked off: with fewer workers running than started
    // (one ended on a bug), this process is not what it says it is.
    let started = app.workers_started.load(Ordering::Relaxed);
    let running = app.metrics.workers_running.load(Ordering::Relaxed);
    if running < started && !*app.stopping.borrow() {
        tracing::error!(started, running, "not ready: workers stopped");
        return not_ready("workers stopped");
    }
    match app.store.readiness().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => {
            // The detail (paths, database errors) is for the log, not for whoever asks.
            tracing::error!(%why, "not ready: deliveries cannot be stored durably");
            match why {
                crate::store::queue::NotReady::WriteFailed(_) => {
                    not_ready("deliveries cannot be stored (see the log)")
                }
                fixed => not_ready(&fixed.to_string()),
            }
        }
    }
}

pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let counts = app.store.counts().await.unwrap_or_default();
    let queue = app.store.queue_stats().await.unwrap_or_default();
    let mut text = app.metrics.render(&counts);
    text.push_str(&app.metrics.render_queue(
        &queue,
        crate::store::now_ms(),
        app.outage.is_paused(),
    ));
    if app.slack.get().is_some() {
        text.push_str(&super::slack::metrics(&app.store).await);
    }
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// A worker that ended (a panic that escaped containment, say) makes this process not
    /// ready: it would answer 202 for deliveries nobody works off. Through the binary the
    /// containment keeps every worker alive, so this is only reachable here.
    #[tokio::test]
    async fn not_ready_while_fewer_workers_run_than_were_started() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("s.db")).unwrap();
        let app = Arc::new(AppState::new(store, Default::default(), true, None));
        app.workers_started.store(2, Ordering::Relaxed);
        let first = super::super::Alive::new(&app);
        let second = super::super::Alive::new(&app);
        let status = |app: Arc<AppState>| async move { readyz(State(app)).await.status() };
        assert_eq!(status(app.clone()).await, StatusCode::OK);
        drop(second);
        let resp = readyz(State(app.clone())).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"not ready: workers stopped\n");
        // Stopping on purpose is not a failure of readiness' kind.
        app.stopping.send_replace(true);
        drop(first);
        assert_eq!(status(app).await, StatusCode::OK);
    }
}
