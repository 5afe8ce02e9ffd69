//! Searches with the fakes: the shared search budget, and the study (cost tests with repeats first, then
//! searches only where the server is the limit).

use super::*;

#[test]
fn the_search_budget_is_shared_and_no_probe_exceeds_the_maximum() {
    // Each probe is expected to cost 1 s + the per-test overhead (2 s). A 3 s budget over two searches gives
    // the first 1.5 s, too little for one probe; the second then gets all that is left.
    let script = Script { capacity_rps: Some(150), ..Script::default() };
    let args = ["--servers", &two_servers(), "--find-max", "--budget", "3s", "--start-rate", "20", "--max-rate", "300"];
    let (script, outcome, _out) = run_with(script, &args);
    let capacity = &outcome.results.capacity;
    assert_eq!(capacity.len(), 2);
    assert!(capacity[0].probes.is_empty() && capacity[0].stop.contains("budget"), "{:?}", capacity[0]);
    let found = capacity[1].sustainable_rps.expect("the second search found a rate");
    assert!((143..=150).contains(&found), "{:?}", capacity[1]);
    assert!(capacity[1].probes.iter().any(|p| p.verdict == ProbeVerdict::Misses));
    let rates: Vec<u32> = script.starts.borrow().iter().filter_map(|s| s.rate).collect();
    assert!(rates.iter().all(|&rate| rate <= 300), "{rates:?}");
    assert_eq!(outcome.results.tests.len(), capacity[1].probes.len(), "every probe is a persisted test");
}

#[test]
fn the_study_measures_cost_with_repeats_then_searches_only_where_the_server_limits() {
    // The fake server meets the SLO up to 21 req/s: one blocked event loop at 50 ms per request serves 20.
    let args = ["--servers", SERVERS[0], "--filter", "/api/simple/async_blocking/"];
    let (script, outcome, _out) = run_with(Script { capacity_rps: Some(21), ..Script::default() }, &args);
    let results = &outcome.results;
    let study = results.run.config.study.as_ref().expect("no rate flags: a study");
    assert_eq!(study.capacity_endpoints, ["simple_async_blocking"]);
    let probes: Vec<&str> = results.capacity.iter().flat_map(|c| c.probes.iter().map(|p| p.test_id.as_str())).collect();
    let cost: Vec<(&str, u32, u32)> = results
        .tests
        .iter()
        .filter(|t| !probes.contains(&t.id.as_str()))
        .map(|t| (t.endpoint.name.as_str(), t.rate, t.repeat))
        .collect();
    let noop = crate::defaults::STUDY_COST_RATE;
    let expected = [("simple_noop", noop, 1), ("simple_noop", noop, 2), ("simple_noop", noop, 3)];
    assert_eq!(cost, expected, "cost first, three repeats; the sleep the server limits gets its capacity only");
    assert_eq!(results.capacity.len(), 1, "one search: the endpoint the server limits");
    let search = &results.capacity[0];
    let rates: Vec<u32> = search.probes.iter().map(|p| p.rate).collect();
    assert_eq!(rates.first(), Some(&20), "the search starts at the design's capacity: {rates:?}");
    assert!(search.valid && search.sustainable_rps == Some(21), "it converges in small steps: {search:?}");
    assert!(rates.len() <= 3, "{rates:?}");
    assert!(!probes.is_empty() && script.starts.borrow().len() == cost.len() + probes.len());
    let verdict = crate::report::verdict::verdict(results).expect("a study has a verdict");
    assert_eq!(verdict.endpoints.len(), 2, "the searched endpoint has a row of its own");
    assert!(verdict.missing.is_empty(), "{:?}", verdict.missing);
    assert!(verdict.readings.iter().any(|r| r.starts_with("event-loop-blocking sleeps: capacity 21")), "{verdict:?}");
}

#[test]
fn a_study_interrupted_in_its_cost_phase_keeps_what_finished_and_its_verdict_names_what_is_missing() {
    // Two arms x simple_noop x three repeats, then the searches. Ctrl-C during the fourth cost test: three
    // are finished (both arms' first repeat, the first arm's second), the fourth is cut short.
    let args = ["--servers", &two_servers(), "--filter", "/api/simple/async_blocking/"];
    let (_script, outcome, _out) = run_with(Script { ctrl_c_in_attack: Some(4), ..Script::default() }, &args);
    assert!(outcome.interrupted());
    let on_disk = RunResults::load(&outcome.run_dir).expect("results.json is complete after Ctrl-C");
    assert_eq!(on_disk.run.status, RunStatus::Interrupted);
    assert_eq!(on_disk.tests.len(), 3, "every finished test is kept: {:?}", on_disk.tests);
    assert!(on_disk.capacity.is_empty(), "no search started after Ctrl-C");
    let verdict = crate::report::verdict::verdict(&on_disk).expect("an interrupted study still has a verdict");
    let noop = verdict.endpoints.iter().find(|e| e.endpoint.name == "simple_noop").expect("simple_noop");
    assert!(noop.arms.iter().all(|arm| arm.cost.is_some()), "both arms have a cost: {noop:?}");
    let missing = verdict.missing.join("\n");
    for server in [SERVERS[0], SERVERS[1]] {
        assert!(missing.contains(&format!("simple_async_blocking: no capacity search for {server}")), "{missing}");
    }
    let text = crate::report::verdict::text::render(&verdict);
    assert!(text.contains("Missing") && text.contains("simple_noop @ 2000/s"), "{text}");
}

#[test]
fn an_early_study_search_may_borrow_from_later_ones_while_each_keeps_three_probes() {
    use crate::run::session::search_share;
    let secs = Duration::from_secs_f64;
    // 97 s left for 7 searches, 3.3 s probes: the first may use all but 6 x 3 probes.
    assert_eq!(search_share(secs(97.0), 7, Some(secs(9.9))), secs(97.0) - secs(9.9) * 6);
    assert_eq!(search_share(secs(30.0), 2, None), secs(15.0), "--find-max: even shares");
    assert_eq!(search_share(secs(10.0), 4, Some(secs(9.9))), secs(2.5), "never below the even share");
    assert_eq!(search_share(secs(10.0), 1, Some(secs(9.9))), secs(10.0), "the last search gets what is left");
}
