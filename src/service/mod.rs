//! `smeflow serve`: the webhook receiver, the background worker, and the health endpoints.

pub mod auth;
pub mod dashboard;
pub mod hook_watch;
pub mod intake;
pub mod listener;
pub mod metrics;
pub mod outage;
pub mod scheduler;
pub mod slack;
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
    pub metrics: Arc<metrics::Metrics>,
    /// Wakes the workers as soon as a delivery is stored, instead of waiting for their poll.
    pub wake: Notify,
    /// The right to write an area, shared by this process's reconciles (see
    /// `reconcile::leases`); the Slack side takes an area's in-process lock from it too.
    pub leases: Arc<crate::reconcile::leases::Leases>,
    /// The read-only dashboard at `GET /`, set at start-up when SMEFLOW_DASHBOARD_TOKEN is.
    pub dashboard: std::sync::OnceLock<Arc<dashboard::Dashboard>>,
    /// Whether the workers are paused for a GitLab outage.
    pub outage: outage::Outage,
    pub backoff: outage::Backoff,
    /// Set at shutdown: workers finish the delivery in hand and stop.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// How long intake waits for a request body.
    pub body_timeout: std::time::Duration,
    /// Slack's side, set at start-up when `[slack]` is configured.
    pub slack: std::sync::OnceLock<Arc<slack::SlackService>>,
    /// How many workers `serve` started: `/readyz` is not ready while fewer are running.
    pub workers_started: std::sync::atomic::AtomicU64,
    /// Places for bodies above `intake::SMALL_BODY` being read or stored at once.
    pub large_bodies: tokio::sync::Semaphore,
}

/// Held by a running worker task: counts it in `metrics.workers_running` until the task ends,
/// however it ends (a panic that escaped containment included).
pub struct Alive(Arc<AppState>);

