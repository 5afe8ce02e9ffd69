//! The fixed matrix and calibration with the fakes: order, repeats, persistence, a dying server, Ctrl-C, a
//! taken port, the calibration's ceilings and a probe the generator limited.

use super::*;

#[test]
fn the_matrix_runs_rate_by_rate_with_servers_innermost() {
    let (script, outcome, _out) = run_with(Script::default(), &["--servers", &two_servers(), "--rates", "20,10"]);
    let order: Vec<(String, Option<u32>)> = script.starts.borrow().iter().map(|s| (s.server.clone(), s.rate)).collect();
    let (a, b) = (SERVERS[0].to_owned(), SERVERS[1].to_owned());
    assert_eq!(order, [(a.clone(), Some(10)), (b.clone(), Some(10)), (a, Some(20)), (b, Some(20))]);
    assert_eq!(outcome.results.run.status, RunStatus::Complete);
    assert!(outcome.results.tests.iter().all(|t| t.status == TestStatus::Ok), "{:?}", outcome.results.tests);
    assert_eq!(script.stops.get(), 4, "every test's server is stopped");
}

#[test]
fn every_repeat_is_a_test_of_its_own_on_a_fresh_server() {
    let (script, outcome, _out) =
        run_with(Script::default(), &["--servers", SERVERS[0], "--rates", "10", "--repeat", "3"]);
    let ids: Vec<&str> = outcome.results.tests.iter().map(|t| t.id.as_str()).collect();
    let stem = format!("{}_w1_simple_noop_10", SERVERS[0]);
    assert_eq!(ids, [stem.clone(), format!("{stem}_r2"), format!("{stem}_r3")]);
    assert_eq!(outcome.results.tests.iter().map(|t| t.repeat).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(script.starts.borrow().len(), 3);
}

#[test]
fn results_are_on_disk_after_every_test() {
    let (script, outcome, _out) = run_with(Script::default(), &["--servers", SERVERS[0], "--rates", "10,20,30"]);
    let on_disk: Vec<usize> = script.starts.borrow().iter().map(|s| s.tests_on_disk).collect();
    assert_eq!(on_disk, [0, 1, 2], "each test starts with every earlier one persisted");
    assert_eq!(tests_on_disk(&outcome.run_dir), 3);
    for test in &outcome.results.tests {
        assert!(outcome.run_dir.join(&test.files.metrics).is_file(), "{} has its own file", test.id);
    }
}

#[test]
fn a_server_dying_mid_test_fails_that_test_and_the_run_goes_on() {
    let script = Script { server_dies_in_attack: Some(1), ..Script::default() };
    let (script, outcome, _out) = run_with(script, &["--servers", SERVERS[0], "--rates", "10,20"]);
    let tests = &outcome.results.tests;
    assert_eq!(tests.len(), 2);
    assert_eq!(tests[0].status, TestStatus::Failed);
    let failure = tests[0].failure.as_deref().unwrap_or_default();
    assert!(failure.contains("exited during the test") && failure.contains("killed by the test"), "{failure}");
    assert_eq!(tests[1].status, TestStatus::Ok, "the next test runs on a fresh server");
    assert_eq!(script.interrupts.get(), 1, "the attack on the dead server was stopped");
    assert_eq!(outcome.results.run.status, RunStatus::Complete);
}

#[test]
fn ctrl_c_between_tests_keeps_the_finished_ones_and_starts_no_more() {
    let script = Script { ctrl_c_after_stops: Some(1), ..Script::default() };
    let (script, outcome, _out) = run_with(script, &["--servers", SERVERS[0], "--rates", "10,20,30"]);
    assert!(outcome.interrupted());
    assert_eq!(outcome.results.tests.len(), 1, "the test that had finished its attack is kept");
    assert_eq!(outcome.results.tests[0].status, TestStatus::Ok);
    assert_eq!(script.starts.borrow().len(), 1, "no test starts after Ctrl-C");
    assert_eq!(tests_on_disk(&outcome.run_dir), 1);
}

#[test]
fn ctrl_c_mid_attack_stops_it_once_and_does_not_count_the_cut_test() {
    let script = Script { ctrl_c_in_attack: Some(2), ..Script::default() };
    let (script, outcome, _out) = run_with(script, &["--servers", SERVERS[0], "--rates", "10,20,30"]);
    assert!(outcome.interrupted());
    assert_eq!(script.interrupts.get(), 1, "one interrupt, so vegeta flushes rather than dies");
    assert_eq!(script.stops.get(), 2, "the interrupted test's server is still stopped");
    let ids: Vec<&str> = outcome.results.tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [format!("{}_w1_simple_noop_10", SERVERS[0])], "the cut-short test is not kept");
    let notes = outcome.results.run.notes.join("\n");
    assert!(notes.contains("simple_noop_20, cut short, is not kept"), "{notes}");
    let loaded = RunResults::load(&outcome.run_dir).expect("results.json is complete");
    assert_eq!((loaded.run.status, loaded.tests.len()), (RunStatus::Interrupted, 1));
}

