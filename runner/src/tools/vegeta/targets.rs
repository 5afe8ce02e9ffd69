//! vegeta's targets file: JSON lines, one target per item id (vegeta uses them round-robin).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::RangeInclusive;
use std::path::Path;

use serde::Serialize;

use super::{Result, VegetaError};

/// One line of a JSON-lines targets file. vegeta requires only method and URL; POST targets carry no body.
#[derive(Serialize)]
struct TargetLine<'a> {
    method: &'a str,
    url: String,
}

/// Writes a JSON-lines targets file: one target per item id in `ids` (vegeta uses them round-robin, so the
/// load cycles over the items), or a single target for an endpoint without an item id. Returns the number of
/// targets written.
pub fn write_targets(
    path: &Path,
    base_url: &str,
    endpoint: &shared::Endpoint,
    ids: RangeInclusive<i64>,
) -> Result<usize> {
    let io_error = |source| VegetaError::Io { action: "writing targets file", path: path.to_owned(), source };
    let ids: Vec<i64> = if endpoint.takes_item_id() { ids.collect() } else { vec![0] };
    if ids.is_empty() {
        return Err(VegetaError::NoTargets(path.to_owned()));
    }
    let base_url = base_url.trim_end_matches('/');
    let mut out = BufWriter::new(File::create(path).map_err(io_error)?);
    for &id in &ids {
        let target =
            TargetLine { method: endpoint.method.as_str(), url: format!("{base_url}{}", endpoint.path_for(id)) };
        serde_json::to_writer(&mut out, &target).map_err(|e| io_error(e.into()))?;
        out.write_all(b"\n").map_err(io_error)?;
    }
    out.flush().map_err(io_error)?;
    Ok(ids.len())
}
