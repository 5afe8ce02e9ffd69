//! Reports rendered from a hand-written run folder (`tests/fixtures/bench_fixture`): the HTML report's
//! structure, the text tables and terminal report's widths, and a real headless-Chromium check that every
//! chart renders offline without console errors.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use runner::model::{CapacityResult, ProbeRecord, ProbeVerdict, RunResults, SearchConfig, TestRecord, TestStatus};
use runner::report::{rate_table, render_html, terminal_report, write_html};
use shared::IoDriver;

const CHROMIUM: &str = "/usr/bin/chromium";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

fn fixture() -> RunResults {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench_fixture");
    RunResults::load(&dir).expect("the fixture loads")
}

fn find<'a>(results: &'a RunResults, server: &str, workers: u16, endpoint: &str, rate: u32) -> &'a TestRecord {
    results
        .tests
        .iter()
        .find(|t| {
            t.server == server && t.workers == workers && t.endpoint.name == endpoint && t.rate == rate && t.repeat == 1
        })
        .expect("the fixture has this test")
}

/// Every chart the fixture's report must have, by element id.
fn expected_chart_ids(results: &RunResults) -> Vec<String> {
    let mut ids = Vec::new();
    for family in ["simple", "db-read", "db-write"] {
        for chart in ["achieved", "latency", "success", "cpu", "memory"] {
            ids.push(format!("chart-{chart}-{family}"));
        }
    }
    ids.push("chart-worker-scaling".into());
    let mut endpoints: Vec<&str> = results.tests.iter().map(|t| t.endpoint.name.as_str()).collect();
    endpoints.dedup();
    endpoints.sort_unstable();
    endpoints.dedup();
    ids.extend(endpoints.into_iter().map(|e| format!("chart-latency-dist-{e}")));
    ids
}

/// The inline script that draws the chart with this id.
fn chart_script<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<div id=\"{id}\"")).unwrap_or_else(|| panic!("no chart div {id}"));
    let rest = &html[start..];
    let end = rest.find("</script>").expect("the chart has a script");
    &rest[..end]
}

