//! The machine the numbers come from, and (with `--server-host`) the other host the servers ran on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The machine the numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    /// Logical CPUs the runner may use.
    pub cores: usize,
    pub kernel: String,
    /// Whether the kernel allows io_uring (`/proc/sys/kernel/io_uring_disabled` is 0 or absent).
    pub io_uring_available: bool,
    pub memory_total_bytes: u64,
}

/// The host every test's server ran on, when it was not this machine (`--server-host`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerHost {
    /// The ssh destination as given, `[user@]host`.
    pub destination: String,
    /// The address the servers listened on and the load targeted.
    pub address: String,
    pub machine: Machine,
    /// Its wall clock minus this machine's, in nanoseconds, within `clock_uncertainty_ns`.
    pub clock_offset_ns: i64,
    pub clock_uncertainty_ns: u64,
    /// sha256 of every server binary used there (equal to this build's: checked before the run).
    pub binaries_sha256: BTreeMap<String, String>,
}
