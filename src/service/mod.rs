//! `smeflow serve`: the webhook receiver, the background worker, and the health endpoints.

pub mod auth;
pub mod dashboard;
pub mod intake;
pub mod metrics;
pub mod scheduler;
pub mod worker;

use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct AppState {
    pub store: Store,
    pub secrets: auth::Secrets,
    pub insecure: bool,
    pub metrics: metrics::Metrics,
    /// Wakes the workers as soon as a delivery is stored, instead of waiting for their poll.
    pub wake: Notify,
    /// Per project: workers share it, a sync takes it alone, so a sync never decides about an
    /// issue while a worker is changing it (that could write a note twice).
    pub area_locks: std::collections::HashMap<String, tokio::sync::RwLock<()>>,
    /// The read-only dashboard at `GET /`, set at start-up when SMEFLOW_DASHBOARD_TOKEN is.
    pub dashboard: std::sync::OnceLock<Arc<dashboard::Dashboard>>,
}

impl AppState {
    pub fn new(
        store: crate::store::Store,
        secrets: auth::Secrets,
        insecure: bool,
        catalog: Option<&crate::config::Catalog>,
    ) -> AppState {
        let area_locks = catalog
            .map(|c| {
                c.config
                    .areas
                    .iter()
                    .map(|a| {
                        (
                            a.project_full_path(&c.config.gitlab.group),
                            tokio::sync::RwLock::new(()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        AppState {
            store,
            secrets,
            insecure,
            metrics: metrics::Metrics::default(),
            wake: Notify::new(),
            area_locks,
            dashboard: std::sync::OnceLock::new(),
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/gitlab", post(intake::receive))
        .route("/healthz", get(intake::healthz))
        .route("/readyz", get(intake::readyz))
        .route("/metrics", get(intake::metrics))
        .route("/", get(dashboard::page).post(dashboard::login))
        .layer(DefaultBodyLimit::max(intake::MAX_BODY))
        .with_state(state)
}

/// Everything `serve` needs, resolved from flags, environment and config.
pub struct ServeOptions {
    pub listen: std::net::SocketAddr,
    pub state: std::path::PathBuf,
    pub workers: usize,
    pub secrets: auth::Secrets,
    /// `--insecure-accept-unsigned-webhooks`: no secret configured, accept everything.
    pub insecure: bool,
    /// Run `sync-board` for every area at start-up and on `[feedback] sync_schedule`.
    pub sync: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(
        "cannot listen on {addr}: {source} (is another smeflow already running? pass --listen)"
    )]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot identify smeflow's GitLab user: {0}")]
    Identity(crate::gitlab::GitLabError),
}

/// A started service: intake listening, workers running.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub app: Arc<AppState>,
    pub bot: crate::gitlab::types::User,
    listener: tokio::net::TcpListener,
}

/// Opens the store (taking up work a killed process left), identifies smeflow's GitLab user,
/// starts the workers and binds the listener.
pub async fn start(
    opts: ServeOptions,
    catalog: &crate::config::Catalog,
    gitlab: crate::gitlab::GitLab,
) -> Result<Running, ServeError> {
    let store = crate::store::Store::open(&opts.state)?;
    let recovered = store.recover()?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "taking up deliveries a previous run left in progress"
        );
    }
    let bot: crate::gitlab::types::User =
        gitlab.current_user().await.map_err(ServeError::Identity)?;
    let app = Arc::new(AppState::new(
        store,
        opts.secrets,
        opts.insecure,
        Some(catalog),
    ));
    match dashboard::Dashboard::from_env(catalog, gitlab.clone()) {
        Ok(Some(d)) => {
            let _ = app.dashboard.set(Arc::new(d));
        }
        Ok(None) => {}
        Err(why) => tracing::error!("{why}"),
    }
    let worker = Arc::new(worker::Worker::new(gitlab.clone(), bot.clone(), catalog));
    if opts.sync {
        tokio::spawn(scheduler::run(
            Arc::new(catalog.clone()),
            gitlab,
            app.clone(),
        ));
    }
    if opts.workers == 0 {
        tracing::warn!("--workers 0: deliveries are stored but not processed by this process");
    }
    for n in 0..opts.workers {
        tokio::spawn(worker.clone().run(app.clone(), n));
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(opts.listen);
    tracing::info!(%addr, user = bot.username, state = %opts.state.display(), "smeflow serve is listening");
    Ok(Running {
        addr,
        app,
        bot,
        listener,
    })
}

impl Running {
    /// Serves until `shutdown` completes.
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = self.addr;
        axum::serve(self.listener, router(self.app))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| ServeError::Listen { addr, source })
    }

    /// True when nothing is waiting to be worked off.
    pub fn idle(&self) -> bool {
        Idle(self.app.clone()).idle()
    }
}

/// Asks the store whether any delivery still waits to be worked off.
pub struct Idle(pub Arc<AppState>);

impl Idle {
    pub fn idle(&self) -> bool {
        self.0
            .store
            .counts()
            .map(|c| {
                c.iter()
                    .filter(|(s, _)| s == "pending" || s == "in_progress" || s == "failed")
                    .all(|(_, n)| *n == 0)
            })
            .unwrap_or(false)
    }
}

/// Runs intake and workers until Ctrl-C or SIGTERM. Deliveries answered 202 survive anything:
/// a killed process picks them up again at its next start.
pub async fn serve(
    opts: ServeOptions,
    catalog: &crate::config::Catalog,
    gitlab: crate::gitlab::GitLab,
) -> Result<(), ServeError> {
    let state = opts.state.clone();
    let running = start(opts, catalog, gitlab).await?;
    eprintln!(
        "smeflow serve: listening on http://{}/webhooks/gitlab as GitLab user @{} (store {})",
        running.addr,
        running.bot.username,
        state.display()
    );
    if running.app.dashboard.get().is_some() {
        eprintln!(
            "smeflow serve: dashboard on http://{}/ (sign in with SMEFLOW_DASHBOARD_TOKEN)",
            running.addr
        );
    }
    running.serve_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
