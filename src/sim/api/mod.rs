//! The simulator's HTTP surface (GitLab's REST API v4). Every request takes the same way in
//! here: it is recorded, meets any fault a test switched on, is counted against the request
//! and search limits, has its parameters read, and is routed. `routes.rs` is the table of
//! every endpoint and the function that answers it; each resource (`projects.rs`,
//! `issues.rs`, ...) models one GitLab API document and names it in its first line.

mod boards;
mod epics;
mod faults;
mod groups;
mod hooks;
mod issues;
mod label_events;
mod labels;
mod limits;
mod links;
mod notes;
mod pagination;
mod params;
mod projects;
mod quick;
mod reply;
mod repository;
mod request;
mod routes;
mod users;

use super::state::Shared;
use super::RecordedRequest;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::Router;
use faults::{take_fault, FaultHit};
use params::Params;
use reply::{into_response, message, Reply};
use request::user_of;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = shared.state.lock().unwrap().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let raw_path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let method_s = method.as_str().to_string();
    let (index, fault) = {
        let mut s = shared.state.lock().unwrap();
        s.requests.push(RecordedRequest {
            method: method_s.clone(),
            path: raw_path.clone(),
            query: query.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            status: 0,
        });
        let index = s.requests.len() - 1;
        (index, take_fault(&mut s, &method_s, &raw_path))
    };
    if let Some(FaultHit::LandsLate(delay)) = fault {
        // Puma never ends a request because its client went away (it has no request timeout;
        // GitLab ends one with rack-timeout at 60 s, gitlab-foss MR 28405): a write the client
        // timed out on still lands. So it is done on its own task, however the connection ends.
        let request = (method, raw_path, query, headers, body);
        return tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let (method, raw_path, query, headers, body) = request;
            respond(shared, index, None, method, raw_path, query, headers, body).await
        })
        .await
        .unwrap_or_else(|_| into_response(message(500, "500 Internal Server Error")));
    }
    respond(shared, index, fault, method, raw_path, query, headers, body).await
}

/// The rest of a request's way once it is recorded and has met its fault.
#[allow(clippy::too_many_arguments)]
async fn respond(
    shared: Arc<Shared>,
    index: usize,
    fault: Option<FaultHit>,
    method: Method,
    raw_path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut after_apply = false;
    let mut quota: Vec<(String, String)> = Vec::new();
    let early = match fault {
        Some(FaultHit::RateLimit(secs)) => {
            let mut r = Reply::text(429, "Retry later\n".into(), "text/plain");
            r.headers.push(("Retry-After".into(), secs.to_string()));
            Some(r)
        }
        Some(FaultHit::Server) => Some(message(500, "500 Internal Server Error")),
        Some(FaultHit::NotFound) => Some(message(404, "404 Not found")),
        Some(FaultHit::Slow(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(FaultHit::AfterApply) => {
            after_apply = true;
            None
        }
        Some(FaultHit::LandsLate(_)) | None => None,
    };
    let mut reply = match early {
        Some(r) => r,
        None => {
            let mut s = shared.state.lock().unwrap();
            let user = user_of(&s, &headers);
            match limits::request_quota(&mut s, user) {
                Ok(headers) => quota.extend(headers),
                Err(r) => {
                    s.requests[index].status = r.status;
                    return into_response(*r);
                }
            }
            if let Err(r) = limits::search_quota(&mut s, user, &query) {
                s.requests[index].status = r.status;
                return into_response(*r);
            }
            if let Err(r) = limits::action_quota(&mut s, user, method.as_str(), &raw_path) {
                s.requests[index].status = r.status;
                return into_response(*r);
            }
            match Params::parse(&query, &headers, &body) {
                Err(r) => *r,
                Ok(params) => routes::dispatch(&mut s, &method, &raw_path, &headers, &params),
            }
        }
    };
    if !reply.events.is_empty() {
        shared.outbox.push(std::mem::take(&mut reply.events));
    }
    if let Some(test) = reply.test_delivery.take() {
        // API::Hooks::TriggerTest (lib/api/hooks/trigger_test.rb): 201 when the receiver
        // answered 2xx, else 422 with the execution's message.
        let status = crate::sim::webhooks::send_test(&shared, test).await;
        if !(200..300).contains(&status) {
            reply = message(
                422,
                &if status == 0 {
                    "Error: Connection refused".to_string()
                } else {
                    format!("Hook executed successfully but returned HTTP {status}")
                },
            );
        }
    }
    if after_apply {
        reply = message(502, "502 Bad Gateway");
    }
    reply.headers.extend(quota);
    shared.state.lock().unwrap().requests[index].status = reply.status;
    into_response(reply)
}
