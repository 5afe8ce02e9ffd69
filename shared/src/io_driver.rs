//! [`IoDriver`]: the kernel interface a server's sockets are driven through, as `/healthz` reports it and as
//! the monoio arms' `--io-driver` flag asks for it.

use std::fmt;

use clap::ValueEnum;

/// How a runtime waits for socket I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum IoDriver {
    /// Linux io_uring (monoio only).
    #[value(name = "io_uring")]
    IoUring,
    /// epoll readiness: tokio's mio, monoio's legacy driver.
    #[value(name = "epoll")]
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
}
