//! A process on another host, started through `ssh` so that its remote pid is known (the wrapper prints `$$`
//! and then `exec`s the argv, keeping that pid), its stdout and stderr stream back over the session, it is
//! stopped with a signal sent over ssh, and it never outlives the runner: the wrapper watches the session's
//! stdin, which the local [`Supervised`] ssh holds open and never writes, and SIGKILLs the process when it
//! reads end-of-file, which is what happens when the runner (and so its ssh, by the death signal) dies.
//! Dropping the handle kills it too.

use std::io::{BufRead, BufReader};
use std::process::{ChildStdout, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{COMMAND_TIMEOUT, Ssh, SshError};
use crate::tools::process::Supervised;

/// Prints its pid, moves the session's stdin to a watcher that kills that pid and its children (a scheduled
/// attack runs vegeta as a child) on end-of-file, and execs the argv (with stdin from `/dev/null`). The
/// watcher's output goes to `/dev/null`, so the session ends when the argv's process does. The watcher is a
/// child too: it spares itself (`$PPID` of a shell it starts).
const WRAPPER: &str = "echo $$; exec 3<&0 </dev/null; \
                       { cat <&3 >/dev/null 2>&1; me=$(sh -c 'echo $PPID'); \
                       for kid in $(pgrep -P $$ 2>/dev/null); do [ \"$kid\" = \"$me\" ] || kill -9 \"$kid\"; done; \
                       kill -9 $$ 2>/dev/null; } >/dev/null 2>&1 & exec 3<&- \"$@\"";

/// Signals a remote pid; a kill takes its children first (once it is gone they are no longer its children).
const SIGNAL: &str = "if [ \"$1\" = 9 ]; then pkill -9 -P \"$2\" 2>/dev/null; fi; kill -\"$1\" \"$2\"";

/// A running remote process and the local ssh session it lives in.
#[derive(Debug)]
pub struct RemoteProcess {
    ssh: Ssh,
    session: Supervised,
    remote_pid: u32,
    stdout: Mutex<Option<BufReader<ChildStdout>>>,
}

impl RemoteProcess {
    /// Starts `argv` on `ssh`'s host and returns once its remote pid is known (within `timeout`).
    pub fn spawn<S: AsRef<str>>(ssh: &Ssh, argv: &[S], timeout: Duration) -> Result<RemoteProcess, SshError> {
        let mut wrapped: Vec<&str> = vec!["sh", "-c", WRAPPER, "sh"];
        wrapped.extend(argv.iter().map(AsRef::as_ref));
        let mut command = ssh.command(&wrapped);
        command.stdout(Stdio::piped());
        let session = Supervised::spawn_holding_stdin(command).map_err(SshError::Spawn)?;
        let stdout = session.take_stdout().map(BufReader::new);
        let shown = super::remote_command_line(argv);
        let (first_line, stdout) = match stdout.and_then(|out| first_line_within(out, timeout)) {
            Some((line, rest)) => (line, Some(rest)),
            None => (String::new(), None),
        };
        let Some(remote_pid) = first_line.trim().parse::<u32>().ok().filter(|_| stdout.is_some()) else {
            let _ = session.kill();
            let stderr = session.final_stderr_tail();
            let status = session.wait().map_err(SshError::Spawn)?;
            ssh.check_status(argv, status, &stderr)?;
            return Err(SshError::Protocol {
                host: ssh.host().clone(),
                command: shown,
                detail: format!("no pid line at its start (got {first_line:?}); its stderr ends with: {stderr}"),
            });
        };
        Ok(RemoteProcess { ssh: ssh.clone(), session, remote_pid, stdout: Mutex::new(stdout) })
    }

    /// The pid on the remote host.
    pub fn remote_pid(&self) -> u32 {
        self.remote_pid
    }

    /// The pid of the local `ssh` session process.
    pub fn session_pid(&self) -> u32 {
        self.session.pid()
    }

    pub fn ssh(&self) -> &Ssh {
        &self.ssh
    }

    /// The process's stdout after the pid line (once).
    pub fn take_stdout(&self) -> Option<BufReader<ChildStdout>> {
        self.stdout.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Its exit status once the session has ended (the remote process exited, or was killed): `None` while
    /// it runs. ssh passes the remote exit code through; a remote death by signal reads as 255.
    pub fn try_wait(&self) -> std::io::Result<Option<ExitStatus>> {
        self.session.try_wait()
    }

    /// The end of what the remote process (and ssh) wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.session.stderr_tail()
    }

    /// The end of stderr once the session has ended.
    pub fn final_stderr_tail(&self) -> String {
        self.session.final_stderr_tail()
    }

    /// Sends `signal` to the remote process, unless it has already exited.
    pub fn signal(&self, signal: libc::c_int) -> Result<(), SshError> {
        if matches!(self.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        let (pid, signal) = (self.remote_pid.to_string(), signal.to_string());
        match self.ssh.run(&["sh", "-c", SIGNAL, "sh", &signal, &pid], COMMAND_TIMEOUT) {
            // It exited between the check and the kill: nothing to signal.
            Err(SshError::RemoteFailed { .. }) if matches!(self.try_wait(), Ok(Some(_))) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Sends `signal`, gives the process `grace` to exit, then kills it; returns the session's exit status.
    pub fn stop(&self, signal: libc::c_int, grace: Duration) -> Result<ExitStatus, SshError> {
        if let Some(status) = self.try_wait().map_err(SshError::Spawn)? {
            return Ok(status);
        }
        self.signal(signal)?;
        let exited = self.session.wait_until(Instant::now() + grace).map_err(SshError::Spawn)?;
        match exited {
            Some(status) => Ok(status),
            None => self.kill(),
        }
    }

    /// SIGKILLs the remote process (over ssh) and ends the session.
    pub fn kill(&self) -> Result<ExitStatus, SshError> {
        let remote = self.signal(libc::SIGKILL);
        // Closing the session also closes the watcher's stdin, which kills it if the ssh kill did not get there.
        let status = self.session.kill().map_err(SshError::Spawn)?;
        remote.map(|()| status)
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The first line of `out` and the reader for the rest, or `None` if no line came within `timeout`. A pipe
/// cannot be read with a timeout, so the read runs on a helper thread; on a timeout the caller kills the
/// session, which ends that read (and the thread).
fn first_line_within(out: BufReader<ChildStdout>, timeout: Duration) -> Option<(String, BufReader<ChildStdout>)> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = out;
        let mut line = String::new();
        let read = out.read_line(&mut line);
        let _ = sender.send((read.map_or(String::new(), |_| line), out));
    });
    receiver.recv_timeout(timeout).ok()
}
