//! What machine and versions the numbers come from (CPU model, usable cores, kernel, io_uring, memory,
//! rustc, git commit), and the one process limit the runner raises before starting anything: open files.

use std::path::Path;
use std::process::{Command, Stdio};

use sysinfo::System;

use super::affinity;
use crate::model::{Machine, Versions};

const UNKNOWN: &str = "unknown";

/// Describes this machine. Every field falls back to "unknown"/0 rather than failing: a benchmark is still
/// worth running on a machine that hides its CPU model.
pub fn detect() -> Machine {
    Machine {
        cpu_model: cpu_model(),
        cores: affinity::allowed_cpus().len(),
        kernel: kernel_release(),
        io_uring_available: io_uring_available(Path::new("/proc/sys/kernel/io_uring_disabled")),
        memory_total_bytes: memory_total_bytes(),
    }
}

/// A shell script that prints what [`from_report`] reads, for describing another host over ssh.
pub const REPORT_SCRIPT: &str = "grep -m1 '^model name' /proc/cpuinfo; echo \"cores: $(nproc)\"; \
     echo \"kernel: $(cat /proc/sys/kernel/osrelease)\"; \
     echo \"io_uring_disabled: $(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)\"; \
     grep -m1 '^MemTotal' /proc/meminfo";

/// Another host's machine from the output of [`REPORT_SCRIPT`]; missing lines read as "unknown"/0.
pub fn from_report(report: &str) -> Machine {
    let value = |key: &str| {
        report
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let kib = value("MemTotal").and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok()).unwrap_or(0);
    Machine {
        cpu_model: value("model name").unwrap_or_else(|| UNKNOWN.to_owned()),
        cores: value("cores").and_then(|v| v.parse().ok()).unwrap_or(0),
        kernel: value("kernel").unwrap_or_else(|| UNKNOWN.to_owned()),
        io_uring_available: value("io_uring_disabled").is_none_or(|v| v == "0"),
        memory_total_bytes: kib * 1024,
    }
}

/// The versions to record with a run; `vegeta` is what the located binary reports.
pub fn versions(vegeta: &str) -> Versions {
    Versions {
        runner: env!("CARGO_PKG_VERSION").to_owned(),
        rustc: rustc_version(),
        vegeta: vegeta.to_owned(),
        git_commit: git_commit(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| cpu_model_from_cpuinfo(&text))
        .or_else(cpu_model_from_sysinfo)
        .unwrap_or_else(|| UNKNOWN.to_owned())
}

fn cpu_model_from_cpuinfo(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == "model name")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|model| !model.is_empty())
}

/// Some architectures (ARM) have no "model name" line; sysinfo knows other places to look.
fn cpu_model_from_sysinfo() -> Option<String> {
    let mut system = System::new().ok()?;
    system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
    system.cpus().first().map(|cpu| cpu.brand().trim().to_owned()).filter(|brand| !brand.is_empty())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|release| !release.is_empty())
        .or_else(|| System::kernel_version().ok())
        .unwrap_or_else(|| UNKNOWN.to_owned())
}

/// io_uring is allowed unless the sysctl says otherwise (1 = unprivileged processes only, 2 = nobody);
/// kernels older than the sysctl have no switch at all, so a missing file means allowed.
fn io_uring_available(sysctl: &Path) -> bool {
    match std::fs::read_to_string(sysctl) {
        Ok(value) => value.trim() == "0",
        Err(_) => true,
    }
}

fn memory_total_bytes() -> u64 {
    let Ok(mut system) = System::new() else {
        return 0;
    };
    system.refresh_memory();
    system.total_memory()
}

/// `rustc -V` as printed (e.g. `rustc 1.95.0 (...)`), or `None` when rustc is not on PATH.
pub fn rustc_version() -> Option<String> {
    command_line_output("rustc", &["-V"])
}

/// The commit checked out in the current directory, or `None` outside a git repository.
pub fn git_commit() -> Option<String> {
    command_line_output("git", &["rev-parse", "HEAD"])
}

