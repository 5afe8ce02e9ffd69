//! The servers on another host (`--server-host`), behind the [`super::Backend`] seam: before anything starts,
//! the host is reached (an unreachable host or a refused key is a usage error), every planned binary there
//! is checked to be this build (sha256 here against `sha256sum` there), a work folder is made for the
//! databases, and the host is described (machine, clock offset) for the run's fingerprint. Each test's server
//! then starts there over ssh and is sampled through the remote `/proc` reader.
//!
//! The write audit reads a copy: after the graceful stop (the servers TRUNCATE-checkpoint on stop, so the
//! database file holds every write) the database is fetched into the run folder, where the audit, `--keep-db`
//! and the clean-up treat it like a local one, and the remote copy is deleted. A `-wal` file left non-empty
//! (a server that did not checkpoint) is fetched too, so the audit still sees every write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use thiserror::Error;

use crate::config::Plan;
use crate::config::remote::ServerHostPlan;
use crate::host::machine;
use crate::model::ServerHost;
use crate::sampling::procfs::{ProcReader, Snapshot, Unmeasured};
use crate::tools::remote::procfs::RemoteProc;
use crate::tools::remote::{COMMAND_TIMEOUT, Ssh, SshError, SshOptions, clock};
use crate::tools::server::{ServerProcess, ServerSpec};

/// How long copying a database back may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// What stops a run with a server host before it starts (exit 2).
#[derive(Debug, Error)]
pub enum RemoteSetupError {
    #[error("--server-host {host}")]
    Ssh { host: String, source: Box<SshError> },
    #[error(
        "the {server} binary on {host} is not this build: {remote_path} there has sha256 {remote_hash}, this \
         build's {local_path} has {local_hash}; copy this build there, or point --remote-bin-dir at a copy of it"
    )]
    DifferentBuild {
        server: String,
        host: String,
        remote_path: String,
        remote_hash: String,
        local_path: String,
        local_hash: String,
    },
    #[error(
        "the {server} binary is missing on {host} at {remote_path} ({detail}); copy this build's {local_path} \
         there, or point --remote-bin-dir at a copy of it"
    )]
    MissingBinary { server: String, host: String, remote_path: String, local_path: String, detail: String },
    #[error("hashing this build's {path}: {detail}")]
    LocalHash { path: String, detail: String },
}

/// The server host, reached and checked.
#[derive(Debug)]
pub struct RemoteServers {
    ssh: Ssh,
    plan: ServerHostPlan,
    work_dir: String,
    /// A temporary work folder the runner made (removed at the end); a named one is left alone.
    made_work_dir: bool,
    record: ServerHost,
    /// How long one remote reader may run: a test's attack with every allowance.
    sampling_deadline: Duration,
}

impl RemoteServers {
    /// Reaches the host, checks `binaries` (server name -> this build's binary) are the same build there,
    /// makes the work folder and describes the host.
    pub fn connect(plan: &Plan, host: &ServerHostPlan, binaries: &BTreeMap<String, PathBuf>) -> Result<RemoteServers> {
        let shown = host.destination.to_string();
        let ssh_error = |source| RemoteSetupError::Ssh { host: shown.clone(), source: Box::new(source) };
        let options = SshOptions { config: host.ssh_config.clone(), ..SshOptions::default() };
        let ssh = Ssh::connect(host.destination.clone(), options).map_err(ssh_error)?;
        let binaries_sha256 = check_builds(&ssh, host, binaries)?;
        let (work_dir, made_work_dir) = match &host.work_dir {
            Some(dir) => {
                let dir = dir.display().to_string();
                ssh.run(&["mkdir", "-p", "--", &dir], COMMAND_TIMEOUT).map_err(ssh_error)?;
                (dir, false)
            }
            None => {
                let made =
                    ssh.run(&["mktemp", "-d", "/tmp/runtime-bench.XXXXXX"], COMMAND_TIMEOUT).map_err(ssh_error)?;
                (made.trim().to_owned(), true)
            }
        };
        let report = ssh.run(&["sh", "-c", machine::REPORT_SCRIPT], COMMAND_TIMEOUT).map_err(ssh_error)?;
        let offset = clock::measure(&ssh, clock::ROUNDS).map_err(ssh_error)?;
        let record = ServerHost {
            destination: shown.clone(),
            address: host.address.to_string(),
            machine: machine::from_report(&report),
            clock_offset_ns: offset.offset_ns,
            clock_uncertainty_ns: u64::try_from(offset.uncertainty.as_nanos()).unwrap_or(u64::MAX),
            binaries_sha256,
        };
        let sampling_deadline = plan.duration + plan.warmup + plan.timeout + Duration::from_secs(300);
        Ok(RemoteServers { ssh, plan: host.clone(), work_dir, made_work_dir, record, sampling_deadline })
    }

    /// The host as the run records it.
    pub fn record(&self) -> ServerHost {
        self.record.clone()
    }

    /// Starts a server there: `spec` names this build's binary and the local database path; the binary of
    /// the same name in the remote folder runs, on the remote twin of the database, unpinned.
    pub fn start(&self, spec: &ServerSpec) -> Result<RemoteServer> {
        let name = spec.binary.file_name().context("a server binary has a file name")?;
        let db_name = spec.db.file_name().context("a database has a file name")?;
        let remote_db = format!("{}/{}", self.work_dir, db_name.to_string_lossy());
        let remote = ServerSpec {
            binary: self.plan.bin_dir.join(name),
            db: PathBuf::from(&remote_db),
            cpus: Vec::new(),
            ..spec.clone()
        };
        let process = ServerProcess::start_remote(&remote, &self.ssh)?;
        Ok(RemoteServer { process, ssh: self.ssh.clone(), remote_db, local_db: spec.db.clone() })
    }

