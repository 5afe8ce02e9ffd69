//! Hygiene for the processes the runner starts: none of them may outlive it.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Ties a child to the runner: it gets its own process group, so a Ctrl-C in the terminal reaches only the
/// runner (which then stops children in order, letting vegeta flush its results), and the kernel kills it
/// with SIGKILL if the runner dies without cleaning up (even by SIGKILL).
///
/// The death signal fires when the *thread* that spawned the child exits, so spawn from a long-lived thread.
pub fn tie_to_runner(command: &mut Command) {
    command.process_group(0);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sends `signal` to `pid`; an already-exited process is not an error.
pub fn send_signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid we spawned; failure (ESRCH) just means it is gone.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}
