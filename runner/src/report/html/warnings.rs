//! Everything a reader must discount, grouped by kind: failed and invalid tests, a load generator that fell
//! behind (the same rule the validity check applies), lost writes, shared CPUs, notes.

use std::fmt::Write as _;

use crate::model::{RunStatus, TestRecord, TestStatus};

use super::super::summary::View;
use super::super::text::num1;
use super::escape;
use super::header::list;

/// Everything a reader must discount, grouped by kind; absent kinds are left out.
pub(super) fn warnings(view: &View<'_>) -> String {
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
            let metrics = t.metrics.as_ref()?;
            let sent = metrics.send_rate_rps;
            (!metrics.kept_up_with(t.rate)).then(|| {
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

pub(super) fn test_label(test: &TestRecord) -> String {
    let repeat = if test.repeat > 1 { format!(" (repeat {})", test.repeat) } else { String::new() };
    format!("{} w{} {} @ {} req/s{repeat}", test.arm(), test.workers, test.endpoint.name, test.rate)
}
