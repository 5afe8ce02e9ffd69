//! `--attackers` with the fakes of the parent module: the rate split into shares, the attackers' results
//! merged on the runner's clock into the test's metrics, a record per attacker, the server on the address
//! remote attackers reach, and one attacker dying: a failed test naming it, and the run goes on.

use super::*;

/// A fake remote attack, staged: its results file and rate are known once it starts.
pub(super) struct FakeStaged {
    pub attack: FakeAttack,
    pub output: PathBuf,
    pub rate: u32,
}

impl StagedAttack for FakeStaged {
    fn start(self: Box<Self>, _start_at: std::time::SystemTime, clock: ClockOffset) -> Result<Box<dyn Attack>> {
        self.attack.script.outputs.borrow_mut().push((self.output, self.rate, clock.offset_ns));
        Ok(Box::new(self.attack))
    }
}

#[test]
fn two_remote_attackers_share_the_rate_and_their_requests_merge_into_the_test() {
    let args = ["--servers", SERVERS[0], "--rates", "100", "--attackers", "h1,bench@h2"];
    let (script, outcome, _out) = run_with(Script::default(), &args);
    assert_eq!(*script.remote_starts.borrow(), ["h1", "bench@h2"]);
    assert_eq!(script.attacks.get(), 0, "local is no attacker unless it is named");
    assert_eq!(script.starts.borrow()[0].host, "198.18.0.1", "the server listens where the attackers reach it");
    let test = &outcome.results.tests[0];
    assert_eq!(test.status, TestStatus::Ok, "{:?}", test.failure);
    let metrics = test.metrics.as_ref().expect("metrics");
    assert_eq!(metrics.requests, 100, "both shares of 50");
    // One clock 3 s ahead, the other 3 s behind, both corrected: the merged requests span one second, not 7.
    assert!((metrics.send_rate_rps - 101.0).abs() < 1.5, "{metrics:?}");
    let set = test.attack_set.as_ref().expect("an attack set");
    let hosts: Vec<(&str, u32, u64)> = set.attackers.iter().map(|a| (a.host.as_str(), a.rate, a.requests)).collect();
    assert_eq!(hosts, [("h1", 50, 50), ("bench@h2", 50, 50)]);
    let clocks: Vec<f64> = set.attackers.iter().map(|a| a.clock_offset_ms).collect();
    assert_eq!(clocks, [3000.0, -3000.0]);
    assert!(set.attackers.iter().all(|a| a.cpu.value().is_some()), "{set:?}");
    assert!(set.overlap_pct.is_some_and(|pct| pct > 97.0), "{set:?}");
    assert_eq!(set.attackers[1].raw, format!("{}_w1_simple_noop_100_bench-h2.bin", SERVERS[0]));
    assert_eq!(test.files.raw, set.attackers[0].raw, "the test's raw file is its first attacker's");
    let lag = test.schedule_lag.as_ref().expect("lag");
    assert_eq!((lag.requests, lag.max_ms), (100, 0.0), "each attacker on its own plan");
}

#[test]
fn an_attacker_that_dies_fails_its_test_by_name_and_the_run_goes_on() {
    let script = Script { attacker_dies: Some("h2"), ..Script::default() };
    let args = ["--servers", SERVERS[0], "--rates", "10,20", "--attackers", "h1,h2"];
    let (_script, outcome, _out) = run_with(script, &args);
    assert_eq!(outcome.results.run.status, RunStatus::Complete);
    let tests = &outcome.results.tests;
    assert_eq!(tests.len(), 2, "the run went on to the next test");
    for test in tests {
        assert_eq!(test.status, TestStatus::Failed);
        let failure = test.failure.as_deref().unwrap_or_default();
        assert!(failure.starts_with("attacker h2 failed:") && failure.contains("SIGKILL"), "{failure}");
        let set = test.attack_set.as_ref().expect("an attack set");
        assert_eq!(set.attackers[1].status, TestStatus::Failed);
        assert_eq!(set.attackers[0].status, TestStatus::Ok, "h1's own attack is still recorded");
        assert_eq!(test.metrics.as_ref().map(|m| m.requests), Some(u64::from(test.rate / 2)), "h1's requests");
    }
}

#[test]
fn local_attacks_only_when_named_and_is_pinned_as_always() {
    let args = ["--servers", SERVERS[0], "--rates", "11", "--attackers", "local,h1"];
    let (script, outcome, _out) = run_with(Script::default(), &args);
    assert_eq!(script.attacks.get(), 1, "the local vegeta");
    assert_eq!(*script.remote_starts.borrow(), ["h1"]);
    let set = outcome.results.tests[0].attack_set.as_ref().expect("an attack set");
    let shares: Vec<(&str, u32)> = set.attackers.iter().map(|a| (a.host.as_str(), a.rate)).collect();
    assert_eq!(shares, [("local", 6), ("h1", 5)], "in the order named, the remainder to the first");
    let local = set.attackers.iter().find(|a| a.host == "local").expect("local");
    assert_eq!(local.clock_offset_ms, 0.0);
    assert!(local.cpu.value().is_some(), "the local attacker's CPU comes from the test's own accounting");
}

#[test]
fn without_attackers_the_record_is_as_it_always_was() {
    let (script, outcome, _out) = run_with(Script::default(), &["--servers", SERVERS[0], "--rates", "10"]);
    assert!(script.remote_starts.borrow().is_empty());
    let test = &outcome.results.tests[0];
    assert_eq!(test.attack_set, None);
    assert_eq!(test.files.raw, format!("{}_w1_simple_noop_10.bin", SERVERS[0]));
    assert!(script.starts.borrow()[0].host.starts_with("127."), "a loopback address of its own");
}
