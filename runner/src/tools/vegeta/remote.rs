//! vegeta on another host, over the ssh transport ([`crate::tools::remote`]): finding it there (a missing
//! one is a setup problem that names the install command), copying the targets into a scratch folder of
//! its own, starting the attack so that it sends from an agreed start time on that host's clock, stopping it
//! cleanly, bringing its raw results back, and its CPU over the attack.
//!
//! vegeta has no start-at flag, so a small shell script on the host sleeps until the start time (its own
//! clock: the runner's start plus the measured offset) and then runs vegeta as its child. The script stays
//! the parent so that, once vegeta has exited, its own `/proc/<pid>/stat` holds vegeta's whole CPU time
//! (`cutime` + `cstime`, which a reaped child adds to its parent): a process that has exited on another host
//! cannot be read any more, its parent can. The script forwards a SIGINT as SIGTERM (a background child of
//! a non-interactive shell ignores SIGINT; vegeta stops and flushes on either).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::attack::{AttackSpec, STOP_GRACE};
use super::{Result, VegetaError};
use crate::sampling::account::CpuWindow;
use crate::tools::process::Supervised;
use crate::tools::remote::process::RemoteProcess;
use crate::tools::remote::{COMMAND_TIMEOUT, Ssh, SshError, SshHost};

/// Where vegeta is looked for on a host after its `PATH`: where `go install` puts it.
const GO_BIN: &str = "$HOME/go/bin/vegeta";