/// Lines that agree within noise are drawn on a linear axis from zero, with a note saying so; lines that
/// differ keep the log axis that shows their difference.
#[test]
fn charts_whose_lines_agree_within_noise_say_so_instead_of_stretching_the_axis() {
    let results = fixture();
    let html = render_html(&results);
    let same = chart_script(&html, "chart-latency-db-read");
    assert!(same.contains("no difference beyond the noise"), "the fixture's two servers read alike");
    assert!(!same.contains(r#""type":"log""#), "no log axis stretches sub-millisecond differences");

    let mut apart = results.clone();
    for test in apart.tests.iter_mut().filter(|t| t.server == "monoio" && t.endpoint.name == "get_item_async_read") {
        if let Some(metrics) = test.metrics.as_mut() {
            let latency = &mut metrics.latency_ms;
            (latency.p50, latency.p95, latency.p99) = (latency.p50 * 5.0, latency.p95 * 5.0, latency.p99 * 5.0);
        }
    }
    let html = render_html(&apart);
    let differ = chart_script(&html, "chart-latency-db-read");
    assert!(!differ.contains("no difference beyond the noise"), "a 5x slower server is a difference");
    assert!(differ.contains(r#""type":"log""#), "the log axis stays where lines differ");
}

/// The fixture's cases (a failed test, an invalid result, a repeat, lost writes, the blocking anti-pattern),
/// each asserted to reach the output: the HTML report, the rate table and the terminal report.
#[test]
fn every_case_the_fixture_covers_reaches_every_format() {
    let results = fixture();
    let html = render_html(&results);
    let table = rate_table(&results, 1000, false);
    let terminal = terminal_report(&results, 100, false);
    let tests = &results.tests;

    let failed = tests.iter().find(|t| t.status == TestStatus::Failed).expect("the fixture has a failed test");
    let failure = failed.failure.as_deref().expect("a failure message");
    assert!(html.contains(failure), "the failure message is in the HTML");
    let failed_row = table
        .lines()
        .find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() > 3
                && words[0] == failed.endpoint.name
                && words[1] == failed.server
                && words[2].trim_end_matches('*') == failed.workers.to_string()
        })
        .unwrap_or_else(|| panic!("no row for the failed test:\n{table}"));
    let marker = failed_row.split_whitespace().last().expect("a footnote marker");
    assert!(table.lines().any(|l| l.starts_with(&format!("{marker} failed:"))), "its footnote says failed:\n{table}");

    let invalid = tests
        .iter()
        .find(|t| t.status == TestStatus::Ok && !t.validity.valid && !t.validity.reasons.is_empty())
        .expect("the fixture has an invalid result with its reasons");
    let reason = &invalid.validity.reasons[0];
    assert!(html.contains(reason.as_str()), "the invalid result's reason is in the HTML: {reason}");
    assert!(table.contains("invalid:"), "{table}");

    assert!(tests.iter().any(|t| t.repeat == 2), "the fixture has a repeat");
    assert_eq!(html.matches("<tr class=").count(), tests.len(), "every repeat has its own details row");
    assert!(chart_script(&html, "chart-achieved-simple").contains("median of 2 repeats"));
    assert!(table.contains("median of 2 repeats"), "{table}");

    let lost = tests.iter().filter_map(|t| t.write_audit.as_ref()).find(|a| a.lost > 0).expect("lost writes");
    assert!(html.contains(&format!("{} lost", lost.lost)), "lost writes are in the HTML");
    assert!(table.contains(&format!("{} acknowledged writes lost", lost.lost)), "{table}");
    assert!(terminal.contains("lost"), "lost writes are among the terminal caveats");

    let blocking = find(&results, "axum", 1, "simple_async_blocking", 1000);
    let achieved = blocking.metrics.as_ref().expect("metrics").achieved_rps;
    assert!((15.0..25.0).contains(&achieved), "{achieved}");
    let chart = chart_script(&html, "chart-achieved-simple");
    assert!(chart.contains(&serde_json::to_string(&achieved).expect("a number")), "the anti-pattern point is drawn");
}

#[test]
fn html_embeds_plotly_once_inline_and_loads_nothing_from_the_network() {
    let html = render_html(&fixture());
    assert_eq!(html.matches("* plotly.js v").count(), 1, "plotly.js banner");
    assert_eq!(html.matches("Plotly=").count(), 1, "plotly.js defined once");
    let head_end = html.find("</head>").expect("a head");
    assert!(html[..head_end].contains("* plotly.js v"), "plotly.js is in <head>");
    assert!(!html.contains("<script src="), "no external script");
    assert!(!html.contains("<script type=\"text/javascript\" src="));
    assert!(!html.contains("<link "), "no external stylesheet");
    // The start of MathJax's tex-svg bundle, which plotly's offline sources append and this page skips.
    assert!(!html.contains("__webpack_modules__={351:"), "MathJax is not embedded");
    let mb = html.len() as f64 / 1e6;
    assert!((4.0..6.0).contains(&mb), "report is {mb:.2} MB");
}

#[test]
fn html_has_one_chart_div_per_expected_chart() {
    let results = fixture();
    let html = render_html(&results);
    let ids = expected_chart_ids(&results);
    assert_eq!(ids.len(), 20);
    for id in &ids {
        let div = format!("<div id=\"{id}\" class=\"chart\"");
        assert_eq!(html.matches(&div).count(), 1, "{id}");
        assert_eq!(html.matches(&format!("Plotly.newPlot(\"{id}\"")).count(), 1, "{id}");
    }
    assert_eq!(html.matches("class=\"chart\"").count(), ids.len());
}

#[test]
fn html_embeds_the_data_of_known_points() {
    let results = fixture();
    let html = render_html(&results);
    let point = find(&results, "monoio", 2, "simple_async", 1000);
    let achieved = point.metrics.as_ref().expect("metrics").achieved_rps;
    let script = chart_script(&html, "chart-achieved-simple");
    assert!(
        script.contains(&serde_json::to_string(&achieved).expect("a number")),
        "{achieved} missing from the achieved chart"
    );
    assert!(script.contains("\\u003cb\\u003emonoio\\u003c/b\\u003e · simple_async · 2 workers"));
    let invalid = find(&results, "axum", 2, "get_item_async_read", 1000);
    let script = chart_script(&html, "chart-achieved-db-read");
    assert!(script.contains("circle-open"), "invalid point is hollow");
    assert!(script.contains(&invalid.validity.reasons[0][..40]));
    let script = chart_script(&html, "chart-achieved-db-write");
    assert!(script.contains("Failed, not drawn: axum w2 update_item_async_write @ 1000 req/s"));
    let script = chart_script(&html, "chart-achieved-simple");
    assert!(script.contains("median of 2 repeats"), "repeat spread in hover");
    assert!(script.contains("\"arrayminus\""), "repeat error bars");
}

#[test]
fn html_header_says_what_ran_where_and_what_to_distrust() {
    let results = fixture();
    let html = render_html(&results);
    let run = &results.run;
    for needle in [
        run.machine.cpu_model.as_str(),
        run.machine.kernel.as_str(),
        run.versions.vegeta.as_str(),
        run.id.as_str(),
        "io_uring",
        "/api/simple/async",
        "500, 1000 req/s",
        "Core layout",
        "2 workers: server on CPUs 0, 1, vegeta on CPU 1 (shared)",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    for note in &run.notes {
        assert!(html.contains(note.as_str()), "{note}");
    }
    let failed = results.tests.iter().find(|t| t.status == TestStatus::Failed).expect("a failed test");
    assert!(html.contains(failed.failure.as_deref().expect("a failure")));
    assert!(html.contains("7 lost"));
    assert!(html.contains("vegeta sent 871.6 req/s of 1000"));
    assert!(html.contains("id=\"details-table\""));
    assert_eq!(html.matches("<tr class=").count(), results.tests.len(), "one details row per test");
}

#[test]
fn rate_tables_list_every_row_and_fit_100_columns() {
    let results = fixture();
    for rate in [500, 1000] {
        let table = rate_table(&results, rate, false);
        for line in table.lines() {
            assert!(line.chars().count() <= 100, "too wide: {line:?}");
        }
        for test in results.tests.iter().filter(|t| t.rate == rate) {
            let found = table.lines().any(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                words.len() > 3
                    && words[0] == test.endpoint.name
                    && words[1] == test.server
                    && words[2].trim_end_matches('*') == test.workers.to_string()
            });
            assert!(found, "no row for {} in\n{table}", test.id);
        }
    }
    let table = rate_table(&results, 1000, false);
    assert!(table.contains("failed: server exited"), "{table}");
    assert!(table.contains("invalid: load generator fell behind"), "{table}");
    assert!(table.contains("7 acknowledged writes lost"), "{table}");
    assert!(table.contains("median of 2 repeats"), "{table}");
    assert!(table.contains("* server shared CPUs"), "{table}");
    assert!(!table.contains('\x1b'));
    assert!(rate_table(&results, 1000, true).contains('\x1b'));
}

#[test]
fn terminal_report_never_exceeds_its_width() {
    let results = fixture();
    // Kept for a human look: target/tmp/report-terminal/width-*.txt.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-terminal");
    std::fs::create_dir_all(&keep).expect("create the terminal output folder");
    for width in [100, 80, 60] {
        let report = terminal_report(&results, width, false);
        std::fs::write(keep.join(format!("width-{width}.txt")), &report).expect("keep the report");
        assert!(!report.contains('\x1b'), "colour codes with color = false");
        for line in report.lines() {
            assert!(line.chars().count() <= width, "{} > {width}: {line:?}", line.chars().count());
        }
        assert!(report.contains("Achieved rate vs target"));
        assert!(report.contains("p99 latency (ms)"));
        assert!(report.contains("Capacity"));
    }
    let colored = terminal_report(&results, 100, true);
    assert!(colored.contains('\x1b'));
    for line in colored.lines() {
        let visible = strip_ansi(line).chars().count();
        assert!(visible <= 100, "{visible} > 100 with colour: {line:?}");
    }
}

/// The text a terminal shows: SGR escape sequences removed.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reports are pure functions of the results: the same results render the same text, and a changed figure
/// shows up in every format (nothing is cached, hard-coded or read from elsewhere).
#[test]
fn reports_are_rendered_from_the_results_alone() {
    let results = fixture();
    assert_eq!(render_html(&results), render_html(&results));
    assert_eq!(terminal_report(&results, 90, false), terminal_report(&results, 90, false));
    let mut changed = results.clone();
    let point = changed
        .tests
        .iter_mut()
        .find(|t| t.server == "monoio" && t.workers == 1 && t.endpoint.name == "simple_async" && t.rate == 500)
        .expect("the fixture has this test");
    let metrics = point.metrics.as_mut().expect("metrics");
    metrics.achieved_rps = 432.125;
    metrics.latency_ms.p99 = 76.543;
    let html = render_html(&changed);
    assert!(chart_script(&html, "chart-achieved-simple").contains("432.125"), "the new achieved rate is drawn");
    assert!(chart_script(&html, "chart-latency-simple").contains("76.543"), "the new p99 is drawn");
    assert!(rate_table(&changed, 500, false).contains("432.1"), "the rate table shows it");
    assert_ne!(terminal_report(&changed, 100, false), terminal_report(&results, 100, false));
}

/// The fixture with two more arms: copies of its two servers' tests under new names, as a run of four
/// servers would record them.
fn with_four_arms(mut results: RunResults) -> RunResults {
    let originals: Vec<String> = results.run.config.servers.clone();
    let extra = ["arm-three", "arm-four"];
    let mut added = Vec::new();
    for (original, name) in originals.iter().zip(extra) {
        for test in results.tests.iter().filter(|t| &t.server == original) {
            let mut copy = test.clone();
            copy.id = copy.id.replacen(original.as_str(), name, 1);
            copy.server = name.to_owned();
            added.push(copy);
        }
    }
    results.tests.extend(added);
    results.run.config.servers.extend(extra.iter().map(|s| (*s).to_owned()));
    results
}

#[test]
fn a_run_of_four_arms_renders_with_no_code_change() {
    let results = with_four_arms(fixture());
    let servers = results.run.config.servers.clone();
    assert_eq!(servers.len(), 4);
    let html = render_html(&results);
    let legend_start = html.find("Colour = server:").expect("the page's legend");
    let legend = &html[legend_start..legend_start + html[legend_start..].find("</li>").expect("legend end")];
    let mut colours = Vec::new();
    for server in &servers {
        let swatch = legend.find(&format!("</span>{server}")).unwrap_or_else(|| panic!("{server} in the legend"));
        let colour_at = legend[..swatch].rfind("background:").expect("a swatch colour") + "background:".len();
        colours.push(legend[colour_at..colour_at + 7].to_owned());
        let name = format!("\\u003cb\\u003e{server}\\u003c/b\\u003e");
        assert!(chart_script(&html, "chart-achieved-simple").contains(&name), "{server} is drawn");
    }
    let mut distinct = colours.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "one colour per server: {colours:?}");
    for width in [100, 80] {
        let report = terminal_report(&results, width, false);
        assert!(report.lines().all(|l| l.chars().count() <= width));
        for server in &servers {
            assert!(report.contains(server.as_str()), "{server} in the terminal report");
        }
    }
    let table = rate_table(&results, 500, false);
    for server in &servers {
        assert!(table.lines().any(|l| l.split_whitespace().nth(1) == Some(server.as_str())), "{server}:\n{table}");
    }
}

/// A fifth arm from a manifest (named only by the data, as any arm), lacking one endpoint: the cell is absent
/// with its reason in the run's notes, never drawn or tabled as zero.
#[test]
fn a_fifth_external_arm_renders_and_its_absent_cell_is_said_not_zeroed() {
    let mut results = with_four_arms(fixture());
    let first = results.run.config.servers[0].clone();
    let lacking = results.tests.iter().find(|t| t.server == first).map(|t| t.endpoint.name.clone()).expect("a test");
    let copies: Vec<TestRecord> = results
        .tests
        .iter()
        .filter(|t| t.server == first && t.endpoint.name != lacking)
        .map(|t| TestRecord {
            id: t.id.replacen(first.as_str(), "fastapi", 1),
            server: "fastapi".to_owned(),
            ..t.clone()
        })
        .collect();
    assert!(!copies.is_empty());
    results.tests.extend(copies);
    results.run.config.servers.push("fastapi".to_owned());
    let reason = format!("/openapi.json has no path for {lacking}");
    results.run.absent.push(runner::model::AbsentCell {
        server: "fastapi".to_owned(),
        endpoint: lacking.clone(),
        reason: reason.clone(),
    });
    results
        .run
        .notes
        .push(format!("fastapi lacks 1 planned endpoint(s), absent from the results: {lacking} ({reason})"));
    let html = render_html(&results);
    let legend_start = html.find("Colour = server:").expect("the page's legend");
    let legend = &html[legend_start..legend_start + html[legend_start..].find("</li>").expect("legend end")];
    assert!(legend.contains("</span>fastapi"), "fastapi in the legend: {legend}");
    assert!(html.contains("fastapi lacks 1 planned endpoint"), "the absent cell is said on the page");
    for width in [100, 80] {
        let report = terminal_report(&results, width, false);
        assert!(report.lines().all(|l| l.chars().count() <= width));
        assert!(report.contains("fastapi") && report.contains("fastapi lacks 1 planned"), "{report}");
    }
    let rate = results.tests.iter().find(|t| t.server == "fastapi").map(|t| t.rate).expect("a fastapi test");
    let table = rate_table(&results, rate, false);
    let rows: Vec<&str> = table.lines().filter(|l| l.split_whitespace().nth(1) == Some("fastapi")).collect();
    assert!(!rows.is_empty(), "fastapi rows:\n{table}");
    assert!(
        rows.iter().all(|row| row.split_whitespace().next() != Some(lacking.as_str())),
        "no row for the absent cell:\n{table}"
    );
    let reloaded: RunResults =
        serde_json::from_str(&serde_json::to_string(&results).expect("serializes")).expect("loads");
    assert_eq!(reloaded.run.absent, results.run.absent, "absent cells survive results.json");
}

/// The fixture as if `--io-drivers io_uring,epoll` had run: every monoio test on io_uring, and a copy of it
/// on epoll.
fn with_both_drivers(mut results: RunResults) -> RunResults {
    let mut added = Vec::new();
    for test in results.tests.iter_mut().filter(|t| t.server == "monoio") {
        test.io_driver = Some(IoDriver::IoUring);
        let mut copy = test.clone();
        copy.id = copy.id.replacen("monoio", "monoio-epoll", 1);
        copy.io_driver = Some(IoDriver::Epoll);
        added.push(copy);
    }
    results.tests.extend(added);
    results.run.config.io_drivers = vec![IoDriver::IoUring, IoDriver::Epoll];
    results
}

#[test]
fn the_io_driver_is_part_of_the_arm_name_in_every_format() {
    let plain = fixture();
    assert!(plain.tests.iter().all(|t| t.io_driver.is_none()), "a run recorded before the axis loads");
    assert!(rate_table(&plain, 500, false).lines().any(|l| l.split_whitespace().nth(1) == Some("monoio")));

    let results = with_both_drivers(fixture());
    let json = serde_json::to_string(&results).expect("serializes");
    assert!(json.contains(r#""io_driver":"epoll""#) && json.contains(r#""io_drivers":["io_uring","epoll"]"#));
    let reloaded: RunResults = serde_json::from_str(&json).expect("loads again");
    assert_eq!(reloaded, results);
    let arms = ["axum", "monoio/io_uring", "monoio/epoll"];
    let html = render_html(&results);
    let legend_start = html.find("Colour = server:").expect("the page's legend");
    let legend = &html[legend_start..legend_start + html[legend_start..].find("</li>").expect("legend end")];
    for arm in arms {
        assert!(legend.contains(&format!("</span>{arm}")), "{arm} in the legend: {legend}");
        let name = format!("\\u003cb\\u003e{arm}\\u003c/b\\u003e");
        assert!(chart_script(&html, "chart-achieved-simple").contains(&name), "{arm} is drawn");
    }
    let table = rate_table(&results, 500, false);
    for arm in arms {
        assert!(table.lines().any(|l| l.split_whitespace().nth(1) == Some(arm)), "{arm}:\n{table}");
    }
    assert!(!table.lines().any(|l| l.split_whitespace().nth(1) == Some("monoio")), "no unlabelled monoio row");
    let report = terminal_report(&results, 100, false);
    assert!(arms.iter().all(|arm| report.contains(arm)), "{report}");
}

/// The fixture as if `--find-max` had run: a converged search and one that only found a lower bound.
fn with_capacity(mut results: RunResults) -> RunResults {
    results.run.config.search = Some(SearchConfig {
        slo_p99_ms: 100.0,
        slo_success_pct: 99.0,
        budget_s: 600.0,
        start_rate: 500,
        max_rate: 1_000_000,
        precision_pct: 10.0,
    });
    let endpoint = find(&results, "monoio", 1, "get_item_async_read", 500).endpoint.clone();
    let probe = |rate: u32, verdict: ProbeVerdict| ProbeRecord {
        rate,
        verdict,
        detail: String::new(),
        test_id: format!("monoio_w1_get_item_async_read_{rate}"),
    };
    results.capacity = vec![
        CapacityResult {
            server: "monoio".into(),
            io_driver: None,
            workers: 1,
            endpoint: endpoint.clone(),
            sustainable_rps: Some(1000),
            lowest_miss_rps: Some(1100),
            valid: true,
            stop: "bracket within 10%".into(),
            p99_ms: Some(4.47),
            achieved_rps: Some(999.5),
            cpu_mean_pct: Some(22.5),
            generator_bound: false,
            server_us_per_request: Some(21.3),
            probes: vec![
                probe(500, ProbeVerdict::Meets),
                probe(1000, ProbeVerdict::Meets),
                probe(1100, ProbeVerdict::Misses),
            ],
        },
        CapacityResult {
            server: "axum".into(),
            io_driver: None,
            workers: 2,
            endpoint,
            sustainable_rps: Some(500),
            lowest_miss_rps: None,
            valid: false,
            stop: "the 1000 req/s probe was invalid (load generator fell behind)".into(),
            p99_ms: Some(3.92),
            achieved_rps: Some(499.4),
            cpu_mean_pct: Some(15.5),
            generator_bound: true,
            server_us_per_request: None,
            probes: vec![probe(500, ProbeVerdict::Meets), probe(1000, ProbeVerdict::Invalid)],
        },
    ];
    results
}

#[test]
fn saturation_search_results_get_a_chart_a_table_and_a_terminal_section() {
    let results = with_capacity(fixture());
    let html = render_html(&results);
    let script = chart_script(&html, "chart-capacity");
    assert!(script.contains("≥500"), "lower bound labelled");
    assert!(script.contains("\"barmode\":\"group\""));
    assert!(html.contains("id=\"capacity-table\""));
    assert!(html.contains("p99 ≤ 100 ms"));
    assert_eq!(html.matches("class=\"chart\"").count(), expected_chart_ids(&results).len() + 1);
    for width in [100, 80] {
        let report = terminal_report(&results, width, false);
        assert!(report.contains("Capacity (saturation search)"), "{report}");
        assert!(report.contains(">=500"));
        assert!(report.lines().all(|l| l.chars().count() <= width));
    }
}

#[test]
fn rates_above_the_calibrated_ceiling_are_shaded() {
    let mut results = fixture();
    assert!(render_html(&results).contains("1800 req/s (calibrated against axum w1"));
    assert!(!chart_script(&render_html(&results), "chart-achieved-simple").contains("above vegeta"));
    if let Some(calibration) = results.run.calibration.as_mut() {
        calibration.ceiling_rps = Some(800);
    }
    let html = render_html(&results);
    for id in ["chart-achieved-simple", "chart-latency-db-read", "chart-cpu-db-write"] {
        let script = chart_script(&html, id);
        assert!(script.contains("above vegeta's ceiling (800 req/s)"), "{id}");
        assert!(script.contains("\"type\":\"rect\""), "{id}");
    }
    assert!(terminal_report(&results, 100, false).contains("vegeta's calibrated ceiling: 800 req/s"));
}

#[test]
fn empty_and_all_failed_runs_still_render() {
    let mut empty = fixture();
    empty.tests.clear();
    let mut failed = fixture();
    for test in &mut failed.tests {
        test.status = TestStatus::Failed;
        test.failure = Some("server never became ready".into());
        test.metrics = None;
        test.resources = None;
        test.write_audit = None;
    }
    for results in [empty, failed] {
        assert!(render_html(&results).contains("</html>"));
        assert!(rate_table(&results, 500, false).lines().all(|l| l.chars().count() <= 100));
        for width in [100, 80] {
            let report = terminal_report(&results, width, false);
            assert!(report.lines().all(|l| l.chars().count() <= width), "{report}");
        }
    }
}

#[test]
fn notes_on_individual_tests_reach_every_format() {
    let results = fixture();
    let note = "restarted the server cold before measuring";
    assert!(render_html(&results).contains(note));
    assert!(rate_table(&results, 1000, false).contains(note));
    assert!(terminal_report(&results, 80, false).contains("restarted the server cold"));
}

/// A fixture run whose axum w1 simple_async test at 1000 req/s has exact accounting and sits above a clean
/// ceiling.
fn fixture_with_accounting() -> RunResults {
    use runner::model::{
        Accounting, CpuRecord, GENERATOR_LATENCY_MARKER, Measured, PROJECTION_LABEL, ProcessAccounting,
        ProjectedCapacityRecord, RunQueueRecord,
    };
    let mut results = fixture();
    let cpu = |cpu_pct: f64, us: f64| CpuRecord {
        cpu_s: cpu_pct / 10.0,
        uncertainty_s: 0.02,
        window_s: 10.0,
        cpu_pct,
        us_per_request: Some(us),
        us_per_request_uncertainty: Some(0.2),
    };
    let waited = RunQueueRecord {
        delay_s: 0.1,
        missing_at_most_s: 0.0,
        window_s: 10.0,
        share_pct: 1.0,
        busiest_thread_share_pct: Some(0.5),
        threads_seen: 4,
        threads_born: 0,
        threads_exited: 0,
    };
    let accounting = Accounting {
        server: ProcessAccounting {
            cpu: Measured::Measured(cpu(10.3, 103.7)),
            run_queue: Measured::Measured(waited.clone()),
        },
        load_generator: ProcessAccounting {
            cpu: Measured::Absent("process 9 was gone".into()),
            run_queue: Measured::Measured(waited),
        },
        server_cpus: 1,
        projected_capacity: Measured::Measured(ProjectedCapacityRecord {
            rps: 9643.0,
            low_rps: 9625.0,
            high_rps: Some(9662.0),
            label: PROJECTION_LABEL.to_owned(),
        }),
    };
    let test = results
        .tests
        .iter_mut()
        .find(|t| t.server == "axum" && t.workers == 1 && t.endpoint.name == "simple_async" && t.rate == 1000)
        .expect("the fixture has this test");
    test.accounting = Some(accounting);
    test.markers = vec![GENERATOR_LATENCY_MARKER.to_owned()];
    results
}

#[test]
fn cpu_per_request_the_projection_and_the_generator_marker_reach_every_format() {
    let results = fixture_with_accounting();
    let table = rate_table(&results, 1000, false);
    assert!(table.contains("µs/req") && table.contains("103.7"), "{table}");
    assert!(table.contains("latency includes the load generator's own"), "{table}");
    assert!(!rate_table(&fixture(), 1000, false).contains("µs/req"), "no empty column for older runs");
    let html = render_html(&results);
    assert!(html.contains("Server CPU per request (µs)") && html.contains("103.7"), "details table");
    assert!(html.contains("Projected capacity (req/s, from CPU per request, not measured)"));
    assert!(html.contains("server CPU 103.7 µs/request"), "hover text next to CPU %");
    assert!(
        html.contains("latency includes the load generator&#39;s own")
            || html.contains("latency includes the load generator's own")
    );
    assert!(terminal_report(&results, 100, false).contains("latency includes the load generator"));
}

/// Where the browser test leaves the report, its probe copy and the screenshot (kept for inspection).
/// A fresh folder under the target's temp dir, kept after the test for inspection.
pub fn browser_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the browser test folder");
    dir
}

/// Placed first in `<head>` of a copy of the report: forbids every network load (CSP), records errors,
/// `console.error` calls and blocked loads, and once the page has loaded writes what rendered into
/// `<pre id="probe">` for `--dump-dom` to show.
const PROBE: &str = r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<script>
(function () {
  var problems = [];
  window.addEventListener('error', function (e) {
    problems.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || 'unknown'));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { problems.push('unhandled rejection: ' + e.reason); });
  document.addEventListener('securitypolicyviolation', function (e) {
    problems.push('blocked: ' + e.blockedURI + ' (' + e.violatedDirective + ')');
  });
  var original = console.error;
  console.error = function () {
    problems.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    setTimeout(function () {
      var charts = Array.prototype.slice.call(document.querySelectorAll('div.chart'));
      var rendered = charts.filter(function (c) { return c.querySelector('svg.main-svg') !== null; });
      var report = { charts: charts.map(function (c) { return c.id; }),
                     rendered: rendered.map(function (c) { return c.id; }), problems: problems };
      var pre = document.createElement('pre');
      pre.id = 'probe';
      pre.textContent = JSON.stringify(report);
      document.body.appendChild(pre);
    }, 1000);
  });
})();
</script>
"#;