#[test]
fn a_taken_fixed_port_is_recorded_in_the_test() {
    let (_script, outcome, _out) =
        run_with(Script::default(), &["--servers", SERVERS[0], "--rates", "10", "--port", "8000"]);
    let notes = &outcome.results.tests[0].notes;
    assert!(notes.iter().any(|n| n.contains("port 8000 was taken")), "{notes:?}");
}

#[test]
fn a_calibration_finds_both_ceilings_measuring_each_rate_once() {
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().display().to_string();
    let args = ["runner", "calibrate", "--out", &dir, "--warmup", "0", "--duration", "1s", "--budget", "10m"];
    let cli = Cli::try_parse_from(args).expect("parses");
    let Some(crate::cli::Command::Calibrate(calibrate)) = cli.command else { panic!("calibrate subcommand") };
    let plan = Plan::for_calibration(&calibrate).expect("valid plan");
    // Above 1500 req/s the fake answers in 500 ms: past both the clean bound and a throughput search's ramp.
    let script = Rc::new(Script { capacity_rps: Some(1500), ..Script::default() });
    let interrupted = Arc::clone(&script.interrupted);
    let outcome = run(&plan, &FakeBackend(Rc::clone(&script)), Vec::new(), interrupted).expect("the run ends");
    let capacity = &outcome.results.capacity;
    assert_eq!(capacity.len(), 2, "the throughput ceiling, then the clean ceiling");
    let ids: Vec<&str> = outcome.results.tests.iter().map(|t| t.id.as_str()).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no rate is measured twice: {ids:?}");
    assert_eq!(script.starts.borrow().len(), ids.len());
    let calibration = crate::run::calibration::calibration_from(&outcome.results).expect("a calibration");
    let generator = calibration.generator.expect("the generator's floor");
    let clean = generator.clean_ceiling_rps.expect("a clean rate");
    assert!((1429..=1500).contains(&clean), "{clean}: {generator:?}");
    assert_eq!(generator.latency_floor_p99_ms, Some(1.0), "the fake answers in 1 ms");
    assert!(generator.probes.windows(2).all(|w| w[0].rate < w[1].rate));
    let marked =
        crate::run::calibration::markers(clean + 1, Some(&Calibration { generator: Some(generator), ..calibration }));
    assert_eq!(marked, [crate::model::GENERATOR_LATENCY_MARKER]);
}

#[test]
fn a_probe_the_generator_limited_is_measured_once_more() {
    let args = ["--servers", SERVERS[0], "--find-max", "--budget", "10m", "--start-rate", "20", "--max-rate", "300"];
    let once = Script { capacity_rps: Some(150), generator_behind_in_attacks: vec![2], ..Script::default() };
    let (script, outcome, _out) = run_with(once, &args);
    let capacity = &outcome.results.capacity[0];
    let found = capacity.sustainable_rps.expect("the search found a rate");
    assert!((143..=150).contains(&found) && capacity.valid && !capacity.generator_bound, "{capacity:?}");
    let ids: Vec<&str> = outcome.results.tests.iter().map(|t| t.id.as_str()).collect();
    let repeated = format!("{}_w1_simple_noop_40_r2", SERVERS[0]);
    assert!(ids.contains(&repeated.as_str()), "{ids:?}");
    assert_eq!(ids.len(), capacity.probes.len() + 1, "both measurements are kept");
    assert!(capacity.probes.iter().any(|p| p.test_id == repeated), "the repeat decided: {:?}", capacity.probes);
    assert_eq!(script.attacks.get(), ids.len());

    // Limited twice in a row: the search stops there, with a generator-bound lower bound and the reason.
    let twice = Script { capacity_rps: Some(150), generator_behind_in_attacks: vec![2, 3], ..Script::default() };
    let (_script, outcome, _out) = run_with(twice, &args);
    let capacity = &outcome.results.capacity[0];
    assert_eq!(capacity.sustainable_rps, Some(20), "{capacity:?}");
    assert!(capacity.generator_bound && !capacity.valid, "{capacity:?}");
    assert!(
        capacity.stop.contains("generator-bound lower bound") && capacity.stop.contains("fell behind its schedule")
    );
}