/// Sleeps until `$1` (seconds since the epoch, this host's clock), runs the rest as a child, forwards a
/// stop, and once the child has exited writes this shell's `utime stime cutime cstime CLK_TCK` to `$2/cpu`.
const SCHEDULED: &str = r#"start=$1 dir=$2; shift 2
pause=$(awk -v t="$start" -v n="$(date +%s.%N)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.6f", d }')
sleep "$pause"
"$@" & child=$!
trap 'kill -TERM $child 2>/dev/null' INT TERM
rc=0
while :; do wait $child; rc=$?; kill -0 $child 2>/dev/null || break; done
stat=$(cat /proc/$$/stat)
set -- ${stat##*) }
echo "${12} ${13} ${14} ${15} $(getconf CLK_TCK)" > "$dir/cpu"
exit $rc"#;

/// A located vegeta on another host.
#[derive(Debug, Clone)]
pub struct RemoteVegeta {
    ssh: Ssh,
    /// Its path there.
    path: String,
    /// The host's CPUs (`nproc`), all of which the unpinned vegeta may use; `None` when it did not say.
    cpus: Option<usize>,
}

impl RemoteVegeta {
    /// Finds vegeta on `ssh`'s host: `explicit` when given (a path there), else its `PATH`, else
    /// `~/go/bin/vegeta`. Missing, or not answering `-version` like vegeta, is [`VegetaError::NotFoundOn`]
    /// (the runner exits 2, naming the install command).
    pub fn locate(ssh: &Ssh, explicit: Option<&str>) -> Result<RemoteVegeta> {
        let host = ssh.host().clone();
        let searched = explicit.map_or_else(|| format!("PATH and {GO_BIN}"), str::to_owned);
        let found = match explicit {
            Some(path) => ssh.run(&["sh", "-c", "[ -x \"$1\" ] && echo \"$1\"", "sh", path], COMMAND_TIMEOUT),
            None => ssh.run(
                &["sh", "-c", &format!("command -v vegeta || {{ [ -x \"{GO_BIN}\" ] && echo \"{GO_BIN}\"; }}")],
                COMMAND_TIMEOUT,
            ),
        };
        let path = match found {
            Ok(out) if !out.trim().is_empty() => out.trim().to_owned(),
            Ok(_) | Err(SshError::RemoteFailed { .. }) => return Err(VegetaError::NotFoundOn { host, searched }),
            Err(error) => return Err(error.into()),
        };
        let version = ssh.run(&[path.as_str(), "-version"], COMMAND_TIMEOUT);
        if !version.as_deref().is_ok_and(|printed| printed.contains("Version:")) {
            return Err(VegetaError::NotFoundOn { host, searched: format!("{path} (which is not vegeta)") });
        }
        let cpus = ssh.run(&["nproc"], COMMAND_TIMEOUT).ok().and_then(|n| n.trim().parse().ok());
        Ok(RemoteVegeta { ssh: ssh.clone(), path, cpus })
    }

    pub fn host(&self) -> &SshHost {
        self.ssh.host()
    }

    pub fn ssh(&self) -> &Ssh {
        &self.ssh
    }

    /// Makes a scratch folder on the host and copies the targets there: everything slow about an attack
    /// happens here, before a start time is agreed; [`RemoteAttack::start`] then only starts it.
    pub fn stage(&self, spec: &AttackSpec) -> Result<RemoteAttack> {
        spec.validate()?;
        let dir = self.ssh.run(&["mktemp", "-d", "/tmp/rb-attack.XXXXXX"], COMMAND_TIMEOUT)?.trim().to_owned();
        let remote = AttackSpec {
            targets: PathBuf::from(format!("{dir}/targets.jsonl")),
            output: PathBuf::from(format!("{dir}/results.bin")),
            cpus: Vec::new(),
            ..spec.clone()
        };
        // Built before anything is copied, so a failure from here on still removes the scratch folder.
        let attack = RemoteAttack {
            ssh: self.ssh.clone(),
            cpus: self.cpus,
            vegeta: self.path.clone(),
            local_output: spec.output.clone(),
            remote,
            process: None,
            remote_dir: dir,
            start_at: SystemTime::now(),
            ended: Mutex::new(None),
        };
        self.push(&spec.targets, &attack.remote.targets.display().to_string())?;
        Ok(attack)
    }

    /// Writes the local file `local` to `remote` on the host (`cat >` over the connection).
    fn push(&self, local: &Path, remote: &str) -> Result<()> {
        let io = |source| VegetaError::Io { action: "reading targets file", path: local.to_owned(), source };
        let mut file = std::fs::File::open(local).map_err(io)?;
        let argv = ["sh", "-c", "cat > \"$1\"", "sh", remote];
        let session = Supervised::spawn_holding_stdin(self.ssh.command(&argv)).map_err(SshError::Spawn)?;
        if let Some(mut stdin) = session.take_stdin() {
            std::io::copy(&mut file, &mut stdin).map_err(io)?;
        }
        let status = session.wait_or_kill(Instant::now() + COMMAND_TIMEOUT).map_err(SshError::Spawn)?;
        self.ssh.check_status(&argv, status, &session.final_stderr_tail())?;
        Ok(())
    }
}

/// A `vegeta attack` on another host. Dropping it kills the attack (if it still runs) and removes its
/// scratch folder there.
#[derive(Debug)]
pub struct RemoteAttack {
    ssh: Ssh,
    /// The host's CPUs.
    cpus: Option<usize>,
    /// vegeta's path on the host.
    vegeta: String,
    /// The attack with the host's paths.
    remote: AttackSpec,
    /// `None` until it is started.
    process: Option<RemoteProcess>,
    local_output: PathBuf,
    remote_dir: String,
    start_at: SystemTime,
    /// When it was first seen to have ended.
    ended: Mutex<Option<Instant>>,
}

impl RemoteAttack {
    /// Starts the staged attack so that it sends from `start_at` (the runner's clock) on; `offset_ns` is the
    /// host's clock minus the runner's. Its results stay on the host until [`RemoteAttack::collect`].
    pub fn start(&mut self, start_at: SystemTime, offset_ns: i64) -> Result<()> {
        let start_ns =
            start_at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128) + i128::from(offset_ns);
        let start = format!("{}.{:09}", start_ns.div_euclid(1_000_000_000), start_ns.rem_euclid(1_000_000_000));
        let mut argv: Vec<String> = ["sh", "-c", SCHEDULED, "sh", &start, &self.remote_dir, &self.vegeta]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        argv.extend(self.remote.arguments().iter().map(|arg| arg.to_string_lossy().into_owned()));
        self.start_at = start_at;
        self.process = Some(RemoteProcess::spawn(&self.ssh, &argv, COMMAND_TIMEOUT)?);
        Ok(())
    }

    /// The host's CPUs, all of which its vegeta may use.
    pub fn cpus(&self) -> Option<usize> {
        self.cpus
    }

    /// The local ssh session's pid.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map_or(0, RemoteProcess::session_pid)
    }

    pub fn host(&self) -> &SshHost {
        self.ssh.host()
    }

    /// Whether it has ended (its ssh session with it).
    pub fn finished(&self) -> Result<bool> {
        let Some(process) = &self.process else { return Ok(true) };
        let ended = process.try_wait().map_err(SshError::Spawn)?.is_some();
        if ended {
            self.ended.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(Instant::now);
        }
        Ok(ended)
    }

    /// Stops it early: the first call asks (it flushes its results), a later one kills it.
    pub fn interrupt(&self, first: bool) {
        if let Some(process) = &self.process {
            let _ = if first { process.signal(libc::SIGINT) } else { process.kill().map(drop) };
        }
    }

    /// Stops an attack that ran past its deadline: a stop, then a kill after [`STOP_GRACE`].
    pub fn stop_overrun(&self) -> Result<()> {
        if let Some(process) = &self.process {
            process.stop(libc::SIGINT, STOP_GRACE)?;
        }
        Ok(())
    }

    /// After it ended: an error naming the host when vegeta failed there (or was killed).
    pub fn outcome(&self) -> Result<()> {
        let Some(process) = &self.process else { return Ok(()) };
        let status = process.try_wait().map_err(SshError::Spawn)?;
        match status {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(VegetaError::RemoteAttackFailed {
                host: self.host().clone(),
                status: status.to_string(),
                stderr: process.final_stderr_tail(),
            }),
            None => Ok(()),
        }
    }

    /// Brings its raw results into the run folder, where `vegeta report` and the decoder read them.
    pub fn collect(&self) -> Result<()> {
        self.ssh.fetch(&format!("{}/results.bin", self.remote_dir), &self.local_output, COMMAND_TIMEOUT)?;
        Ok(())
    }

    /// Its vegeta's CPU from the agreed start to its end, as the script recorded it.
    pub fn cpu(&self) -> std::result::Result<CpuWindow, String> {
        let text = self
            .ssh
            .run(&["cat", "--", &format!("{}/cpu", self.remote_dir)], COMMAND_TIMEOUT)
            .map_err(|error| format!("{error}"))?;
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner).unwrap_or_else(Instant::now);
        let since_start = self.start_at.elapsed().unwrap_or_default();
        let wall = since_start.saturating_sub(ended.elapsed());
        cpu_window(&text, wall).map_err(|why| format!("{}/cpu on {}: {why}", self.remote_dir, self.host()))
    }
}

