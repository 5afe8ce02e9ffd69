//! The load generator: finding the vegeta binary and the version to record ([`locate`]), writing its
//! targets ([`targets`]), running an attack on the process supervisor ([`attack`]), and reading its results
//! back ([`decode`]).

mod attack;
mod decode;
mod locate;
mod remote;
mod targets;
#[cfg(test)]
pub(crate) mod tests;

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

pub use attack::{AttackOutcome, AttackSpec, RunningAttack, STOP_GRACE};
pub use decode::{RequestResult, VegetaBytes, VegetaLatencies, VegetaReport};
pub use remote::{RemoteAttack, RemoteVegeta};
pub use targets::write_targets;

use crate::tools::process::Supervised;

/// The vegeta module version the project installs.
pub const VEGETA_MODULE_VERSION: &str = "v12.13.0";
/// The command that installs the expected vegeta.
pub const INSTALL_COMMAND: &str = "go install github.com/tsenart/vegeta/v12@v12.13.0";
/// Environment variable naming the vegeta binary to use.
pub const VEGETA_ENV: &str = "VEGETA";
/// Where the project's install script puts vegeta, relative to the checkout.
pub const TOOLS_RELATIVE_PATH: &str = "tools/bin/vegeta";

#[derive(Debug, thiserror::Error)]
pub enum VegetaError {
    /// No usable vegeta binary: the runner exits with status 2 on this one.
    #[error(
        "vegeta not found ({searched}). Install it with `{INSTALL_COMMAND}` (Go >= 1.22) and put it on PATH or \
         set {VEGETA_ENV}=/path/to/vegeta, or run scripts/install-vegeta.sh to install it into this checkout's \
         {TOOLS_RELATIVE_PATH}"
    )]
    NotFound { searched: String },
    #[error("cannot run {binary} {args}")]
    Spawn { binary: PathBuf, args: String, source: std::io::Error },
    #[error("vegeta attack (pid {pid}) exited with {status}; its stderr ends with: {stderr}")]
    AttackFailed { pid: u32, status: ExitStatus, stderr: String },
    #[error("`{binary} {args}` exited with {status}; its stderr ends with: {stderr}")]
    CommandFailed { binary: PathBuf, args: String, status: ExitStatus, stderr: String },
    #[error("invalid attack: {0}")]
    InvalidAttack(String),
    #[error("no targets to write to {0} (empty id range)")]
    NoTargets(PathBuf),
    #[error("{action} {path}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    /// The binary runs but does not answer `-version` like vegeta: the runner exits with status 2.
    #[error(
        "{path} is not vegeta: `-version` printed {printed} instead of a `Version:` line; install vegeta with \
         `{INSTALL_COMMAND}` or pass its path to --vegeta"
    )]
    NotVegeta { path: PathBuf, printed: String },
    /// An attacker without vegeta: the runner exits with status 2 on this one.
    #[error(
        "attacker {host} has no vegeta (looked in {searched}); install it there with `{INSTALL_COMMAND}` (Go >= \
         1.22), or name its path there with --attacker-vegeta"
    )]
    NotFoundOn { host: crate::tools::remote::SshHost, searched: String },
    #[error("vegeta attack on {host} exited with {status}; its stderr ends with: {stderr}")]
    RemoteAttackFailed { host: crate::tools::remote::SshHost, status: String, stderr: String },
    #[error(transparent)]
    Ssh(#[from] crate::tools::remote::SshError),
    #[error("cannot parse line {line} of `vegeta {command}` output for {raw}")]
    Parse { command: &'static str, raw: PathBuf, line: u64, source: serde_json::Error },
}

impl VegetaError {
    /// No usable vegeta (missing, or not vegeta): a setup problem, so the runner exits 2.
    pub fn is_setup_problem(&self) -> bool {
        use crate::tools::remote::SshError;
        match self {
            VegetaError::NotFound { .. } | VegetaError::NotVegeta { .. } | VegetaError::NotFoundOn { .. } => true,
            VegetaError::Ssh(error) => matches!(error, SshError::Unreachable { .. } | SshError::KeyRefused { .. }),
            _ => false,
        }
    }
}

type Result<T, E = VegetaError> = std::result::Result<T, E>;

/// A located, runnable vegeta binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vegeta {
    path: PathBuf,
    /// What the binary reports as its version (or its module version, for a `go install` build).
    version: String,
}

