//! The comparison on synthetic runs made from the fixture: the same run, a doctored copy, repeats whose
//! spreads overlap or not, and every reason two runs cannot be compared.

use super::table::{NO_REGRESSION, render};
use super::*;
use crate::model::{CapacityResult, RunResults};

const FIXTURE: &str = include_str!("../../../tests/fixtures/bench_fixture/results.json");
const THRESHOLD: f64 = crate::defaults::COMPARE_THRESHOLD_PCT;

fn fixture() -> RunResults {
    serde_json::from_str(FIXTURE).expect("the fixture parses")
}

/// The index of a valid test whose p99 is well above the latency floor.
fn slow_valid_test(run: &RunResults) -> usize {
    run.tests
        .iter()
        .position(|t| is_judged(t) && t.metrics.as_ref().is_some_and(|m| m.latency_ms.p99 > 10.0))
        .expect("the fixture has a valid test with p99 above 10 ms")
}

fn p99(run: &mut RunResults, index: usize) -> &mut f64 {
    &mut run.tests[index].metrics.as_mut().expect("measured").latency_ms.p99
}

#[test]
fn a_run_compared_with_itself_has_no_regression() {
    let run = fixture();
    let comparison = compare(&run, &run, THRESHOLD).expect("comparable");
    assert_eq!(comparison.regressions(), 0);
    assert!(comparison.matched.iter().flat_map(|m| &m.changes).all(|c| c.verdict == Verdict::Same));
    assert!(comparison.only_old.is_empty() && comparison.only_new.is_empty());
    let text = render(&comparison);
    assert!(text.trim_end().lines().last().is_some_and(|l| l.starts_with(NO_REGRESSION)), "{text}");
}

#[test]
fn a_tripled_p99_is_a_regression_and_a_third_of_it_an_improvement() {
    let old = fixture();
    let index = slow_valid_test(&old);
    let mut worse = old.clone();
    *p99(&mut worse, index) *= 3.0;
    let comparison = compare(&old, &worse, THRESHOLD).expect("comparable");
    assert_eq!(comparison.regressions(), 1, "{}", render(&comparison));
    let regressed = comparison.matched.iter().find(|m| m.regressed()).expect("one");
    assert_eq!(regressed.key, TestKey::of(&old.tests[index]));
    let change = regressed.changes.iter().find(|c| c.figure == Figure::P99Ms).expect("p99 compared");
    assert!((change.change_pct - 200.0).abs() < 1e-6 && change.verdict == Verdict::Worse, "{change:?}");
    assert!(render(&comparison).contains("REGRESSION: 1 of"), "{}", render(&comparison));

    let mut better = old.clone();
    *p99(&mut better, index) /= 3.0;
    let comparison = compare(&old, &better, THRESHOLD).expect("comparable");
    assert_eq!(comparison.regressions(), 0, "faster is not a regression");
    assert!(comparison.matched.iter().flat_map(|m| &m.changes).any(|c| c.verdict == Verdict::Better));
}

#[test]
fn a_change_within_the_threshold_or_the_latency_floor_is_the_same() {
    let old = fixture();
    let index = slow_valid_test(&old);
    let mut new = old.clone();
    *p99(&mut new, index) *= 1.0 + THRESHOLD / 200.0;
    assert_eq!(compare(&old, &new, THRESHOLD).expect("comparable").regressions(), 0, "half the threshold");
    assert_eq!(compare(&old, &new, THRESHOLD / 4.0).expect("comparable").regressions(), 1, "a tighter threshold");

    let fast =
        old.tests.iter().position(|t| is_judged(t) && t.metrics.as_ref().is_some_and(|m| m.latency_ms.p99 < 0.3));
    if let Some(fast) = fast {
        let mut new = old.clone();
        *p99(&mut new, fast) *= 1.5;
        assert_eq!(compare(&old, &new, THRESHOLD).expect("comparable").regressions(), 0, "below the floor");
    }
}

/// A run whose one test is repeated with the given p99s.
fn repeated(p99s: &[f64]) -> RunResults {
    let mut run = fixture();
    let index = slow_valid_test(&run);
    let template = run.tests[index].clone();
    run.tests = p99s
        .iter()
        .enumerate()
        .map(|(i, &value)| {
            let mut test = template.clone();
            test.repeat = u32::try_from(i + 1).unwrap_or(1);
            test.metrics.as_mut().expect("measured").latency_ms.p99 = value;
            test
        })
        .collect();
    run
}

#[test]
fn with_repeats_only_ranges_that_do_not_overlap_count() {
    let old = repeated(&[20.0, 30.0, 60.0]);
    let overlapping = repeated(&[50.0, 55.0, 70.0]);
    let comparison = compare(&old, &overlapping, THRESHOLD).expect("comparable");
    let change = &comparison.matched[0].changes.iter().find(|c| c.figure == Figure::P99Ms).expect("p99");
    assert!(change.change_pct > THRESHOLD && change.verdict == Verdict::Same, "within the spread: {change:?}");
    assert_eq!((change.old.n, change.old.min, change.old.max), (3, 20.0, 60.0));

    let apart = repeated(&[70.0, 75.0, 80.0]);
    assert_eq!(compare(&old, &apart, THRESHOLD).expect("comparable").regressions(), 1, "beyond the spread");
}

