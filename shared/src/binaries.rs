//! The workspace's server arms and where their binaries are: [`ARMS`] says which arms there are and which
//! of them take `--io-driver`; the binaries are the build of the same profile next to the running
//! executable, so the runner and the tests use what `cargo build` already produced instead of building again.

use std::path::{Path, PathBuf};

use crate::io_driver::IoDriver;

/// What a client of the servers (the runner, the tests) needs to know about one arm besides its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmSpec {
    /// The server name: `--servers` takes it, `/healthz` reports it, the binary is `{name}-server`.
    pub name: &'static str,
    /// The I/O drivers its `--io-driver` flag offers; empty for an arm with no driver choice.
    pub io_drivers: &'static [IoDriver],
}

impl ArmSpec {
    /// Whether the arm takes `--io-driver`.
    pub fn takes_io_driver(&self) -> bool {
        !self.io_drivers.is_empty()
    }
}

/// Both monoio arms run on io_uring or on monoio's legacy epoll driver (`monoio-common`'s `--io-driver`).
const MONOIO_DRIVERS: &[IoDriver] = &[IoDriver::IoUring, IoDriver::Epoll];

/// Every arm the workspace builds, in the order runs and reports list them.
pub const ARMS: &[ArmSpec] = &[
    ArmSpec { name: "axum", io_drivers: &[] },
    ArmSpec { name: "tokio-per-core", io_drivers: &[] },
    ArmSpec { name: "monoio-hyper", io_drivers: MONOIO_DRIVERS },
    ArmSpec { name: "monoio", io_drivers: MONOIO_DRIVERS },
];

/// The arm called `name`, if the workspace builds one.
pub fn arm(name: &str) -> Option<&'static ArmSpec> {
    ARMS.iter().find(|arm| arm.name == name)
}

/// Cargo's binary name for a server name (`axum` -> `axum-server`).
pub fn server_binary_name(server: &str) -> String {
    format!("{server}-server")
}

/// The profile folder (`target/release`, `target/debug`) holding `exe`, whether `exe` is a binary in it or
/// a test executable in its `deps/` folder.
pub fn profile_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent().map(Path::to_path_buf)
    } else {
        Some(dir.to_path_buf())
    }
}

/// Where a server's binary of the current profile is, whether or not it exists yet.
pub fn server_binary_path(server: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(profile_dir(&exe)?.join(server_binary_name(server)))
}

/// The server names the workspace builds: the names of [`ARMS`], in order.
pub const SERVERS: &[&str] = &SERVER_NAMES;

const SERVER_NAMES: [&str; ARMS.len()] = {
    let mut names = [""; ARMS.len()];
    let mut index = 0;
    while index < ARMS.len() {
        names[index] = ARMS[index].name;
        index += 1;
    }
    names
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_the_arm_names_in_order_and_only_monoio_arms_choose_a_driver() {
        assert_eq!(SERVERS, ["axum", "tokio-per-core", "monoio-hyper", "monoio"]);
        let choosing: Vec<&str> = ARMS.iter().filter(|a| a.takes_io_driver()).map(|a| a.name).collect();
        assert_eq!(choosing, ["monoio-hyper", "monoio"]);
        assert_eq!(arm("monoio").map(|a| a.io_drivers), Some(MONOIO_DRIVERS));
        assert_eq!(arm("nginx"), None);
    }
}
