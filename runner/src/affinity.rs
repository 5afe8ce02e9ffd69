//! CPU placement of child processes: pinning a server or the load generator to a set of CPUs, and reading
//! which CPUs this process may use.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The CPUs this process may use, in ascending order (all the machine's if the mask cannot be read).
pub fn allowed_cpus() -> Vec<usize> {
    shared::cpus::allowed_cpus()
        .unwrap_or_else(|_| (0..std::thread::available_parallelism().map_or(1, usize::from)).collect())
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
    fn a_pinned_child_sees_only_its_cpus() {
        let first = allowed_cpus()[0];
        let mut command = Command::new("grep");
        command.args(["Cpus_allowed_list", "/proc/self/status"]);
        pin_command(&mut command, &[first]);
        let output = command.output().expect("grep runs");
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(text.split(':').nth(1).map(str::trim), Some(first.to_string().as_str()), "{text}");
    }
}