impl Alive {
    pub fn new(app: &Arc<AppState>) -> Alive {
        metrics::Metrics::inc(&app.metrics.workers_running);
        Alive(app.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0
            .metrics
            .workers_running
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AppState {
    /// The in-process lock of the area whose project is `project`.
    pub fn area_lock(&self, project: &str) -> crate::reconcile::leases::AreaLock {
        self.leases.local(project)
    }

    pub fn new(
        store: crate::store::Store,
        secrets: auth::Secrets,
        insecure: bool,
        catalog: Option<&crate::config::Catalog>,
    ) -> AppState {
        let projects: Vec<String> = catalog
            .map(|c| {
                c.config
                    .areas
                    .iter()
                    .map(|a| a.project_full_path(&c.config.gitlab.group))
                    .collect()
            })
            .unwrap_or_default();
        AppState {
            store,
            secrets,
            insecure,
            metrics: Arc::default(),
            wake: Notify::new(),
            leases: Arc::new(crate::reconcile::leases::Leases::for_projects(
                projects.iter().map(String::as_str),
            )),
            dashboard: std::sync::OnceLock::new(),
            outage: outage::Outage::default(),
            backoff: outage::Backoff::default(),
            stopping: tokio::sync::watch::channel(false).0,
            body_timeout: listener::Limits::default().body_timeout,
            slack: std::sync::OnceLock::new(),
            workers_started: Default::default(),
            large_bodies: tokio::sync::Semaphore::new(intake::LARGE_BODIES_AT_ONCE),
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(crate::config::WEBHOOK_PATH, post(intake::receive))
        .route("/healthz", get(intake::healthz))
        .route("/readyz", get(intake::readyz))
        .route("/metrics", get(intake::metrics))
        .route("/slack/events", post(slack::events))
        .route("/slack/commands", post(slack::not_offered))
        .route("/slack/interactions", post(slack::not_offered))
        .route(
            "/",
            get(dashboard::page)
                .post(dashboard::login)
                .layer(axum::middleware::map_response(dashboard::protect)),
        )
        .route(
            "/dashboard/area/{slug}",
            get(dashboard::area_page).layer(axum::middleware::map_response(dashboard::protect)),
        )
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
    #[error("GITLAB_URL {base} does not answer like a GitLab: GET /api/v4/version {answer}. Set GITLAB_URL to the address you open GitLab at in a browser (e.g. https://gitlab.example.com, without /api/v4).")]
    NotGitLab { base: String, answer: String },
    #[error("{0}")]
    Slack(String),
}

impl ServeError {
    /// The README's exit codes: 2 for something to fix in the environment (the store, the
    /// port, a second owner, the token), 1 for GitLab or the network failing.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Identity(crate::gitlab::GitLabError::Unauthorized { .. }) => 2,
            ServeError::Identity(_) => 1,
            ServeError::Store(_)
            | ServeError::Owner(_)
            | ServeError::Listen { .. }
            | ServeError::NotGitLab { .. } => 2,
            ServeError::Slack(_) => 2,
        }
    }
}

/// A started service: intake listening, workers running.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub app: Arc<AppState>,
    pub bot: crate::gitlab::types::User,
    /// What the workers and the scheduled sync reconcile through (the demo too).
    pub controller: Arc<crate::reconcile::controller::Controller>,
    listener: tokio::net::TcpListener,
    limits: listener::Limits,
    workers: Vec<tokio::task::JoinHandle<()>>,
    pub reloader: Reloader,
    /// Held until the process has stopped: no second `serve` can take this store meanwhile.
    /// None on PostgreSQL, which several replicas share by design.
    _owner: Option<crate::store::queue::OwnerLock>,
}

/// What SIGHUP swaps: the configuration (smeflow.toml, label sets, templates) the workers
/// and the scheduled sync decide with. Listener, store, secrets and the dashboard keep what
/// they started with.
#[derive(Clone)]
pub struct Reloader {
    worker: Arc<worker::Worker>,
    config: tokio::sync::watch::Sender<Arc<crate::config::Catalog>>,
}

impl Reloader {
    /// Loads the configuration again from the file it came from; on any problem keeps the one
    /// in use and says why. Returns what is configured now.
    pub fn reload(&self) -> Result<String, crate::config::ConfigError> {
        let path = self.config.borrow().config_path.clone();
        let catalog = crate::config::Catalog::load(&path)?;
        self.worker.reload(&catalog);
        let areas: Vec<String> = catalog
            .config
            .areas
            .iter()
            .map(|a| {
                format!(
                    "{} ({})",
                    a.slug,
                    if a.status.is_formal() {
                        "formal"
                    } else {
                        "interest"
                    }
                )
            })
            .collect();
        let said = format!("reloaded {}: areas {}", path.display(), areas.join(", "));
        self.config.send_replace(Arc::new(catalog));
        Ok(said)
    }

    /// Reloads on every SIGHUP until the process ends.
    pub fn on_sighup(self) {
        #[cfg(unix)]
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP: the configuration is not reloadable");
                return;
            };
            while hup.recv().await.is_some() {
                let me = self.clone();
                match tokio::task::spawn_blocking(move || me.reload()).await {
                    Ok(Ok(said)) => tracing::info!("SIGHUP: {said}"),
                    Ok(Err(e)) => tracing::error!(
                        "SIGHUP: the configuration was not reloaded; still using the previous one. Fix this and send SIGHUP again:\n{e}"
                    ),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed"),
                }
            }
        });
    }
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
    // Before the store or GitLab: a half-configured Slack is a configuration error.
    let slack = slack::SlackService::from_config(catalog).map_err(ServeError::Slack)?;
    let (owner, store) = open_store(database_url, &opts.state, slack.is_some()).await?;
    let bot = identify(&gitlab).await?;
    let mut state = AppState::new(store, opts.secrets, opts.insecure, Some(catalog));
    state.backoff = hardening.backoff;
    state.body_timeout = hardening.limits.body_timeout;
    let app = Arc::new(state);
    attach_dashboard(&app, catalog, &gitlab);
    if let Some(slack) = slack {
        start_slack(&app, slack, &gitlab, &bot, opts.workers);
    }
    let worker = new_worker(&app, catalog, &gitlab, &bot);
    let (config, configured) = tokio::sync::watch::channel(Arc::new(catalog.clone()));
    let reloader = Reloader {
        worker: worker.clone(),
        config,
    };
    let workers = start_workers(&app, &worker, opts.workers);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    // After the bind: the scheduler's first pass may ask GitLab to test the webhook, whose
    // request must find this listener.
    if opts.sync {
        tokio::spawn(scheduler::run(
            configured,
            worker.controller.clone(),
            app.clone(),
        ));
    }
    let addr = listener.local_addr().unwrap_or(opts.listen);
    tracing::info!(
        "smeflow serve: listening on http://{addr}/webhooks/gitlab as GitLab user @{} (store {})",
        bot.username,
        app.store.describe()
    );
    Ok(Running {
        addr,
        app,
        bot,
        controller: worker.controller.clone(),
        listener,
        limits: hardening.limits,
        workers,
        reloader,
        _owner: owner,
    })
}

/// The worker, around the controller every reconcile of this process goes through.
fn new_worker(
    app: &AppState,
    catalog: &crate::config::Catalog,
    gitlab: &crate::gitlab::GitLab,
    bot: &crate::gitlab::types::User,
) -> Arc<worker::Worker> {
    let controller = crate::reconcile::controller::Controller::new(
        gitlab.clone(),
        Some(app.store.clone()),
        bot.clone(),
        catalog,
        app.leases.clone(),
        app.metrics.clone(),
    );
    Arc::new(worker::Worker {
        controller: Arc::new(controller),
    })
}

