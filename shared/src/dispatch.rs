//! From a resolved route to what goes on the wire: a status code and a JSON body, so an arm's HTTP codec
//! only turns a [`Reply`] into its own response type. Panics in a handler become 500s here, once, for every
//! arm.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;

use crate::error::ApiError;
use crate::handler::{AppState, Executor};
use crate::io_driver::IoDriver;
use crate::router::Route;

/// What one response carries: always a JSON body (`shared::api::JSON_CONTENT_TYPE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    /// The contract's answer to a failed request: its status and `{"error": ...}` body.
    pub fn error(error: &ApiError) -> Reply {
        Reply { status: error.status(), body: Bytes::from(error.body()) }
    }

    fn ok(body: Bytes) -> Reply {
        Reply { status: 200, body }
    }
}

/// What every connection of one worker shares: the process-wide state, the worker's [`Executor`], the
/// driver `/healthz` reports, and the catalogue body, encoded once. (The health body is built per request:
/// it reports requests in flight.) One per worker, so per-request reference counting stays on its core.
pub struct Responder<E> {
    state: Arc<AppState>,
    executor: E,
    io_driver: IoDriver,
    endpoints_body: Bytes,
}

impl<E: Executor> Responder<E> {
    /// `io_driver` is the driver of this worker's runtime, which `/healthz` reports; `executor` runs the
    /// catalogue's sleeps and thread-pool work on it.
    pub fn new(state: Arc<AppState>, executor: E, io_driver: IoDriver) -> Responder<E> {
        Responder { io_driver, executor, endpoints_body: Bytes::copy_from_slice(state.endpoints_body()), state }
    }

    /// Answers one routed request. Never fails: errors, and a handler that panics, become the contract's
    /// error replies.
    pub async fn reply(&self, route: Result<Route, ApiError>) -> Reply {
        match catch_panic(self.dispatch(route)).await {
            Ok(Ok(body)) => Reply::ok(body),
            Ok(Err(error)) => Reply::error(&error),
            Err(_panic) => Reply::error(&ApiError::Internal { detail: "request handler panicked".to_owned() }),
        }
    }

    async fn dispatch(&self, route: Result<Route, ApiError>) -> Result<Bytes, ApiError> {
        match route? {
            Route::Health => Ok(Bytes::from(self.state.health_body(self.io_driver.as_str()))),
            Route::Endpoints => Ok(self.endpoints_body.clone()),
            Route::Catalogue(matched) => {
                crate::handler::handle(&self.executor, &self.state, matched).await.map(Bytes::from)
            }
        }
    }
}

/// Runs a future, turning a panic while polling it into an `Err`. monoio does not catch panics in tasks: one
/// would unwind out of `block_on` and take the whole worker, with every connection it serves, down; on tokio
/// it would drop the connection without an answer.
pub async fn catch_panic<F: Future>(future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls a future that never waits to completion, without any runtime.
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future waited"),
        }
    }

    #[test]
    fn a_panicking_future_becomes_an_error() {
        assert_eq!(ready(catch_panic(async { 7 })).ok(), Some(7));
        let caught = ready(catch_panic(async { panic!("boom") }));
        assert!(caught.is_err());
    }

    #[test]
    fn errors_carry_their_status_and_the_contract_body() {
        let error = ApiError::RouteNotFound { path: "/x".into() };
        let reply = Reply::error(&error);
        assert_eq!(reply.status, 404);
        assert_eq!(reply.body, Bytes::from(error.body()));
    }
}