/// Runs Chromium headless with networking disabled, killing its process group after `BROWSER_TIMEOUT`.
/// Returns its exit status and its stdout and stderr.
fn chromium(dir: &Path, name: &str, args: &[String]) -> (ExitStatus, String, String) {
    use std::os::unix::process::CommandExt;
    let profile = tempfile::tempdir().expect("a fresh profile folder");
    let stdout_path = dir.join(format!("{name}.stdout"));
    let stderr_path = dir.join(format!("{name}.stderr"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let group = i32::try_from(child.id()).expect("a pid");
            // SAFETY: signals only the process group this test created for chromium.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    (status, read(&stdout_path), read(&stderr_path))
}

fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

/// What the probe saw in a real browser: every chart div and the ones that rendered an SVG (problems in the
/// page already failed the check).
pub struct BrowserCheck {
    pub charts: Vec<String>,
    pub rendered: Vec<String>,
}

/// Opens `report` in headless Chromium with networking disabled (a probed copy, then a screenshot beside it
/// in `dir`) and asserts it loaded nothing from the network and logged no error.
pub fn open_offline(report: &Path, dir: &Path) -> BrowserCheck {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); CI installs it"
    );
    let html = std::fs::read_to_string(report).expect("read the report");
    let probe_page = dir.join("report-probe.html");
    let with_probe = html.replacen("<head>\n", &format!("<head>\n{PROBE}"), 1);
    assert_ne!(with_probe, html, "the probe went in");
    std::fs::write(&probe_page, with_probe).expect("write the probe page");

    let (status, dom, stderr) = chromium(
        dir,
        "dump",
        &["--virtual-time-budget=15000".into(), "--dump-dom".into(), format!("file://{}", probe_page.display())],
    );
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    let probe_start =
        dom.find("<pre id=\"probe\">").unwrap_or_else(|| panic!("the probe never reported; stderr:\n{stderr}"));
    let probe = &dom[probe_start + "<pre id=\"probe\">".len()..];
    let probe = unescape_html(&probe[..probe.find("</pre>").expect("probe end")]);
    let probe: serde_json::Value = serde_json::from_str(&probe).expect("probe JSON");
    let ids = |key: &str| -> Vec<String> {
        probe[key].as_array().expect("an id list").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
    };
    for line in stderr.lines().filter(|l| l.contains("CONSOLE")) {
        assert!(!line.contains("Uncaught") && !line.to_lowercase().contains("error"), "console: {line}");
    }
    assert_eq!(probe["problems"], serde_json::json!([]), "errors in the page");

    let screenshot = dir.join("report.png");
    let (status, _, stderr) = chromium(
        dir,
        "screenshot",
        &[
            "--virtual-time-budget=15000".into(),
            "--window-size=1400,4000".into(),
            format!("--screenshot={}", screenshot.display()),
            format!("file://{}", report.display()),
        ],
    );
    assert!(status.success(), "chromium screenshot failed ({status}):\n{stderr}");
    let png = std::fs::metadata(&screenshot).expect("a screenshot").len();
    assert!(png > 50_000, "screenshot is only {png} bytes");
    println!("report, probe page and screenshot in {}", dir.display());
    BrowserCheck { charts: ids("charts"), rendered: ids("rendered") }
}

