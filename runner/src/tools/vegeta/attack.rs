//! One `vegeta attack`: its arguments, and the running attack on the process supervisor (pinned, bounded by
//! a deadline, interruptible with one SIGINT so vegeta flushes its results, killed if the runner drops it).

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Result, VegetaError, display_args};
use crate::host::affinity;
use crate::tools::process::{POLL_INTERVAL, Supervised, poll_until};

/// Time an attack gets to flush its results after SIGINT before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// One `vegeta attack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackSpec {
    /// JSON-lines targets file (see [`write_targets`]).
    pub targets: PathBuf,
    /// Requests per second (positive: the runner only runs open-model attacks).
    pub rate: u32,
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attack name recorded in every result.
    pub name: String,
    /// The raw (gob) results file, readable by `vegeta report` and `vegeta plot`.
    pub output: PathBuf,
    /// CPUs to pin vegeta to; empty means no pinning.
    pub cpus: Vec<usize>,
    /// Cap on connections to the server; requests beyond it wait inside vegeta for a free connection, and
    /// that wait counts in their latency (vegeta times a request from when a worker takes it up).
    pub max_connections: Option<u32>,
    /// Keep response bodies in the results file (`-max-body -1`); by default none are stored (`-max-body
    /// 0`): the runner never reads them, and copying them costs the generator CPU at every response.
    pub keep_bodies: bool,
}

impl AttackSpec {
    pub(super) fn validate(&self) -> Result<()> {
        if self.duration.is_zero() {
            // vegeta reads 0 as "forever".
            return Err(VegetaError::InvalidAttack("duration must be positive".to_owned()));
        }
        if self.timeout.is_zero() {
            return Err(VegetaError::InvalidAttack("timeout must be positive".to_owned()));
        }
        if self.rate == 0 {
            // vegeta reads 0 as "unthrottled", which is not an open-model attack.
            return Err(VegetaError::InvalidAttack("rate must be positive".to_owned()));
        }
        Ok(())
    }

    /// The `vegeta attack` arguments. Targets are always given with their format: `-targets` defaults to stdin.
    /// A pinned vegeta is told how many CPUs it has (`-cpus`, a global flag before `attack`): Go would
    /// otherwise size its scheduler for every CPU of the machine and contend with itself on the few it may use.
    pub(super) fn arguments(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        if !self.cpus.is_empty() {
            args.extend(["-cpus".into(), self.cpus.len().to_string().into()]);
        }
        args.extend::<[std::ffi::OsString; 13]>([
            "attack".into(),
            "-targets".into(),
            self.targets.as_os_str().to_owned(),
            "-format=json".into(),
            format!("-rate={}/1s", self.rate).into(),
            format!("-duration={}", go_duration(self.duration)).into(),
            format!("-timeout={}", go_duration(self.timeout)).into(),
            "-keepalive=true".into(),
            "-name".into(),
            self.name.clone().into(),
            "-output".into(),
            self.output.as_os_str().to_owned(),
            if self.keep_bodies { "-max-body=-1".into() } else { "-max-body=0".into() },
        ]);
        if let Some(max_connections) = self.max_connections {
            args.push(format!("-max-connections={max_connections}").into());
        }
        args
    }
}

/// A Go duration literal (`1500ms`), exact to the nanosecond.
pub(super) fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos.is_multiple_of(1_000_000) { format!("{}ms", nanos / 1_000_000) } else { format!("{nanos}ns") }
}

/// How an attack ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackOutcome {
    pub status: ExitStatus,
    /// From the start of the attack to its exit.
    pub elapsed: Duration,
    /// It ran past the deadline and was stopped.
    pub overran: bool,
    /// It was stopped by [`RunningAttack::interrupt`].
    pub interrupted: bool,
    /// It had to be killed (SIGKILL): its results file may be truncated.
    pub killed: bool,
    /// The end of its stderr (vegeta is silent when all goes well).
    pub stderr_tail: String,
}

/// A `vegeta attack` in progress. Every method takes `&self`, so another thread can interrupt it while one
/// waits; the child is killed if this is dropped while it still runs.
#[derive(Debug)]
pub struct RunningAttack {
    process: Supervised,
}

impl RunningAttack {
    /// Starts `vegeta attack` in the background. Its results go to `spec.output`; stdin is null (vegeta would
    /// otherwise read targets from it) and stderr is kept for error messages.
    pub(super) fn start(binary: &std::path::Path, spec: &AttackSpec) -> Result<RunningAttack> {
        spec.validate()?;
        let args = spec.arguments();
        let mut command = Command::new(binary);
        command.args(&args).stdout(Stdio::null());
        affinity::pin_command(&mut command, &spec.cpus);
        let process = Supervised::spawn(command).map_err(|source| VegetaError::Spawn {
            binary: binary.to_owned(),
            args: display_args(&args),
            source,
        })?;
        Ok(RunningAttack { process })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits until the attack ends. `deadline` counts from the attack's start; past it the attack gets a
    /// SIGINT (so it flushes what it has), and a kill if it is still running [`STOP_GRACE`] later.
    /// A non-zero exit that the runner did not cause is an error carrying the end of vegeta's stderr.
    pub fn wait_with_deadline(&self, deadline: Duration) -> Result<AttackOutcome> {
        let until = Instant::now() + deadline.saturating_sub(self.process.elapsed());
        let exited = poll_until(until, POLL_INTERVAL, || self.process.try_wait().transpose());
        match exited {
            Some(status) => self.outcome(status.map_err(|e| self.io_error("polling", e))?, false),
            None => self.stop_overrun(),
        }
    }

    /// Stops an attack that ran too long: SIGINT, then a kill after [`STOP_GRACE`].
    pub fn stop_overrun(&self) -> Result<AttackOutcome> {
        let status = self.process.stop(libc::SIGINT, STOP_GRACE).map_err(|e| self.io_error("stopping", e))?;
        self.outcome(status, true)
    }

    /// Stops the attack: the first call sends SIGINT (vegeta stops and flushes its results), a second call
    /// kills it (a second SIGINT would make vegeta exit without flushing). Does nothing once it has exited.
    pub fn interrupt(&self) {
        if self.process.signals_sent() == 0 {
            self.process.signal(libc::SIGINT);
        } else {
            let _ = self.process.kill();
        }
    }

    /// The exit status once the attack has ended (reaping it), `None` while it runs: for callers that poll
    /// other things (a server, a Ctrl-C flag) between checks instead of using [`Self::wait_with_deadline`].
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.process.try_wait().map_err(|e| self.io_error("polling", e))
    }

    fn io_error(&self, action: &'static str, source: std::io::Error) -> VegetaError {
        VegetaError::Io { action, path: PathBuf::from(format!("vegeta attack pid {}", self.pid())), source }
    }

    fn outcome(&self, status: ExitStatus, overran: bool) -> Result<AttackOutcome> {
        let elapsed = self.process.elapsed();
        let killed = self.process.was_killed();
        let interrupted = self.process.signals_sent() > 0 && !overran;
        let stderr_tail = self.process.final_stderr_tail();
        if !status.success() && !killed {
            return Err(VegetaError::AttackFailed { pid: self.pid(), status, stderr: stderr_tail });
        }
        Ok(AttackOutcome { status, elapsed, overran, interrupted, killed, stderr_tail })
    }
}
