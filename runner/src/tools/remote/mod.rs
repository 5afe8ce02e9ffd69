//! The ssh transport to another host: a typed [`SshHost`] (`[user@]host`), and [`Ssh`], which builds the
//! OpenSSH commands that run a remote argv (quoted for the remote shell, never in a terminal, always with
//! `BatchMode` and a connect timeout, optionally with the user's `ssh -F` config file that carries key, port
//! and known-hosts policy), tells an unreachable host, a refused key and a failed remote command apart, and
//! multiplexes every command over one ControlMaster connection in a private directory so repeated commands
//! cost one round trip instead of a handshake.
//!
//! On top of it: [`clock`] (the remote clock's offset), [`process`] (a remote process with a known pid,
//! stopped by signal, killed on drop) and [`procfs`] (a remote process's `/proc` readings for the sampler).
//! Every process it starts locally is a [`Supervised`] child, so `ssh` itself never outlives the runner.

pub mod clock;
pub mod process;
pub mod procfs;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::process::{POLL_INTERVAL, Supervised, poll_until};

/// How long ssh may take to open a TCP connection (`-o ConnectTimeout`, whole seconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one short remote command (a check, a hash, a clock reading) may take in all.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// ssh's own exit code for its failures (connection, authentication); a remote command's code otherwise.
const SSH_FAILED: i32 = 255;

/// A `[user@]host` that does not name an ssh destination.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{given:?} is not an ssh destination `[user@]host`: {why}")]
pub struct BadHost {
    pub given: String,
    pub why: &'static str,
}

/// An ssh destination: an optional user and a host name or IP address, both checked so that nothing in them
/// can be read by ssh as an option or by a shell as syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SshHost {
    user: Option<String>,
    host: String,
}

impl SshHost {
    /// The host part (a name or an address), without the user.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

impl FromStr for SshHost {
    type Err = BadHost;

    fn from_str(given: &str) -> Result<SshHost, BadHost> {
        let bad = |why| BadHost { given: given.to_owned(), why };
        let (user, host) = match given.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, given),
        };
        if let Some(user) = user {
            let valid = user.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if user.is_empty() || !valid || user.starts_with('-') {
                return Err(bad("the user may only hold letters, digits, `.`, `_` and `-`, not first"));
            }
        }
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let is_address = literal.parse::<std::net::IpAddr>().is_ok();
        let is_name = host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !is_address && !is_name {
            return Err(bad("the host must be a host name (letters, digits, `-`, dots) or an IP address"));
        }
        Ok(SshHost { user: user.map(str::to_owned), host: literal.to_owned() })
    }
}

impl fmt::Display for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            Some(user) => write!(f, "{user}@{}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// What went wrong talking to a host, told apart so each gets its own advice.
#[derive(Debug, Error)]
pub enum SshError {
    #[error("cannot run ssh (install OpenSSH's client, Debian's `openssh-client`)")]
    Spawn(#[source] std::io::Error),
    #[error(
        "{host} is unreachable over ssh: {detail} (check the name, that sshd runs there, and the port in the \
         --ssh-config file)"
    )]
    Unreachable { host: SshHost, detail: String },
    #[error(
        "{host} refused the ssh key: {detail} (name the key with IdentityFile in an ssh config file given as \
         --ssh-config FILE, and add its public half to the remote user's authorized_keys)"
    )]
    KeyRefused { host: SshHost, detail: String },
    #[error("on {host}, `{command}` failed ({status}): {stderr}")]
    RemoteFailed { host: SshHost, command: String, status: String, stderr: String },
    #[error("on {host}, `{command}` did not finish within {timeout:?}")]
    TimedOut { host: SshHost, command: String, timeout: Duration },
    #[error("on {host}, `{command}`: {detail}")]
    Protocol { host: SshHost, command: String, detail: String },
    #[error("{action} ({host})")]
    Local { host: SshHost, action: String, source: std::io::Error },
}

/// How to reach hosts: the user's ssh config file (`ssh -F`) and the connect timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    pub config: Option<PathBuf>,
    pub connect_timeout: Duration,
}

impl Default for SshOptions {
    fn default() -> SshOptions {
        SshOptions { config: None, connect_timeout: CONNECT_TIMEOUT }
    }
}

