//! ASCII line charts for the terminal: one chart is a few series of (target rate, value) points on a
//! linear or logarithmic y axis, drawn in a box of a given width so it never spills past the terminal.
//!
//! Each series has its own marker character; `.` joins a series' points, `!` marks an invalid point, `&`
//! marks points of several series that fall on the same character cell, and `-` draws the y = x target
//! reference when a chart asks for it.

use super::text::{ansi, paint, truncate};

/// Rows of the plotting area; 9 rows put ticks on the quarters.
pub(crate) const PLOT_HEIGHT: usize = 9;
/// Narrower charts cannot label their axes legibly.
pub(crate) const MIN_CHART_WIDTH: usize = 30;

/// Marks an invalid point: its series is named in the table's footnotes.
pub(crate) const INVALID_MARK: char = '!';
/// Marks a cell where points of several series coincide.
pub(crate) const OVERLAP_MARK: char = '&';
/// Draws the y = x target reference.
pub(crate) const TARGET_MARK: char = '-';
const JOIN_MARK: char = '.';

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
    pub valid: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub marker: char,
    /// ANSI colour code used when colour is on.
    pub color: &'static str,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    Log,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chart {
    pub title: String,
    /// Printed above the y axis, with the unit.
    pub y_title: String,
    pub x_title: String,
    pub scale: Scale,
    /// Draw y = x (the target rate) for reference.
    pub diagonal: bool,
    /// The x positions to label (the target rates).
    pub x_ticks: Vec<f64>,
    pub series: Vec<Series>,
}

/// One character cell of the plotting area.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mark {
    glyph: char,
    color: Option<&'static str>,
    /// Which series put a point here; `usize::MAX` for lines and references.
    owner: usize,
}

const BLANK: Mark = Mark { glyph: ' ', color: None, owner: usize::MAX };

impl Chart {
    /// The chart as lines of exactly `width` visible columns or fewer.
    pub fn render(&self, width: usize, color: bool) -> Vec<String> {
        let width = width.max(MIN_CHART_WIDTH);
        let Some(y_axis) = self.y_axis() else {
            return vec![truncate(&self.title, width), truncate("(no measured points)", width)];
        };
        let labels = y_axis.labels(PLOT_HEIGHT);
        let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
        let plot_width = width - label_width - 2;
        let x_axis = XAxis::new(&self.x_ticks, plot_width);
        let grid = self.draw(&x_axis, &y_axis, plot_width);
        let mut lines = vec![paint(&truncate(&self.title, width), ansi::BOLD, color), truncate(&self.y_title, width)];
        for (row, label) in grid.iter().zip(&labels) {
            let marks: String = row.iter().map(|m| paint_mark(*m, color)).collect();
            lines.push(format!("{label:>label_width$} |{marks}"));
        }
        let pad = " ".repeat(label_width);
        lines.push(format!("{pad} +{}", x_axis.rule()));
        lines.push(format!("{pad}  {}", x_axis.labels(&self.x_ticks)));
        lines.push(format!("{pad}  {:^plot_width$}", truncate(&self.x_title, plot_width)));
        lines.into_iter().map(|line| line.trim_end().to_owned()).collect()
    }

    fn y_axis(&self) -> Option<YAxis> {
        let mut values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.y))
            .filter(|y| y.is_finite() && (self.scale == Scale::Linear || *y > 0.0))
            .collect();
        if values.is_empty() {
            return None;
        }
        if self.diagonal {
            values.extend(self.x_ticks.iter().copied());
        }
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        let min = values.iter().copied().fold(f64::MAX, f64::min);
        Some(match self.scale {
            Scale::Linear => YAxis::linear(max),
            Scale::Log => YAxis::log(min, max),
        })
    }

    fn draw(&self, x_axis: &XAxis, y_axis: &YAxis, plot_width: usize) -> Vec<Vec<Mark>> {
        let mut grid = vec![vec![BLANK; plot_width]; PLOT_HEIGHT];
        if self.diagonal {
            for col in (0..plot_width).step_by(2) {
                if let Some(row) = x_axis.value_at(col).and_then(|x| y_axis.row(x)) {
                    grid[row][col] = Mark { glyph: TARGET_MARK, color: Some(ansi::DIM), owner: usize::MAX };
                }
            }
        }
        for series in &self.series {
            draw_joins(&mut grid, series, x_axis, y_axis);
        }
        for (owner, series) in self.series.iter().enumerate() {
            for point in &series.points {
                let (Some(row), col) = (y_axis.row(point.y), x_axis.col(point.x)) else {
                    continue;
                };
                let here = &mut grid[row][col];
                let glyph = if point.valid { series.marker } else { INVALID_MARK };
                *here = if here.owner != usize::MAX && here.owner != owner {
                    Mark { glyph: OVERLAP_MARK, color: None, owner }
                } else {
                    Mark { glyph, color: Some(series.color), owner }
                };
            }
        }
        grid
    }
}

