//! The catalogue on tokio's multi-thread, work-stealing runtime, routed by axum.
//!
//! The routes come from `shared::CATALOGUE`; what each endpoint does comes from `shared::handler`. This crate
//! decides only how work runs on tokio: sleeps on tokio's timer, thread-pool work on `spawn_blocking`
//! (bounded by `--blocking-threads`), event-loop-blocking work directly inside the async handler.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use shared::accept_loop::{DrainSignal, accept_until_stopped};
use shared::api::JSON_CONTENT_TYPE;
use shared::catalogue::{ENDPOINTS_PATH, Endpoint, HEALTH_PATH};
use shared::config::ConnectionLimits;
use shared::tokio_executor::TokioExecutor;
use shared::{ApiError, AppState, CATALOGUE, ServerArgs};
use tokio::net::TcpStream;
use tower_service::Service;

pub const SERVER_NAME: &str = "axum";
pub const RUNTIME_DESCRIPTION: &str = "tokio multi-thread (work-stealing), axum";
/// tokio drives sockets through epoll (mio); it has no io_uring driver.
pub const IO_DRIVER: &str = "epoll";
/// What the server prefixes its stderr messages with.
const BINARY: &str = "axum-server";

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
    match shared::handler::handle(&TokioExecutor::CurrentRuntime, &state, route).await {
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

/// Serves until `shutdown` completes, then stops accepting (the listener is closed), closes the connections
/// that have no request in flight and lets the others finish their request, for at most
/// `shared::config::SHUTDOWN_GRACE`. Must be called inside a tokio runtime.
///
/// The accept loop and the drain are `shared::accept_loop`'s, the ones every per-core worker runs; each
/// connection is a task of tokio's multi-thread runtime, served by `shared::http1` (the hyper settings,
/// limits and drain every hyper arm shares) with the axum router as its service: `axum::serve` takes none of
/// those settings.
pub async fn serve(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let limits = state.args.connection_limits();
    let router = app(state);
    // Owns the listener, so the loop closes it when it stops accepting.
    let accept = async move || listener.accept().await.map(|(tcp, _peer)| tcp);
    let on_connection = |tcp: TcpStream, drain: DrainSignal| {
        tokio::spawn(serve_connection(tcp, router.clone(), limits, drain));
    };
    accept_until_stopped(BINARY, &TokioExecutor::CurrentRuntime, shutdown, accept, on_connection).await;
    Ok(())
}

/// One accepted connection, the router answering each request.
async fn serve_connection(tcp: TcpStream, router: Router, limits: ConnectionLimits, mut drain: DrainSignal) {
    // Small JSON responses must not wait for Nagle's algorithm; monoio sets the same. A socket that refuses
    // the option is already broken, and hyper will find out on its first read.
    let _ = tcp.set_nodelay(true);
    // The router is always ready (`poll_ready` is a no-op), so calling a clone per request is what
    // `axum::serve` does too.
    let service = hyper::service::service_fn(move |request: Request<Incoming>| router.clone().call(request));
    // Borrowed, not moved: `drain` must live until the connection ends, since the drain waits for it.
    shared::http1::serve_connection(TokioIo::new(tcp), service, limits, tokio::time::sleep, drain.draining()).await;
}

/// The whole server process: prepare the database, bind, announce, serve until SIGINT or SIGTERM.
pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let state = AppState::new(SERVER_NAME, RUNTIME_DESCRIPTION, args.clone()).context("preparing the database")?;
    let listener = bind(&args)?;
    let addr: SocketAddr = listener.local_addr().context("reading the bound address")?;
    let runtime = build_runtime(&args).context("building the tokio runtime")?;
    let state = Arc::new(state);
    let served = serve_until_signal(&runtime, listener, addr, Arc::clone(&state));
    // Connections that outlived the grace go with the runtime, before the database is closed.
    drop(runtime);
    if let Err(error) = AppState::close(state) {
        eprintln!("{BINARY}: closing the database: {error}");
    }
    served
}

/// Announces readiness and serves until SIGINT or SIGTERM, then lets connections finish within the grace
/// (the accept loop's drain bounds the wait).
fn serve_until_signal(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
) -> anyhow::Result<()> {
    runtime.block_on(async move {
        // Handlers first: a SIGTERM right after the readiness line must stop the server gracefully.
        let shutdown = shutdown_signal().context("installing signal handlers")?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async move {
            let _ = stop_rx.await;
        }));
        shared::net::announce_listening(addr).context("writing the readiness line")?;
        shutdown.await;
        let _ = stop_tx.send(());
        server.await.context("server task failed")?.context("serving")
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
