//! The self-contained HTML report: one file with plotly.js embedded once in `<head>` (no CDN, renders
//! offline), a header saying what was run, when, on what and with which caveats, the charts of
//! [`super::plots`], and a sortable table of every test.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use plotly::Plot;

use crate::results::{RunResults, RunStatus, TestRecord, TestStatus};

use super::plots::{self, Figure, RATE_CHARTS};
use super::summary::{Metric, View, workers_text};
use super::text::{megabytes, num, num1};

/// A test whose load generator sent less than this share of the target rate is called out.
const SEND_RATE_SHORTFALL: f64 = 0.95;

/// The HTML report of a run, as one string.
pub fn render_html(results: &RunResults) -> String {
    let view = View::new(results);
    let mut page = String::with_capacity(5 << 20);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n");
    page.push_str(&head(&view));
    page.push_str("<body>\n<main>\n");
    page.push_str(&run_header(&view));
    page.push_str(&warnings(&view));
    page.push_str(&how_to_read(&view));
    page.push_str(&chart_sections(&view));
    page.push_str(&details_table(&view));
    page.push_str(&footer(&view));
    page.push_str("</main>\n<script>\n");
    page.push_str(SORT_SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

/// Writes the HTML report to `path`.
pub fn write_html(results: &RunResults, path: &Path) -> Result<()> {
    std::fs::write(path, render_html(results)).with_context(|| format!("writing the HTML report {}", path.display()))
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn head(view: &View<'_>) -> String {
    let run = &view.results.run;
    format!(
        "<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>runtime-bench {} — {}</title>\n{}\n<style>\n{CSS}</style>\n</head>\n",
        escape(&run.id),
        escape(&run.config.servers.join(" vs ")),
        plotly_js()
    )
}

/// plotly.js alone: the first script block of the crate's offline sources (the second is MathJax, which
/// nothing here needs and which would add 2 MB).
fn plotly_js() -> String {
    let sources = Plot::offline_js_sources();
    const END: &str = "</script>";
    match sources.find(END) {
        Some(end) => sources[..end + END.len()].trim_start().to_owned(),
        None => sources,
    }
}

/// A fact box's rows: label and value.
type Facts = Vec<(&'static str, String)>;

fn run_header(view: &View<'_>) -> String {
    let servers = &view.results.run.config.servers;
    format!(
        "<header>\n<h1>runtime-bench: {}</h1>\n<p class=\"lede\">{} — HTTP endpoints backed by SQLite, load from vegeta \
         at constant target rates (open loop).</p>\n<div class=\"facts\">\n{}{}{}{}</div>\n</header>\n",
        escape(&servers.join(" vs ")),
        escape(&servers.iter().map(|s| server_blurb(s)).collect::<Vec<_>>().join("; ")),
        fact_box("What was run", "what", &what_facts(view)),
        fact_box("When", "when", &when_facts(view)),
        fact_box("Machine", "machine", &machine_facts(view)),
        fact_box("Versions", "versions", &version_facts(view)),
    )
}

fn what_facts(view: &View<'_>) -> Facts {
    let run = &view.results.run;
    let config = &run.config;
    let filters = if config.filters.is_empty() {
        "none (every benchmarked endpoint)".to_owned()
    } else {
        config.filters.join(", ")
    };
    vec![
        ("Servers", config.servers.join(", ")),
        ("Workers", list(&config.workers)),
        (
            "Target rates",
            if config.search.is_some() {
                "chosen by the saturation search".to_owned()
            } else {
                format!("{} req/s", list(&config.rates))
            },
        ),
        (
            "Per test",
            format!(
                "{} s measured after {} s warm-up; request timeout {} s; {} repeat(s)",
                config.duration_s, config.warmup_s, config.timeout_s, config.repeat
            ),
        ),
        ("Filters", filters),
        ("Saturation search", search_text(view)),
        ("Sleep endpoints", format!("{} ms per request", config.sleep_ms)),
        ("Endpoints", endpoint_list(view)),
        ("Command", run.arguments.join(" ")),
    ]
}

fn when_facts(view: &View<'_>) -> Facts {
    let run = &view.results.run;
    let status = match run.status {
        RunStatus::Complete => "complete",
        RunStatus::Running => "running (or killed before it could finish)",
        RunStatus::Interrupted => "interrupted",
    };
    vec![
        ("Run", format!("{} ({status})", run.id)),
        ("Started", run.started_at.clone()),
        ("Finished", run.finished_at.clone().unwrap_or_else(|| "—".into())),
        ("Tests", test_counts(view.results)),
    ]
}

fn machine_facts(view: &View<'_>) -> Facts {
    let machine = &view.results.run.machine;
    let layout = &view.results.run.core_layout;
    let placements: Vec<String> = layout
        .placements
        .iter()
        .map(|(workers, p)| {
            format!(
                "{}: server on {}, vegeta on {}{}",
                workers_text(*workers),
                cpus(&p.server_cpus),
                cpus(&p.load_generator_cpus),
                if p.shared { " (shared)" } else { "" }
            )
        })
        .collect();
    let io_uring = if machine.io_uring_available { "available" } else { "not available (monoio falls back to epoll)" };
    vec![
        ("CPU", machine.cpu_model.clone()),
        ("Cores", machine.cores.to_string()),
        ("Memory", format!("{:.1} GB", megabytes(machine.memory_total_bytes) / 1024.0)),
        ("Kernel", machine.kernel.clone()),
        ("io_uring", io_uring.into()),
        ("Pinned", if layout.pinned { "yes" } else { "no" }.into()),
        ("vegeta ceiling", calibration_text(view)),
        ("Core layout", if placements.is_empty() { "not recorded".into() } else { placements.join("\n") }),
    ]
}

fn version_facts(view: &View<'_>) -> Facts {
    let versions = &view.results.run.versions;
    vec![
        ("runner", versions.runner.clone()),
        ("rustc", versions.rustc.clone().unwrap_or_else(|| "unknown".into())),
        ("vegeta", versions.vegeta.clone()),
        ("git commit", versions.git_commit.clone().unwrap_or_else(|| "unknown".into())),
    ]
}

/// The calibrated load-generator ceiling: above it a result measures vegeta rather than the server.
fn calibration_text(view: &View<'_>) -> String {
    match &view.results.run.calibration {
        Some(c) => format!(
            "{}{} (calibrated against {} w{}, {}{}; rates above it are shaded in the charts)",
            if c.valid { "" } else { "≥ " },
            c.ceiling_rps.map_or_else(|| "none found".to_owned(), |r| format!("{r} req/s")),
            c.server,
            c.workers,
            c.measured_at,
            if c.valid { String::new() } else { format!("; lower bound: {}", c.stop) },
        ),
        None => "not calibrated (run `runner calibrate`)".to_owned(),
    }
}

fn search_text(view: &View<'_>) -> String {
    match &view.results.run.config.search {
        Some(search) => format!(
            "yes: from {} req/s, SLO p99 ≤ {} ms and success ≥ {}%, precision {}%, budget {} s",
            search.start_rate, search.slo_p99_ms, search.slo_success_pct, search.precision_pct, search.budget_s
        ),
        None => "no (fixed target rates)".to_owned(),
    }
}

fn server_blurb(server: &str) -> String {
    match server {
        "axum" => "axum: tokio's multi-threaded work-stealing runtime".into(),
        "monoio" => "monoio: thread-per-core runtimes (io_uring)".into(),
        other => other.to_owned(),
    }
}

/// `CPU 1`, `CPUs 0, 1`, or `any CPU` when unpinned.
fn cpus(list_of: &[usize]) -> String {
    match list_of {
        [] => "any CPU".to_owned(),
        [one] => format!("CPU {one}"),
        many => format!("CPUs {}", list(many)),
    }
}

fn list<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn endpoint_list(view: &View<'_>) -> String {
    view.endpoints.iter().map(|e| format!("{} ({} {})", e.name, e.method, e.path)).collect::<Vec<_>>().join("\n")
}

fn test_counts(results: &RunResults) -> String {
    let total = results.tests.len();
    let failed = results.tests.iter().filter(|t| t.status == TestStatus::Failed).count();
    let invalid = results.tests.iter().filter(|t| t.status == TestStatus::Ok && !t.validity.valid).count();
    format!("{total} recorded: {} ok, {failed} failed, {invalid} invalid", total - failed)
}

fn fact_box(title: &str, id: &str, facts: &[(&str, String)]) -> String {
    let mut html = format!("<section class=\"fact-box\" id=\"{id}\">\n<h2>{title}</h2>\n<dl>\n");
    for (name, value) in facts {
        let _ = writeln!(html, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(value));
    }
    html.push_str("</dl>\n</section>\n");
    html
}

/// Everything a reader must discount, grouped by kind; absent kinds are left out.
fn warnings(view: &View<'_>) -> String {
    let groups = [
        ("Run", run_warnings(view)),
        ("Failed tests (not drawn)", failed_warnings(view)),
        ("Invalid results (hollow markers)", invalid_warnings(view)),
        ("Load generator behind the target rate", starved_warnings(view)),
        ("Write audit", write_warnings(view)),
        ("Shared cores", shared_warnings(view)),
        ("Notes on individual tests", test_notes(view)),
    ];
    let mut html = String::from("<section id=\"warnings\" class=\"warnings\">\n<h2>Notes and validity warnings</h2>\n");
    let mut any = false;
    for (title, items) in groups {
        if items.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(html, "<h3>{}</h3>\n<ul>", escape(title));
        for item in items {
            let _ = writeln!(html, "<li>{}</li>", escape(&item));
        }
        html.push_str("</ul>\n");
    }
    if !any {
        html.push_str("<p>None: every test ran, every result is valid, no write was lost.</p>\n");
    }
    html.push_str("</section>\n");
    html
}

fn test_notes(view: &View<'_>) -> Vec<String> {
    let tests = &view.results.tests;
    tests.iter().flat_map(|t| t.notes.iter().map(move |note| format!("{}: {note}", test_label(t)))).collect()
}

fn run_warnings(view: &View<'_>) -> Vec<String> {
    let run = &view.results.run;
    let mut items = Vec::new();
    match run.status {
        RunStatus::Complete => {}
        RunStatus::Interrupted => items.push("The run was interrupted: some planned tests never ran.".to_owned()),
        RunStatus::Running => items
            .push("The run never finished (still running, or killed): some planned tests may be missing.".to_owned()),
    }
    items.extend(run.notes.iter().cloned());
    items
}

fn failed_warnings(view: &View<'_>) -> Vec<String> {
    view.results
        .tests
        .iter()
        .filter(|t| t.status == TestStatus::Failed || t.metrics.is_none())
        .map(|t| format!("{}: {}", test_label(t), t.failure.as_deref().unwrap_or("no metrics recorded")))
        .collect()
}

fn invalid_warnings(view: &View<'_>) -> Vec<String> {
    view.results
        .tests
        .iter()
        .filter(|t| t.status == TestStatus::Ok && !t.validity.valid)
        .map(|t| format!("{}: {}", test_label(t), t.validity.reasons.join("; ")))
        .collect()
}

fn starved_warnings(view: &View<'_>) -> Vec<String> {
    view.results
        .tests
        .iter()
        .filter_map(|t| {
            let sent = t.metrics.as_ref()?.send_rate_rps;
            (sent < SEND_RATE_SHORTFALL * f64::from(t.rate)).then(|| {
                format!(
                    "{}: vegeta sent {} req/s of {} ({:.0}%); its latencies are closed-loop, not open-loop",
                    test_label(t),
                    num1(sent),
                    t.rate,
                    sent / f64::from(t.rate) * 100.0
                )
            })
        })
        .collect()
}

fn write_warnings(view: &View<'_>) -> Vec<String> {
    let audited: Vec<&TestRecord> = view.results.tests.iter().filter(|t| t.write_audit.is_some()).collect();
    let mut items: Vec<String> = audited
        .iter()
        .filter_map(|t| {
            let audit = t.write_audit.as_ref()?;
            (audit.lost > 0 || audit.phantom > 0).then(|| {
                format!(
                    "{}: {} acknowledged, {} applied — {} lost (acknowledged, not in the database), {} phantom (applied, never acknowledged)",
                    test_label(t),
                    audit.acknowledged,
                    audit.applied,
                    audit.lost,
                    audit.phantom
                )
            })
        })
        .collect();
    if !audited.is_empty() {
        let clean = audited.len() - items.len();
        items.push(format!("{clean} of {} audited write tests matched exactly.", audited.len()));
    }
    items
}

fn shared_warnings(view: &View<'_>) -> Vec<String> {
    let shared = view.shared_workers();
    if shared.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "With {} workers the server shared CPUs with the load generator: both compete for the same cores, \
         so those results understate the server and may starve vegeta.",
        list(&shared)
    )]
}

fn test_label(test: &TestRecord) -> String {
    let repeat = if test.repeat > 1 { format!(" (repeat {})", test.repeat) } else { String::new() };
    format!("{} w{} {} @ {} req/s{repeat}", test.server, test.workers, test.endpoint.name, test.rate)
}

/// The legend for every chart: colours, dashes and symbols, drawn with the same values the charts use.
fn how_to_read(view: &View<'_>) -> String {
    let mut html =
        String::from("<section id=\"how-to-read\">\n<h2>How to read the charts</h2>\n<ul class=\"legend\">\n");
    let servers: Vec<String> = view
        .servers
        .iter()
        .map(|s| {
            format!("<span class=\"swatch\" style=\"background:{}\"></span>{}", plots::server_color(view, s), escape(s))
        })
        .collect();
    let _ = writeln!(html, "<li><b>Colour = server:</b> {}</li>", servers.join(" "));
    let dashes: Vec<String> = view
        .workers
        .iter()
        .map(|&w| {
            format!(
                "<svg class=\"dash\" width=\"44\" height=\"10\"><line x1=\"0\" y1=\"5\" x2=\"44\" y2=\"5\" stroke=\"#495057\" \
                 stroke-width=\"2.5\" stroke-dasharray=\"{}\"/></svg>{w} worker{}",
                plots::dash_pattern(view, w),
                if w == 1 { "" } else { "s" }
            )
        })
        .collect();
    let _ = writeln!(html, "<li><b>Line dash = server workers (threads):</b> {}</li>", dashes.join(" "));
    let symbols: Vec<String> =
        view.endpoints.iter().map(|e| format!("{} {}", plots::endpoint_glyph(view, e), escape(&e.name))).collect();
    let _ = writeln!(
        html,
        "<li><b>Marker = endpoint</b> (each endpoint also has its own panel): {}</li>",
        symbols.join(" · ")
    );
    html.push_str(
        "<li><b>Hollow marker</b> = invalid result (the hover text says why); lines join valid points only.</li>\n\
         <li><b>Point</b> = median over repeats; <b>error bars</b> = min–max over repeats.</li>\n\
         <li><b>Failed tests</b> are not drawn; each chart lists the ones it is missing.</li>\n\
         <li>Click a legend entry to hide or show that line in every panel; double-click to isolate it.</li>\n\
         </ul>\n</section>\n",
    );
    html
}

fn chart_sections(view: &View<'_>) -> String {
    let families = view.families();
    let mut html = String::from("<nav><b>Sections:</b> ");
    for (family, _) in &families {
        let _ = write!(html, "<a href=\"#family-{}\">{}</a> · ", family.slug(), family.title());
    }
    let capacity = plots::capacity_chart(view);
    if capacity.is_some() {
        html.push_str("<a href=\"#capacity\">Saturation search</a> · ");
    }
    html.push_str(
        "<a href=\"#scaling\">Worker scaling</a> · <a href=\"#distributions\">Latency distributions</a> · \
         <a href=\"#details\">All results</a></nav>\n",
    );
    if let Some(figure) = capacity {
        html.push_str("<section id=\"capacity\">\n<h2>Saturation search</h2>\n");
        html.push_str(&figure.to_html());
        html.push_str(&capacity_table(view));
        html.push_str("</section>\n");
    }
    for (family, endpoints) in &families {
        let _ =
            writeln!(html, "<section class=\"family\" id=\"family-{}\">\n<h2>{}</h2>", family.slug(), family.title());
        let figures = RATE_CHARTS
            .iter()
            .take(1)
            .map(|chart| plots::rate_chart(view, *family, endpoints, chart))
            .chain([plots::latency_chart(view, *family, endpoints)])
            .chain(RATE_CHARTS.iter().skip(1).map(|chart| plots::rate_chart(view, *family, endpoints, chart)));
        for figure in figures {
            html.push_str(&figure.to_html());
        }
        html.push_str("</section>\n");
    }
    html.push_str("<section id=\"scaling\">\n<h2>Worker scaling</h2>\n");
    html.push_str(&plots::worker_scaling_chart(view).to_html());
    html.push_str("</section>\n<section id=\"distributions\">\n<h2>Latency distributions</h2>\n");
    let distributions: Vec<Figure> =
        view.endpoints.iter().map(|e| plots::latency_distribution_chart(view, e)).collect();
    for figure in distributions {
        html.push_str(&figure.to_html());
    }
    html.push_str("</section>\n");
    html
}

/// Every search's outcome and probes, in a table that sorts like the details table.
fn capacity_table(view: &View<'_>) -> String {
    let mut html = String::from(
        "<div class=\"table-wrap\">\n<table class=\"sortable\" id=\"capacity-table\">\n<thead><tr><th>Server</th>\
         <th>Workers</th><th>Endpoint</th><th>Converged</th><th>Stopped because</th><th>Sustainable (req/s)</th>\
         <th>Lowest miss (req/s)</th><th>P99 there (ms)</th><th>Achieved there (req/s)</th><th>Server CPU there (%)</th>\
         <th>Probes (rate: verdict)</th></tr></thead>\n<tbody>\n",
    );
    let optional = |value: Option<f64>, format: fn(f64) -> String| match value {
        Some(v) => format!("<td data-v=\"{v}\">{}</td>", format(v)),
        None => "<td data-v=\"\">—</td>".to_owned(),
    };
    let mut results: Vec<_> = view.results.capacity.iter().collect();
    results.sort_by_key(|c| {
        (view.endpoint_index(&c.endpoint), view.server_index(&c.server), view.workers_index(c.workers))
    });
    for result in results {
        let probes: Vec<String> = result.probes.iter().map(|p| format!("{}: {}", p.rate, p.verdict)).collect();
        let _ = writeln!(
            html,
            "<tr class=\"{}\"><td>{}</td><td data-v=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"notes\">{}</td>{}{}{}{}{}\
             <td class=\"notes\">{}</td></tr>",
            if result.valid { "valid" } else { "invalid" },
            escape(&result.server),
            result.workers,
            result.workers,
            escape(&result.endpoint.name),
            if result.valid { "yes" } else { "no (lower bound)" },
            escape(&result.stop),
            optional(result.sustainable_rps.map(f64::from), |v| format!("{v:.0}")),
            optional(result.lowest_miss_rps.map(f64::from), |v| format!("{v:.0}")),
            optional(result.p99_ms, num),
            optional(result.achieved_rps, num1),
            optional(result.cpu_mean_pct, num1),
            escape(&probes.join(", ")),
        );
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
    html
}

/// A numeric column of the details table: header, value, and whether it counts things (no decimals).
type DetailColumn = (&'static str, fn(&TestRecord) -> Option<f64>, bool);

const NUMERIC_COLUMNS: &[DetailColumn] = &[
    ("Rate (req/s)", |t| Some(f64::from(t.rate)), true),
    ("Repeat", |t| Some(f64::from(t.repeat)), true),
    ("Achieved (req/s)", |t| Metric::Achieved.of(t), false),
    ("Sent (req/s)", |t| Metric::SendRate.of(t), false),
    ("Success (%)", |t| Metric::SuccessPct.of(t), false),
    ("Requests", |t| t.metrics.as_ref().map(|m| m.requests as f64), true),
    ("Successes", |t| t.metrics.as_ref().map(|m| m.successes as f64), true),
    ("Min (ms)", |t| t.metrics.as_ref().map(|m| m.latency_ms.min), false),
    ("P50 (ms)", |t| Metric::P50.of(t), false),
    ("Avg (ms)", |t| Metric::Mean.of(t), false),
    ("P90 (ms)", |t| Metric::P90.of(t), false),
    ("P95 (ms)", |t| Metric::P95.of(t), false),
    ("P99 (ms)", |t| Metric::P99.of(t), false),
    ("P99.9 (ms)", |t| Metric::P999.of(t), false),
    ("Max (ms)", |t| Metric::Max.of(t), false),
    ("Server CPU avg (%)", |t| Metric::ServerCpu.of(t), false),
    ("Server CPU max (%)", |t| t.resources.as_ref().map(|r| r.server.cpu_max_pct), false),
    ("Server RSS avg (MB)", |t| Metric::ServerRssMb.of(t), false),
    ("Server RSS max (MB)", |t| t.resources.as_ref().map(|r| megabytes(r.server.rss_max_bytes)), false),
    ("vegeta CPU avg (%)", |t| Metric::LoadGenCpu.of(t), false),
    ("Writes acked", |t| t.write_audit.as_ref().map(|a| a.acknowledged as f64), true),
    ("Writes applied", |t| t.write_audit.as_ref().map(|a| a.applied as f64), true),
    ("Writes lost", |t| t.write_audit.as_ref().map(|a| a.lost as f64), true),
    ("Writes phantom", |t| t.write_audit.as_ref().map(|a| a.phantom as f64), true),
    ("Attack (s)", |t| t.metrics.as_ref().map(|m| m.attack_duration_s), false),
    ("Wait (s)", |t| t.metrics.as_ref().map(|m| m.wait_s), false),
    ("Bytes in", |t| t.metrics.as_ref().map(|m| m.bytes_in as f64), true),
    ("Bytes out", |t| t.metrics.as_ref().map(|m| m.bytes_out as f64), true),
];

/// Every test, every metric; click a header to sort.
fn details_table(view: &View<'_>) -> String {
    let mut html = String::from(
        "<section id=\"details\">\n<h2>All results</h2>\n<p>One row per test (every repeat). Click a column header to sort; \
         click again to reverse. CPU is per core: 200% = two cores busy.</p>\n<div class=\"table-wrap\">\n\
         <table class=\"sortable\" id=\"details-table\">\n<thead><tr>",
    );
    for header in ["Server", "Workers", "Endpoint", "Status", "Notes"] {
        let _ = write!(html, "<th>{header}</th>");
    }
    for (header, _, _) in NUMERIC_COLUMNS {
        let _ = write!(html, "<th>{}</th>", escape(header));
    }
    let ceiling = view.results.run.calibration.as_ref().and_then(|c| c.ceiling_rps).map(f64::from);
    if ceiling.is_some() {
        html.push_str("<th>Rate / vegeta ceiling (%)</th>");
    }
    html.push_str("<th>Status codes</th><th>Errors</th></tr></thead>\n<tbody>\n");
    for cell in &view.cells {
        for test in &cell.records {
            html.push_str(&detail_row(test, ceiling));
        }
    }
    html.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    html
}

/// One test's row; `ceiling` adds the target rate as a share of the calibrated load-generator ceiling.
fn detail_row(test: &TestRecord, ceiling: Option<f64>) -> String {
    let status = match (test.status, test.validity.valid) {
        (TestStatus::Failed, _) => "failed",
        (TestStatus::Ok, true) => "valid",
        (TestStatus::Ok, false) => "invalid",
    };
    let audit_mismatch = test.write_audit.as_ref().is_some_and(|a| a.lost > 0 || a.phantom > 0);
    let class = if audit_mismatch { format!("{status} audit") } else { status.to_owned() };
    let mut html = format!(
        "<tr class=\"{class}\"><td>{}</td><td data-v=\"{}\">{}{}</td><td>{}</td><td>{status}</td>\
         <td class=\"notes\">{}</td>",
        escape(&test.server),
        test.workers,
        test.workers,
        if test.validity.shared_cores { "*" } else { "" },
        escape(&test.endpoint.name),
        escape(&detail_notes(test).join("; ")),
    );
    for (_, value, counts) in NUMERIC_COLUMNS {
        match value(test) {
            Some(v) if *counts => {
                let _ = write!(html, "<td data-v=\"{v}\">{v:.0}</td>");
            }
            Some(v) => {
                let _ = write!(html, "<td data-v=\"{v}\">{}</td>", num(v));
            }
            None => html.push_str("<td data-v=\"\">—</td>"),
        }
    }
    if let Some(ceiling) = ceiling.filter(|c| *c > 0.0) {
        let share = f64::from(test.rate) / ceiling * 100.0;
        let _ = write!(html, "<td data-v=\"{share}\">{share:.0}</td>");
    }
    let _ =
        writeln!(html, "<td class=\"notes\">{}</td><td class=\"notes\">{}</td></tr>", status_codes(test), errors(test));
    html
}

/// `200: 9998, 0: 2` (`0` = no response).
fn status_codes(test: &TestRecord) -> String {
    let Some(metrics) = &test.metrics else { return "—".to_owned() };
    let codes: Vec<String> = metrics.status_codes.iter().map(|(code, count)| format!("{code}: {count}")).collect();
    escape(&codes.join(", "))
}

/// Error messages with their counts, most frequent first.
fn errors(test: &TestRecord) -> String {
    let Some(metrics) = &test.metrics else { return "—".to_owned() };
    let mut errors: Vec<(&String, &u64)> = metrics.errors.iter().collect();
    errors.sort_by(|a, b| b.1.cmp(a.1));
    let text: Vec<String> = errors.iter().map(|(message, count)| format!("{count}× {message}")).collect();
    escape(&text.join("; "))
}

/// Why a row deserves a second look: failure, invalidity, write-audit mismatches, shared CPUs.
fn detail_notes(test: &TestRecord) -> Vec<String> {
    let mut notes: Vec<String> = test.failure.iter().cloned().collect();
    notes.extend(test.validity.reasons.iter().cloned());
    notes.extend(test.notes.iter().cloned());
    if let Some(audit) = test.write_audit.as_ref().filter(|a| a.lost > 0 || a.phantom > 0) {
        notes.push(format!("write audit: {} lost, {} phantom", audit.lost, audit.phantom));
    }
    if test.validity.shared_cores {
        notes.push("* shared CPUs with vegeta".into());
    }
    notes
}

fn footer(view: &View<'_>) -> String {
    format!(
        "<footer>Generated by runtime-bench runner {} from {}/results.json (schema {}). Re-render with \
         <code>runner report</code>.</footer>\n",
        escape(&view.results.run.versions.runner),
        escape(&view.results.run.id),
        view.results.schema_version
    )
}

const CSS: &str = "\
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #212529; margin: 0; background: #fff; }
main { max-width: 1360px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { margin: 8px 0 4px; font-size: 26px; }
h2 { font-size: 20px; margin: 28px 0 8px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 12px 0 4px; }
.lede { color: #495057; margin: 0 0 12px; }
.facts { display: grid; grid-template-columns: 2fr 1fr 1.3fr 1fr; gap: 12px; }
@media (max-width: 1100px) { .facts { grid-template-columns: 1fr 1fr; } }
.fact-box { border: 1px solid #dee2e6; border-radius: 6px; padding: 4px 12px 8px; background: #f8f9fa; }
.fact-box h2 { font-size: 15px; margin: 6px 0; border: none; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; font-size: 13px; }
dt { color: #495057; font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; white-space: pre-line; }
.warnings { border-left: 4px solid #f08c00; background: #fff9db; padding: 2px 14px 8px; margin-top: 16px; }
.warnings h2 { border: none; }
.warnings ul { margin: 2px 0 6px; padding-left: 20px; font-size: 14px; }
.legend { font-size: 14px; padding-left: 20px; }
.legend li { margin: 3px 0; }
.swatch { display: inline-block; width: 22px; height: 10px; border-radius: 2px; margin: 0 5px 0 10px; }
svg.dash { margin: 0 5px 0 10px; vertical-align: middle; }
nav { margin: 18px 0; font-size: 14px; }
.chart { width: 100%; margin: 10px 0 26px; border: 1px solid #e9ecef; border-radius: 6px; }
.table-wrap { overflow-x: auto; }
table.sortable { border-collapse: collapse; font-size: 12px; white-space: nowrap; }
table.sortable th { position: sticky; top: 0; background: #e9ecef; cursor: pointer; padding: 4px 6px; text-align: right; }
table.sortable th[aria-sort=ascending]::after { content: ' ▲'; }
table.sortable th[aria-sort=descending]::after { content: ' ▼'; }
table.sortable td { padding: 3px 6px; border-bottom: 1px solid #f1f3f5; text-align: right; }
table.sortable td:nth-child(-n+5), table.sortable th:nth-child(-n+5) { text-align: left; }
td.notes { white-space: normal; min-width: 160px; max-width: 340px; text-align: left; }
tr.failed { background: #ffe3e3; }
tr.invalid { background: #fff3bf; }
tr.audit { background: #ffe8cc; }
footer { margin-top: 30px; color: #868e96; font-size: 12px; }
";

/// Sorts the details table by the clicked column: numerically by `data-v` when both cells have one,
/// empty cells last, text otherwise.
const SORT_SCRIPT: &str = "\
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var key = function (row) {
        var cell = row.cells[col];
        var v = cell.getAttribute('data-v');
        return v === null ? cell.textContent : (v === '' ? null : parseFloat(v));
      };
      var body = table.tBodies[0];
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        var order = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
";
