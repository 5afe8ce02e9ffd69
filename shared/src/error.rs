//! [`ApiError`]: every failure a request can meet, with the status code and JSON body both servers send.

use thiserror::Error;

/// A request failure. Nothing a client sends maps to a 500: only a broken database file or disk does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    #[error("item id {raw:?} is not a positive 64-bit integer")]
    InvalidItemId { raw: String },
    #[error("item {item_id} not found")]
    ItemNotFound { item_id: i64 },
    #[error("no route for {path}")]
    RouteNotFound { path: String },
    #[error("method {method} not allowed for {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("database busy: {detail}")]
    Busy { detail: String },
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidItemId { .. } => 400,
            ApiError::ItemNotFound { .. } | ApiError::RouteNotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Busy { .. } => 503,
            ApiError::Internal { .. } => 500,
        }
    }

    /// The JSON body `{"error": "..."}`.
    pub fn body(&self) -> Vec<u8> {
        crate::api::to_json(&crate::api::ErrorBody { error: self.to_string() })
    }
}
