//! The external-arm manifest (`servers.toml`): arms from outside the workspace, each with its start command
//! (argv with `{host}`, `{port}`, `{db}`, `{workers}` and `{sleep_ms}` placeholders), the path polled until it
//! is ready, and where its catalogue is (the workspace's `/api/endpoints`, or an OpenAPI document). Parsing
//! checks everything that can be checked without starting anything, and names the file, line and field of
//! whatever it refuses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// The placeholders a start command may use, in the order the messages list them.
pub const PLACEHOLDERS: &[&str] = &["host", "port", "db", "workers", "sleep_ms"];
/// How long an external arm may take to answer its readiness path when its manifest does not say.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest readiness timeout a manifest may ask for: readiness is always bounded.
const MAX_READY_TIMEOUT: Duration = Duration::from_secs(600);

/// Something the manifest says that cannot run (boxed: the runner passes it up through `Result`s).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(transparent)]
pub struct ManifestError(Box<ManifestProblem>);

impl ManifestError {
    pub fn problem(&self) -> &ManifestProblem {
        &self.0
    }
}

impl From<ManifestProblem> for ManifestError {
    fn from(problem: ManifestProblem) -> ManifestError {
        ManifestError(Box::new(problem))
    }
}

/// What is wrong, where. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestProblem {
    #[error("cannot read the manifest {file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{file}: not a valid manifest: {reason}")]
    Syntax { file: String, reason: String },
    #[error("{file}: declares no [[server]]; each external arm is a [[server]] table with name, command, ready")]
    NoServers { file: String },
    #[error("{file}:{line}: {server}: `{field}` is missing; {hint}")]
    MissingField { file: String, line: usize, server: String, field: &'static str, hint: &'static str },
    #[error(
        "{file}:{line}: {server}: {field} = {value:?} has an unknown placeholder {{{placeholder}}}; the placeholders \
         are {known}"
    )]
    UnknownPlaceholder {
        file: String,
        line: usize,
        server: String,
        field: String,
        value: String,
        placeholder: String,
        known: String,
    },
    #[error("{file}:{line}: {server}: {field} = {value:?} has an unclosed `{{`; placeholders look like {{port}}")]
    UnclosedPlaceholder { file: String, line: usize, server: String, field: String, value: String },
    #[error("{file}:{line}: server name {name:?} is already declared at line {first}; arm names must be unique")]
    DuplicateName { file: String, line: usize, name: String, first: usize },
    #[error("{file}:{line}: server name {name:?} is one of the workspace's own arms ({reserved}); choose another")]
    ReservedName { file: String, line: usize, name: String, reserved: String },
    #[error("{file}:{line}: server name {name:?} may hold only letters, digits, '.', '_' and '-' (it names files)")]
    BadName { file: String, line: usize, name: String },
    #[error("{file}:{line}: {server}: `{field}` = {value:?} must be a path on the server's address, e.g. {example}")]
    NotAPath { file: String, line: usize, server: String, field: &'static str, value: String, example: &'static str },
    #[error(
        "{file}:{line}: {server}: name its catalogue with exactly one of `catalogue = \"/api/endpoints\"` (it serves \
         the workspace's contract) or `openapi = \"/openapi.json\"` (its OpenAPI document)"
    )]
    CatalogueChoice { file: String, line: usize, server: String },
    #[error("{file}:{line}: {server}: ready_timeout = {value:?} is not a duration of at most 10m ({reason})")]
    BadTimeout { file: String, line: usize, server: String, value: String, reason: String },
    #[error("{file}:{line}: {server}: the command's program {program:?} {problem}")]
    ProgramMissing { file: String, line: usize, server: String, program: String, problem: String },
}

/// Where an external arm's catalogue is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogueSource {
    /// It serves the workspace's `/api/endpoints` (at this path).
    Contract(String),
    /// It serves an OpenAPI document at this path; its paths are mapped onto the catalogue.
    OpenApi(String),
}

impl CatalogueSource {
    pub fn path(&self) -> &str {
        match self {
            CatalogueSource::Contract(path) | CatalogueSource::OpenApi(path) => path,
        }
    }
}

/// One arm from a manifest, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalArm {
    pub name: String,
    /// The start command as written, placeholders unreplaced.
    pub command: Vec<String>,
    /// The folder of the manifest: the command's working directory, and what a relative program is relative to.
    pub dir: PathBuf,
    /// The path polled (GET, until it answers 200) before the arm counts as started.
    pub ready: String,
    pub ready_timeout: Duration,
    pub catalogue: CatalogueSource,
    /// The path of a `/healthz` in the workspace's `Health` format, if it serves one.
    pub health: Option<String>,
    /// Where it is declared, for messages.
    pub file: String,
    pub line: usize,
}