/// A connection to one host: cheap to clone (clones share the multiplexed master connection, which closes
/// with the last clone).
#[derive(Debug, Clone)]
pub struct Ssh {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    host: SshHost,
    options: SshOptions,
    /// A private (0700) directory holding the control socket; removed on drop.
    control_dir: PathBuf,
    /// The ControlMaster process; `None` when it did not come up (commands then connect on their own).
    master: Option<Supervised>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(master) = self.master.take() {
            let _ = master.stop(libc::SIGTERM, Duration::from_secs(2));
        }
        let _ = std::fs::remove_dir_all(&self.control_dir);
    }
}

impl Ssh {
    /// Checks that `host` is reachable and accepts the key (running `true` there), then opens the multiplexed
    /// master connection every later command reuses.
    pub fn connect(host: SshHost, options: SshOptions) -> Result<Ssh, SshError> {
        let control_dir = private_dir().map_err(|source| SshError::Local {
            host: host.clone(),
            action: "creating a private directory for the ssh control socket".to_owned(),
            source,
        })?;
        // Checked without multiplexing, so the error is ssh's own words about this host.
        let mut ssh = Ssh { inner: Arc::new(Inner { host, options, control_dir, master: None }) };
        ssh.run(&["true"], COMMAND_TIMEOUT)?;
        if let Some(inner) = Arc::get_mut(&mut ssh.inner) {
            inner.master = start_master(inner);
        }
        Ok(ssh)
    }

    pub fn host(&self) -> &SshHost {
        &self.inner.host
    }

    /// Whether commands go over the shared master connection (it may fail to come up; they then connect on
    /// their own), and the master's stderr when it is not.
    pub fn multiplexed(&self) -> Result<(), String> {
        match &self.inner.master {
            Some(master) if matches!(master.try_wait(), Ok(None)) => Ok(()),
            Some(master) => Err(master.final_stderr_tail()),
            None => Err("no master connection".to_owned()),
        }
    }

    /// The `ssh` command that runs `argv` on the host, each argument quoted for the remote shell. Its stdin,
    /// stdout and stderr are the caller's to set (a [`Supervised`] child gets its stdin closed or held).
    pub fn command<S: AsRef<str>>(&self, argv: &[S]) -> Command {
        let mut command = Command::new("ssh");
        command.args(self.inner.options_args()).arg("--").arg(self.inner.host.to_string());
        command.arg(remote_command_line(argv));
        command
    }

    /// Runs `argv` on the host and returns its stdout; a non-zero exit is an error carrying its stderr.
    pub fn run<S: AsRef<str>>(&self, argv: &[S], timeout: Duration) -> Result<String, SshError> {
        let mut command = self.command(argv);
        command.stdout(Stdio::piped());
        let child = Supervised::spawn(command).map_err(SshError::Spawn)?;
        let stdout = child.take_stdout();
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut stdout) = stdout {
                let _ = stdout.read_to_end(&mut text);
            }
            text
        });
        let status = self.finish(&child, argv, timeout)?;
        let stdout = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
        self.check_status(argv, status, &child.final_stderr_tail())?;
        Ok(stdout)
    }

    /// Copies a remote file into `local` (`cat` over the connection); returns the bytes copied.
    pub fn fetch(&self, remote: &str, local: &Path, timeout: Duration) -> Result<u64, SshError> {
        let local_error = |source| SshError::Local {
            host: self.host().clone(),
            action: format!("writing {} (fetched from {remote})", local.display()),
            source,
        };
        let file = std::fs::File::create(local).map_err(local_error)?;
        let argv = ["cat", "--", remote];
        let mut command = self.command(&argv);
        command.stdout(Stdio::from(file));
        let child = Supervised::spawn(command).map_err(SshError::Spawn)?;
        let status = self.finish(&child, &argv, timeout)?;
        self.check_status(&argv, status, &child.final_stderr_tail())?;
        Ok(std::fs::metadata(local).map_err(local_error)?.len())
    }

    /// Waits for a command's ssh process, killing it past `timeout`.
    fn finish<S: AsRef<str>>(&self, child: &Supervised, argv: &[S], timeout: Duration) -> Result<ExitStatus, SshError> {
        match child.wait_until(Instant::now() + timeout).map_err(SshError::Spawn)? {
            Some(status) => Ok(status),
            None => {
                let _ = child.kill();
                Err(SshError::TimedOut { host: self.host().clone(), command: remote_command_line(argv), timeout })
            }
        }
    }

    /// Turns an ssh exit status into the error it stands for.
    pub fn check_status<S: AsRef<str>>(&self, argv: &[S], status: ExitStatus, stderr: &str) -> Result<(), SshError> {
        classify(self.host(), &remote_command_line(argv), status, stderr)
    }
}

