//! hyper on a monoio socket: serves one HTTP/1.1 connection through `shared::http1` (the hyper settings, limits
//! and drain every hyper arm shares) and turns each request into one JSON response.
//!
//! hyper reads through monoio's poll-io bridge (`into_poll_io` + `MonoioIo`): readiness-based I/O on top of the
//! runtime's driver instead of io_uring completions. That is the price of running the very HTTP/1 codec axum
//! runs, so the two servers differ in their runtime model, not in how they parse and write HTTP.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use monoio::io::IntoPollIo;
use monoio::net::TcpStream;
use monoio_compat::hyper::MonoioIo;
use shared::api::JSON_CONTENT_TYPE;
use shared::config::ConnectionLimits;
use shared::{ApiError, AppState};
use tokio::sync::watch;

use crate::executor::MonoioExecutor;
use crate::router::{self, Route};

/// What every connection of one worker shares: the process-wide state, the driver `/healthz` reports, and
/// the catalogue body, encoded once. (The health body is built per request: it reports requests in flight.)
pub struct WorkerContext {
    state: Arc<AppState>,
    io_driver: &'static str,
    endpoints_body: Bytes,
    limits: ConnectionLimits,
}

impl WorkerContext {
    /// `io_driver` is the driver of this worker's runtime, which `/healthz` reports.
    pub fn new(state: Arc<AppState>, io_driver: &'static str) -> WorkerContext {
        WorkerContext {
            io_driver,
            endpoints_body: Bytes::copy_from_slice(state.endpoints_body()),
            limits: state.args.connection_limits(),
            state,
        }
    }
}

/// Serves one accepted connection with the limits every hyper arm shares (`shared::http1`): until the client
/// closes it, a timeout closes it, or `drain` turns true (then a request in flight is finished, and an idle
/// or half-sent connection closed at once).
///
/// Connection errors (resets, malformed requests that hyper already answered with 400/431) end only this
/// connection; they are not logged, since under load they are routine and would flood stderr.
pub async fn serve_connection(stream: TcpStream, context: Rc<WorkerContext>, mut drain: watch::Receiver<bool>) {
    let io = match stream.into_poll_io() {
        Ok(io) => MonoioIo::new(io),
        Err(error) => {
            eprintln!("monoio-hyper-server: cannot switch an accepted socket to poll-io: {error}");
            return;
        }
    };
    let limits = context.limits;
    let service = service_fn(move |request| respond(Rc::clone(&context), request));
    // A dropped sender means the worker is going away too.
    let drained = async move {
        let _ = drain.wait_for(|draining| *draining).await;
    };
    shared::http1::serve_connection(io, service, limits, monoio::time::sleep, drained).await;
}

/// One request to one response. The request body is never read: no endpoint takes one, and hyper drains or
/// closes whatever a client sends anyway.
async fn respond(context: Rc<WorkerContext>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let route = router::route(request.method(), request.uri().path());
    drop(request);
    let response = match catch_panic(dispatch(&context, route)).await {
        Ok(Ok(body)) => json_response(StatusCode::OK, body),
        Ok(Err(error)) => error_response(&error),
        Err(_panic) => error_response(&ApiError::Internal { detail: "request handler panicked".to_owned() }),
    };
    Ok(response)
}

async fn dispatch(context: &WorkerContext, route: Result<Route, ApiError>) -> Result<Bytes, ApiError> {
    match route? {
        Route::Health => Ok(Bytes::from(context.state.health_body(context.io_driver))),
        Route::Endpoints => Ok(context.endpoints_body.clone()),
        Route::Catalogue(matched) => {
            shared::handler::handle(&MonoioExecutor, &context.state, matched).await.map(Bytes::from)
        }
    }
}

/// Runs a future, turning a panic while polling it into an `Err`. monoio does not catch panics in tasks: one
/// would unwind out of `block_on` and take the whole worker, with every connection it serves, down.
async fn catch_panic<F: Future>(future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    })
    .await
}

fn error_response(error: &ApiError) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, Bytes::from(error.body()))
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_future_becomes_an_error() {
        let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new().build().expect("runtime");
        runtime.block_on(async {
            assert_eq!(catch_panic(async { 7 }).await.ok(), Some(7));
            let caught = catch_panic(async { panic!("boom") }).await;
            assert!(caught.is_err());
        });
    }

    #[test]
    fn errors_carry_their_status_and_json_content_type() {
        let response = error_response(&ApiError::RouteNotFound { path: "/x".into() });
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes), Some(JSON_CONTENT_TYPE.as_bytes()));
    }
}
