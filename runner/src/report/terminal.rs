//! The whole-run terminal report: what was run, every rate table, per-endpoint ASCII charts of achieved
//! rate and p99 latency against the target rate, a capacity summary and the run's caveats. Every line fits
//! the width it is given.

use crate::model::{
    Arm, EndpointRef, RunResults, RunStatus, SUSTAINED_ACHIEVED_SHARE, SUSTAINED_SUCCESS_PCT, operation_word,
    style_word, sustains,
};

use super::ascii::{Chart, INVALID_MARK, MIN_CHART_WIDTH, OVERLAP_MARK, Point, Scale, Series, TARGET_MARK};
use super::summary::{Metric, SeriesKey, View};
use super::table::{rate_table_lines, series_columns};
use super::text::{Column, Row, TextTable, ansi, num, num1, paint, truncate, visible_width, wrap};

/// Narrower terminals get this width anyway: below it nothing can be labelled legibly.
pub const MIN_WIDTH: usize = 60;
/// The width `runner` uses when it cannot ask the terminal.
pub const DEFAULT_WIDTH: usize = 100;
/// Wider terminals get this width: longer axes do not make the charts easier to read.
pub const MAX_WIDTH: usize = 160;

/// A chart pair sits side by side from this width on; narrower terminals stack them.
const SIDE_BY_SIDE_WIDTH: usize = 2 * MIN_CHART_WIDTH + 16;
/// Marker characters of the series, in series order (server-major, then workers).
const MARKERS: &[char] = &['o', 'x', '+', '*', '#', '%', '@', '=', '~', '^', '$', '?'];
/// Terminal colours of the servers, in server order; the HTML report uses the same hues.
const SERVER_COLORS: &[&str] = &[ansi::YELLOW, ansi::CYAN, ansi::GREEN, ansi::MAGENTA, ansi::BLUE];

/// Tables for every rate, ASCII charts and a capacity summary in at most `width` columns (widths below
/// [`MIN_WIDTH`] are treated as [`MIN_WIDTH`]). No ANSI colour codes when `color` is false.
pub fn terminal_report(results: &RunResults, width: usize, color: bool) -> String {
    render(results, width, color, true)
}

/// The end-of-run summary: like [`terminal_report`] without the rate tables, which the scheduler already
/// printed as each rate finished.
pub fn terminal_summary(results: &RunResults, width: usize, color: bool) -> String {
    render(results, width, color, false)
}

fn render(results: &RunResults, width: usize, color: bool, with_rate_tables: bool) -> String {
    let width = width.max(MIN_WIDTH);
    let view = View::new(results);
    let mut lines = header(&view, width, color);
    if with_rate_tables {
        for &rate in &view.rates {
            lines.push(String::new());
            lines.extend(rate_table_lines(&view, rate, width, color));
        }
    }
    lines.push(String::new());
    lines.extend(charts(&view, width, color));
    lines.push(String::new());
    lines.extend(capacity(&view, width, color));
    lines.extend(caveats(&view, width, color));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The width to render for: the terminal's when stdout is one, else `$COLUMNS`, else [`DEFAULT_WIDTH`];
/// capped at [`MAX_WIDTH`] because wider charts do not read better.
pub fn terminal_width() -> usize {
    let width =
        stdout_columns().or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok()).unwrap_or(DEFAULT_WIDTH);
    width.clamp(MIN_WIDTH, MAX_WIDTH)
}

