//! The [`Dispatcher`] of this arm's workers: a request's method and path to a status and a JSON body,
//! through the router and `shared::handler`, with a panic in a handler turned into a 500.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::Method;
use shared::{ApiError, AppState};

use crate::connection::{Dispatcher, Reply};
use crate::executor::MonoioExecutor;
use crate::router::{self, Route};

/// What every connection of one worker shares: the process-wide state, the driver `/healthz` reports, and
/// the catalogue body, encoded once.
pub struct WorkerContext {
    state: Arc<AppState>,
    io_driver: &'static str,
    endpoints_body: Bytes,
}

impl WorkerContext {
    pub fn new(state: Arc<AppState>, io_driver: &'static str) -> WorkerContext {
        WorkerContext { io_driver, endpoints_body: Bytes::copy_from_slice(state.endpoints_body()), state }
    }

    async fn body(&self, route: Result<Route, ApiError>) -> Result<Bytes, ApiError> {
        match route? {
            Route::Health => Ok(Bytes::from(self.state.health_body(self.io_driver))),
            Route::Endpoints => Ok(self.endpoints_body.clone()),
            Route::Catalogue(matched) => {
                shared::handler::handle(&MonoioExecutor, &self.state, matched).await.map(Bytes::from)
            }
        }
    }
}

impl Dispatcher for WorkerContext {
    async fn dispatch(&self, method: &Method, path: &str) -> Reply {
        let route = router::route(method, path);
        match catch_panic(self.body(route)).await {
            Ok(Ok(body)) => Reply { status: 200, body },
            Ok(Err(error)) => error_reply(&error),
            Err(_panic) => error_reply(&ApiError::Internal { detail: "request handler panicked".to_owned() }),
        }
    }
}

fn error_reply(error: &ApiError) -> Reply {
    Reply { status: error.status(), body: Bytes::from(error.body()) }
}

/// Runs a future, turning a panic while polling it into an `Err`: monoio does not catch panics in tasks, so
/// one would unwind out of `block_on` and take the whole worker down.
async fn catch_panic<F: Future>(future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    })
    .await
}