/// Joins consecutive valid points of a series with dots, never over a marker.
fn draw_joins(grid: &mut [Vec<Mark>], series: &Series, x_axis: &XAxis, y_axis: &YAxis) {
    let mut points: Vec<&Point> = series.points.iter().filter(|p| p.valid).collect();
    points.sort_by(|a, b| a.x.total_cmp(&b.x));
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (Some(ya), Some(yb)) = (y_axis.position(a.y), y_axis.position(b.y)) else {
            continue;
        };
        let (ca, cb) = (x_axis.col(a.x), x_axis.col(b.x));
        let cells = (ca + 1..cb).map(|col| {
            let t = (col - ca) as f64 / (cb - ca) as f64;
            (y_axis.row_of_position(ya + (yb - ya) * t), col)
        });
        for (row, col) in cells {
            let here = &mut grid[row][col];
            if here.glyph == ' ' || here.glyph == TARGET_MARK {
                *here = Mark { glyph: JOIN_MARK, color: Some(series.color), owner: usize::MAX };
            }
        }
    }
}

fn paint_mark(mark: Mark, color: bool) -> String {
    match mark.color {
        Some(code) => paint(&mark.glyph.to_string(), code, color),
        None => mark.glyph.to_string(),
    }
}

/// Maps target rates to columns, leaving room at both ends for the tick labels.
#[derive(Debug)]
struct XAxis {
    min: f64,
    max: f64,
    first_col: usize,
    last_col: usize,
    width: usize,
}

impl XAxis {
    fn new(ticks: &[f64], width: usize) -> XAxis {
        let min = ticks.iter().copied().fold(f64::MAX, f64::min);
        let max = ticks.iter().copied().fold(f64::MIN, f64::max);
        let margin = 3.min(width / 4);
        XAxis { min, max, first_col: margin, last_col: width.saturating_sub(margin + 1), width }
    }

    fn col(&self, x: f64) -> usize {
        if self.max <= self.min || !x.is_finite() {
            return self.width / 2;
        }
        let t = ((x - self.min) / (self.max - self.min)).clamp(0.0, 1.0);
        let span = (self.last_col - self.first_col) as f64;
        self.first_col + (t * span).round() as usize
    }

    /// The x value a column stands for, inside the ticks' range only.
    fn value_at(&self, col: usize) -> Option<f64> {
        if self.max <= self.min || col < self.first_col || col > self.last_col {
            return None;
        }
        let t = (col - self.first_col) as f64 / (self.last_col - self.first_col) as f64;
        Some(self.min + t * (self.max - self.min))
    }

    fn rule(&self) -> String {
        let mut rule = vec!['-'; self.width];
        for col in [self.first_col, self.last_col] {
            if let Some(c) = rule.get_mut(col) {
                *c = '+';
            }
        }
        rule.into_iter().collect()
    }

    /// Tick labels centred under their columns; a label that would overlap its neighbour is left out.
    fn labels(&self, ticks: &[f64]) -> String {
        let mut line = vec![' '; self.width];
        let mut free_from = 0;
        for &tick in ticks {
            let label = short_number(tick);
            let len = label.chars().count();
            let start = self.col(tick).saturating_sub(len / 2).min(self.width.saturating_sub(len));
            if start < free_from {
                continue;
            }
            for (i, c) in label.chars().enumerate() {
                line[start + i] = c;
            }
            free_from = start + len + 1;
        }
        line.into_iter().collect::<String>().trim_end().to_owned()
    }
}