/// The values a start command's placeholders take for one start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    pub host: String,
    pub port: u16,
    pub db: PathBuf,
    pub workers: u16,
    pub sleep_ms: u64,
}

impl ExternalArm {
    /// The argv of one start, every placeholder replaced (parsing already refused unknown ones).
    pub fn argv(&self, values: &Placeholders) -> Vec<String> {
        self.command
            .iter()
            .map(|arg| {
                arg.replace("{host}", &values.host)
                    .replace("{port}", &values.port.to_string())
                    .replace("{db}", &values.db.display().to_string())
                    .replace("{workers}", &values.workers.to_string())
                    .replace("{sleep_ms}", &values.sleep_ms.to_string())
            })
            .collect()
    }

    /// Whether the command passes the test's database file: without it the runner can neither give each test
    /// a fresh database nor audit its writes.
    pub fn takes_db(&self) -> bool {
        self.command.iter().any(|arg| arg.contains("{db}"))
    }

    /// The program to execute: a relative path with a `/` is relative to the manifest's folder, a bare name
    /// is looked up on `PATH`. Refused (with the manifest line) when it is not there or not executable.
    pub fn program(&self) -> Result<PathBuf, ManifestError> {
        let written = self.command.first().map(String::as_str).unwrap_or_default();
        let missing = |problem: String| ManifestProblem::ProgramMissing {
            file: self.file.clone(),
            line: self.line,
            server: self.name.clone(),
            program: written.to_owned(),
            problem,
        };
        let found = if written.contains('/') {
            Some(self.dir.join(written)).filter(|path| is_executable(path))
        } else {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join(written))
                .find(|path| is_executable(path))
        };
        found.ok_or_else(|| {
            missing(if written.contains('/') {
                format!("is not an executable file at {}", self.dir.join(written).display())
            } else {
                "is not on PATH".to_owned()
            })
            .into()
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Reads and validates a manifest file; `reserved` are the workspace's arm names.
pub fn load(path: &Path, reserved: &[&str]) -> Result<Vec<ExternalArm>, ManifestError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|error| ManifestProblem::Unreadable { file: file.clone(), reason: error.to_string() })?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    parse(&text, &file, &dir, reserved)
}

/// The file as serde sees it: every field optional, so a missing one is reported with its line here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    server: Vec<RawServer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: Option<String>,
    command: Option<Vec<String>>,
    ready: Option<String>,
    ready_timeout: Option<String>,
    catalogue: Option<String>,
    openapi: Option<String>,
    health: Option<String>,
}

/// Parses manifest text; `file` names it in messages, `dir` is the manifest's folder.
pub fn parse(text: &str, file: &str, dir: &Path, reserved: &[&str]) -> Result<Vec<ExternalArm>, ManifestError> {
    let raw: RawManifest = basic_toml::from_str(text)
        .map_err(|error| ManifestProblem::Syntax { file: file.to_owned(), reason: error.to_string() })?;
    if raw.server.is_empty() {
        return fail(ManifestProblem::NoServers { file: file.to_owned() });
    }
    let lines = Lines { text, file };
    let mut arms: Vec<ExternalArm> = Vec::new();
    for (index, server) in raw.server.into_iter().enumerate() {
        let arm = validate(server, index, &lines, dir, reserved)?;
        if let Some(first) = arms.iter().find(|a| a.name == arm.name) {
            return fail(ManifestProblem::DuplicateName {
                file: file.to_owned(),
                line: arm.line,
                name: arm.name,
                first: first.line,
            });
        }
        arms.push(arm);
    }
    Ok(arms)
}

/// Finds where a `[[server]]` table and its fields are written, for messages.
struct Lines<'a> {
    text: &'a str,
    file: &'a str,
}

impl Lines<'_> {
    /// The 1-based line of the `index`-th `[[server]]` header.
    fn table(&self, index: usize) -> usize {
        let headers = self.text.lines().enumerate().filter(|(_, line)| is_server_header(line));
        headers.map(|(at, _)| at + 1).nth(index).unwrap_or(0)
    }

    /// The line of `field = ...` inside the table starting at `table`, or the table's line.
    fn field(&self, table: usize, field: &str) -> usize {
        let after = self.text.lines().enumerate().skip(table);
        for (at, line) in after {
            let line = line.trim_start();
            if line.starts_with('[') {
                break;
            }
            let key = line.split('=').next().unwrap_or_default().trim();
            if line.contains('=') && key == field {
                return at + 1;
            }
        }
        table
    }
}