#[test]
fn a_test_that_fails_only_in_the_new_run_is_a_regression() {
    let old = fixture();
    let index = slow_valid_test(&old);
    let mut new = old.clone();
    new.tests[index].status = TestStatus::Failed;
    let comparison = compare(&old, &new, THRESHOLD).expect("comparable");
    assert_eq!(comparison.regressions(), 1);
    assert!(render(&comparison).contains("failed in the new run"));
}

#[test]
fn runs_that_cannot_be_compared_say_what_differs() {
    let old = fixture();
    let mut other_machine = old.clone();
    other_machine.run.machine.cpu_model = "Another CPU".to_owned();
    other_machine.run.machine.cores += 2;
    let message = compare(&old, &other_machine, THRESHOLD).expect_err("other machine").to_string();
    assert!(message.contains("Another CPU") && message.contains("CPUs"), "{message}");

    let mut other_arms = old.clone();
    other_arms.run.config.servers.push("tokio-per-core".to_owned());
    let error = compare(&old, &other_arms, THRESHOLD).expect_err("other arms");
    assert!(matches!(error, Incomparable::Arms { .. }) && error.to_string().contains("tokio-per-core"), "{error}");

    let mut running = old.clone();
    running.run.status = RunStatus::Running;
    assert!(matches!(compare(&old, &running, THRESHOLD), Err(Incomparable::HalfWritten { .. })));

    let mut disjoint = old.clone();
    for test in &mut disjoint.tests {
        test.rate += 1;
    }
    assert!(matches!(compare(&old, &disjoint, THRESHOLD), Err(Incomparable::NothingInCommon { .. })));
    assert!(matches!(compare(&old, &old, 0.0), Err(Incomparable::BadThreshold(_))));

    let mut remote = old.clone();
    remote.run.server_host = Some(crate::model::ServerHost {
        destination: "root@198.18.0.10".to_owned(),
        address: "198.18.0.10".to_owned(),
        machine: old.run.machine.clone(),
        clock_offset_ns: 0,
        clock_uncertainty_ns: 1,
        binaries_sha256: Default::default(),
    });
    let message = compare(&old, &remote, THRESHOLD).expect_err("servers elsewhere").to_string();
    assert!(message.contains("this machine") && message.contains("root@198.18.0.10"), "{message}");
    let mut other_host = remote.clone();
    if let Some(host) = other_host.run.server_host.as_mut() {
        host.machine.cores += 8;
    }
    let message = compare(&remote, &other_host, THRESHOLD).expect_err("another server host").to_string();
    assert!(message.contains("the server hosts"), "{message}");
    assert!(compare(&remote, &remote, THRESHOLD).is_ok(), "the same server host compares");

    let mut other_kernel = old.clone();
    other_kernel.run.machine.kernel = "7.0".to_owned();
    let comparison = compare(&old, &other_kernel, THRESHOLD).expect("another kernel is only a note");
    assert!(comparison.notes.iter().any(|n| n.contains("kernels differ")));
}

const RECORD: &str = include_str!("../../../tests/fixtures/record_with_accounting.json");

/// A run of the recorded test (axum, whose `/healthz` says epoll) repeated at the given server CPU µs per
/// request, each known to `uncertainty`.
fn costing(us: &[f64], uncertainty: f64) -> RunResults {
    let mut run = fixture();
    let template: TestRecord = serde_json::from_str(RECORD).expect("a record of the current schema");
    run.tests = us
        .iter()
        .enumerate()
        .map(|(i, &value)| {
            let mut test = template.clone();
            test.repeat = u32::try_from(i + 1).unwrap_or(1);
            test.validity.valid = true;
            if let Some(crate::model::Measured::Measured(cpu)) = test.accounting.as_mut().map(|a| &mut a.server.cpu) {
                cpu.us_per_request = Some(value);
                cpu.us_per_request_uncertainty = Some(uncertainty);
            }
            test
        })
        .collect();
    run
}

fn cpu_change(comparison: &Comparison) -> &FigureChange {
    let changes = comparison.matched.iter().flat_map(|m| &m.changes);
    changes.into_iter().find(|c| c.figure == Figure::ServerCpuUsPerRequest).expect("CPU compared")
}

