//! The per-rate text table (the ancestor's "Rate N RPS" table, plus servers, workers and caveats), printed
//! after each rate and at the top of the terminal report.
//!
//! Each row is one server × workers × endpoint at that rate. With repeats the row shows medians and a dim
//! line under it gives the min–max spread. Caveats (failed, invalid, lost or phantom writes) get a `[n]`
//! marker that points to a footnote under the table, so rows stay one line wide; a `*` after the workers
//! count marks servers that shared CPUs with the load generator.

use crate::model::RunResults;

use super::summary::{Cell, Metric, Spread, View};
use super::text::{Column, Row, TextTable, ansi, num, num1, paint, wrap};

/// Endpoint names stay at least this wide while other columns can still be dropped: every catalogue name
/// is still told apart when cut to it.
pub(crate) const ENDPOINT_COMFORTABLE_WIDTH: usize = 20;

/// The width [`rate_table`] fits.
pub const TABLE_WIDTH: usize = 100;

/// The table for one target rate, at most 100 columns wide. No ANSI colour codes when `color` is false.
pub fn rate_table(results: &RunResults, rate: u32, color: bool) -> String {
    let view = View::new(results);
    let mut text = rate_table_lines(&view, rate, TABLE_WIDTH, color).join("\n");
    text.push('\n');
    text
}

/// The rate table as lines of at most `width` columns.
pub(crate) fn rate_table_lines(view: &View<'_>, rate: u32, width: usize, color: bool) -> Vec<String> {
    let cells: Vec<&Cell<'_>> = view.cells_at(rate).collect();
    let ceiling = view.results.run.calibration.as_ref().and_then(|c| c.ceiling_rps);
    let mut lines: Vec<String> =
        wrap(&title(&cells, rate, ceiling), width, 2).iter().map(|line| paint(line, ansi::BOLD, color)).collect();
    if cells.is_empty() {
        lines.push(format!("no tests ran at {rate} req/s"));
        return lines;
    }
    let mut footnotes = Footnotes::default();
    // Runs recorded before exact accounting have no CPU per request: no empty column for them.
    let with_cost = cells.iter().any(|c| c.stat(Metric::ServerUsPerRequest).is_some());
    let rows = cells.iter().map(|c| row(c, &mut footnotes, with_cost)).collect();
    let table = TextTable { columns: columns(with_cost), rows };
    let (body, dropped) = table.render(width, color);
    lines.extend(body);
    lines.extend(legend(&cells, &dropped, !footnotes.notes.is_empty(), width));
    for (number, note) in footnotes.notes.iter().enumerate() {
        let text = format!("[{}] {note}", number + 1);
        lines.extend(wrap(&text, width, 4));
    }
    lines
}