fn is_server_header(line: &str) -> bool {
    let compact: String = line.split('#').next().unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
    compact == "[[server]]"
}

fn validate(
    raw: RawServer,
    index: usize,
    lines: &Lines<'_>,
    dir: &Path,
    reserved: &[&str],
) -> Result<ExternalArm, ManifestError> {
    let file = lines.file.to_owned();
    let table = lines.table(index);
    let Some(name) = raw.name else {
        let (field, hint) = ("name", "name the arm as --servers will take it, e.g. name = \"fastapi\"");
        return fail(ManifestProblem::MissingField {
            file,
            line: table,
            server: format!("[[server]] #{}", index + 1),
            field,
            hint,
        });
    };
    let line = lines.field(table, "name");
    check_name(&name, &file, line, reserved)?;
    let missing = |field: &'static str, hint: &'static str| ManifestProblem::MissingField {
        file: file.clone(),
        line: table,
        server: name.clone(),
        field,
        hint,
    };
    let command = raw.command.filter(|argv| argv.first().is_some_and(|program| !program.trim().is_empty()));
    let command = command.ok_or_else(|| {
        missing(
            "command",
            "give the argv that starts it, e.g. command = [\"uvicorn\", \"app:app\", \"--port\", \"{port}\"]",
        )
    })?;
    let command_line = lines.field(table, "command");
    for (at, arg) in command.iter().enumerate() {
        check_placeholders(arg, &format!("command[{at}]"), &file, command_line, &name)?;
    }
    let ready = raw.ready.ok_or_else(|| {
        missing("ready", "give the path that answers 200 once it serves, e.g. ready = \"/openapi.json\"")
    })?;
    let path_field = |field: &'static str, value: String, example: &'static str| {
        if value.starts_with('/') {
            Ok(value)
        } else {
            let line = lines.field(table, field);
            fail(ManifestProblem::NotAPath { file: file.clone(), line, server: name.clone(), field, value, example })
        }
    };
    let ready = path_field("ready", ready, "/openapi.json")?;
    let catalogue = match (raw.catalogue, raw.openapi) {
        (Some(path), None) => CatalogueSource::Contract(path_field("catalogue", path, "/api/endpoints")?),
        (None, Some(path)) => CatalogueSource::OpenApi(path_field("openapi", path, "/openapi.json")?),
        _ => return fail(ManifestProblem::CatalogueChoice { file, line: table, server: name }),
    };
    let health = raw.health.map(|path| path_field("health", path, "/healthz")).transpose()?;
    let ready_timeout = match raw.ready_timeout {
        None => DEFAULT_READY_TIMEOUT,
        Some(value) => parse_timeout(&value).map_err(|reason| ManifestProblem::BadTimeout {
            file: file.clone(),
            line: lines.field(table, "ready_timeout"),
            server: name.clone(),
            value,
            reason,
        })?,
    };
    Ok(ExternalArm { name, command, dir: dir.to_path_buf(), ready, ready_timeout, catalogue, health, file, line })
}

fn check_name(name: &str, file: &str, line: usize, reserved: &[&str]) -> Result<(), ManifestError> {
    if reserved.contains(&name) {
        return fail(ManifestProblem::ReservedName {
            file: file.to_owned(),
            line,
            name: name.to_owned(),
            reserved: reserved.join(", "),
        });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || !name.chars().all(allowed) {
        return fail(ManifestProblem::BadName { file: file.to_owned(), line, name: name.to_owned() });
    }
    Ok(())
}

/// Every `{...}` in `value` must be one of [`PLACEHOLDERS`].
fn check_placeholders(value: &str, field: &str, file: &str, line: usize, server: &str) -> Result<(), ManifestError> {
    let mut rest = value;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return fail(ManifestProblem::UnclosedPlaceholder {
                file: file.to_owned(),
                line,
                server: server.to_owned(),
                field: field.to_owned(),
                value: value.to_owned(),
            });
        };
        let placeholder = &after[..close];
        if !PLACEHOLDERS.contains(&placeholder) {
            return fail(ManifestProblem::UnknownPlaceholder {
                file: file.to_owned(),
                line,
                server: server.to_owned(),
                field: field.to_owned(),
                value: value.to_owned(),
                placeholder: placeholder.to_owned(),
                known: PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", "),
            });
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// A refusal, as the functions here return it.
fn fail<T>(problem: ManifestProblem) -> Result<T, ManifestError> {
    Err(problem.into())
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(value.trim()).map_err(|e| e.to_string())?;
    if timeout.is_zero() || timeout > MAX_READY_TIMEOUT {
        return Err("readiness must be bounded and longer than zero".to_owned());
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests;
