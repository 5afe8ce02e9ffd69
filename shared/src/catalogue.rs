//! The endpoint catalogue: the single list of routes both servers serve and the runner benchmarks.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The placeholder every path template uses for the item id (axum's syntax, so templates route as they are).
pub const ITEM_ID_PLACEHOLDER: &str = "{item_id}";

/// Path of the operational route that lists the catalogue.
pub const ENDPOINTS_PATH: &str = "/api/endpoints";
/// Path prefix that selects exactly the no-op endpoint, the ceiling reference `runner calibrate` targets.
pub const CALIBRATION_PATH_PREFIX: &str = "/api/simple/noop/";

/// Path of the operational health route.
pub const HEALTH_PATH: &str = "/healthz";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }

    /// Parses an HTTP method token; `None` for methods the catalogue never uses.
    pub fn parse(token: &str) -> Option<Method> {
        match token {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            _ => None,
        }
    }
}

/// Which family an endpoint belongs to; the `--filter` prefixes follow these paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Simple,
    Db,
}

/// How an endpoint's work is executed: the variable this whole suite is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// Awaits without blocking the event-loop thread (runtime timer, SQLite on its own thread).
    NonBlocking,
    /// Blocking work handed to a bounded thread pool (`spawn_blocking`).
    ThreadPool,
    /// Blocking work run directly on the event-loop thread: the anti-pattern.
    EventLoopBlocking,
}

impl Style {
    /// The short name the ancestor used in its sleep responses (`"mode"`).
    pub fn mode(self) -> &'static str {
        match self {
            Style::NonBlocking => "async",
            Style::ThreadPool => "sync_threadpool",
            Style::EventLoopBlocking => "async_blocking",
        }
    }
}

/// What an endpoint does once it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Answers at once: the ceiling reference.
    Noop,
    /// Waits `--sleep-ms`.
    Sleep,
    /// Selects one item by id.
    Read,
    /// Increments one item's value atomically and returns the row.
    Write,
    /// Recreates the table with the standard items.
    Seed,
}

/// One route of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: &'static str,
    pub method: Method,
    /// Path template; benchmarked endpoints contain [`ITEM_ID_PLACEHOLDER`].
    pub path: &'static str,
    pub group: Group,
    pub style: Style,
    pub operation: Operation,
    /// Whether the runner measures it (the seed route is setup, not a workload).
    pub benchmarked: bool,
}

impl Endpoint {
    /// The concrete path for one item id.
    pub fn path_for(&self, item_id: i64) -> String {
        self.path.replace(ITEM_ID_PLACEHOLDER, &item_id.to_string())
    }

    /// Whether this endpoint changes the database (the runner audits these).
    pub fn writes(&self) -> bool {
        self.operation == Operation::Write
    }

    pub fn takes_item_id(&self) -> bool {
        self.path.contains(ITEM_ID_PLACEHOLDER)
    }
}

const fn endpoint(
    name: &'static str,
    method: Method,
    path: &'static str,
    group: Group,
    style: Style,
    operation: Operation,
) -> Endpoint {
    Endpoint { name, method, path, group, style, operation, benchmarked: true }
}

/// Every route both servers serve, in the order the ancestor listed them (plus the noop ceiling reference).
pub const CATALOGUE: &[Endpoint] = &[
    endpoint(
        "simple_noop",
        Method::Get,
        "/api/simple/noop/{item_id}",
        Group::Simple,
        Style::NonBlocking,
        Operation::Noop,
    ),
    endpoint(
        "simple_sync_threadpool",
        Method::Get,
        "/api/simple/sync_threadpool/{item_id}",
        Group::Simple,
        Style::ThreadPool,
        Operation::Sleep,
    ),
    endpoint(
        "simple_async_blocking",
        Method::Get,
        "/api/simple/async_blocking/{item_id}",
        Group::Simple,
        Style::EventLoopBlocking,
        Operation::Sleep,
    ),
    endpoint(
        "simple_async",
        Method::Get,
        "/api/simple/async/{item_id}",
        Group::Simple,
        Style::NonBlocking,
        Operation::Sleep,
    ),
    endpoint(
        "get_item_async_read",
        Method::Get,
        "/api/db/async/read/{item_id}",
        Group::Db,
        Style::NonBlocking,
        Operation::Read,
    ),
    endpoint(
        "update_item_async_write",
        Method::Post,
        "/api/db/async/write/{item_id}",
        Group::Db,
        Style::NonBlocking,
        Operation::Write,
    ),
    endpoint(
        "get_item_sync_threadpool_read",
        Method::Get,
        "/api/db/sync_threadpool/read/{item_id}",
        Group::Db,
        Style::ThreadPool,
        Operation::Read,
    ),
    endpoint(
        "update_item_sync_threadpool_write",
        Method::Post,
        "/api/db/sync_threadpool/write/{item_id}",
        Group::Db,
        Style::ThreadPool,
        Operation::Write,
    ),
    endpoint(
        "get_item_async_blocking_read",
        Method::Get,
        "/api/db/async/blocking/read/{item_id}",
        Group::Db,
        Style::EventLoopBlocking,
        Operation::Read,
    ),
    endpoint(
        "update_item_async_blocking_write",
        Method::Post,
        "/api/db/async/blocking/write/{item_id}",
        Group::Db,
        Style::EventLoopBlocking,
        Operation::Write,
    ),
    Endpoint {
        name: "seed",
        method: Method::Post,
        path: "/api/db/seed",
        group: Group::Db,
        style: Style::ThreadPool,
        operation: Operation::Seed,
        benchmarked: false,
    },
];

