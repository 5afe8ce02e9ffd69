//! The report's header: what was run, when, on what machine and versions, with which CPU layout.

use std::fmt::Write as _;

use crate::model::{Arm, RunResults, RunStatus, TestStatus};

use super::super::summary::{View, workers_text};
use super::super::text::megabytes;
use super::escape;

/// A fact box's rows: label and value.
type Facts = Vec<(&'static str, String)>;

pub(super) fn run_header(view: &View<'_>) -> String {
    format!(
        "<header>\n<h1>runtime-bench: {}</h1>\n<p class=\"lede\">{} — HTTP endpoints backed by SQLite, load from vegeta \
         at constant target rates (open loop).</p>\n<div class=\"facts\">\n{}{}{}{}</div>\n</header>\n",
        escape(&view.arm_names().join(" vs ")),
        escape(&view.servers.iter().map(|&arm| server_blurb(view, arm)).collect::<Vec<_>>().join("; ")),
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
        ("Servers", view.arm_names().join(", ")),
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
    let io_uring =
        if machine.io_uring_available { "available" } else { "not available (io_uring servers fall back to epoll)" };
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

/// A server and its runtime model as the server itself described it (`/healthz` at the start of its first
/// test); just its name for runs that recorded none.
fn server_blurb(view: &View<'_>, arm: Arm<'_>) -> String {
    let health = view.results.tests.iter().filter(|t| t.arm() == arm).find_map(|t| t.server_health.as_ref());
    match health {
        Some(health) => format!("{arm}: {} ({})", health.runtime, health.io_driver),
        None => arm.to_string(),
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

pub(super) fn list<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn endpoint_list(view: &View<'_>) -> String {
    view.endpoints
        .iter()
        .map(|e| format!("{} ({} {})", e.name, e.method.as_str(), e.path))
        .collect::<Vec<_>>()
        .join("\n")
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
