//! The verdict on synthetic studies: arms within each other's spread, an arm that costs twice as much, a
//! searched capacity, and an interrupted study that names what it is missing.

use std::collections::BTreeMap;

use super::*;
use crate::model::{Measured, StudyConfig};

const FIXTURE: &str = include_str!("../../../tests/fixtures/bench_fixture/results.json");
const RECORD: &str = include_str!("../../../tests/fixtures/record_with_accounting.json");

/// A cost test of `server` on the recorded write endpoint at 200 req/s, costing `us` per request.
fn cost_test(server: &str, repeat: u32, us: f64) -> TestRecord {
    let mut test: TestRecord = serde_json::from_str(RECORD).expect("a record of the current schema");
    test.server = server.to_owned();
    test.repeat = repeat;
    test.id = format!("{server}_{repeat}");
    test.validity.valid = true;
    let accounting = test.accounting.as_mut().expect("the record has accounting");
    if let Measured::Measured(cpu) = &mut accounting.server.cpu {
        cpu.us_per_request = Some(us);
        cpu.us_per_request_uncertainty = Some(1.0);
    }
    test
}

fn study(costs: &[(&str, &[f64])]) -> RunResults {
    let mut results: RunResults = serde_json::from_str(FIXTURE).expect("the fixture parses");
    results.run.config.servers = costs.iter().map(|(s, _)| (*s).to_owned()).collect();
    results.tests = costs
        .iter()
        .flat_map(|(server, values)| {
            values.iter().enumerate().map(|(i, &us)| cost_test(server, u32::try_from(i + 1).unwrap_or(1), us))
        })
        .collect();
    results.capacity.clear();
    let endpoint = results.tests[0].endpoint.name.clone();
    let rate = results.tests[0].rate;
    results.run.config.study = Some(StudyConfig {
        repeat: 3,
        cost_rates: BTreeMap::from([(endpoint, rate)]),
        capacity_endpoints: Vec::new(),
        base_rate_source: "test".to_owned(),
    });
    results
}

#[test]
fn only_studies_get_a_verdict() {
    let results: RunResults = serde_json::from_str(FIXTURE).expect("the fixture parses");
    assert!(verdict(&results).is_none());
}

#[test]
fn arms_whose_repeats_overlap_show_no_difference_beyond_the_spread() {
    let results = study(&[("axum", &[50.0, 55.0, 60.0]), ("monoio", &[52.0, 58.0, 63.0])]);
    let verdict = verdict(&results).expect("a study");
    let arms = &verdict.endpoints[0].arms;
    assert_eq!(arms[0].cost.map(|c| (c.min, c.median, c.max, c.n)), Some((49.0, 55.0, 61.0, 3)), "± uncertainty");
    assert!(arms.iter().all(|a| a.within_spread), "{arms:?}");
    assert!(verdict.readings[0].contains(NO_DIFFERENCE), "{:?}", verdict.readings);
    let rendered = text::render(&verdict);
    assert!(rendered.starts_with("VERDICT") && rendered.contains("best"), "{rendered}");
    assert!(html::render(&verdict).contains(NO_DIFFERENCE));
}

#[test]
fn a_fifth_arm_from_a_manifest_is_judged_by_the_name_its_records_carry() {
    let results = study(&[
        ("axum", &[50.0, 52.0, 54.0]),
        ("tokio-per-core", &[49.0, 51.0, 53.0]),
        ("monoio-hyper", &[48.0, 50.0, 52.0]),
        ("monoio", &[47.0, 49.0, 51.0]),
        ("fastapi", &[1500.0, 1600.0, 1700.0]),
    ]);
    let verdict = verdict(&results).expect("a study");
    let arms: Vec<&str> = verdict.endpoints[0].arms.iter().map(|a| a.arm.as_str()).collect();
    assert_eq!(arms.len(), 5, "{arms:?}");
    let fastapi = verdict.endpoints[0].arms.iter().find(|a| a.arm == "fastapi").expect("fastapi judged");
    assert!(!fastapi.within_spread && fastapi.ratio.is_some_and(|r| r.median > 30.0), "{fastapi:?}");
    assert!(verdict.readings[0].contains("fastapi costs"), "{:?}", verdict.readings);
    assert!(text::render(&verdict).contains("fastapi") && html::render(&verdict).contains("fastapi"));
}