    /// The `/proc` reader of a server there; one that failed to start reads every figure as unmeasured.
    pub fn reader(&self, pid: u32) -> Box<dyn ProcReader> {
        match RemoteProc::start(&self.ssh, pid, self.sampling_deadline) {
            Ok(reader) => Box::new(reader),
            Err(error) => Box::new(Unreadable(format!("the remote /proc reader did not start: {error}"))),
        }
    }
}

impl Drop for RemoteServers {
    fn drop(&mut self) {
        if self.made_work_dir {
            let _ = self.ssh.run(&["rm", "-rf", "--", &self.work_dir], COMMAND_TIMEOUT);
        }
    }
}

/// The sha256 of every planned binary, refused unless the remote one is byte for byte this build's.
fn check_builds(
    ssh: &Ssh,
    host: &ServerHostPlan,
    binaries: &BTreeMap<String, PathBuf>,
) -> Result<BTreeMap<String, String>> {
    let mut hashes = BTreeMap::new();
    for (server, local) in binaries {
        let local_path = local.display().to_string();
        let local_hash = local_sha256(local)?;
        let remote_path = host.bin_dir.join(local.file_name().unwrap_or_default()).display().to_string();
        let remote_hash = match ssh.run(&["sha256sum", "--", &remote_path], COMMAND_TIMEOUT) {
            Ok(text) => first_word(&text),
            Err(SshError::RemoteFailed { stderr, .. }) => {
                return Err(RemoteSetupError::MissingBinary {
                    server: server.clone(),
                    host: host.destination.to_string(),
                    remote_path,
                    local_path,
                    detail: stderr,
                }
                .into());
            }
            Err(source) => {
                return Err(
                    RemoteSetupError::Ssh { host: host.destination.to_string(), source: Box::new(source) }.into()
                );
            }
        };
        if remote_hash != local_hash {
            return Err(RemoteSetupError::DifferentBuild {
                server: server.clone(),
                host: host.destination.to_string(),
                remote_path,
                remote_hash,
                local_path,
                local_hash,
            }
            .into());
        }
        hashes.insert(server.clone(), local_hash);
    }
    Ok(hashes)
}

fn local_sha256(path: &Path) -> Result<String> {
    let failed = |detail: String| RemoteSetupError::LocalHash { path: path.display().to_string(), detail };
    let output = Command::new("sha256sum").arg("--").arg(path).output().map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(String::from_utf8_lossy(&output.stderr).trim().to_owned()).into());
    }
    Ok(first_word(&String::from_utf8_lossy(&output.stdout)))
}

fn first_word(text: &str) -> String {
    text.split_whitespace().next().unwrap_or_default().to_owned()
}

/// A reader that could not start: every figure unmeasured, with the reason.
#[derive(Debug)]
struct Unreadable(String);

impl ProcReader for Unreadable {
    fn snapshot(&mut self, pid: u32, _threads: bool) -> Snapshot {
        Snapshot::unreadable(Unmeasured::Unreadable {
            path: crate::sampling::procfs::stat_path(pid),
            error: self.0.clone(),
        })
    }

    fn ticks_per_second(&self) -> Result<u64, Unmeasured> {
        Err(Unmeasured::Unreadable { path: PathBuf::from("getconf CLK_TCK"), error: self.0.clone() })
    }
}

/// A server on the server host; its database comes back into the run folder when it stops.
#[derive(Debug)]
pub struct RemoteServer {
    process: ServerProcess,
    ssh: Ssh,
    remote_db: String,
    local_db: PathBuf,
}

impl RemoteServer {
    /// The server process (its pid is the remote one).
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// The local copy of its database (there once it has stopped).
    pub fn db_path(&self) -> &Path {
        &self.local_db
    }

    /// Graceful stop there, then the database comes back for the audit.
    pub fn stop(self) -> Result<()> {
        let RemoteServer { process, ssh, remote_db, local_db } = self;
        let server = process.server().to_owned();
        process.stop().with_context(|| format!("stopping the {server} server on {}", ssh.host()))?;
        fetch_database(&ssh, &remote_db, &local_db)
    }
}

/// Copies a stopped server's database (and a `-wal` that still holds frames) back, then deletes the remote
/// files.
fn fetch_database(ssh: &Ssh, remote_db: &str, local_db: &Path) -> Result<()> {
    let host = ssh.host().to_string();
    ssh.fetch(remote_db, local_db, FETCH_TIMEOUT)
        .with_context(|| format!("copying {remote_db} back from {host} for the write audit"))?;
    let wal = format!("{remote_db}-wal");
    if ssh.run(&["test", "-s", &wal], COMMAND_TIMEOUT).is_ok() {
        let local_wal = PathBuf::from(format!("{}-wal", local_db.display()));
        ssh.fetch(&wal, &local_wal, FETCH_TIMEOUT).with_context(|| format!("copying {wal} back from {host}"))?;
    }
    let files = ["", "-wal", "-shm", "-journal"].map(|suffix| format!("{remote_db}{suffix}"));
    let mut argv = vec!["rm", "-f", "--"];
    argv.extend(files.iter().map(String::as_str));
    let _ = ssh.run(&argv, COMMAND_TIMEOUT);
    Ok(())
}
