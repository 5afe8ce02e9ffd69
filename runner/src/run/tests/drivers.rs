//! The I/O driver axis with the fakes of the parent module: each driver an arm of its own in the matrix and
//! in the search, an io_uring the kernel refuses, a server on another driver than asked.

use super::*;

#[test]
fn each_io_driver_is_an_arm_of_its_own_and_arms_without_a_choice_run_once() {
    let args = ["--servers", "axum,monoio", "--rates", "10", BOTH_DRIVERS[0], BOTH_DRIVERS[1]];
    let (script, outcome, _out) = run_with(Script::default(), &args);
    let starts: Vec<(String, Option<String>)> =
        script.starts.borrow().iter().map(|s| (s.server.clone(), s.io_driver.clone())).collect();
    let monoio_on = |driver: &str| ("monoio".to_owned(), Some(driver.to_owned()));
    assert_eq!(starts, [("axum".to_owned(), None), monoio_on("io_uring"), monoio_on("epoll")]);
    let tests = &outcome.results.tests;
    let recorded: Vec<(&str, Option<IoDriver>)> = tests.iter().map(|t| (t.id.as_str(), t.io_driver)).collect();
    assert_eq!(
        recorded,
        [
            ("axum_w1_simple_noop_10", None),
            ("monoio-io_uring_w1_simple_noop_10", Some(IoDriver::IoUring)),
            ("monoio-epoll_w1_simple_noop_10", Some(IoDriver::Epoll)),
        ]
    );
    assert!(tests.iter().all(|t| t.status == TestStatus::Ok), "{tests:?}");
    assert_eq!(outcome.results.run.config.io_drivers, [IoDriver::IoUring, IoDriver::Epoll]);
}

#[test]
fn an_io_uring_the_kernel_refuses_is_a_failed_record_never_an_epoll_measurement() {
    let script = Script { io_uring_unavailable: true, ..Script::default() };
    let args = ["--servers", "monoio", "--rates", "10", BOTH_DRIVERS[0], BOTH_DRIVERS[1]];
    let (script, outcome, _out) = run_with(script, &args);
    let [uring, epoll] = &outcome.results.tests[..] else { panic!("two tests: {:?}", outcome.results.tests) };
    assert_eq!((uring.io_driver, uring.status), (Some(IoDriver::IoUring), TestStatus::Failed));
    let failure = uring.failure.as_deref().unwrap_or_default();
    assert!(failure.contains("io_uring is not available"), "{failure}");
    assert!(uring.metrics.is_none(), "nothing was measured for io_uring");
    assert_eq!((epoll.io_driver, epoll.status), (Some(IoDriver::Epoll), TestStatus::Ok));
    let attacked: Vec<Option<String>> =
        script.starts.borrow().iter().filter(|s| s.rate.is_some()).map(|s| s.io_driver.clone()).collect();
    assert_eq!(attacked, [Some("epoll".to_owned())], "only the epoll server was attacked");
}

#[test]
fn a_server_on_another_driver_than_asked_fails_its_test() {
    let script = Script { healthz_driver: Some("epoll"), ..Script::default() };
    let (script, outcome, _out) = run_with(script, &["--servers", "monoio-hyper", "--rates", "10"]);
    let test = &outcome.results.tests[0];
    assert_eq!((test.io_driver, test.status), (Some(IoDriver::IoUring), TestStatus::Failed));
    let failure = test.failure.as_deref().unwrap_or_default();
    assert!(failure.contains("--io-driver io_uring but /healthz reports epoll"), "{failure}");
    assert_eq!(script.attacks.get(), 0, "a server on the wrong driver is never attacked");
}

/// Measured by a review: the search remembered probes by server, workers and endpoint, so the epoll arm,
/// searched right after the io_uring one, took every verdict from io_uring's probes and measured nothing.
#[test]
fn each_io_driver_is_searched_with_probes_of_its_own() {
    let args = ["--servers", "monoio", "--find-max", "--start-rate", "100", "--max-rate", "400"];
    let (script, outcome, _out) = run_with(Script::default(), &[&args[..], &BOTH_DRIVERS[..]].concat());
    let attacked: Vec<Option<String>> =
        script.starts.borrow().iter().filter(|s| s.rate.is_some()).map(|s| s.io_driver.clone()).collect();
    for driver in ["io_uring", "epoll"] {
        assert!(attacked.contains(&Some(driver.to_owned())), "{driver} was never attacked: {attacked:?}");
    }
    let capacity = &outcome.results.capacity;
    assert_eq!(capacity.len(), 2, "{capacity:?}");
    for arm in capacity {
        let probed = arm.probes.iter().all(|p| outcome.results.tests.iter().any(|t| t.id == p.test_id));
        assert!(probed && arm.p99_ms.is_some(), "every probe of {arm:?} is a test of that arm");
    }
}
