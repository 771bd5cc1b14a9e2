//! `smeflow serve`: the webhook receiver, the background worker, and the health endpoints.

pub mod auth;
pub mod dashboard;
pub mod intake;
pub mod listener;
pub mod metrics;
pub mod outage;
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
    /// The store's area leases this process holds for its workers and its scheduled sync, so
    /// another process (a `sync-board` by hand, another replica) never writes an area at once.
    pub area_leases: crate::store::lease::SharedLeases,
    /// The read-only dashboard at `GET /`, set at start-up when SMEFLOW_DASHBOARD_TOKEN is.
    pub dashboard: std::sync::OnceLock<Arc<dashboard::Dashboard>>,
    /// Whether the workers are paused for a GitLab outage.
    pub outage: outage::Outage,
    pub backoff: outage::Backoff,
    /// Set at shutdown: workers finish the delivery in hand and stop.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// How long intake waits for a request body.
    pub body_timeout: std::time::Duration,
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
            area_leases: Default::default(),
            dashboard: std::sync::OnceLock::new(),
            outage: outage::Outage::default(),
            backoff: outage::Backoff::default(),
            stopping: tokio::sync::watch::channel(false).0,
            body_timeout: listener::Limits::default().body_timeout,
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

/// What `serve` adds to `ServeOptions` to hold under hostile clients and GitLab outages.
#[derive(Debug, Clone, Default)]
pub struct Hardening {
    pub limits: listener::Limits,
    pub backoff: outage::Backoff,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Owner(#[from] crate::store::queue::OwnerError),
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

impl ServeError {
    /// The README's exit codes: 2 for something to fix in the environment (the store, the
    /// port, a second owner, the token), 1 for GitLab or the network failing.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Identity(crate::gitlab::GitLabError::Unauthorized { .. }) => 2,
            ServeError::Identity(_) => 1,
            ServeError::Store(_) | ServeError::Owner(_) | ServeError::Listen { .. } => 2,
        }
    }
}

/// A started service: intake listening, workers running.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub app: Arc<AppState>,
    pub bot: crate::gitlab::types::User,
    listener: tokio::net::TcpListener,
    limits: listener::Limits,
    workers: Vec<tokio::task::JoinHandle<()>>,
    /// Held until the process has stopped: no second `serve` can take this store meanwhile.
    /// None on PostgreSQL, which several replicas share by design.
    _owner: Option<crate::store::queue::OwnerLock>,
}

/// Opens the store (taking up work a killed process left), identifies smeflow's GitLab user,
/// starts the workers and binds the listener.
pub async fn start(
    opts: ServeOptions,
    catalog: &crate::config::Catalog,
    gitlab: crate::gitlab::GitLab,
) -> Result<Running, ServeError> {
    start_with(opts, Hardening::default(), catalog, gitlab).await
}

/// `start` with explicit limits and backoff.
pub async fn start_with(
    opts: ServeOptions,
    hardening: Hardening,
    catalog: &crate::config::Catalog,
    gitlab: crate::gitlab::GitLab,
) -> Result<Running, ServeError> {
    start_on(None, opts, hardening, catalog, gitlab).await
}

/// `start_with` on the PostgreSQL store at `database_url` when given (no owner lock: replicas
/// share it, and each takes up only work whose claim has expired), else on `opts.state`.
pub async fn start_on(
    database_url: Option<String>,
    opts: ServeOptions,
    hardening: Hardening,
    catalog: &crate::config::Catalog,
    gitlab: crate::gitlab::GitLab,
) -> Result<Running, ServeError> {
    let (owner, store) = match database_url {
        Some(url) => (None, crate::store::Store::open_postgres(&url)?),
        None => {
            // Before anything else: recovering "in progress" work belongs to the one owner only.
            let owner = crate::store::queue::lock_owner(&opts.state)?;
            (Some(owner), crate::store::Store::open(&opts.state)?)
        }
    };
    let recovered = store.recover()?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "taking up deliveries a previous run left in progress"
        );
    }
    let bot: crate::gitlab::types::User =
        gitlab.current_user().await.map_err(ServeError::Identity)?;
    let mut state = AppState::new(store, opts.secrets, opts.insecure, Some(catalog));
    state.backoff = hardening.backoff;
    state.body_timeout = hardening.limits.body_timeout;
    let app = Arc::new(state);
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
    let workers = (0..opts.workers)
        .map(|n| tokio::spawn(worker.clone().run(app.clone(), n)))
        .collect();
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(opts.listen);
    tracing::info!(%addr, user = bot.username, store = %app.store.describe(), "smeflow serve is listening");
    Ok(Running {
        addr,
        app,
        bot,
        listener,
        limits: hardening.limits,
        workers,
        _owner: owner,
    })
}

impl Running {
    /// Serves until `shutdown` completes, then drains: open requests and the deliveries in the
    /// workers' hands get `limits.drain` to finish; whatever is still in progress after that
    /// goes back to the queue for the next start.
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let app = self.app.clone();
        let limits = self.limits.clone();
        let signalled = Arc::new(std::sync::OnceLock::new());
        let (stop_workers, mark) = (app.clone(), signalled.clone());
        let shutdown = async move {
            shutdown.await;
            let _ = mark.set(std::time::Instant::now());
            tracing::info!("stopping: no new connections, draining");
            let _ = stop_workers.stopping.send(true);
        };
        listener::serve(
            self.listener,
            router(app.clone()),
            &limits,
            app.clone(),
            shutdown,
        )
        .await;
        let stop_began = *signalled.get_or_init(std::time::Instant::now);
        let _ = app.stopping.send(true);
        // One budget for connections and workers together: the stop takes `drain` at most.
        let left = limits.drain.saturating_sub(stop_began.elapsed());
        let _ = tokio::time::timeout(left, futures_join_all(self.workers)).await;
        let store = app.store.clone();
        let released = tokio::task::spawn_blocking(move || store.release_in_progress())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        let stop_ms = stop_began.elapsed().as_millis() as u64;
        tracing::info!(released, stop_ms, "smeflow serve stopped");
        eprintln!(
            "smeflow serve: stopped in {stop_ms} ms ({released} deliveries in progress returned to the queue)"
        );
        Ok(())
    }

    /// True when nothing is waiting to be worked off.
    pub fn idle(&self) -> bool {
        Idle(self.app.clone()).idle()
    }
}

/// Waits for every task (no `futures` dependency for one join).
async fn futures_join_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
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
    serve_with(opts, Hardening::default(), catalog, gitlab).await
}

/// `serve` with explicit limits and backoff.
pub async fn serve_with(
    opts: ServeOptions,
    hardening: Hardening,
    catalog: &crate::config::Catalog,
    gitlab: crate::gitlab::GitLab,
) -> Result<(), ServeError> {
    serve_on(None, opts, hardening, catalog, gitlab).await
}

/// `serve_with` on PostgreSQL when `database_url` is given.
pub async fn serve_on(
    database_url: Option<String>,
    opts: ServeOptions,
    hardening: Hardening,
    catalog: &crate::config::Catalog,
    gitlab: crate::gitlab::GitLab,
) -> Result<(), ServeError> {
    let running = start_on(database_url, opts, hardening, catalog, gitlab).await?;
    eprintln!(
        "smeflow serve: listening on http://{}/webhooks/gitlab as GitLab user @{} (store {})",
        running.addr,
        running.bot.username,
        running.app.store.describe()
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
