//! CPU placement: which CPUs a server and the load generator get, pinning a child to them, and which CPUs
//! this process may use.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::model::{CoreLayout, Placement};

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

/// Splits CPUs between the server and vegeta for every workers count: disjoint when the machine has more
/// CPUs than workers (server on the first ones, vegeta on the rest), shared otherwise.
pub fn core_layout(workers: &[u16], pin: bool) -> CoreLayout {
    plan_core_layout(&allowed_cpus(), workers, pin)
}

fn plan_core_layout(allowed: &[usize], workers: &[u16], pin: bool) -> CoreLayout {
    let placements = workers.iter().map(|&w| (w, placement(allowed, usize::from(w), pin))).collect();
    CoreLayout { pinned: pin, placements }
}

/// Where a server of `workers` runs under `layout`; unpinned and shared for a workers count it does not plan.
pub fn placement_for(layout: &CoreLayout, workers: u16) -> Placement {
    layout.placements.get(&workers).cloned().unwrap_or_else(|| placement(&[], usize::from(workers), false))
}

pub fn placement(allowed: &[usize], workers: usize, pin: bool) -> Placement {
    if pin && allowed.len() > workers {
        Placement {
            server_cpus: allowed[..workers].to_vec(),
            load_generator_cpus: allowed[workers..].to_vec(),
            shared: false,
        }
    } else {
        Placement { server_cpus: Vec::new(), load_generator_cpus: Vec::new(), shared: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_cpus_when_there_are_more_cpus_than_workers() {
        let layout = plan_core_layout(&[0, 1], &[1, 2], true);
        let one = &layout.placements[&1];
        assert_eq!(
            (one.server_cpus.as_slice(), one.load_generator_cpus.as_slice(), one.shared),
            (&[0][..], &[1][..], false)
        );
        assert!(layout.placements[&2].shared);
        let big = plan_core_layout(&(0..8).collect::<Vec<_>>(), &[2], true);
        assert_eq!(big.placements[&2].server_cpus, [0, 1]);
        assert_eq!(big.placements[&2].load_generator_cpus, [2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn no_pin_shares_everything() {
        let layout = plan_core_layout(&[0, 1, 2, 3], &[1], false);
        assert!(!layout.pinned);
        assert!(layout.placements[&1].shared);
    }

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
