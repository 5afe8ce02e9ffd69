//! CPU placement of child processes: pinning a server or the load generator to a set of CPUs, and reading
//! which CPUs this process may use.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The CPUs this process may run on (its affinity mask), in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask owned by this frame; sched_getaffinity only writes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: pid 0 is this process; `set` is valid for `size` bytes.
    let rc = unsafe { libc::sched_getaffinity(0, size, &mut set) };
    if rc != 0 {
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        return (0..count).collect();
    }
    // SAFETY: CPU_ISSET reads the initialised mask within its fixed size.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Makes `command`'s child start pinned to `cpus` (nothing happens when `cpus` is empty). Children inherit
/// the mask, and a thread-per-core server pins its threads within it.
pub fn pin_command(command: &mut Command, cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    let cpus = cpus.to_vec();
    // SAFETY: the closure runs in the forked child before exec and only calls the async-signal-safe
    // sched_setaffinity on a mask built on its own stack.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in &cpus {
                libc::CPU_SET(cpu, &mut set);
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_use_at_least_one_cpu() {
        assert!(!allowed_cpus().is_empty());
    }

    #[test]
    fn a_pinned_child_sees_only_its_cpus() {
        let first = allowed_cpus()[0];
        let mut command = Command::new("grep");
        command.args(["Cpus_allowed_list", "/proc/self/status"]);
        pin_command(&mut command, &[first]);
        let output = command.output().expect("grep runs");
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            text.split(':').nth(1).map(str::trim),
            Some(first.to_string().as_str()),
            "{text}"
        );
    }
}
