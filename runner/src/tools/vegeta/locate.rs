//! Locating vegeta: an explicit path, `$VEGETA`, `PATH`, or `tools/bin/vegeta` of this checkout; and the
//! version to record, which is what the binary reports (or, for a `go install` build that reports an empty
//! one, the module version `go version -m` reads from it). A binary that does not answer like vegeta is
//! refused rather than recorded under a version it is not.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Result, TOOLS_RELATIVE_PATH, VEGETA_ENV, VegetaError};

/// The Go module every vegeta build comes from.
const VEGETA_MODULE: &str = "github.com/tsenart/vegeta";

pub(super) fn find_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return require_executable(path, "the given vegeta path");
    }
    if let Some(value) = std::env::var_os(VEGETA_ENV).filter(|v| !v.is_empty()) {
        return require_executable(Path::new(&value), "$VEGETA");
    }
    if let Some(path) = find_on_path() {
        return Ok(path);
    }
    let roots = search_roots();
    if let Some(path) = find_in_tools(&roots) {
        return Ok(path);
    }
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Err(VegetaError::NotFound {
        searched: format!(
            "not on PATH, ${VEGETA_ENV} unset, no {TOOLS_RELATIVE_PATH} in any folder above {}",
            roots.join(" or ")
        ),
    })
}

fn require_executable(path: &Path, what: &str) -> Result<PathBuf> {
    if is_executable_file(path) {
        Ok(path.to_owned())
    } else {
        Err(VegetaError::NotFound { searched: format!("{what} {} is not an executable file", path.display()) })
    }
}

pub(super) fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn find_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("vegeta")).find(|candidate| is_executable_file(candidate))
}

/// The runner executable's folder (so an installed runner finds its checkout's tools) and the current
/// directory (so `cargo run` from anywhere inside the checkout does).
fn search_roots() -> Vec<PathBuf> {
    let exe_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_owned));
    let cwd = std::env::current_dir().ok();
    exe_dir.into_iter().chain(cwd).collect()
}

pub(super) fn find_in_tools(roots: &[PathBuf]) -> Option<PathBuf> {
    roots
        .iter()
        .flat_map(|root| root.ancestors())
        .map(|dir| dir.join(TOOLS_RELATIVE_PATH))
        .find(|candidate| is_executable_file(candidate))
}

/// Runs `vegeta -version` (which also proves the binary runs) and keeps a non-empty `Version:` value.
/// The version to record for the binary at `path`: `vegeta -version` (which also proves the binary runs),
/// else the module version of a `go install` build.
pub(super) fn detect_version(path: &Path) -> Result<String> {
    let output = Command::new(path)
        .arg("-version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|source| VegetaError::Spawn { binary: path.to_owned(), args: "-version".to_owned(), source })?;
    let printed = String::from_utf8_lossy(&output.stdout);
    match parse_version_output(&printed) {
        VersionLine::Reported(version) => Ok(version),
        VersionLine::Empty => Ok(go_module_version(path)
            .unwrap_or_else(|reason| format!("unknown (a go install build reporting no version; {reason})"))),
        VersionLine::Absent => Err(VegetaError::NotVegeta { path: path.to_owned(), printed: first_line(&printed) }),
    }
}

/// What the `Version:` line of `vegeta -version` said.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum VersionLine {
    Reported(String),
    /// A `go install` build: the line is there, the value is empty.
    Empty,
    /// No such line: not vegeta.
    Absent,
}

pub(super) fn parse_version_output(text: &str) -> VersionLine {
    match text.lines().find_map(|line| line.strip_prefix("Version:")).map(str::trim) {
        Some("") => VersionLine::Empty,
        Some(version) => VersionLine::Reported(version.to_owned()),
        None => VersionLine::Absent,
    }
}

/// The module version `go version -m` reads from a Go binary's build info.
fn go_module_version(path: &Path) -> Result<String, String> {
    let output = Command::new("go")
        .args(["version", "-m"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`go version -m` could not run: {e}"))?;
    parse_go_version_m(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| format!("`go version -m` names no {VEGETA_MODULE} module"))
}

/// The version column of the `mod` line for vegeta's module (`\tmod\tgithub.com/tsenart/vegeta/v12\tv12.13.0\th1:...`).
pub(super) fn parse_go_version_m(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut columns = line.split('\t').filter(|c| !c.is_empty());
        let (kind, module, version) = (columns.next()?, columns.next()?, columns.next()?);
        (kind == "mod" && module.starts_with(VEGETA_MODULE)).then(|| version.to_owned())
    })
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() { "nothing".to_owned() } else { format!("{line:?}") }
}
