//! The CPUs this process may run on, and pinning a worker thread to one of them.
//!
//! Workers are pinned inside the allowed set rather than to CPUs 0..N, so an outer mask (the runner's
//! `taskset`) still decides which cores the server gets.

use std::io;

/// The CPUs the calling thread may run on, in ascending order. Call it before pinning anything: threads
/// inherit the mask of the thread that spawned them.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array for which all zeroes is the valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the size passed is exactly the size of `set`, which outlives the call.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max_cpus = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    // SAFETY: CPU_ISSET only reads `set`, and every index is below CPU_SETSIZE.
    let cpus: Vec<usize> = (0..max_cpus)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        return Err(io::Error::other("the affinity mask allows no CPU"));
    }
    Ok(cpus)
}

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
