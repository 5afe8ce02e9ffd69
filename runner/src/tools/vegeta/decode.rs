//! Reading vegeta's results back: exactly (`vegeta encode -to=json`, one record per request) and as vegeta's
//! own summary (`vegeta report -type=json`), which tests use to cross-check the exact metrics.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Result, VegetaError};
use crate::model::StatusCode;

/// One request as vegeta recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestResult {
    /// Send order, from 0.
    pub seq: u64,
    /// HTTP status; 0 when no response came (connection error, timeout).
    pub code: u16,
    /// When the request was sent, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// From send to the end of the response body.
    pub latency_ns: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Empty on success; the HTTP status line for codes outside 200-399; the Go error otherwise.
    pub error: String,
}

impl RequestResult {
    /// When the response ended, nanoseconds since the Unix epoch.
    pub fn end_ns(&self) -> i64 {
        self.timestamp_ns.saturating_add(i64::try_from(self.latency_ns).unwrap_or(i64::MAX))
    }
}

/// A line of `vegeta encode -to=json`. Its other fields (attack, body, method, url, headers) are ignored.
#[derive(Deserialize)]
struct EncodedResult {
    seq: u64,
    code: u16,
    timestamp: DateTime<Utc>,
    latency: u64,
    bytes_out: u64,
    bytes_in: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    error: String,
}

pub(super) fn parse_encoded_stream(mut reader: impl BufRead, raw: &Path) -> Result<Vec<RequestResult>> {
    let mut results = Vec::new();
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|source| VegetaError::Io {
            action: "reading `vegeta encode` output for",
            path: raw.to_owned(),
            source,
        })?;
        if read == 0 {
            return Ok(results);
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_encoded_line(&line).map_err(|source| VegetaError::Parse {
            command: "encode -to=json",
            raw: raw.to_owned(),
            line: number,
            source,
        })?;
        results.push(parsed);
    }
}

pub(super) fn parse_encoded_line(line: &str) -> Result<RequestResult, serde_json::Error> {
    let encoded: EncodedResult = serde_json::from_str(line)?;
    let timestamp_ns = encoded
        .timestamp
        .timestamp_nanos_opt()
        .ok_or_else(|| serde::de::Error::custom(format!("timestamp {} out of range", encoded.timestamp)))?;
    Ok(RequestResult {
        seq: encoded.seq,
        code: encoded.code,
        timestamp_ns,
        latency_ns: encoded.latency,
        bytes_in: encoded.bytes_in,
        bytes_out: encoded.bytes_out,
        error: encoded.error,
    })
}

/// vegeta's own summary (`vegeta report -type=json`). Durations are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VegetaReport {
    pub requests: u64,
    /// Requests sent per second: requests / (last send - first send).
    pub rate: f64,
    /// Successes (200-399) per second over the attack plus the wait.
    pub throughput: f64,
    /// Share of responses with a status in 200-399, 0..1 (note: wider than the runner's "200 exactly").
    pub success: f64,
    pub latencies: VegetaLatencies,
    pub bytes_in: VegetaBytes,
    pub bytes_out: VegetaBytes,
    /// Status code -> count; "0" for requests without a response.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status_codes: BTreeMap<StatusCode, u64>,
    /// Distinct error messages, in first-seen order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<String>,
    /// Last send - first send.
    #[serde(rename = "duration")]
    pub duration_ns: u64,
    /// Latest response end - last send.
    #[serde(rename = "wait")]
    pub wait_ns: u64,
}

/// vegeta's latency summary, nanoseconds. Percentiles are estimates; mean, min and max are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VegetaLatencies {
    #[serde(rename = "total")]
    pub total_ns: u64,
    #[serde(rename = "mean")]
    pub mean_ns: u64,
    #[serde(rename = "50th")]
    pub p50_ns: u64,
    #[serde(rename = "90th")]
    pub p90_ns: u64,
    #[serde(rename = "95th")]
    pub p95_ns: u64,
    #[serde(rename = "99th")]
    pub p99_ns: u64,
    #[serde(rename = "max")]
    pub max_ns: u64,
    #[serde(rename = "min")]
    pub min_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VegetaBytes {
    pub total: u64,
    pub mean: f64,
}

/// Go encodes empty maps, slices and strings as `null` in places; read those as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
