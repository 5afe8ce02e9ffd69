//! The report's tables: every search's outcome, and every test with every metric (sortable).

use std::fmt::Write as _;

use crate::model::{TestRecord, TestStatus};

use super::super::summary::{Metric, View};
use super::super::text::{megabytes, num, num1};
use super::escape;

/// Every search's outcome and probes, in a table that sorts like the details table.
pub(super) fn capacity_table(view: &View<'_>) -> String {
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
    results
        .sort_by_key(|c| (view.endpoint_index(&c.endpoint), view.server_index(c.arm()), view.workers_index(c.workers)));
    for result in results {
        let probes: Vec<String> = result.probes.iter().map(|p| format!("{}: {}", p.rate, p.verdict)).collect();
        let _ = writeln!(
            html,
            "<tr class=\"{}\"><td>{}</td><td data-v=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"notes\">{}</td>{}{}{}{}{}\
             <td class=\"notes\">{}</td></tr>",
            if result.valid { "valid" } else { "invalid" },
            escape(&result.arm().to_string()),
            result.workers,
            result.workers,
            escape(&result.endpoint.name),
            match (result.valid, result.generator_bound) {
                (true, _) => "yes",
                (false, true) => "no (generator-bound lower bound)",
                (false, false) => "no (lower bound)",
            },
            escape(&result.stop),
            optional(result.sustainable_rps.map(f64::from), |v| format!("{v:.0}")),
            optional(result.lowest_miss_rps.map(f64::from), |v| format!("{v:.0}")),
            optional(result.p99_ms, num),
            optional(result.achieved_rps, num1),
            cpu_cell(result.cpu_mean_pct, result.server_us_per_request),
            escape(&probes.join(", ")),
        );
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
    html
}

/// Server CPU % with the CPU per request next to it, when the probe measured it.
fn cpu_cell(cpu_pct: Option<f64>, us_per_request: Option<f64>) -> String {
    match (cpu_pct, us_per_request) {
        (Some(pct), Some(us)) => format!("<td data-v=\"{pct}\">{} ({} µs/req)</td>", num1(pct), num1(us)),
        (Some(pct), None) => format!("<td data-v=\"{pct}\">{}</td>", num1(pct)),
        (None, _) => "<td data-v=\"\">—</td>".to_owned(),
    }
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
    ("Server CPU per request (µs)", |t| Metric::ServerUsPerRequest.of(t), false),
    ("Projected capacity (req/s, from CPU per request, not measured)", |t| Metric::ProjectedRps.of(t), false),
    ("Server CPU max (%)", |t| t.resources.as_ref().map(|r| r.server.cpu_max_pct), false),
    ("Server RSS avg (MB)", |t| Metric::ServerRssMb.of(t), false),
    ("Server RSS max (MB)", |t| t.resources.as_ref().map(|r| megabytes(r.server.rss_max_bytes)), false),
    ("vegeta CPU avg (%)", |t| Metric::LoadGenCpu.of(t), false),
    ("vegeta CPU per request (µs)", |t| Metric::LoadGenUsPerRequest.of(t), false),
    ("vegeta schedule lag p99 (ms)", |t| Metric::LagP99.of(t), false),
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
pub(super) fn details_table(view: &View<'_>) -> String {
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
        escape(&test.arm().to_string()),
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