#[test]
fn a_cpu_change_within_the_clock_ticks_uncertainty_is_no_regression() {
    // +29% on the median and the repeats apart, but each figure is known only to ±6.7 µs (two 10 ms ticks over
    // 3,000 requests): the two runs' ranges overlap once the uncertainty is counted.
    let old = costing(&[40.0, 41.0, 42.0], 6.7);
    let new = costing(&[52.0, 53.0, 54.0], 6.7);
    let comparison = compare(&old, &new, THRESHOLD).expect("comparable");
    let change = cpu_change(&comparison);
    assert!(change.change_pct > THRESHOLD && change.verdict == Verdict::Same, "{change:?}");
    assert_eq!((change.old.min, change.new.max), (40.0 - 6.7, 54.0 + 6.7), "widened by the uncertainty");
    assert_eq!(comparison.regressions(), 0, "{}", render(&comparison));

    let precise = compare(&costing(&[40.0, 41.0, 42.0], 1.0), &costing(&[52.0, 53.0, 54.0], 1.0), THRESHOLD);
    assert_eq!(precise.expect("comparable").regressions(), 1, "beyond a 1 µs uncertainty it is a regression");
    let once = compare(&costing(&[40.0], 6.7), &costing(&[53.0], 6.7), THRESHOLD).expect("comparable");
    assert_eq!(cpu_change(&once).verdict, Verdict::Same, "a single test is judged within its uncertainty too");
}

#[test]
fn a_p99_over_few_requests_is_not_judged() {
    // The recorded test has 200 requests: its p99 is one of its two slowest.
    let old = costing(&[40.0], 1.0);
    let mut new = old.clone();
    new.tests[0].metrics.as_mut().expect("measured").latency_ms.p99 *= 3.0;
    let comparison = compare(&old, &new, THRESHOLD).expect("comparable");
    let change = comparison.matched[0].changes.iter().find(|c| c.figure == Figure::P99Ms).expect("p99 shown");
    assert!(change.verdict == Verdict::Same && change.unresolved.is_some(), "{change:?}");
    assert!(render(&comparison).contains("not judged below 1000"), "{}", render(&comparison));
}

#[test]
fn arms_are_labelled_as_the_reports_label_them() {
    let run = costing(&[40.0], 1.0);
    let key = TestKey::of(&run.tests[0]);
    assert_eq!(key.arm, "axum", "a tokio arm is named by its server, not its /healthz driver");
    let mut monoio = run.tests[0].clone();
    monoio.server = "monoio".to_owned();
    monoio.io_driver = Some(shared::IoDriver::Epoll);
    assert_eq!(TestKey::of(&monoio).label(), format!("monoio/epoll w1 {} @ 200/s", monoio.endpoint.name));
    assert_eq!(TestKey::of(&monoio).arm, monoio.arm().to_string());
}

/// A run whose one search on the recorded test's arm and endpoint sustained `rps`, with one probe at that
/// rate whose p99 is `probe_p99`.
fn searched(rps: u32, probe_p99: f64, valid: bool) -> RunResults {
    let mut run = costing(&[40.0, 41.0, 42.0], 1.0);
    let mut probe = run.tests[0].clone();
    probe.id = format!("probe_{rps}");
    probe.rate = rps;
    probe.repeat = 4;
    probe.metrics.as_mut().expect("measured").latency_ms.p99 = probe_p99;
    let template = &run.tests[0];
    run.capacity = vec![CapacityResult {
        server: template.server.clone(),
        io_driver: template.io_driver,
        workers: template.workers,
        endpoint: template.endpoint.clone(),
        sustainable_rps: Some(rps),
        lowest_miss_rps: Some(rps + 1),
        valid,
        stop: if valid { "converged within 5%".to_owned() } else { "time budget ran out".to_owned() },
        generator_bound: false,
        p99_ms: Some(probe_p99),
        achieved_rps: Some(f64::from(rps)),
        cpu_mean_pct: None,
        server_us_per_request: None,
        probes: vec![crate::model::ProbeRecord {
            rate: rps,
            verdict: crate::model::ProbeVerdict::Meets,
            detail: String::new(),
            test_id: probe.id.clone(),
        }],
    }];
    run.tests.push(probe);
    run
}

#[test]
fn searches_are_compared_by_their_capacity_not_probe_by_probe() {
    let old = searched(20, 60.0, true);
    let noisy_probe = searched(20, 95.0, true);
    let comparison = compare(&old, &noisy_probe, THRESHOLD).expect("comparable");
    assert_eq!(comparison.regressions(), 0, "a probe near overload is not a test: {}", render(&comparison));
    assert!(comparison.matched.iter().any(|m| m.key.rate.is_none()), "the search is matched");

    let halved = compare(&old, &searched(10, 60.0, true), THRESHOLD).expect("comparable");
    assert_eq!(halved.regressions(), 1, "{}", render(&halved));
    assert!(render(&halved).contains("capacity req/s"), "{}", render(&halved));
    let bound = compare(&old, &searched(10, 60.0, false), THRESHOLD).expect("comparable");
    assert_eq!(bound.regressions(), 0, "a lower bound is not judged: {}", render(&bound));
}
