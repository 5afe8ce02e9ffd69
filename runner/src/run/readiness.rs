//! Whether the server is ready for the measured attack: serving the endpoint under test, and nothing a
//! warm-up queued still running.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use shared::Endpoint;

use super::backend::Server;
use crate::defaults::{QUIESCE_LIMIT, QUIET_HEALTH};
use crate::tools::process::poll_until;

/// Waits until nothing a warm-up left behind is still running: `/healthz` answers promptly (no backlog holds
/// the event loop) and reports no request in flight (none queued on a thread pool or a SQLite thread), twice
/// in a row.
pub fn wait_quiescent(server: &dyn Server, interrupted: &dyn Fn() -> bool) -> bool {
    let mut quiet_in_a_row = 0;
    // Polled often: a drained server is seen at once (each poll is one short request).
    let quiet = poll_until(Instant::now() + QUIESCE_LIMIT, Duration::from_millis(25), || {
        if interrupted() {
            return Some(false);
        }
        let asked = Instant::now();
        let idle = server.health_within(QUIESCE_LIMIT).is_ok_and(|health| health.in_flight == 0);
        quiet_in_a_row = if idle && asked.elapsed() < QUIET_HEALTH { quiet_in_a_row + 1 } else { 0 };
        (quiet_in_a_row == 2).then_some(true)
    });
    quiet.unwrap_or(false)
}

/// The server serves the endpoint under test, as the catalogue describes it.
pub fn check_serves(server: &dyn Server, name: &str, endpoint: &Endpoint) -> Result<()> {
    let served = server.endpoints().map_err(|e| e.context("discovering endpoints"))?;
    let found =
        served.iter().any(|e| e.name == endpoint.name && e.path == endpoint.path && e.method == endpoint.method);
    if found {
        return Ok(());
    }
    Err(anyhow!("the {name} server does not serve {} {} ({})", endpoint.method.as_str(), endpoint.path, endpoint.name))
}
