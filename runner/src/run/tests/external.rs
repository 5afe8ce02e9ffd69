//! Arms from a manifest with the fakes of the parent module: the cells an arm's catalogue lacks are absent
//! with the reason and never run, and a server that forked workers gets no partial CPU figures.

use super::*;
use crate::model::Measured;

/// A manifest arm `ext` (its program `sh` is on PATH; the fakes never start it) and the plan's arguments.
fn with_manifest(args: &[&str], script: Script) -> (Rc<Script>, RunOutcome, [tempfile::TempDir; 2]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("servers.toml");
    let text = "[[server]]\nname = \"ext\"\ncommand = [\"sh\", \"{port}\", \"{db}\"]\nready = \"/\"\ncatalogue = \"/api/endpoints\"\n";
    std::fs::write(&manifest, text).expect("manifest written");
    let manifest = manifest.display().to_string();
    let all: Vec<&str> = args.iter().copied().chain(["--manifest", manifest.as_str()]).collect();
    let (script, outcome, out) = run_with(script, &all);
    (script, outcome, [dir, out])
}

#[test]
fn a_cell_the_external_catalogue_lacks_is_absent_with_its_reason_and_never_run() {
    let script = Script { external_lacks: vec!["simple_async"], ..Script::default() };
    let filters = "/api/simple/noop/,/api/simple/async/";
    let (script, outcome, _dir) =
        with_manifest(&["--servers", "axum,ext", "--filter", filters, "--rates", "10"], script);
    let ran: Vec<&str> = outcome.results.tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ran, ["axum_w1_simple_noop_10", "ext_w1_simple_noop_10", "axum_w1_simple_async_10"]);
    let absent = &outcome.results.run.absent;
    assert_eq!(absent.len(), 1, "{absent:?}");
    assert_eq!((absent[0].server.as_str(), absent[0].endpoint.as_str()), ("ext", "simple_async"));
    assert!(absent[0].reason.contains("/api/endpoints lists no GET /api/simple/async/"), "{}", absent[0].reason);
    assert!(outcome.results.run.notes.iter().any(|n| n.starts_with("ext lacks 1 planned endpoint")));
    let servers: Vec<String> = script.starts.borrow().iter().map(|s| s.server.clone()).collect();
    assert_eq!(servers.first().map(String::as_str), Some("ext"), "the catalogue is read before the first test");
    assert_eq!(servers.len(), 4, "one discovery start and three tests: {servers:?}");
    assert_eq!(outcome.results.run.config.external.first().map(|a| a.name.as_str()), Some("ext"));
    let reloaded = RunResults::load(&outcome.run_dir).expect("results.json loads");
    assert_eq!(&reloaded.run.absent, absent, "persisted");
}

#[test]
fn a_server_that_forked_workers_has_no_partial_cpu_figures() {
    let script = Script { forked_workers: vec![4001, 4002], ..Script::default() };
    let (_script, outcome, _out) = run_with(script, &["--servers", "axum", "--rates", "10"]);
    let test = &outcome.results.tests[0];
    let accounting = test.accounting.as_ref().expect("accounting");
    let why = accounting.server.cpu.absent_reason().expect("the server's CPU is absent");
    assert!(why.contains("ran as 3 processes") && why.contains("[4001, 4002]"), "{why}");
    assert!(matches!(accounting.server.run_queue, Measured::Absent(_)));
    assert!(matches!(accounting.projected_capacity, Measured::Absent(_)));
    assert!(accounting.load_generator.cpu.value().is_some(), "the load generator is still measured");
    assert!(test.resources.is_none() && test.notes.iter().any(|n| n.contains("ran as 3 processes")));
    assert!(!test.validity.valid, "its contention could not be checked: {:?}", test.validity);
}