/// The terminal's column count when stdout is a terminal.
fn stdout_columns() -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the struct we pass, which lives for the call.
    let status = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (status == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

fn header(view: &View<'_>, width: usize, color: bool) -> Vec<String> {
    let run = &view.results.run;
    let config = &run.config;
    let machine = &run.machine;
    let status = match run.status {
        RunStatus::Complete => "complete",
        RunStatus::Running => "still running or killed",
        RunStatus::Interrupted => "interrupted",
    };
    let filters = if config.filters.is_empty() {
        "all endpoints".to_owned()
    } else {
        format!("filters {}", config.filters.join(" "))
    };
    let rates_text = |config: &crate::model::RunConfig| match &config.search {
        Some(search) => format!(
            "rates chosen by the saturation search (p99 <= {} ms, success >= {}%)",
            search.slo_p99_ms, search.slo_success_pct
        ),
        None => format!("target rates {} req/s", join(&config.rates)),
    };
    let facts = [
        format!(
            "Servers {}; workers {}; {}; {} s per test ({} s warm-up, {} s timeout); {} repeat(s); {filters}.",
            view.arm_names().join(", "),
            join(&config.workers),
            rates_text(config),
            config.duration_s,
            config.warmup_s,
            config.timeout_s,
            config.repeat,
        ),
        format!(
            "Machine: {}, {} cores, kernel {}, io_uring {}. Started {}, finished {}.",
            machine.cpu_model,
            machine.cores,
            machine.kernel,
            if machine.io_uring_available { "available" } else { "unavailable" },
            run.started_at,
            run.finished_at.as_deref().unwrap_or("never"),
        ),
    ];
    let ceiling = run.calibration.as_ref().map(|c| {
        format!(
            "vegeta's calibrated ceiling: {}{} (results above it measure the load generator).",
            if c.valid { "" } else { ">= " },
            c.ceiling_rps.map_or_else(|| "none found".to_owned(), |r| format!("{r} req/s"))
        )
    });
    let facts = facts.into_iter().chain(ceiling);
    let mut lines =
        vec![paint(&truncate(&format!("runtime-bench run {} ({status})", run.id), width), ansi::BOLD, color)];
    for fact in facts {
        lines.extend(wrap(&fact, width, 2));
    }
    lines
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Per endpoint: achieved vs target and p99 vs target, side by side when there is room.
fn charts(view: &View<'_>, width: usize, color: bool) -> Vec<String> {
    let mut lines: Vec<String> = wrap("Charts: one line per server x workers; x = target rate (req/s)", width, 2)
        .iter()
        .map(|l| paint(l, ansi::BOLD, color))
        .collect();
    lines.extend(wrap(
        &format!(
            "Legend: series markers are listed under each pair; '{JOIN}' joins a series' points, \
             '{TARGET_MARK}' is the target (achieved = target), '{INVALID_MARK}' an invalid result, \
             '{OVERLAP_MARK}' points of several series in one spot. Failed tests are not drawn.",
            JOIN = '.'
        ),
        width,
        2,
    ));
    for &endpoint in &view.endpoints {
        lines.push(String::new());
        lines.extend(endpoint_charts(view, endpoint, width, color));
    }
    lines
}

fn endpoint_charts(view: &View<'_>, endpoint: &EndpointRef, width: usize, color: bool) -> Vec<String> {
    let keys = view.series_for(endpoint);
    let heading = format!(
        "{} ({} {}; {}, {})",
        endpoint.name,
        endpoint.method.as_str(),
        endpoint.path,
        style_word(endpoint.style),
        operation_word(endpoint.operation)
    );
    let mut lines = vec![paint(&truncate(&heading, width), ansi::BOLD, color)];
    let achieved = Chart {
        title: "Achieved rate vs target".into(),
        y_title: "achieved (req/s)".into(),
        x_title: "target rate (req/s)".into(),
        scale: Scale::Linear,
        diagonal: true,
        x_ticks: x_ticks(view),
        series: series(view, &keys, Metric::Achieved),
    };
    let latency = Chart {
        title: "p99 latency vs target (log scale)".into(),
        y_title: "p99 latency (ms)".into(),
        series: series(view, &keys, Metric::P99),
        scale: Scale::Log,
        diagonal: false,
        ..achieved.clone()
    };
    if width >= SIDE_BY_SIDE_WIDTH {
        let half = (width - 2) / 2;
        let left = achieved.render(half, color);
        let right = latency.render(half, color);
        for i in 0..left.len().max(right.len()) {
            let l = left.get(i).map_or("", String::as_str);
            let r = right.get(i).map_or("", String::as_str);
            let pad = half.saturating_sub(visible_width(l));
            lines.push(format!("{l}{}  {r}", " ".repeat(pad)).trim_end().to_owned());
        }
    } else {
        lines.extend(achieved.render(width, color));
        lines.extend(latency.render(width, color));
    }
    let legend: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let marker = MARKERS[i % MARKERS.len()].to_string();
            format!("{} {} w{}", paint(&marker, server_color(view, key.server), color), key.server, key.workers)
        })
        .collect();
    lines.extend(wrap_colored(&legend, width));
    lines
}