/// `count` worker tasks; `/readyz` compares the ones running with this count.
fn start_workers(
    app: &Arc<AppState>,
    worker: &Arc<worker::Worker>,
    count: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    if count == 0 {
        tracing::warn!("--workers 0: deliveries are stored but not processed by this process");
    }
    app.workers_started
        .store(count as u64, std::sync::atomic::Ordering::Relaxed);
    (0..count)
        .map(|n| tokio::spawn(worker.clone().run(app.clone(), n)))
        .collect()
}

/// Opens the store and takes up what a killed process left in progress. SQLite is owned by
/// one process; PostgreSQL is shared by replicas, so it has no owner.
async fn open_store(
    database_url: Option<String>,
    state: &std::path::Path,
    with_slack: bool,
) -> Result<(Option<crate::store::queue::OwnerLock>, crate::store::Store), ServeError> {
    let (owner, store) = match database_url {
        Some(url) => (None, crate::store::Store::open_postgres(&url).await?),
        None => {
            // Before anything else: recovering "in progress" work belongs to the one owner only.
            let owner = crate::store::queue::lock_owner(state)?;
            (
                Some(owner),
                crate::store::Store::open_either(None, state).await?,
            )
        }
    };
    let recovered = store.recover().await?;
    if with_slack {
        store.recover_slack_events().await?;
    }
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "taking up deliveries a previous run left in progress"
        );
    }
    Ok((owner, store))
}

/// smeflow's own GitLab user (whose notes and issues it recognises). A 404 or an answer that
/// does not decode may mean the URL is not a GitLab at all, which is the clearer error.
async fn identify(
    gitlab: &crate::gitlab::GitLab,
) -> Result<crate::gitlab::types::User, ServeError> {
    match gitlab.current_user().await {
        Ok(bot) => Ok(bot),
        Err(
            e @ (crate::gitlab::GitLabError::NotFound { .. }
            | crate::gitlab::GitLabError::Decode { .. }),
        ) => Err(match gitlab.not_gitlab().await {
            Some(answer) => ServeError::NotGitLab {
                base: gitlab.base_url().to_string(),
                answer,
            },
            None => ServeError::Identity(e),
        }),
        Err(e) => Err(ServeError::Identity(e)),
    }
}

/// The dashboard, when SMEFLOW_DASHBOARD_TOKEN is set; a bad setting is logged and leaves it
/// off rather than stopping intake.
fn attach_dashboard(
    app: &AppState,
    catalog: &crate::config::Catalog,
    gitlab: &crate::gitlab::GitLab,
) {
    match dashboard::Dashboard::from_env(catalog, gitlab.clone()) {
        Ok(Some(d)) => {
            let _ = app.dashboard.set(Arc::new(d));
        }
        Ok(None) => {}
        Err(why) => tracing::error!("{why}"),
    }
}

/// Slack's intake always; its worker only when this process works deliveries at all.
fn start_slack(
    app: &Arc<AppState>,
    slack: slack::SlackService,
    gitlab: &crate::gitlab::GitLab,
    bot: &crate::gitlab::types::User,
    workers: usize,
) {
    let slack = Arc::new(slack);
    let _ = app.slack.set(slack.clone());
    if workers > 0 {
        let slack_worker = slack::SlackWorker {
            gitlab: gitlab.clone(),
            bot: bot.clone(),
        };
        tokio::spawn(slack_worker.run(app.clone(), slack));
    }
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
        let released = app.store.release_in_progress().await.unwrap_or(0);
        let stop_ms = stop_began.elapsed().as_millis() as u64;
        // Through the log, so a JSON log stays one object a line.
        tracing::info!(
            released,
            stop_ms,
            "smeflow serve: stopped in {stop_ms} ms ({released} deliveries in progress returned to the queue)"
        );
        Ok(())
    }

    /// True when nothing is waiting to be worked off.
    pub async fn idle(&self) -> bool {
        Idle(self.app.clone()).idle().await
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
    pub async fn idle(&self) -> bool {
        self.0
            .store
            .counts()
            .await
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
    running.reloader.clone().on_sighup();
    if running.app.dashboard.get().is_some() {
        tracing::info!(
            "smeflow serve: dashboard on http://{}/ (sign in with SMEFLOW_DASHBOARD_TOKEN)",
            running.addr
        );
    }
    if let Some(slack) = running.app.slack.get() {
        eprintln!(
            "smeflow serve: Slack events on http://{}/slack/events from {} request channel(s)",
            running.addr,
            slack.areas.len()
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