/// `ceiling`: the calibrated load-generator ceiling, so the title says how close to it this rate is.
fn title(cells: &[&Cell<'_>], rate: u32, ceiling: Option<u32>) -> String {
    let failed = cells.iter().filter(|c| !c.has_numbers()).count();
    let invalid = cells.iter().filter(|c| c.has_numbers() && !c.is_valid()).count();
    let mut caveats = Vec::new();
    if failed > 0 {
        caveats.push(format!("{failed} failed"));
    }
    if invalid > 0 {
        caveats.push(format!("{invalid} invalid"));
    }
    let caveats = if caveats.is_empty() { String::new() } else { format!(" ({})", caveats.join(", ")) };
    let share = ceiling
        .filter(|&c| c > 0)
        .map(|c| format!(" ({:.0}% of vegeta's ceiling)", f64::from(rate) / f64::from(c) * 100.0))
        .unwrap_or_default();
    format!("Target rate {rate} req/s{share}: {} results{caveats}", cells.len())
}

/// The columns that say which series a row is: every table of the terminal report opens with them.
pub(crate) fn series_columns() -> Vec<Column> {
    vec![
        Column::left("Endpoint").shrinkable(ENDPOINT_COMFORTABLE_WIDTH, 12),
        Column::left("Server"),
        Column::right("Workers", ""),
    ]
}

/// `with_cost`: a server CPU µs/request column next to CPU %.
fn columns(with_cost: bool) -> Vec<Column> {
    let mut columns = series_columns();
    columns.extend([
        Column::right("Target", "req/s"),
        Column::right("Achieved", "req/s"),
        Column::right("P50", "ms"),
        Column::right("Avg", "ms").droppable(1),
        Column::right("P95", "ms").droppable(3),
        Column::right("P99", "ms"),
        Column::right("Success", "%"),
        Column::right("CPU", "%").droppable(4),
    ]);
    if with_cost {
        columns.push(Column::right("CPU", "µs/req").droppable(5));
    }
    columns.extend([
        Column::right("RSS", "MB").droppable(2),
        // Footnote markers need no header: the notes under the table say what they mean.
        Column::left(""),
    ]);
    columns
}

fn row(cell: &Cell<'_>, footnotes: &mut Footnotes, with_cost: bool) -> Row {
    let value = |metric: Metric, format: fn(f64) -> String| {
        cell.stat(metric).map_or_else(|| "-".to_owned(), |s| format(s.median))
    };
    let workers = if cell.shared_cores() { format!("{}*", cell.workers) } else { cell.workers.to_string() };
    let markers: Vec<String> = cell.issues().into_iter().map(|issue| footnotes.marker(issue)).collect();
    let mut cells = vec![
        cell.endpoint.name.clone(),
        cell.server.to_string(),
        workers,
        cell.rate.to_string(),
        value(Metric::Achieved, num1),
        value(Metric::P50, num),
        value(Metric::Mean, num),
        value(Metric::P95, num),
        value(Metric::P99, num),
        value(Metric::SuccessPct, num1),
        value(Metric::ServerCpu, num1),
    ];
    if with_cost {
        cells.push(value(Metric::ServerUsPerRequest, num1));
    }
    cells.extend([value(Metric::ServerRssMb, num1), markers.join("")]);
    Row { cells, color: row_color(cell), details: spread_line(cell).into_iter().collect() }
}

/// Red when nothing was measured or writes were lost, yellow when some numbers are not to be trusted.
fn row_color(cell: &Cell<'_>) -> Option<&'static str> {
    let doubtful = !cell.is_valid()
        || !cell.invalid_records().is_empty()
        || !cell.failed().is_empty()
        || cell.phantom_writes() > 0;
    if !cell.has_numbers() || cell.lost_writes() > 0 {
        Some(ansi::RED)
    } else if doubtful {
        Some(ansi::YELLOW)
    } else {
        None
    }
}

/// `↳ median of 2 repeats; min–max: achieved 998.2–999.5 req/s, ...` when the cell was repeated.
fn spread_line(cell: &Cell<'_>) -> Option<String> {
    let achieved = cell.stat(Metric::Achieved)?;
    if achieved.n < 2 {
        return None;
    }
    let ranges: Vec<String> = [Metric::Achieved, Metric::P50, Metric::P99, Metric::SuccessPct]
        .into_iter()
        .filter_map(|m| cell.stat(m).map(|s| range_text(m, s)))
        .collect();
    Some(format!("    ↳ median of {} repeats; min–max: {}", achieved.n, ranges.join(", ")))
}

fn range_text(metric: Metric, spread: Spread) -> String {
    format!("{} {}–{} {}", metric.label(), num(spread.min), num(spread.max), metric.unit())
}

/// What the markers and abbreviations mean, plus which columns the width forced out.
fn legend(cells: &[&Cell<'_>], dropped: &[&str], has_footnotes: bool, width: usize) -> Vec<String> {
    let mut parts = Vec::new();
    if cells.iter().any(|c| c.shared_cores()) {
        parts.push("* server shared CPUs with the load generator.".to_owned());
    }
    parts.push(
        "CPU: server process mean, % of one core (200% = two cores busy). RSS: server mean resident memory.".to_owned(),
    );
    if has_footnotes {
        parts.push("[n]: see note n below.".to_owned());
    }
    if !dropped.is_empty() {
        parts.push(format!("Columns left out to fit {width} columns: {}.", dropped.join(", ")));
    }
    wrap(&parts.join(" "), width, 0)
}

/// Footnotes shared by identical caveats, numbered in order of first use.
#[derive(Debug, Default)]
struct Footnotes {
    notes: Vec<String>,
}

impl Footnotes {
    fn marker(&mut self, note: String) -> String {
        let index = match self.notes.iter().position(|n| *n == note) {
            Some(index) => index,
            None => {
                self.notes.push(note);
                self.notes.len() - 1
            }
        };
        format!("[{}]", index + 1)
    }
}
