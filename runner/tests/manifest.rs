//! `--manifest` bad input through the real runner binary: each refusal exits 2 with a message naming the
//! manifest's line and field, before anything starts (no run folder, no server).

use std::path::Path;
use std::process::{Command, Output, Stdio};

const GOOD: &str = r#"[[server]]
name = "outside"
command = ["sh", "-c", "exec sleep 30", "{host}", "{port}", "{db}", "{workers}"]
ready = "/healthz"
openapi = "/openapi.json"
"#;

/// Runs `runner` with the manifest `text` written beside an empty `--out` folder.
fn run_with_manifest(text: &str, servers: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("servers.toml");
    std::fs::write(&manifest, text).expect("manifest written");
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["--servers", servers, "--filter", "/api/simple/noop/", "--rates", "10", "--duration", "1s"])
        .arg("--manifest")
        .arg(&manifest)
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .expect("the runner binary starts");
    (output, dir)
}

/// Exit 2, a message with every part, and nothing started: no run folder under `--out`.
fn assert_refused(output: &Output, dir: &Path, parts: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "exit 2 expected:\n{stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{part:?} missing from:\n{stderr}");
    }
    let out = dir.join("out");
    let runs = std::fs::read_dir(&out).map(|entries| entries.count()).unwrap_or(0);
    assert_eq!(runs, 0, "nothing may start: {} holds a run folder", out.display());
}

#[test]
fn an_unknown_placeholder_exits_2_naming_its_line_and_field() {
    let (output, dir) = run_with_manifest(&GOOD.replace("{workers}", "{cores}"), "outside");
    assert_refused(&output, dir.path(), &["servers.toml:3", "outside", "command[6]", "{cores}", "{host}, {port}"]);
}

#[test]
fn a_missing_command_exits_2_naming_its_table() {
    let without: String = GOOD.lines().filter(|line| !line.starts_with("command")).map(|l| format!("{l}\n")).collect();
    let (output, dir) = run_with_manifest(&without, "outside");
    assert_refused(&output, dir.path(), &["servers.toml:1", "outside", "`command` is missing"]);
}

#[test]
fn a_program_that_is_not_there_exits_2_before_anything_starts() {
    let (output, dir) = run_with_manifest(&GOOD.replace("\"sh\"", "\".venv/bin/python\""), "outside");
    assert_refused(&output, dir.path(), &["servers.toml:2", "outside", ".venv/bin/python", "not an executable file"]);
}

#[test]
fn a_reserved_or_duplicate_name_exits_2() {
    let (output, dir) = run_with_manifest(&GOOD.replace("\"outside\"", "\"axum\""), "axum");
    assert_refused(&output, dir.path(), &["servers.toml:2", "one of the workspace's own arms"]);
    let twice = format!("{GOOD}\n{GOOD}");
    let (output, dir) = run_with_manifest(&twice, "outside");
    assert_refused(&output, dir.path(), &["servers.toml:8", "already declared at line 2"]);
}

#[test]
fn an_external_name_without_its_manifest_is_an_unknown_server() {
    let output = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["--servers", "fastapi", "--rates", "10", "--dry-run"])
        .stdin(Stdio::null())
        .output()
        .expect("the runner binary starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown server \"fastapi\"") && stderr.contains("--manifest FILE"), "{stderr}");
}

#[test]
fn a_valid_manifest_adds_its_arm_to_the_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("servers.toml");
    std::fs::write(&manifest, GOOD).expect("manifest written");
    let output = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["--servers", "axum,outside", "--filter", "/api/simple/noop/", "--rates", "10", "--dry-run"])
        .arg("--manifest")
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .expect("the runner binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("servers:   axum, outside") && stdout.contains("2 tests"), "{stdout}");
}
