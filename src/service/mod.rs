//! `smeflow serve`: the webhook receiver, the background worker, and the health endpoints.

pub mod auth;
pub mod intake;
pub mod metrics;

use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct AppState {
    pub store: Store,
    pub secrets: auth::Secrets,
    pub metrics: metrics::Metrics,
    /// Wakes the workers as soon as a delivery is stored, instead of waiting for their poll.
    pub wake: Notify,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/gitlab", post(intake::receive))
        .route("/healthz", get(intake::healthz))
        .route("/readyz", get(intake::readyz))
        .route("/metrics", get(intake::metrics))
        .layer(DefaultBodyLimit::max(intake::MAX_BODY))
        .with_state(state)
}
