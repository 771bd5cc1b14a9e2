//! Accepting connections so that no client can hold the process: every connection must send its
//! request head within a deadline (which also closes idle keep-alive connections), the number of
//! open connections is capped below the descriptor limit and the excess is answered 503 rather
//! than left to exhaust descriptors, and shutdown drains within a bounded time.

use super::metrics::Metrics;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long clients may take and how many may be connected; all configurable on `serve`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// To send a request's head. Also how long an idle keep-alive connection stays open:
    /// hyper starts this timer whenever it waits for the next request head.
    pub header_timeout: Duration,
    /// To send a request's body once the head is in.
    pub body_timeout: Duration,
    /// Open connections at once; beyond it, connections are answered 503 and closed.
    pub max_connections: usize,
    /// How long shutdown waits for requests and in-flight deliveries before it exits anyway.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            max_connections: default_max_connections(),
            drain: Duration::from_secs(10),
        }
    }
}

/// Half the process's descriptor limit (the rest is for the store, GitLab calls and the
/// connections being shed), at most 4096.
pub fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    (soft / 2).clamp(16, 4096)
}

/// Connections being answered 503 at once; past this they are closed without an answer, so
/// shedding itself cannot run the process out of descriptors.
const MAX_SHEDDING: usize = 256;

const SHED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 54\r\n\r\n{\"error\":\"too many connections, try again in a moment\"}";

/// Serves `router` until `shutdown` completes, then drains for at most `limits.drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    app: Arc<super::AppState>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let metrics = &app.metrics;
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let shedding = Arc::new(Semaphore::new(MAX_SHEDDING));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (or a connection reset before accept): wait for some
                    // to close instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            Metrics::inc(&metrics.shed);
            if let Ok(shed) = shedding.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let mut stream = stream;
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        let _ = stream.write_all(SHED_RESPONSE).await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                    drop(shed);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The peer's address, for the dashboard's sign-in throttle and log.
        let tower = TowerToHyperService::new(router.clone());
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                hyper::service::Service::call(&tower, req)
            });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let app = app.clone();
        metrics.open_connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let _ = conn.await;
            app.metrics.open_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    let open = metrics.open_connections.load(Ordering::Relaxed);
    tracing::info!(open, "stopped accepting connections; draining");
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = metrics.open_connections.load(Ordering::Relaxed),
            "drain deadline reached; closing the remaining connections"
        );
    }
}