impl Inner {
    fn control_path(&self) -> PathBuf {
        self.control_dir.join("master")
    }

    /// The options every command gets: no prompts, a bounded connect, no terminal, dead peers noticed.
    fn options_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(config) = &self.options.config {
            args.extend(["-F".to_owned(), config.display().to_string()]);
        }
        let seconds = self.options.connect_timeout.as_secs().max(1);
        for option in [
            "BatchMode=yes".to_owned(),
            format!("ConnectTimeout={seconds}"),
            "ServerAliveInterval=5".to_owned(),
            "ServerAliveCountMax=3".to_owned(),
        ] {
            args.extend(["-o".to_owned(), option]);
        }
        args.push("-T".to_owned());
        if self.master.is_some() {
            args.extend(["-o".to_owned(), "ControlMaster=no".to_owned()]);
            args.extend(["-o".to_owned(), format!("ControlPath={}", self.control_path().display())]);
        }
        args
    }
}

/// Starts `ssh -M -N` on the control socket and waits (bounded) until the socket is there; `None` if it does
/// not come up, which costs only speed.
fn start_master(inner: &Inner) -> Option<Supervised> {
    let mut command = Command::new("ssh");
    command.args(inner.options_args());
    command.args(["-M", "-N", "-o", "ControlPersist=no", "-o"]);
    command.arg(format!("ControlPath={}", inner.control_path().display()));
    command.arg("--").arg(inner.host.to_string());
    let master = Supervised::spawn(command).ok()?;
    let deadline = Instant::now() + inner.options.connect_timeout + Duration::from_secs(2);
    let ready = poll_until(deadline, POLL_INTERVAL, || {
        if inner.control_path().exists() { Some(true) } else { master.try_wait().ok().flatten().map(|_| false) }
    });
    ready.unwrap_or(false).then_some(master)
}

/// Exit 255 is ssh's own failure: a refused key says "Permission denied", anything else (refused, timed out,
/// unresolvable, host key) means the host was not reached. Other codes are the remote command's.
fn classify(host: &SshHost, command: &str, status: ExitStatus, stderr: &str) -> Result<(), SshError> {
    if status.success() {
        return Ok(());
    }
    let detail = stderr.trim().to_owned();
    match status.code() {
        Some(SSH_FAILED) if detail.contains("Permission denied") => {
            Err(SshError::KeyRefused { host: host.clone(), detail })
        }
        Some(SSH_FAILED) => Err(SshError::Unreachable { host: host.clone(), detail }),
        _ => Err(SshError::RemoteFailed {
            host: host.clone(),
            command: command.to_owned(),
            status: status.to_string(),
            stderr: detail,
        }),
    }
}

/// `argv` as one line for the remote shell: each argument is a single word there, whatever it holds.
pub fn remote_command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter().map(|arg| shell_quote(arg.as_ref())).collect::<Vec<_>>().join(" ")
}

/// One argument quoted for a POSIX shell: bare when it holds only characters no shell treats specially,
/// else in single quotes (inside which only `'` itself needs care: close, escaped quote, reopen).
pub fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_owned();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// A fresh directory only this user can enter, short enough for a unix socket path inside it. Directories
/// of this scheme left by a process that no longer runs (killed before it could clean up) are removed first.
fn private_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    remove_dead_dirs();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(format!("/tmp/rb-ssh-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            // A leftover of an earlier process with the same pid: take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes `/tmp/rb-ssh-<pid>-<n>` directories whose pid is not running.
fn remove_dead_dirs() {
    let Ok(entries) = std::fs::read_dir("/tmp") else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("rb-ssh-")) else { continue };
        let pid = rest.split('-').next().and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests;