/// The trimmed stdout of a successful command, `None` if it cannot run, fails or prints nothing.
fn command_line_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Raises this process's soft open-files limit to its hard limit and returns `(soft_before, soft_after)`.
/// An overloaded blocking endpoint can hold thousands of requests in flight, each a socket in vegeta and in
/// the server, and both children inherit the limit. If the limit cannot be read, returns `(0, 0)`; if it
/// cannot be raised, `soft_after == soft_before`.
pub fn raise_open_file_limit() -> (u64, u64) {
    let Some(limit) = open_file_limit() else {
        return (0, 0);
    };
    let before = limit.rlim_cur;
    let target = raise_target(limit.rlim_max, nr_open());
    if target <= before {
        return (before, before);
    }
    let raised = libc::rlimit { rlim_cur: target, rlim_max: limit.rlim_max };
    // SAFETY: setrlimit reads a valid, initialised rlimit owned by this frame.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    let after = open_file_limit().map_or(before, |now| now.rlim_cur);
    if rc == 0 { (before, after) } else { (before, before) }
}

fn open_file_limit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into a valid rlimit owned by this frame.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit)
}

/// The soft limit to ask for: the hard limit, except that an unlimited hard limit cannot be used as is
/// (the kernel caps open files at `fs.nr_open`).
fn raise_target(hard: u64, nr_open: Option<u64>) -> u64 {
    if hard == libc::RLIM_INFINITY { nr_open.unwrap_or(1 << 20) } else { hard }
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open").ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_host_reads_from_its_report() {
        let report = "model name\t: AMD EPYC 7B13\ncores: 2\nkernel: 6.18.0\nio_uring_disabled: 0\n\
                      MemTotal:        8131456 kB\n";
        let machine = from_report(report);
        assert_eq!(machine.cpu_model, "AMD EPYC 7B13");
        assert_eq!((machine.cores, machine.kernel.as_str()), (2, "6.18.0"));
        assert!(machine.io_uring_available);
        assert_eq!(machine.memory_total_bytes, 8_131_456 * 1024);
        let bare = from_report("");
        assert_eq!((bare.cpu_model.as_str(), bare.cores, bare.memory_total_bytes), ("unknown", 0, 0));
        assert!(!from_report("io_uring_disabled: 2").io_uring_available);
    }

    #[test]
    fn detects_this_machine() {
        let machine = detect();
        println!("{machine:?}");
        assert!(machine.cores >= 1);
        assert_ne!(machine.cpu_model, "");
        assert_ne!(machine.kernel, UNKNOWN);
        assert!(machine.memory_total_bytes > 64 << 20);
    }

    #[test]
    fn reads_the_model_name_line() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(cpu_model_from_cpuinfo(cpuinfo).as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert_eq!(cpu_model_from_cpuinfo("processor\t: 0\n"), None);
    }

    #[test]
    fn io_uring_switch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sysctl = dir.path().join("io_uring_disabled");
        assert!(io_uring_available(&sysctl), "missing switch means allowed");
        std::fs::write(&sysctl, "0\n").expect("write");
        assert!(io_uring_available(&sysctl));
        std::fs::write(&sysctl, "2\n").expect("write");
        assert!(!io_uring_available(&sysctl));
    }

    #[test]
    fn versions_are_recorded() {
        let versions = versions("v12.13.0");
        println!("{versions:?}");
        assert!(versions.vegeta.starts_with("v12.13.0"), "{versions:?}");
        assert!(!versions.runner.is_empty());
        assert!(versions.rustc.as_deref().is_some_and(|v| v.starts_with("rustc ")), "{versions:?}");
        if let Some(commit) = &versions.git_commit {
            assert_eq!(commit.len(), 40, "{commit}");
        }
    }

    #[test]
    fn open_file_limit_reaches_the_hard_limit() {
        let (before, after) = raise_open_file_limit();
        let hard = open_file_limit().expect("getrlimit").rlim_max;
        println!("soft {before} -> {after}, hard {hard}");
        assert!(after >= before);
        assert_eq!(after, raise_target(hard, nr_open()).max(before));
        assert_eq!(raise_target(libc::RLIM_INFINITY, Some(1_048_576)), 1_048_576);
        assert_eq!(raise_target(524_288, Some(1_048_576)), 524_288);
    }
}