/// Maps values to rows: row 0 is the top.
#[derive(Debug)]
struct YAxis {
    scale: Scale,
    /// Bottom and top of the axis, in the scale's units (log10 for a log axis).
    low: f64,
    high: f64,
}

impl YAxis {
    fn linear(max: f64) -> YAxis {
        YAxis { scale: Scale::Linear, low: 0.0, high: nice_ceiling(max) }
    }

    fn log(min: f64, max: f64) -> YAxis {
        let low = min.log10().floor();
        let high = max.log10().ceil().max(low + 1.0);
        YAxis { scale: Scale::Log, low, high }
    }

    /// A value's position on the axis, in the scale's units.
    fn position(&self, value: f64) -> Option<f64> {
        match self.scale {
            Scale::Linear => value.is_finite().then_some(value),
            Scale::Log => (value > 0.0 && value.is_finite()).then(|| value.log10()),
        }
    }

    fn row(&self, value: f64) -> Option<usize> {
        self.position(value).map(|p| self.row_of_position(p))
    }

    fn row_of_position(&self, position: f64) -> usize {
        let t = ((self.high - position) / (self.high - self.low)).clamp(0.0, 1.0);
        (t * (PLOT_HEIGHT - 1) as f64).round() as usize
    }

    /// One label per row: quarters on a linear axis, decades on a log axis, blank elsewhere.
    fn labels(&self, height: usize) -> Vec<String> {
        let mut labels = vec![String::new(); height];
        let last = height - 1;
        match self.scale {
            Scale::Linear => {
                for row in (0..height).step_by((last / 4).max(1)) {
                    let value = self.high - (self.high - self.low) * row as f64 / last as f64;
                    labels[row] = short_number(value);
                }
            }
            Scale::Log => {
                let mut decade = self.low;
                while decade <= self.high {
                    let row = self.row_of_position(decade);
                    if labels[row].is_empty() {
                        labels[row] = short_number(10f64.powf(decade));
                    }
                    decade += 1.0;
                }
            }
        }
        labels
    }
}

/// The smallest 1, 2, 2.5 or 5 × 10^k at or above `value`, so linear ticks land on round numbers.
fn nice_ceiling(value: f64) -> f64 {
    if value.is_nan() || value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= value * 0.999_999)
        .unwrap_or(10.0 * magnitude)
}

/// `0.01`, `0.5`, `20`, `750`, `1k`, `2.5k`, `10k`, `1M`: short enough for axis labels.
pub(crate) fn short_number(value: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
    };
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{}M", trim(format!("{:.1}", value / 1e6)))
    } else if magnitude >= 1e3 {
        format!("{}k", trim(format!("{:.1}", value / 1e3)))
    } else if magnitude >= 1.0 || magnitude == 0.0 {
        trim(format!("{value:.1}"))
    } else {
        trim(format!("{value:.3}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(scale: Scale) -> Chart {
        Chart {
            title: "p99 latency".into(),
            y_title: "ms".into(),
            x_title: "target rate (req/s)".into(),
            scale,
            diagonal: scale == Scale::Linear,
            x_ticks: vec![500.0, 1000.0, 2000.0],
            series: vec![Series {
                marker: 'o',
                color: ansi::CYAN,
                points: vec![Point { x: 500.0, y: 0.4, valid: true }, Point { x: 2000.0, y: 10_000.0, valid: false }],
            }],
        }
    }

    #[test]
    fn charts_fit_their_width() {
        for scale in [Scale::Linear, Scale::Log] {
            for width in [30, 47, 80] {
                let lines = chart(scale).render(width, false);
                assert!(lines.iter().all(|l| l.chars().count() <= width), "{lines:#?}");
                assert!(lines.iter().any(|l| l.contains('o')));
                assert!(lines.iter().any(|l| l.contains(INVALID_MARK)));
            }
        }
    }

    #[test]
    fn short_numbers_read_like_axis_labels() {
        assert_eq!(short_number(2500.0), "2.5k");
        assert_eq!(short_number(1000.0), "1k");
        assert_eq!(short_number(0.1), "0.1");
        assert_eq!(short_number(750.0), "750");
        assert_eq!(nice_ceiling(1043.0), 2000.0);
        assert_eq!(nice_ceiling(999.0), 1000.0);
    }
}
