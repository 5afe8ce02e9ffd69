//! The machine the numbers come from.

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
