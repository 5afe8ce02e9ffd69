//! Waiting for a condition: every "wait until ready / drained / exited" of the runner is [`poll_until`]. A
//! leaf any layer may use.

use std::time::{Duration, Instant};

/// Calls `check` every `interval` until it returns `Some` or `deadline` passes (checked at least once).
/// Every "wait until ready / drained / exited" loop of the runner is this one.
pub fn poll_until<T>(deadline: Instant, interval: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::sleep(interval.min(left));
    }
}
