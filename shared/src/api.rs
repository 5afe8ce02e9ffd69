//! The JSON bodies the servers send, so both produce byte-identical responses.

use serde::{Deserialize, Serialize};

use crate::catalogue::{Endpoint, Group, Method, Operation, Style};

/// Content type of every response body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Body of the sleep and noop endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SleepResponse {
    pub item_id: i64,
    pub mode: String,
    pub slept_ms: u64,
}

/// One row of `bench_items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub value: i64,
}

/// Body of the seed endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedResponse {
    pub seeded: i64,
}

/// Body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Body of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The arm's name, one of `shared::binaries::SERVERS`.
    pub server: String,
    /// The runtime model, in words.
    pub runtime: String,
    pub workers: usize,
    /// The I/O driver that actually runs: `"io_uring"` or `"epoll"`.
    pub io_driver: String,
    pub sleep_ms: u64,
    pub pool_size: u32,
    pub blocking_threads: usize,
    pub async_connections: usize,
    /// `--header-timeout`, in milliseconds.
    pub header_timeout_ms: u64,
    /// `--idle-timeout`, in milliseconds.
    pub idle_timeout_ms: u64,
    /// The database file the server uses (the runner audits it).
    pub db: String,
    pub pid: u32,
    /// Catalogue requests still being handled: 0 once a backlog has drained.
    pub in_flight: u64,
}

/// One entry of `GET /api/endpoints`: the catalogue as data, owned so clients can deserialize it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    pub name: String,
    pub method: Method,
    pub path: String,
    pub group: Group,
    pub style: Style,
    pub operation: Operation,
    pub benchmarked: bool,
}

impl From<&Endpoint> for EndpointInfo {
    fn from(e: &Endpoint) -> Self {
        EndpointInfo {
            name: e.name.to_owned(),
            method: e.method,
            path: e.path.to_owned(),
            group: e.group,
            style: e.style,
            operation: e.operation,
            benchmarked: e.benchmarked,
        }
    }
}

/// The whole catalogue as served by `GET /api/endpoints`.
pub fn catalogue_info() -> Vec<EndpointInfo> {
    crate::CATALOGUE.iter().map(EndpointInfo::from).collect()
}

/// Serializes a body. Our bodies are plain structs of strings and integers, which cannot fail to encode.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| format!(r#"{{"error":"encoding failed: {e}"}}"#).into_bytes())
}
