//! Finds the workspace's server binaries: the build of the same profile next to the running executable, so
//! the runner and the tests use what `cargo build` already produced instead of building again.

use std::path::{Path, PathBuf};

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

/// The server names the workspace builds.
pub const SERVERS: &[&str] = &["axum", "tokio-per-core", "monoio-hyper", "monoio"];
