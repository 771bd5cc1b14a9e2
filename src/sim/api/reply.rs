//! What a handler answers: a status, a JSON or text body, headers, and the webhook events the
//! change fires; and GitLab's two error body shapes (`{"message": ...}` and `{"error": ...}`),
//! so every resource words its errors alike.

use crate::sim::webhooks::Event;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub text: Option<(String, &'static str)>,
    pub headers: Vec<(String, String)>,
    pub events: Vec<Event>,
    /// A hook's test request, sent before the answer is given (its status decides it).
    pub test_delivery: Option<Event>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            text: None,
            headers: Vec::new(),
            events: Vec::new(),
            test_delivery: None,
        }
    }
    pub(super) fn text(status: u16, text: String, content_type: &'static str) -> Reply {
        Reply {
            status,
            body: None,
            text: Some((text, content_type)),
            headers: Vec::new(),
            events: Vec::new(),
            test_delivery: None,
        }
    }
    pub(super) fn with_events(mut self, events: Vec<Event>) -> Reply {
        self.events = events;
        self
    }
}

pub(super) fn message(status: u16, msg: &str) -> Reply {
    Reply::json(status, json!({ "message": msg }))
}
pub(super) fn error(status: u16, msg: &str) -> Reply {
    Reply::json(status, json!({ "error": msg }))
}
pub(super) fn no_route() -> Reply {
    error(404, "404 Not Found")
}
pub(super) fn forbidden() -> Reply {
    message(403, "403 Forbidden")
}

pub(super) fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match (reply.body, reply.text) {
        (_, Some((text, ct))) => (status, [("content-type", ct)], text).into_response(),
        (Some(body), None) => (status, axum::Json(body)).into_response(),
        (None, None) => status.into_response(),
    };
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k),
            axum::http::HeaderValue::try_from(v),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}