/// Looks an endpoint up by name.
pub fn by_name(name: &str) -> Option<&'static Endpoint> {
    CATALOGUE.iter().find(|e| e.name == name)
}

/// The endpoint every benchmark run seeds through.
pub fn seed_endpoint() -> &'static Endpoint {
    CATALOGUE.iter().find(|e| e.operation == Operation::Seed).expect("the catalogue has a seed route")
}

/// A request resolved against the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch {
    pub endpoint: &'static Endpoint,
    /// `None` for routes without an id (seed).
    pub item_id: Option<i64>,
}

/// Resolves a method token and a path (without query string) to an endpoint.
///
/// Errors follow HTTP: 404 when no template matches the path, 405 when one does but not for this method,
/// 400 when the path matches but the id is not a positive 64-bit integer.
/// HEAD is answered like GET (without a body, which the HTTP layer drops), as HTTP requires.
pub fn resolve(method: &str, path: &str) -> Result<RouteMatch, ApiError> {
    let route_method = if method == "HEAD" { "GET" } else { method };
    let mut path_matched = false;
    for endpoint in CATALOGUE {
        let Some(raw_id) = match_template(endpoint.path, path) else { continue };
        path_matched = true;
        if Method::parse(route_method) != Some(endpoint.method) {
            continue;
        }
        let item_id = match raw_id {
            Some(raw) => Some(parse_item_id(raw)?),
            None => None,
        };
        return Ok(RouteMatch { endpoint, item_id });
    }
    if path_matched {
        Err(ApiError::MethodNotAllowed { method: method.to_owned(), path: path.to_owned() })
    } else {
        Err(ApiError::RouteNotFound { path: path.to_owned() })
    }
}

/// Matches a concrete path against a template; `Some(Some(segment))` carries the raw id segment.
fn match_template<'p>(template: &str, path: &'p str) -> Option<Option<&'p str>> {
    match template.split_once(ITEM_ID_PLACEHOLDER) {
        None => (template == path).then_some(None),
        Some((prefix, suffix)) => {
            let rest = path.strip_prefix(prefix)?;
            let segment = rest.strip_suffix(suffix)?;
            (!segment.is_empty() && !segment.contains('/')).then_some(Some(segment))
        }
    }
}

/// Parses an item id: a positive integer that fits in 64 bits, nothing else.
pub fn parse_item_id(raw: &str) -> Result<i64, ApiError> {
    let invalid = || ApiError::InvalidItemId { raw: raw.chars().take(64).collect() };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_are_unique() {
        for (i, a) in CATALOGUE.iter().enumerate() {
            for b in &CATALOGUE[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!((a.method, a.path), (b.method, b.path));
            }
        }
    }

    #[test]
    fn resolves_every_benchmarked_endpoint() {
        for endpoint in CATALOGUE.iter().filter(|e| e.benchmarked) {
            let found = resolve(endpoint.method.as_str(), &endpoint.path_for(42)).expect("resolves");
            assert_eq!(found.endpoint.name, endpoint.name);
            assert_eq!(found.item_id, Some(42));
        }
        let seed = resolve("POST", "/api/db/seed").expect("seed resolves");
        assert_eq!(seed.endpoint.operation, Operation::Seed);
        assert_eq!(seed.item_id, None);
    }

    #[test]
    fn async_read_is_not_confused_with_async_blocking_read() {
        let found = resolve("GET", "/api/db/async/blocking/read/7").expect("resolves");
        assert_eq!(found.endpoint.name, "get_item_async_blocking_read");
    }

    #[test]
    fn rejects_bad_ids_unknown_paths_and_wrong_methods() {
        for bad in ["abc", "0", "-1", "1.5", "+3", "123456789012345678901234567890", "9223372036854775808"] {
            let err = resolve("GET", &format!("/api/simple/async/{bad}")).expect_err(bad);
            assert_eq!(err.status(), 400, "{bad}");
        }
        assert_eq!(resolve("GET", "/api/simple/async/1/extra").expect_err("extra").status(), 404);
        assert_eq!(resolve("GET", "/nope").expect_err("unknown").status(), 404);
        assert_eq!(resolve("GET", "/api/db/async/write/1").expect_err("method").status(), 405);
        assert_eq!(resolve("DELETE", "/api/simple/async/1").expect_err("method").status(), 405);
        assert_eq!(parse_item_id("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(resolve("HEAD", "/api/simple/async/1").map(|r| r.endpoint.name), Ok("simple_async"));
    }
}
