//! E2E (d): the FastAPI example as an arm beside axum, through the real runner, vegeta and uvicorn, in one
//! short run; then the same app declared without `{db}` and without `health`, whose database endpoints are
//! absent with the reason and whose health is absent with the reason.
//! Without Python's packages (examples/fastapi/.venv, which scripts/test.sh installs) it is skipped, and says so:
//! scripts/test.sh counts it as skipped, not passed.

use std::path::{Path, PathBuf};
use std::process::Command;

use runner::model::{RunResults, TestStatus};

use super::{describe, only_run_dir, record, run_runner};

/// Where scripts/test.sh collects the tests that skipped at run time.
const SKIP_LOG: &str = "RUNTIME_BENCH_SKIP_LOG";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fastapi")
}

/// Why the example cannot run here, if it cannot: its venv's Python must import the requirements.
fn missing_python_packages() -> Option<String> {
    let python = example_dir().join(".venv/bin/python");
    let imported = Command::new(&python).args(["-c", "import fastapi, uvicorn, aiosqlite"]).output();
    match imported {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "{} cannot import the requirements: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => Some(format!(
            "{} does not run ({error}); install it with: ./scripts/install-fastapi-example.sh",
            python.display()
        )),
    }
}

/// Says the test skipped, on its output and in the skip log scripts/test.sh counts.
fn skip(test: &str, reason: &str) {
    let line = format!("SKIPPED: {test}: {reason}");
    println!("{line}");
    eprintln!("{line}");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        use std::io::Write;
        let appended = std::fs::OpenOptions::new().create(true).append(true).open(log);
        if let Ok(mut file) = appended {
            let _ = writeln!(file, "{line}");
        }
    }
}

#[test]
fn the_fastapi_example_runs_as_an_arm_beside_axum() {
    if let Some(reason) = missing_python_packages() {
        return skip("e2e::fastapi::the_fastapi_example_runs_as_an_arm_beside_axum", &reason);
    }
    let _quiet = super::quiet_vegeta_cpus();
    let out = tempfile::tempdir().expect("temp dir");
    let manifest = example_dir().join("servers.toml");
    let manifest = manifest.to_str().expect("a UTF-8 path");
    let args =
        ["--servers", "axum,fastapi", "--manifest", manifest, "--filter", "/api/simple/noop/,/api/db/async/write/"];
    let output =
        run_runner(out.path(), &[&args[..], &["--rates", "50", "--duration", "2s", "--warmup", "500ms"]].concat());
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json loads");
    assert_eq!(results.tests.len(), 4, "2 arms x 2 endpoints");
    assert!(results.run.absent.is_empty(), "the example serves every endpoint: {:?}", results.run.absent);
    assert_eq!(results.run.config.external.first().map(|arm| arm.name.as_str()), Some("fastapi"));
    for endpoint in ["simple_noop", "update_item_async_write"] {
        let test = record(&results, "fastapi", endpoint);
        assert_eq!(test.status, TestStatus::Ok, "{}: {:?}", test.id, test.failure);
        let metrics = test.metrics.as_ref().expect("metrics");
        assert_eq!(metrics.requests, 100, "{}: 50/s for 2s", test.id);
        assert!((metrics.success_pct - 100.0).abs() < f64::EPSILON, "{}: {metrics:?}", test.id);
        let health = test.server_health.as_ref().expect("the example answers /healthz in the workspace's format");
        assert_eq!((health.server.as_str(), health.workers), ("fastapi", 1));
        let accounting = test.accounting.as_ref().expect("accounting");
        let cpu = accounting.server.cpu.value().expect("one process: its CPU is the arm's");
        assert!(cpu.us_per_request.is_some_and(|us| us > 0.0), "{}: {cpu:?}", test.id);
    }
    let audit = record(&results, "fastapi", "update_item_async_write").write_audit.clone().expect("write audit");
    assert_eq!((audit.acknowledged, audit.lost, audit.phantom), (100, 0, 0), "{audit:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().any(|l| l.contains("simple_noop") && l.contains("fastapi")), "{stdout}");
}

#[test]
fn an_arm_given_no_database_or_health_has_those_absent_with_the_reason() {
    if let Some(reason) = missing_python_packages() {
        return skip("e2e::fastapi::an_arm_given_no_database_or_health_has_those_absent_with_the_reason", &reason);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(example_dir().join("servers.toml")).expect("the example's manifest");
    let shared_db = dir.path().join("one.db");
    let text = text
        .replace("name = \"fastapi\"", "name = \"fastapi-nodb\"")
        .replace("health = \"/healthz\"", "")
        .replace("\"{db}\"", &format!("{:?}", shared_db.display().to_string()))
        .replace("\".venv/bin/python\"", &format!("{:?}", example_dir().join(".venv/bin/python").display().to_string()))
        .replace("\"serve.py\"", &format!("{:?}", example_dir().join("serve.py").display().to_string()));
    let manifest = dir.path().join("servers.toml");
    std::fs::write(&manifest, text).expect("manifest written");
    let out = dir.path().join("out");
    let args = [
        "--servers",
        "fastapi-nodb",
        "--manifest",
        manifest.to_str().expect("UTF-8"),
        "--filter",
        "/api/simple/noop/,/api/db/async/read/",
    ];
    let output = run_runner(&out, &[&args[..], &["--rates", "20", "--duration", "1s", "--warmup", "200ms"]].concat());
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(&out)).expect("results.json loads");
    let measured: Vec<&str> = results.tests.iter().map(|t| t.endpoint.name.as_str()).collect();
    assert_eq!(measured, ["simple_noop"], "the read cell is absent, not measured");
    assert_eq!(results.run.absent.len(), 1, "{:?}", results.run.absent);
    let absent = &results.run.absent[0];
    assert_eq!((absent.server.as_str(), absent.endpoint.as_str()), ("fastapi-nodb", "get_item_async_read"));
    assert!(absent.reason.contains("takes no {db}"), "{}", absent.reason);
    assert!(
        results.run.notes.iter().any(|n| n.contains("fastapi-nodb lacks 1 planned endpoint")),
        "{:?}",
        results.run.notes
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("fastapi-nodb lacks 1 planned endpoint"), "the report shows it:\n{stdout}");
    let noop = &results.tests[0];
    assert!(noop.server_health.is_none(), "no health in its manifest: {:?}", noop.server_health);
    let said = |part: &str| noop.notes.iter().any(|note| note.contains(part));
    assert!(said("no server health recorded") && said("names no `health`"), "{:?}", noop.notes);
    assert!(said("whether the warm-up's requests had drained was not checked"), "{:?}", noop.notes);
    assert_eq!(noop.status, TestStatus::Ok, "{:?}", noop.failure);
}
