//! [`IoDriver`]: the kernel interface a server's sockets are driven through, as `/healthz` reports it and as
//! the monoio arms' `--io-driver` flag asks for it.

use std::fmt;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// How a runtime waits for socket I/O. In JSON (the runner's results) it is the same word as on the command
/// line and in `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
pub enum IoDriver {
    /// Linux io_uring (monoio only).
    #[value(name = "io_uring")]
    #[serde(rename = "io_uring")]
    IoUring,
    /// epoll readiness: tokio's mio, monoio's legacy driver.
    #[value(name = "epoll")]
    #[serde(rename = "epoll")]
    Epoll,
}

impl IoDriver {
    /// The name `/healthz` reports and the flag takes.
    pub fn as_str(self) -> &'static str {
        match self {
            IoDriver::IoUring => "io_uring",
            IoDriver::Epoll => "epoll",
        }
    }
}

impl fmt::Display for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_are_the_names_healthz_reports() {
        for driver in [IoDriver::IoUring, IoDriver::Epoll] {
            assert_eq!(IoDriver::from_str(driver.as_str(), false), Ok(driver));
        }
        assert!(IoDriver::from_str("io-uring", false).is_err());
    }

    #[test]
    fn json_words_are_the_flag_values() {
        for driver in [IoDriver::IoUring, IoDriver::Epoll] {
            let json = serde_json::to_string(&driver).expect("serializes");
            assert_eq!(json, format!("\"{driver}\""));
            assert_eq!(serde_json::from_str::<IoDriver>(&json).expect("deserializes"), driver);
        }
    }
}