impl Drop for RemoteAttack {
    fn drop(&mut self) {
        self.process.take();
        let _ = self.ssh.run(&["rm", "-rf", "--", &self.remote_dir], COMMAND_TIMEOUT);
    }
}

/// `utime stime cutime cstime CLK_TCK` of the script: its children's time is vegeta's (and the script's own
/// `awk`, `date` and `sleep`: a few ticks at most), within two ticks.
fn cpu_window(text: &str, wall: Duration) -> std::result::Result<CpuWindow, String> {
    let fields: Vec<u64> =
        text.split_whitespace().map(str::parse).collect::<std::result::Result<_, _>>().map_err(|e| format!("{e}"))?;
    let [_utime, _stime, cutime, cstime, ticks] = fields[..] else {
        return Err(format!("expected five numbers, got {text:?}"));
    };
    if ticks == 0 || wall.is_zero() {
        return Err("no clock ticks or no window".to_owned());
    }
    let tick = Duration::from_secs(1) / u32::try_from(ticks).unwrap_or(u32::MAX);
    Ok(CpuWindow { cpu: tick * u32::try_from(cutime + cstime).unwrap_or(u32::MAX), uncertainty: tick * 2, wall })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_cpu_line_is_its_childrens_time() {
        let window = cpu_window("1 0 250 30 100\n", Duration::from_secs(5)).expect("parses");
        assert_eq!(window.cpu, Duration::from_millis(2800));
        assert_eq!(window.uncertainty, Duration::from_millis(20));
        assert!(cpu_window("1 2 3", Duration::from_secs(1)).is_err());
        assert!(cpu_window("1 0 250 30 0", Duration::from_secs(1)).is_err());
    }
}
