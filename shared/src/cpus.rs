//! The CPUs this process may run on, and pinning a thread to one of them: the runner splits them between a
//! server and vegeta, and the per-core servers pin one worker to each within them, so an outer mask (the
//! runner's `taskset`) always decides which cores a server gets.

use std::io;

/// The CPUs the calling thread may run on (its affinity mask), in ascending order. Threads inherit the mask
/// of the thread that spawned them, so read it before pinning anything.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array for which all zeroes is the valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the size passed is exactly the size of `set`, which outlives the call.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max_cpus = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    // SAFETY: CPU_ISSET only reads `set`, and every index is below CPU_SETSIZE.
    let cpus: Vec<usize> = (0..max_cpus).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect();
    if cpus.is_empty() {
        return Err(io::Error::other("the affinity mask allows no CPU"));
    }
    Ok(cpus)
}

/// The CPU worker `index` runs on: workers go round the allowed set, so more workers than CPUs share cores.
pub fn cpu_for_worker(allowed: &[usize], index: usize) -> Option<usize> {
    allowed.get(index.checked_rem(allowed.len())?).copied()
}

/// Pins the calling thread to one CPU (`sched_setaffinity`), whatever runtime it will run.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    pin_current_thread_to(&[cpu])
}

/// Confines the calling thread to a set of CPUs: a thread spawned by a pinned worker inherits that one CPU,
/// and this gives it back the set the process was started with (see `allowed_cpus`).
pub fn pin_current_thread_to(cpus: &[usize]) -> io::Result<()> {
    let max_cpus = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    if cpus.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no CPU to pin to"));
    }
    // SAFETY: cpu_set_t is a plain bit array for which all zeroes is the valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= max_cpus {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("CPU {cpu} is beyond CPU_SETSIZE")));
        }
        // SAFETY: `cpu` was checked to be below CPU_SETSIZE, the number of bits in `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; the size passed is exactly the size of `set`, which outlives the call.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_may_use_at_least_one_cpu() {
        assert!(!allowed_cpus().expect("sched_getaffinity").is_empty());
    }

    #[test]
    fn workers_wrap_around_the_allowed_set() {
        assert_eq!(cpu_for_worker(&[2, 5], 0), Some(2));
        assert_eq!(cpu_for_worker(&[2, 5], 3), Some(5));
        assert_eq!(cpu_for_worker(&[], 0), None);
    }

    #[test]
    fn a_pinned_thread_may_run_on_that_cpu_only() {
        let last = *allowed_cpus().expect("sched_getaffinity").last().expect("one CPU");
        let seen = std::thread::spawn(move || pin_current_thread(last).and_then(|()| allowed_cpus()))
            .join()
            .expect("the pinned thread");
        assert_eq!(seen.expect("pinned"), vec![last]);
        assert!(pin_current_thread(usize::MAX).is_err());
        assert!(pin_current_thread_to(&[]).is_err());
    }
}
