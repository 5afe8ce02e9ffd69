//! The one process supervisor every child of the runner goes through (servers, `vegeta attack`, `vegeta
//! encode`): spawn it tied to the runner, keep the end of its stderr, poll it, stop it with a signal and a
//! grace period before SIGKILL, and kill it on drop, so no child ever outlives the runner.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of a child's stderr kept for error messages (cut to whole lines).
pub const STDERR_TAIL_BYTES: usize = 4096;
/// How often a waiting supervisor polls its child: short next to any deadline, long enough to cost nothing.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

pub use crate::poll::poll_until;

/// A running child process. Every method takes `&self`, so one thread can signal it while another waits.
#[derive(Debug)]
pub struct Supervised {
    pid: u32,
    started: Instant,
    state: Mutex<State>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct State {
    child: Child,
    /// Set once the child is reaped; its pid must not be signalled after that.
    exit: Option<ExitStatus>,
    signals: u32,
    killed: bool,
    stdout: Option<ChildStdout>,
    /// The write end of the child's stdin when [`Supervised::spawn_holding_stdin`] kept one open: dropping it
    /// (on kill) is the child's end-of-file.
    stdin: Option<ChildStdin>,
}

impl Supervised {
    /// Spawns `command` with stdin closed and stderr captured (stdout as the caller configured it), in its own
    /// process group (a terminal Ctrl-C reaches only the runner, which then stops children in order) and with
    /// a death signal so the kernel kills it if the runner dies without cleaning up.
    ///
    /// The death signal fires when the *thread* that spawned the child exits: spawn from a long-lived thread.
    pub fn spawn(command: Command) -> std::io::Result<Supervised> {
        Supervised::spawn_with_stdin(command, false)
    }

    /// Like [`Supervised::spawn`], but the child's stdin is a pipe the supervisor holds open and never writes:
    /// it reads end-of-file only once the supervisor kills it or the runner dies. That is how a child that
    /// cannot be tied to the runner by a death signal (a process on another host, behind `ssh`) learns the
    /// runner is gone.
    pub fn spawn_holding_stdin(command: Command) -> std::io::Result<Supervised> {
        Supervised::spawn_with_stdin(command, true)
    }

    fn spawn_with_stdin(mut command: Command, hold_stdin: bool) -> std::io::Result<Supervised> {
        command.stdin(if hold_stdin { Stdio::piped() } else { Stdio::null() }).stderr(Stdio::piped());
        tie_to_runner(&mut command);
        let mut child = command.spawn()?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let reader = child.stderr.take().map(|pipe| spawn_tail_reader(pipe, Arc::clone(&stderr)));
        let stdout = child.stdout.take();
        let stdin = child.stdin.take();
        Ok(Supervised {
            pid: child.id(),
            started: Instant::now(),
            state: Mutex::new(State { child, exit: None, signals: 0, killed: false, stdout, stdin }),
            stderr,
            stderr_reader: Mutex::new(reader),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Time since the child was spawned.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The child's stdout pipe, when the command asked for one (once).
    pub fn take_stdout(&self) -> Option<ChildStdout> {
        self.lock().stdout.take()
    }

    /// The child's held stdin pipe (see [`Supervised::spawn_holding_stdin`]), for a caller that talks to it;
    /// the child then reads end-of-file when the caller drops it.
    pub fn take_stdin(&self) -> Option<ChildStdin> {
        self.lock().stdin.take()
    }

    /// The exit status once the child has exited (reaping it), `None` while it runs.
    pub fn try_wait(&self) -> std::io::Result<Option<ExitStatus>> {
        refresh_exit(&mut self.lock())
    }

    /// Sends `signal` unless the child has exited; counted, so callers can tell how often they asked.
    pub fn signal(&self, signal: libc::c_int) {
        let mut state = self.lock();
        if matches!(refresh_exit(&mut state), Ok(Some(_))) {
            return;
        }
        state.signals += 1;
        send_signal(self.pid, signal);
    }

    /// Sends `signal` to the child's whole process group (it leads its own: see [`Self::spawn`]), so the
    /// processes it forked get it too, including members that outlived a leader already reaped (while any
    /// member lives, the kernel does not reuse the group's id). A group with no members left is no error.
    pub fn signal_group(&self, signal: libc::c_int) {
        if let Ok(group) = libc::pid_t::try_from(self.pid) {
            // SAFETY: kill(2) on the negated id of the group this child leads; ESRCH means it is empty.
            unsafe {
                libc::kill(-group, signal);
            }
        }
    }

    /// How many signals [`Self::signal`] sent.
    pub fn signals_sent(&self) -> u32 {
        self.lock().signals
    }

    /// Whether the supervisor had to SIGKILL the child.
    pub fn was_killed(&self) -> bool {
        self.lock().killed
    }

    /// SIGKILL (if it still runs) and reap.
    pub fn kill(&self) -> std::io::Result<ExitStatus> {
        let mut state = self.lock();
        if let Some(status) = refresh_exit(&mut state)? {
            return Ok(status);
        }
        // An error means it exited meanwhile; the wait reaps it either way.
        let _ = state.child.kill();
        state.stdin.take();
        state.killed = true;
        let status = state.child.wait()?;
        state.exit = Some(status);
        Ok(status)
    }

    /// Waits for the child to exit on its own.
    pub fn wait(&self) -> std::io::Result<ExitStatus> {
        let mut state = self.lock();
        if let Some(status) = state.exit {
            return Ok(status);
        }
        let status = state.child.wait()?;
        state.exit = Some(status);
        Ok(status)
    }

    /// Sends `signal`, gives the child `grace` to exit, then kills it; returns its exit status.
    pub fn stop(&self, signal: libc::c_int, grace: Duration) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        self.signal(signal);
        self.wait_or_kill(Instant::now() + grace)
    }

    /// Waits until `deadline` for the child to exit; `None` if it still runs then.
    pub fn wait_until(&self, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
        let mut error = None;
        let exited = poll_until(deadline, POLL_INTERVAL, || match self.try_wait() {
            Ok(status) => status,
            Err(e) => {
                error = Some(e);
                None
            }
        });
        match (exited, error) {
            (Some(status), _) => Ok(Some(status)),
            (None, Some(error)) => Err(error),
            (None, None) => Ok(None),
        }
    }

    /// Waits until `deadline` for the child to exit, then kills it.
    pub fn wait_or_kill(&self, deadline: Instant) -> std::io::Result<ExitStatus> {
        match self.wait_until(deadline)? {
            Some(status) => Ok(status),
            None => self.kill(),
        }
    }

    /// The end of what the child wrote to stderr so far.
    pub fn stderr_tail(&self) -> String {
        tail_text(&self.stderr.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The end of stderr once the child has exited: waits for the reader to see the pipe close, so the last
    /// words are in.
    pub fn final_stderr_tail(&self) -> String {
        let reader = self.stderr_reader.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
        self.stderr_tail()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let _ = self.kill();
        // The pipe closes with the child, so the reader thread ends.
        let _ = self.final_stderr_tail();
    }
}

/// Reaps the child if it has exited, remembering the status so the pid is never signalled afterwards.
fn refresh_exit(state: &mut State) -> std::io::Result<Option<ExitStatus>> {
    if state.exit.is_none() {
        state.exit = state.child.try_wait()?;
    }
    Ok(state.exit)
}

/// Its own process group, and SIGKILL from the kernel if the runner dies (even by SIGKILL).
fn tie_to_runner(command: &mut Command) {
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

fn send_signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on a child we spawned and have not reaped; ESRCH just means it is gone.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Drains a child's stderr on its own thread (a full pipe would block the child), keeping its end.
fn spawn_tail_reader(mut pipe: impl Read + Send + 'static, kept: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(read) = pipe.read(&mut chunk) {
            if read == 0 {
                break;
            }
            let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
            kept.extend_from_slice(&chunk[..read]);
            if kept.len() > 2 * STDERR_TAIL_BYTES {
                let excess = kept.len() - STDERR_TAIL_BYTES;
                kept.drain(..excess);
            }
        }
    })
}

/// The last [`STDERR_TAIL_BYTES`] of `bytes` as text, starting at a line boundary when there is one.
pub fn tail_text(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL_BYTES);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = if start > 0 { text.split_once('\n').map_or(&*text, |(_, rest)| rest) } else { &*text };
    let text = text.trim();
    if text.is_empty() { "(empty)".to_owned() } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn keeps_the_end_of_a_long_stderr_in_whole_lines() {
        let long: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let tail = tail_text(long.as_bytes());
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.ends_with("line 1999") && tail.starts_with("line "), "{tail}");
        assert_eq!(tail_text(b"  \n"), "(empty)");
    }