/// Joins legend entries into lines of at most `width` visible columns.
fn wrap_colored(entries: &[String], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::from(" ");
    for entry in entries {
        let needed = visible_width(entry) + 3;
        if visible_width(&line) + needed > width && !line.trim().is_empty() {
            lines.push(std::mem::replace(&mut line, String::from(" ")));
        }
        line.push_str("  ");
        line.push_str(entry);
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}

fn x_ticks(view: &View<'_>) -> Vec<f64> {
    view.rates.iter().map(|&r| f64::from(r)).collect()
}

fn series(view: &View<'_>, keys: &[SeriesKey<'_>], metric: Metric) -> Vec<Series> {
    keys.iter()
        .enumerate()
        .map(|(i, &key)| Series {
            marker: MARKERS[i % MARKERS.len()],
            color: server_color(view, key.server),
            points: view
                .rates
                .iter()
                .filter_map(|&rate| {
                    let cell = view.cell(key, rate)?;
                    let value = cell.stat(metric)?;
                    Some(Point { x: f64::from(rate), y: value.median, valid: cell.is_valid() })
                })
                .collect(),
        })
        .collect()
}

fn server_color(view: &View<'_>, server: Arm<'_>) -> &'static str {
    SERVER_COLORS[view.server_index(server) % SERVER_COLORS.len()]
}

/// The highest target rate each server × workers × endpoint sustained, and its best achieved rate.
fn capacity(view: &View<'_>, width: usize, color: bool) -> Vec<String> {
    if !view.results.capacity.is_empty() {
        return search_capacity(view, width, color);
    }
    let mut lines = vec![paint("Capacity", ansi::BOLD, color)];
    lines.extend(wrap(
        &format!(
            "Sustained = the highest target rate whose valid result achieved at least {:.0}% of the target \
             with at least {SUSTAINED_SUCCESS_PCT:.0}% success. Best = the highest achieved rate of any \
             valid result. '-' = none.",
            SUSTAINED_ACHIEVED_SHARE * 100.0
        ),
        width,
        2,
    ));
    let mut table = TextTable {
        columns: [
            series_columns(),
            vec![
                Column::right("Sustained", "req/s"),
                Column::right("P99 there", "ms"),
                Column::right("Best", "req/s"),
                Column::right("At target", "req/s").droppable(1),
            ],
        ]
        .concat(),
        rows: Vec::new(),
    };
    for &endpoint in &view.endpoints {
        for key in view.series_for(endpoint) {
            table.rows.push(capacity_row(view, key));
        }
    }
    lines.extend(table.render(width, color).0);
    lines
}

