//! The CPUs this process may run on: the runner splits them between a server and vegeta, and the
//! thread-per-core server pins one worker to each within them, so an outer mask always wins.

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

#[cfg(test)]
mod tests {
    #[test]
    fn this_thread_may_use_at_least_one_cpu() {
        assert!(!super::allowed_cpus().expect("sched_getaffinity").is_empty());
    }
}