    #[test]
    fn a_child_that_ignores_the_signal_is_killed_after_the_grace() {
        let child = Supervised::spawn(shell("trap '' TERM; echo started >&2; exec sleep 30")).expect("sh runs");
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let status = child.stop(libc::SIGTERM, Duration::from_millis(300)).expect("stopped");
        assert!(!status.success() && child.was_killed(), "{status}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(child.final_stderr_tail(), "started");
    }

    #[test]
    fn a_child_that_honours_the_signal_is_not_killed() {
        let child = Supervised::spawn(shell("exec sleep 30")).expect("sh runs");
        child.stop(libc::SIGTERM, Duration::from_secs(5)).expect("stopped");
        assert!(!child.was_killed());
        assert_eq!(child.signals_sent(), 1);
        child.signal(libc::SIGTERM);
        assert_eq!(child.signals_sent(), 1, "an exited child is never signalled");
    }

    #[test]
    fn a_group_signal_reaches_the_processes_the_child_forked() {
        let child = Supervised::spawn(shell("sleep 30 & echo $! >&2; wait")).expect("sh runs");
        let forked = poll_until(Instant::now() + Duration::from_secs(5), POLL_INTERVAL, || {
            child.stderr_tail().trim().parse::<u32>().ok()
        })
        .expect("the shell names its background sleep");
        child.signal_group(libc::SIGKILL);
        child.wait().expect("reaped");
        let gone = poll_until(Instant::now() + Duration::from_secs(5), POLL_INTERVAL, || {
            let status = std::fs::read_to_string(format!("/proc/{forked}/status")).unwrap_or_default();
            (status.is_empty() || status.contains("State:\tZ")).then_some(())
        });
        assert!(gone.is_some(), "the forked sleep {forked} survived the group signal");
    }

    #[test]
    fn dropping_a_supervisor_kills_its_child() {
        let child = Supervised::spawn(shell("exec sleep 30")).expect("sh runs");
        let pid = child.pid();
        drop(child);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        assert!(status.is_empty() || status.contains("State:\tZ"), "{pid} still alive: {status}");
    }

    #[test]
    fn poll_until_checks_once_even_past_its_deadline_and_stops_at_it() {
        assert_eq!(poll_until(Instant::now(), POLL_INTERVAL, || Some(1)), Some(1));
        let started = Instant::now();
        let never: Option<()> = poll_until(started + Duration::from_millis(100), POLL_INTERVAL, || None);
        assert!(never.is_none() && started.elapsed() >= Duration::from_millis(100));
    }
}