impl Vegeta {
    /// Finds vegeta: `explicit` if given, else `$VEGETA`, else `PATH`, else `tools/bin/vegeta` in a folder
    /// above the runner executable or above the current directory. An explicit path or `$VEGETA` that is not
    /// an executable file, or not vegeta, is an error rather than a silent fallback, so the binary measured
    /// is the one asked for.
    pub fn locate(explicit: Option<&Path>) -> Result<Vegeta> {
        let path = locate::find_binary(explicit)?;
        let version = locate::detect_version(&path)?;
        Ok(Vegeta { path, version })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The version to record with a run.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Starts `vegeta attack` in the background (see [`RunningAttack`]).
    pub fn start_attack(&self, spec: &AttackSpec) -> Result<RunningAttack> {
        RunningAttack::start(&self.path, spec)
    }

    /// Decodes a raw results file (`vegeta encode -to=json`) into one record per request, in the order vegeta
    /// wrote them (completion order, not send order: sort by `seq` for send order). The output is read as a
    /// stream, one line at a time; an empty file (an attack stopped before any result) decodes to nothing.
    pub fn decode(&self, raw: &Path) -> Result<Vec<RequestResult>> {
        if is_empty_file(raw)? {
            return Ok(Vec::new());
        }
        let args = vec!["encode".into(), "-to=json".into(), raw.as_os_str().to_owned()];
        let process = self.spawn_tool(&args)?;
        let parsed = match process.take_stdout() {
            Some(stdout) => decode::parse_encoded_stream(BufReader::new(stdout), raw),
            None => Ok(Vec::new()),
        };
        // On a parse error, stop producing output nobody reads; the parse error is the one to report.
        let status = if parsed.is_err() { process.kill() } else { process.wait() };
        let status = status.map_err(|source| self.spawn_error(&args, source))?;
        let results = parsed?;
        self.check_tool_status(status, &args, process.final_stderr_tail())?;
        Ok(results)
    }

    /// vegeta's own summary of a raw results file (`vegeta report -type=json`). Its percentiles are estimates;
    /// the runner records exact ones from [`Vegeta::decode`] and uses this to cross-check.
    pub fn report_json(&self, raw: &Path) -> Result<VegetaReport> {
        if is_empty_file(raw)? {
            return Ok(VegetaReport::default());
        }
        let args = vec!["report".into(), "-type=json".into(), raw.as_os_str().to_owned()];
        let process = self.spawn_tool(&args)?;
        let mut stdout = Vec::new();
        if let Some(mut pipe) = process.take_stdout() {
            pipe.read_to_end(&mut stdout).map_err(|source| self.spawn_error(&args, source))?;
        }
        let status = process.wait().map_err(|source| self.spawn_error(&args, source))?;
        self.check_tool_status(status, &args, process.final_stderr_tail())?;
        serde_json::from_slice(&stdout).map_err(|source| VegetaError::Parse {
            command: "report -type=json",
            raw: raw.to_owned(),
            line: 1,
            source,
        })
    }

    fn spawn_tool(&self, args: &[OsString]) -> Result<Supervised> {
        let mut command = Command::new(&self.path);
        command.args(args).stdout(Stdio::piped());
        Supervised::spawn(command).map_err(|source| self.spawn_error(args, source))
    }

    fn spawn_error(&self, args: &[OsString], source: std::io::Error) -> VegetaError {
        VegetaError::Spawn { binary: self.path.clone(), args: display_args(args), source }
    }

    fn check_tool_status(&self, status: ExitStatus, args: &[OsString], stderr: String) -> Result<()> {
        if status.success() {
            return Ok(());
        }
        Err(VegetaError::CommandFailed { binary: self.path.clone(), args: display_args(args), status, stderr })
    }
}

fn is_empty_file(path: &Path) -> Result<bool> {
    std::fs::metadata(path).map(|meta| meta.len() == 0).map_err(|source| VegetaError::Io {
        action: "reading vegeta results file",
        path: path.to_owned(),
        source,
    })
}

fn display_args(args: &[impl AsRef<OsStr>]) -> String {
    let mut text = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        let _ = write!(text, "{}", arg.as_ref().to_string_lossy());
    }
    text
}
