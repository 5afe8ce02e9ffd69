//! SCAFFOLDING copied from monoio-hyper until engineer B's shared router lands (arms-infra); deleted then.
//!
//! Which route a request asks for: `/healthz`, `/api/endpoints`, or a catalogue endpoint. Pure, so the
//! routing rules are tested without a socket.

use http::Method;
use shared::ApiError;
use shared::catalogue::{self, ENDPOINTS_PATH, HEALTH_PATH, RouteMatch};

/// A resolved request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Endpoints,
    Catalogue(RouteMatch),
}

/// Resolves a method and a path (without query string).
///
/// The operational routes follow the catalogue's rules: 405 for another method on a known path, 404 for an
/// unknown path. HEAD is answered like GET (hyper sends the headers without the body), as axum's router
/// does, so both servers agree on it.
pub fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let as_get = *method == Method::GET || *method == Method::HEAD;
    let operational = match path {
        HEALTH_PATH => Some(Route::Health),
        ENDPOINTS_PATH => Some(Route::Endpoints),
        _ => None,
    };
    match operational {
        Some(route) if as_get => Ok(route),
        Some(_) => Err(method_not_allowed(method, path)),
        None => {
            let token = if as_get { Method::GET.as_str() } else { method.as_str() };
            catalogue::resolve(token, path).map(Route::Catalogue).map_err(|error| match error {
                // Name the method the client sent, not the GET that HEAD was resolved as.
                ApiError::MethodNotAllowed { .. } => method_not_allowed(method, path),
                other => other,
            })
        }
    }
}

fn method_not_allowed(method: &Method, path: &str) -> ApiError {
    ApiError::MethodNotAllowed { method: method.as_str().to_owned(), path: path.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(method: Method, path: &str) -> u16 {
        route(&method, path).map_or_else(|error| error.status(), |_| 200)
    }

    #[test]
    fn operational_routes_answer_get_and_head_only() {
        assert_eq!(route(&Method::GET, HEALTH_PATH), Ok(Route::Health));
        assert_eq!(route(&Method::HEAD, HEALTH_PATH), Ok(Route::Health));
        assert_eq!(route(&Method::GET, ENDPOINTS_PATH), Ok(Route::Endpoints));
        assert_eq!(status(Method::POST, HEALTH_PATH), 405);
        assert_eq!(status(Method::DELETE, ENDPOINTS_PATH), 405);
        assert_eq!(status(Method::GET, "/healthz/"), 404);
    }

    #[test]
    fn catalogue_routes_follow_the_shared_resolver() {
        let Ok(Route::Catalogue(found)) = route(&Method::GET, "/api/simple/async/7") else {
            panic!("simple_async does not resolve");
        };
        assert_eq!((found.endpoint.name, found.item_id), ("simple_async", Some(7)));
        assert_eq!(status(Method::POST, "/api/db/async/write/1"), 200);
        assert_eq!(status(Method::GET, "/api/db/async/write/1"), 405);
        assert_eq!(status(Method::GET, "/api/simple/async/abc"), 400);
        assert_eq!(status(Method::GET, "/nope"), 404);
    }

    #[test]
    fn head_resolves_as_get_but_errors_name_head() {
        assert_eq!(status(Method::HEAD, "/api/simple/noop/1"), 200);
        let error = route(&Method::HEAD, "/api/db/seed").expect_err("seed is POST only");
        assert_eq!(error, ApiError::MethodNotAllowed { method: "HEAD".into(), path: "/api/db/seed".into() });
    }
}
