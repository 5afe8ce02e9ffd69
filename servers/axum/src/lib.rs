//! The catalogue on tokio's multi-thread, work-stealing runtime, routed by axum.
//!
//! The routes come from `shared::CATALOGUE`; what each endpoint does comes from `shared::handler`. This crate
//! decides only how work runs on tokio: sleeps on tokio's timer, thread-pool work on `spawn_blocking`
//! (bounded by `--blocking-threads`), event-loop-blocking work directly inside the async handler.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use axum::serve::ListenerExt;
use shared::api::JSON_CONTENT_TYPE;
use shared::catalogue::{ENDPOINTS_PATH, Endpoint, HEALTH_PATH};
use shared::config::SHUTDOWN_GRACE;
use shared::{ApiError, AppState, CATALOGUE, Executor, ServerArgs};

pub const SERVER_NAME: &str = "axum";
pub const RUNTIME_DESCRIPTION: &str = "tokio multi-thread (work-stealing), axum";
/// tokio drives sockets through epoll (mio); it has no io_uring driver.
pub const IO_DRIVER: &str = "epoll";

/// [`Executor`] for tokio: the runtime timer and the bounded blocking pool.
#[derive(Debug, Clone, Copy)]
pub struct TokioExecutor;

impl Executor for TokioExecutor {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }

    async fn run_blocking<F, R>(&self, work: F) -> Result<R, ApiError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal { detail: format!("blocking task failed: {e}") })
    }
}

/// The router: every catalogue endpoint plus `/healthz` and `/api/endpoints`, JSON errors for 404 and 405.
pub fn app(state: Arc<AppState>) -> Router {
    let router = CATALOGUE.iter().fold(Router::new(), |router, endpoint| {
        router.route(endpoint.path, on(method_filter(endpoint), catalogue_handler))
    });
    router
        .route(HEALTH_PATH, get(health))
        .route(ENDPOINTS_PATH, get(endpoints))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

fn method_filter(endpoint: &Endpoint) -> MethodFilter {
    match endpoint.method {
        shared::Method::Get => MethodFilter::GET,
        shared::Method::Post => MethodFilter::POST,
    }
}

/// Resolves the raw (still percent-encoded) path with the shared matcher, so an id is judged exactly as the
/// monoio server judges it: axum's own extractor would decode `%35` into `5` and answer bad UTF-8 in plain text.
async fn catalogue_handler(State(state): State<Arc<AppState>>, method: Method, uri: Uri) -> Response {
    let route = match shared::catalogue::resolve(method.as_str(), uri.path()) {
        Ok(route) => route,
        Err(error) => return error_response(&error),
    };
    match shared::handler::handle(&TokioExecutor, &state, route).await {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => error_response(&error),
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, state.health_body(IO_DRIVER))
}

async fn endpoints(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, state.endpoints_body().to_vec())
}

async fn route_not_found(uri: Uri) -> Response {
    error_response(&ApiError::RouteNotFound { path: uri.path().to_owned() })
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(&ApiError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_owned() })
}

fn error_response(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, error.body())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE))], Body::from(body)).into_response()
}

/// The tokio runtime the server runs on: `--workers` work-stealing threads, blocking pool bounded by
/// `--blocking-threads`.
pub fn build_runtime(args: &ServerArgs) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers())
        .max_blocking_threads(usize::from(args.blocking_threads))
        .thread_name("axum-worker")
        .enable_all()
        .build()
}

/// Binds the one listener (shared options; a taken port is an error, never shared).
pub fn bind(args: &ServerArgs) -> anyhow::Result<std::net::TcpListener> {
    let mut listeners = shared::net::bind_server_listeners(args, 1)?;
    listeners.pop().context("no listener was bound")
}

/// Serves until `shutdown` completes, then stops accepting and lets open connections finish.
/// Must be called inside a tokio runtime.
pub async fn serve(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
        // Small JSON responses must not wait for Nagle's algorithm; monoio sets the same.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

/// The whole server process: prepare the database, bind, announce, serve until SIGINT or SIGTERM.
pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let state = AppState::new(SERVER_NAME, RUNTIME_DESCRIPTION, args.clone()).context("preparing the database")?;
    let listener = bind(&args)?;
    let addr: SocketAddr = listener.local_addr().context("reading the bound address")?;
    let runtime = build_runtime(&args).context("building the tokio runtime")?;
    runtime.block_on(async move {
        // Handlers first: a SIGTERM right after the readiness line must stop the server gracefully.
        let shutdown = shutdown_signal().context("installing signal handlers")?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::new(state), async move {
            let _ = stop_rx.await;
        }));
        shared::net::announce_listening(addr).context("writing the readiness line")?;
        shutdown.await;
        let _ = stop_tx.send(());
        match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
            Ok(joined) => joined.context("server task failed")?.context("serving")?,
            Err(_) => eprintln!("connections still open after {SHUTDOWN_GRACE:?}; exiting anyway"),
        }
        Ok(())
    })
}

/// Installs the SIGINT and SIGTERM handlers now; the returned future completes on the first of them.
fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