/// The saturation search's verdicts (`--find-max` runs), with why each search stopped.
fn search_capacity(view: &View<'_>, width: usize, color: bool) -> Vec<String> {
    let mut lines = vec![paint("Capacity (saturation search)", ansi::BOLD, color)];
    if let Some(search) = &view.results.run.config.search {
        lines.extend(wrap(
            &format!(
                "Sustainable = the highest probed rate with p99 <= {} ms and success >= {}% on a valid result. \
                 '>=': the search did not converge, the rate is a lower bound. '-' = none.",
                search.slo_p99_ms, search.slo_success_pct
            ),
            width,
            2,
        ));
    }
    let mut table = TextTable {
        columns: [
            series_columns(),
            vec![
                Column::right("Sustainable", "req/s"),
                Column::right("First miss", "req/s").droppable(2),
                Column::right("P99 there", "ms"),
                Column::right("CPU there", "%").droppable(1),
                Column::right("Probes", ""),
            ],
        ]
        .concat(),
        rows: Vec::new(),
    };
    let mut stops = Vec::new();
    let mut results: Vec<_> = view.results.capacity.iter().collect();
    results
        .sort_by_key(|c| (view.endpoint_index(&c.endpoint), view.server_index(c.arm()), view.workers_index(c.workers)));
    for result in results {
        let dash = || "-".to_owned();
        let sustainable = result.sustainable_rps.map_or_else(dash, |r| r.to_string());
        table.rows.push(Row {
            cells: vec![
                result.endpoint.name.clone(),
                result.arm().to_string(),
                result.workers.to_string(),
                if result.valid { sustainable } else { format!(">={sustainable}") },
                result.lowest_miss_rps.map_or_else(dash, |r| r.to_string()),
                result.p99_ms.map_or_else(dash, num),
                result.cpu_mean_pct.map_or_else(dash, num1),
                result.probes.len().to_string(),
            ],
            color: (!result.valid).then_some(ansi::YELLOW),
            details: Vec::new(),
        });
        if !result.valid {
            stops.push(format!(
                "- {} w{} {}: stopped because {}",
                result.arm(),
                result.workers,
                result.endpoint.name,
                result.stop
            ));
        }
    }
    lines.extend(table.render(width, color).0);
    for stop in stops {
        lines.extend(wrap(&stop, width, 2));
    }
    lines
}

fn capacity_row(view: &View<'_>, key: SeriesKey<'_>) -> Row {
    let valid_cells: Vec<_> =
        view.rates.iter().filter_map(|&rate| view.cell(key, rate)).filter(|c| c.is_valid()).collect();
    let sustained = valid_cells
        .iter()
        .filter(|c| {
            let achieved = c.stat(Metric::Achieved).map_or(0.0, |s| s.median);
            let success = c.stat(Metric::SuccessPct).map_or(0.0, |s| s.median);
            sustains(achieved, success, c.rate)
        })
        .max_by_key(|c| c.rate);
    let best = valid_cells
        .iter()
        .filter_map(|c| c.stat(Metric::Achieved).map(|s| (s.median, c.rate)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let dash = || "-".to_owned();
    Row {
        cells: vec![
            key.endpoint.name.clone(),
            key.server.to_string(),
            key.workers.to_string(),
            sustained.map_or_else(dash, |c| c.rate.to_string()),
            sustained.and_then(|c| c.stat(Metric::P99)).map_or_else(dash, |s| num(s.median)),
            best.map_or_else(dash, |(achieved, _)| num1(achieved)),
            best.map_or_else(dash, |(_, rate)| rate.to_string()),
        ],
        color: None,
        details: Vec::new(),
    }
}

/// The run's own notes and a count of everything a reader should discount.
fn caveats(view: &View<'_>, width: usize, color: bool) -> Vec<String> {
    let run = &view.results.run;
    let mut items: Vec<String> = run.notes.clone();
    for cell in &view.cells {
        for issue in cell.issues() {
            items.push(format!("{}: {issue}", cell.label()));
        }
    }
    let shared = view.shared_workers();
    if !shared.is_empty() {
        items.push(format!("Workers {} shared CPUs with the load generator (marked * in the tables).", join(&shared)));
    }
    if items.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![String::new(), paint("Caveats", ansi::BOLD, color)];
    for item in items {
        lines.extend(wrap(&format!("- {item}"), width, 2));
    }
    lines
}

/// An 80-column terminal must still get its chart pairs side by side.
const _: () = assert!(SIDE_BY_SIDE_WIDTH <= 80);
