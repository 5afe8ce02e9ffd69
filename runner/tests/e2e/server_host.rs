//! `--server-host` end to end: the real runner binary runs every test's server in a network namespace over
//! ssh and attacks it from the root namespace; and the three ways a server host can be wrong (unreachable,
//! refused key, another build) each stop the run with exit 2 and a message before anything starts.

use std::path::Path;

use runner::model::{RunResults, RunStatus, TestStatus};

use super::remote::assert_all_gone;
use super::{describe, only_run_dir, quiet_vegeta_cpus, run_runner};
use crate::common::netns::TestHosts;

/// The flags every test here gives: one arm, a read and a write endpoint, a short fixed rate.
const MATRIX: [&str; 10] = [
    "--servers",
    "axum",
    "--filter",
    "/api/simple/async/",
    "--filter",
    "/api/db/async/write",
    "--rates",
    "40",
    "--duration",
    "2s",
];

fn with_host<'a>(hosts: &'a TestHosts, address: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    with_config(hosts.ssh_config().to_str().expect("a UTF-8 temp path"), address, extra)
}

fn with_config<'a>(config: &'a str, address: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = MATRIX.to_vec();
    args.extend(["--server-host", address, "--ssh-config", config, "--warmup", "0"]);
    args.extend(extra);
    args
}

#[test]
fn a_server_in_a_namespace_attacked_from_the_root_namespace() {
    let _quiet = quiet_vegeta_cpus();
    let hosts = TestHosts::create(1);
    let names = hosts.names();
    let address = hosts.address(0).to_string();
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(out.path(), &with_host(&hosts, &address, &[]));
    assert!(output.status.success(), "{}", describe(&output));
    let run_dir = only_run_dir(out.path());
    let results = RunResults::load(&run_dir).expect("results.json loads");
    assert_eq!(results.run.status, RunStatus::Complete);
    // Both hosts are in the fingerprint.
    let server_host = results.run.server_host.as_ref().expect("the server host is recorded");
    assert_eq!((server_host.destination.as_str(), server_host.address.as_str()), (address.as_str(), address.as_str()));
    assert!(server_host.machine.cores > 0 && server_host.machine.memory_total_bytes > 0, "{server_host:?}");
    assert!(!results.run.machine.cpu_model.is_empty());
    assert_eq!(server_host.binaries_sha256.get("axum").map(String::len), Some(64), "{server_host:?}");
    assert!(server_host.clock_uncertainty_ns < 1_000_000_000, "{server_host:?}");
    assert_eq!(results.tests.len(), 2);
    for test in &results.tests {
        assert_eq!(test.status, TestStatus::Ok, "{}: {:?}", test.id, test.failure);
        // Only a process inside the namespace can listen on the namespace's address.
        let addr = test.server_addr.as_deref().unwrap_or_default();
        assert!(addr.starts_with(&format!("{address}:")), "{}: listened on {addr}", test.id);
        let metrics = test.metrics.as_ref().expect("metrics");
        assert_eq!((metrics.requests, metrics.success_pct), (80, 100.0), "{}: {metrics:?}", test.id);
        // The server's CPU, run-queue delay and RSS, read on its host.
        let accounting = test.accounting.as_ref().expect("accounting");
        let cpu = accounting.server.cpu.value().unwrap_or_else(|| panic!("{}: {:?}", test.id, accounting.server));
        assert!(cpu.cpu_s > 0.0 && cpu.us_per_request.is_some(), "{}: {cpu:?}", test.id);
        assert!(accounting.server.run_queue.value().is_some(), "{}: {:?}", test.id, accounting.server.run_queue);
        let resources = test.resources.as_ref().expect("resources");
        assert!(resources.server.samples >= 2 && resources.server.rss_max_bytes > 1 << 20, "{resources:?}");
    }
    // The database came back for the audit: every acknowledged write is there.
    let write = results.tests.iter().find(|t| t.endpoint.name.contains("write")).expect("the write test");
    let audit = write.write_audit.as_ref().expect("audited");
    assert!(audit.acknowledged == 80 && audit.lost == 0 && audit.phantom == 0, "{audit:?}");
    drop(hosts);
    assert_all_gone(&names);
}

/// Runs the runner with `args`; it must exit 2 with `expected` on stderr and without a run folder.
fn refused(args: &[&str], expected: &[&str]) {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(out.path(), args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stderr}");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    for words in expected {
        assert!(stderr.contains(words), "{words:?} missing from:\n{stderr}");
    }
    let folders = std::fs::read_dir(out.path()).map(|d| d.count()).unwrap_or(0);
    assert_eq!(folders, 0, "nothing started: no run folder");
}

#[test]
fn an_unreachable_host_a_refused_key_and_another_build_exit_2_before_anything_starts() {
    let hosts = TestHosts::create(1);
    let address = hosts.address(0).to_string();
    // Nobody listens on .99 of the fixture's subnet.
    // (The last octet only: the subnet's third octet, picked from the pid, may hold ".10" too.)
    let nobody = format!("{}.99", address.rsplit_once('.').expect("an IPv4 address").0);
    refused(&with_host(&hosts, &nobody, &[]), &["unreachable over ssh", &nobody]);

    let other_key = hosts.dir().join("other_key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    let config = std::fs::read_to_string(hosts.ssh_config()).expect("reads");
    let wrong = hosts.dir().join("wrong_config");
    std::fs::write(&wrong, config.replace(&hosts.key().display().to_string(), &other_key.display().to_string()))
        .expect("writes");
    let wrong = wrong.to_str().expect("UTF-8");
    refused(&with_config(wrong, &address, &[]), &["refused the ssh key", "IdentityFile"]);

    // Another build: a folder on the host whose axum binary differs from this build's.
    let other_build = hosts.dir().join("other-build");
    std::fs::create_dir_all(&other_build).expect("mkdir");
    let binary = runner::tools::server::locate_binary("axum").expect("axum is built");
    let file_name = binary.file_name().expect("a name");
    let mut bytes = std::fs::read(&binary).expect("reads the binary");
    bytes.extend_from_slice(b"another build");
    std::fs::write(other_build.join(file_name), bytes).expect("writes");
    let dir = other_build.to_str().expect("UTF-8");
    let local_hash = sha256(&binary);
    let differs = ["is not this build", "--remote-bin-dir", &local_hash];
    refused(&with_host(&hosts, &address, &["--remote-bin-dir", dir]), &differs);
    let missing = hosts.dir().join("empty");
    let missing = missing.to_str().expect("UTF-8");
    refused(&with_host(&hosts, &address, &["--remote-bin-dir", missing]), &["missing on", "--remote-bin-dir"]);
}

fn sha256(path: &Path) -> String {
    let output = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}