#[test]
fn an_arm_that_costs_twice_as_much_is_named_with_its_ratio() {
    let results = study(&[("axum", &[50.0, 52.0, 54.0]), ("monoio", &[100.0, 104.0, 110.0])]);
    let verdict = verdict(&results).expect("a study");
    let monoio = verdict.endpoints[0].arms.iter().find(|a| a.arm == "monoio").expect("monoio");
    assert!(!monoio.within_spread);
    let ratio = monoio.ratio.expect("a ratio");
    assert!((ratio.median - 2.0).abs() < 1e-9, "{ratio:?}");
    assert!(
        (ratio.min - 99.0 / 55.0).abs() < 1e-9 && (ratio.max - 111.0 / 49.0).abs() < 1e-9,
        "both spreads: {ratio:?}"
    );
    assert!(verdict.readings[0].contains("monoio costs 2.00x"), "{:?}", verdict.readings);
    assert!(verdict.readings[0].contains("cheapest axum"), "{:?}", verdict.readings);
    assert!(text::render(&verdict).contains("2.00 (1.80–2.27)"), "{}", text::render(&verdict));
}

#[test]
fn a_difference_the_clock_cannot_resolve_is_no_difference() {
    let mut results = study(&[("axum", &[40.0, 40.0, 40.0]), ("monoio", &[46.0, 46.0, 46.0])]);
    for test in results.tests.iter_mut() {
        if let Some(Measured::Measured(cpu)) = test.accounting.as_mut().map(|a| &mut a.server.cpu) {
            cpu.us_per_request_uncertainty = Some(6.7);
        }
    }
    let verdict = verdict(&results).expect("a study");
    assert!(verdict.endpoints[0].arms.iter().all(|a| a.within_spread), "{:?}", verdict.endpoints[0].arms);
}

#[test]
fn an_interrupted_study_says_what_is_missing() {
    let mut results = study(&[("axum", &[50.0, 52.0, 54.0]), ("monoio", &[])]);
    if let Some(study) = results.run.config.study.as_mut() {
        study.cost_rates.insert("simple_noop".to_owned(), 1000);
        study.capacity_endpoints.push("simple_async_blocking".to_owned());
    }
    let verdict = verdict(&results).expect("a study");
    let missing = verdict.missing.join("\n");
    assert!(missing.contains("simple_noop: not measured"), "{missing}");
    assert!(missing.contains("no valid cost for monoio"), "{missing}");
    assert!(missing.contains("simple_async_blocking: no capacity search for axum"), "{missing}");
    assert!(text::render(&verdict).contains("Missing"), "{}", text::render(&verdict));
}

#[test]
fn the_table_columns_line_up_whatever_the_arm_labels() {
    let mut results = study(&[("axum", &[50.0, 52.0, 54.0]), ("monoio-hyper", &[100.0, 104.0, 110.0])]);
    for test in results.tests.iter_mut().filter(|t| t.server == "monoio-hyper") {
        test.io_driver = Some(shared::IoDriver::IoUring);
    }
    let rendered = text::render(&verdict(&results).expect("a study"));
    assert!(rendered.contains("monoio-hyper/io_uring"), "{rendered}");
    let table: Vec<&str> = rendered
        .lines()
        .skip_while(|line| !line.starts_with("endpoint @ rate"))
        .take_while(|line| !line.is_empty())
        .collect();
    assert_eq!(table.len(), 3, "a header and two arms:\n{rendered}");
    let widths: Vec<usize> = table.iter().map(|line| line.chars().count()).collect();
    assert!(widths.iter().all(|&w| w == widths[0]), "every row ends in the same column: {widths:?}\n{rendered}");
    let arm_column = |line: &str| line.chars().position(|c| !c.is_whitespace()).unwrap_or(0);
    assert_eq!(arm_column(table[2]), table[0].find("arm").unwrap_or(0), "{rendered}");
}
