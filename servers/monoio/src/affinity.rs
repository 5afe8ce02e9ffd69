//! SCAFFOLDING copied from monoio-hyper until engineer B's shared router lands (arms-infra); deleted then.
//!
//! The CPUs this process may run on, and pinning a worker thread to one of them.
//!
//! Workers are pinned inside the allowed set rather than to CPUs 0..N, so an outer mask (the runner's
//! `taskset`) still decides which cores the server gets.

use std::io;

pub use shared::cpus::allowed_cpus;

/// The CPU worker `index` runs on: workers go round the allowed set, so more workers than CPUs share cores.
pub fn cpu_for_worker(allowed: &[usize], index: usize) -> Option<usize> {
    allowed.get(index.checked_rem(allowed.len())?).copied()
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    monoio::utils::bind_to_cpu_set([cpu]).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_set_is_not_empty_and_workers_wrap_around_it() {
        let allowed = allowed_cpus().expect("sched_getaffinity");
        assert!(!allowed.is_empty());
        assert_eq!(cpu_for_worker(&[2, 5], 0), Some(2));
        assert_eq!(cpu_for_worker(&[2, 5], 3), Some(5));
        assert_eq!(cpu_for_worker(&[], 0), None);
    }
}
