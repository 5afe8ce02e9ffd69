//! A process's `/proc` readings on another host, for the sampler: one ssh session runs a small shell loop
//! there that answers each request line with the process's stat and its threads' schedstat, so a reading
//! costs a round trip on an open session rather than an ssh handshake. The text is parsed by the same
//! functions as a local reading ([`crate::sampling::procfs`]), so the accounting is the same. The loop is
//! bounded: it ends when the process is gone, when the runner closes the session (or dies), and at a deadline
//! (`timeout`).
//!
//! A reading's instant is when its answer arrived here: the network delay is nearly constant over a window,
//! so it cancels in the differences the accounting takes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use super::{COMMAND_TIMEOUT, Ssh, SshError};
use crate::sampling::procfs::{
    ProcReader, Snapshot, ThreadsReading, Unmeasured, cpu_reading, parse_schedstat, stat_path,
};
use crate::tools::process::Supervised;

/// Answers each line on stdin (`t` with threads, anything else without) about process `$1`: `stat <line>`,
/// then `task <tid> <schedstat>` per thread, then `end`; `gone` (and exits) once it is gone; `err <why>`.
const LOOP: &str = r#"pid=$1
while read -r what; do
  [ -e /proc/$pid ] || { echo gone; exit 0; }
  stat=$(cat /proc/$pid/stat 2>&1) || { echo "err $stat"; continue; }
  echo "stat $stat"
  if [ "$what" = t ]; then
    for t in /proc/$pid/task/*; do
      s=$(cat $t/schedstat 2>/dev/null) && echo "task ${t##*/} $s"
    done
  fi
  echo end
done"#;

/// Reads one remote process over a session of its own.
#[derive(Debug)]
pub struct RemoteProc {
    host: String,
    pid: u32,
    ticks_per_second: Result<u64, Unmeasured>,
    page_size: u64,
    session: Supervised,
    requests: Option<ChildStdin>,
    answers: Option<BufReader<ChildStdout>>,
}

impl RemoteProc {
    /// Opens the reading loop for remote process `pid`, ending at the latest after `deadline`.
    pub fn start(ssh: &Ssh, pid: u32, deadline: Duration) -> Result<RemoteProc, SshError> {
        let units = ssh.run(&["sh", "-c", "getconf CLK_TCK; getconf PAGESIZE"], COMMAND_TIMEOUT)?;
        let mut units = units.split_whitespace().map(str::parse::<u64>);
        let ticks_per_second = match units.next() {
            Some(Ok(ticks)) if ticks > 0 => Ok(ticks),
            other => Err(Unmeasured::Unreadable {
                path: PathBuf::from("getconf CLK_TCK"),
                error: format!("on {}: printed {other:?}", ssh.host()),
            }),
        };
        let page_size = units.next().and_then(Result::ok).unwrap_or(4096);
        let seconds = deadline.as_secs().max(1).to_string();
        let mut command = ssh.command(&["timeout", &seconds, "sh", "-c", LOOP, "sh", &pid.to_string()]);
        command.stdout(Stdio::piped());
        let session = Supervised::spawn_holding_stdin(command).map_err(SshError::Spawn)?;
        let requests = session.take_stdin();
        let answers = session.take_stdout().map(BufReader::new);
        Ok(RemoteProc { host: ssh.host().to_string(), pid, ticks_per_second, page_size, session, requests, answers })
    }

    /// Asks once and parses the answer.
    fn ask(&mut self, pid: u32, threads: bool) -> Result<Snapshot, Unmeasured> {
        let path = stat_path(pid);
        if pid != self.pid {
            return Err(Unmeasured::Unreadable { path, error: format!("this reader follows pid {}", self.pid) });
        }
        let closed = |detail: String| Unmeasured::ProcessGone { pid, path: PathBuf::from(detail) };
        let (Some(requests), Some(answers)) = (self.requests.as_mut(), self.answers.as_mut()) else {
            return Err(closed(format!("{} on {} (its reader has ended)", stat_path(pid).display(), self.host)));
        };
        let asked = requests.write_all(if threads { b"t\n" } else { b"c\n" }).and_then(|()| requests.flush());
        if asked.is_err() {
            return Err(self.ended(pid));
        }
        let mut stat = None;
        let mut tasks = BTreeMap::new();
        loop {
            let mut line = String::new();
            match answers.read_line(&mut line) {
                Ok(0) | Err(_) => return Err(self.ended(pid)),
                Ok(_) => {}
            }
            let line = line.trim_end();
            let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
            match kind {
                "gone" => return Err(self.ended(pid)),
                "err" => return Err(Unmeasured::Unreadable { path, error: format!("on {}: {rest}", self.host) }),
                "stat" => stat = Some(cpu_reading(pid, rest, Instant::now(), &path)),
                "task" => {
                    let (tid, schedstat) = rest.split_once(' ').unwrap_or((rest, ""));
                    let malformed = |detail| Unmeasured::Malformed { path: path.clone(), detail };
                    let tid = tid.parse::<u32>().map_err(|_| malformed(format!("task id {tid:?}")))?;
                    tasks.insert(tid, parse_schedstat(schedstat).map_err(malformed)?);
                }
                "end" => break,
                _ => return Err(Unmeasured::Malformed { path, detail: format!("unexpected answer {line:?}") }),
            }
        }
        let stat = stat.ok_or_else(|| Unmeasured::Malformed { path: path.clone(), detail: "no stat line".into() })?;
        let threads = threads.then(|| {
            if tasks.is_empty() {
                Err(Unmeasured::SchedstatUnsupported {
                    path: PathBuf::from(format!("/proc/{pid}/task/<tid>/schedstat")),
                })
            } else {
                Ok(ThreadsReading { at: Instant::now(), threads: tasks })
            }
        });
        Ok(Snapshot::from_stat(stat, threads, self.page_size))
    }

    /// The loop has ended: the process is gone (or the session died; its stderr says which).
    fn ended(&mut self, pid: u32) -> Unmeasured {
        self.requests.take();
        self.answers.take();
        let path = PathBuf::from(format!("{} on {}", stat_path(pid).display(), self.host));
        match self.session.wait_until(Instant::now() + Duration::from_secs(2)) {
            Ok(Some(status)) if status.success() => Unmeasured::ProcessGone { pid, path },
            _ => {
                Unmeasured::Unreadable { path, error: format!("the ssh reader ended: {}", self.session.stderr_tail()) }
            }
        }
    }
}

impl ProcReader for RemoteProc {
    fn snapshot(&mut self, pid: u32, threads: bool) -> Snapshot {
        self.ask(pid, threads).unwrap_or_else(Snapshot::unreadable)
    }

    fn ticks_per_second(&self) -> Result<u64, Unmeasured> {
        self.ticks_per_second.clone()
    }
}