#[test]
fn html_report_renders_every_chart_offline_in_headless_chromium() {
    let results = fixture();
    let dir = browser_dir("report-browser");
    let report = dir.join("report.html");
    write_html(&results, &report).expect("write the report");
    let check = open_offline(&report, &dir);
    let expected = expected_chart_ids(&results);
    let mut charts = check.charts.clone();
    charts.sort();
    let mut wanted = expected.clone();
    wanted.sort();
    assert_eq!(charts, wanted, "chart divs in the page");
    let missing: Vec<&String> = expected.iter().filter(|id| !check.rendered.contains(id)).collect();
    assert!(missing.is_empty(), "charts without an SVG: {missing:?}");
}

/// A study's report opens with its verdict, and still renders every chart offline.
#[test]
fn a_study_report_opens_with_the_verdict_and_renders_offline() {
    let mut results = fixture();
    let cost_rates = results.tests.iter().map(|t| (t.endpoint.name.clone(), t.rate)).collect();
    results.run.config.study = Some(runner::model::StudyConfig {
        repeat: 3,
        cost_rates,
        capacity_endpoints: Vec::new(),
        base_rate_source: "the fixture".to_owned(),
    });
    let dir = browser_dir("study-browser");
    let report = dir.join("report.html");
    write_html(&results, &report).expect("write the report");
    let html = std::fs::read_to_string(&report).expect("written");
    let verdict = html.find("<section id=\"verdict\">").expect("a verdict section");
    assert!(html.find("class=\"chart\"").is_some_and(|chart| verdict < chart), "the verdict comes first");
    let check = open_offline(&report, &dir);
    assert!(!check.charts.is_empty());
    assert_eq!(check.rendered.len(), check.charts.len(), "every chart rendered beside the verdict");
}
