//! The one place every hyper arm serves an HTTP/1.1 connection (feature `hyper`): hyper's `http1` with its
//! defaults (keep-alive on, as axum runs it), each request routed by [`crate::router`] and answered by a
//! worker's [`Responder`], a graceful close when the worker drains. The arms differ only in the I/O object
//! they hand in (tokio's socket, monoio's poll-io bridge).

use std::convert::Infallible;
use std::ops::Deref;
use std::pin::pin;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};

use crate::api::JSON_CONTENT_TYPE;
use crate::dispatch::{Reply, Responder};
use crate::handler::Executor;
use crate::per_core::DrainSignal;
use crate::select::{Either, first};

/// Serves one accepted connection until the client closes it, or until the worker drains: then hyper
/// finishes the request in flight, closes, and this returns.
///
/// `responder` is the worker's own (an `Rc` on monoio, an `Arc` on tokio), cloned once per request.
/// Connection errors (resets, malformed requests that hyper already answered with 400/431) end only this
/// connection; they are not logged, since under load they are routine and would flood stderr.
pub async fn serve_connection<I, R, E>(io: I, responder: R, mut drain: DrainSignal)
where
    I: Read + Write + Unpin + 'static,
    R: Deref<Target = Responder<E>> + Clone + 'static,
    E: Executor + 'static,
{
    let service = service_fn(move |request| respond(responder.clone(), request));
    let mut connection = pin!(http1::Builder::new().serve_connection(io, service));
    if let Either::Left(_) = first(connection.as_mut(), drain.draining()).await {
        return;
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// One request to one response. The request body is never read: no endpoint takes one, and hyper drains or
/// closes whatever a client sends anyway.
async fn respond<R, E>(responder: R, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible>
where
    R: Deref<Target = Responder<E>>,
    E: Executor,
{
    let route = crate::router::route(request.method().as_str(), request.uri().path());
    drop(request);
    Ok(json_response(responder.reply(route).await))
}

fn json_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn replies_keep_their_status_and_get_the_json_content_type() {
        let response = json_response(Reply::error(&ApiError::RouteNotFound { path: "/x".into() }));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes), Some(JSON_CONTENT_TYPE.as_bytes()));
    }
}
