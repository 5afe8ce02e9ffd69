//! Which route a request asks for: `/healthz`, `/api/endpoints`, or a catalogue endpoint. Pure and written
//! over the method as text, so every codec (hyper's, monoio's) routes with the same rules, tested without a
//! socket.

use crate::catalogue::{self, ENDPOINTS_PATH, HEALTH_PATH, RouteMatch};
use crate::error::ApiError;

/// A resolved request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Endpoints,
    Catalogue(RouteMatch),
}

/// Resolves a method token and a raw path (without query string, still percent-encoded).
///
/// The operational routes follow the catalogue's rules: 405 for another method on a known path, 404 for an
/// unknown path. HEAD is answered like GET (the codec sends the headers without the body), as axum's router
/// does, so every arm agrees on it.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let as_get = method == "GET" || method == "HEAD";
    let operational = match path {
        HEALTH_PATH => Some(Route::Health),
        ENDPOINTS_PATH => Some(Route::Endpoints),
        _ => None,
    };
    match operational {
        Some(route) if as_get => Ok(route),
        Some(_) => Err(method_not_allowed(method, path)),
        None => {
            let token = if as_get { "GET" } else { method };
            catalogue::resolve(token, path).map(Route::Catalogue).map_err(|error| match error {
                // Name the method the client sent, not the GET that HEAD was resolved as.
                ApiError::MethodNotAllowed { .. } => method_not_allowed(method, path),
                other => other,
            })
        }
    }
}

fn method_not_allowed(method: &str, path: &str) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_owned(), path: path.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(method: &str, path: &str) -> u16 {
        route(method, path).map_or_else(|error| error.status(), |_| 200)
    }

    #[test]
    fn operational_routes_answer_get_and_head_only() {
        assert_eq!(route("GET", HEALTH_PATH), Ok(Route::Health));
        assert_eq!(route("HEAD", HEALTH_PATH), Ok(Route::Health));
        assert_eq!(route("GET", ENDPOINTS_PATH), Ok(Route::Endpoints));
        assert_eq!(status("POST", HEALTH_PATH), 405);
        assert_eq!(status("DELETE", ENDPOINTS_PATH), 405);
        assert_eq!(status("GET", "/healthz/"), 404);
    }

    #[test]
    fn catalogue_routes_follow_the_shared_resolver() {
        let Ok(Route::Catalogue(found)) = route("GET", "/api/simple/async/7") else {
            panic!("simple_async does not resolve");
        };
        assert_eq!((found.endpoint.name, found.item_id), ("simple_async", Some(7)));
        assert_eq!(status("POST", "/api/db/async/write/1"), 200);
        assert_eq!(status("GET", "/api/db/async/write/1"), 405);
        assert_eq!(status("GET", "/api/simple/async/abc"), 400);
        assert_eq!(status("GET", "/nope"), 404);
    }

    #[test]
    fn head_resolves_as_get_but_errors_name_head() {
        assert_eq!(status("HEAD", "/api/simple/noop/1"), 200);
        let error = route("HEAD", "/api/db/seed").expect_err("seed is POST only");
        assert_eq!(error, ApiError::MethodNotAllowed { method: "HEAD".into(), path: "/api/db/seed".into() });
    }

    #[test]
    fn methods_are_case_sensitive_tokens() {
        // HTTP methods are case-sensitive: `get` is an unknown method, not GET.
        assert_eq!(status("get", "/api/simple/noop/1"), 405);
        assert_eq!(status("get", HEALTH_PATH), 405);
    }
}
