//! The HTML report's interactive charts, as plotly.js figures.
//!
//! Visual encoding, the same in every chart: colour = server, dash = workers count, marker symbol =
//! endpoint; a hollow marker is an invalid result; error bars span min–max over repeats around the
//! median. Endpoints sit in panels of their own, so a panel holds at most servers × workers lines.
//!
//! Traces are typed `plotly` structs; the layout is built as JSON because panel grids need more axes than
//! the crate's `Layout` offers (it stops at eight). Each figure becomes a `<div class="chart">` plus one
//! `Plotly.newPlot` call, against the plotly.js the page embeds once in its `<head>`.

use plotly::common::{
    DashType, ErrorData, ErrorType, HoverInfo, Line, Marker, MarkerSymbol, Mode, Pattern, PatternFillMode, PatternShape,
};
use plotly::{Bar, Scatter};
use serde_json::{Value, json};

use crate::model::{Arm, CapacityResult, EndpointRef};

mod capacity;
mod distribution;
mod noise;
mod rate;
mod scaling;

pub(crate) use capacity::*;
pub(crate) use distribution::*;
pub(crate) use noise::*;
pub(crate) use rate::*;
pub(crate) use scaling::*;

use super::summary::{Cell, Family, Metric, SeriesKey, Spread, View, workers_text};
use super::text::{num, num1};

/// Largest number of panels side by side before a grid wraps to a new row.
const MAX_COLUMNS: usize = 4;
/// Height of one row of panels, pixels.
const ROW_HEIGHT_PX: usize = 270;
/// Room for the title, subtitle and the bottom axis title, pixels.
const CHROME_HEIGHT_PX: usize = 170;
/// Height of one legend entry, and of the legend's title, pixels.
const LEGEND_ENTRY_PX: usize = 25;
const LEGEND_TITLE_PX: usize = 40;
/// Room for each extra subtitle line (failed tests, lost writes), pixels.
const SUBTITLE_LINE_PX: usize = 24;
/// Vertical room between rows of panels (panel title and x-axis labels), pixels.
const ROW_GAP_PX: f64 = 95.0;

/// Server colours, in the order the run lists its servers (the first two are the classic orange and
/// blue); a run with more servers than colours cycles through them.
const SERVER_COLORS: &[&str] = &["#E8590C", "#1C7ED6", "#2B8A3E", "#AE3EC9", "#C2255C", "#0B7285", "#5C940D"];
/// Line dash per workers count, in ascending workers order.
const DASHES: &[(DashType, &str)] = &[
    (DashType::Solid, ""),
    (DashType::Dash, "9,5"),
    (DashType::Dot, "2,4"),
    (DashType::DashDot, "9,4,2,4"),
    (DashType::LongDash, "16,5"),
    (DashType::LongDashDot, "16,4,2,4"),
];
/// Marker per endpoint, in run order: (filled, hollow, glyph for titles and legends).
const SYMBOLS: &[(MarkerSymbol, MarkerSymbol, &str)] = &[
    (MarkerSymbol::Circle, MarkerSymbol::CircleOpen, "●"),
    (MarkerSymbol::Square, MarkerSymbol::SquareOpen, "■"),
    (MarkerSymbol::Diamond, MarkerSymbol::DiamondOpen, "◆"),
    (MarkerSymbol::TriangleUp, MarkerSymbol::TriangleUpOpen, "▲"),
    (MarkerSymbol::TriangleDown, MarkerSymbol::TriangleDownOpen, "▼"),
    (MarkerSymbol::Pentagon, MarkerSymbol::PentagonOpen, "⬟"),
    (MarkerSymbol::Hexagon, MarkerSymbol::HexagonOpen, "⬢"),
    (MarkerSymbol::Star, MarkerSymbol::StarOpen, "★"),
    (MarkerSymbol::Cross, MarkerSymbol::CrossOpen, "✚"),
    (MarkerSymbol::X, MarkerSymbol::XOpen, "✖"),
    (MarkerSymbol::Hourglass, MarkerSymbol::HourglassOpen, "⧗"),
    (MarkerSymbol::BowTie, MarkerSymbol::BowTieOpen, "⋈"),
];
const GREY: &str = "#868E96";
const X_TITLE_RATE: &str = "target rate (req/s)";

/// One chart: a stable element id, its plotly traces and layout.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub id: String,
    pub title: String,
    pub data: Vec<Value>,
    pub layout: Value,
    pub height_px: usize,
}

impl Figure {
    /// The chart's `<div class="chart">` and the script that draws it.
    pub fn to_html(&self) -> String {
        let config = json!({"responsive": true, "displaylogo": false});
        format!(
            "<div id=\"{id}\" class=\"chart\" style=\"height:{h}px\" data-title=\"{title}\"></div>\n\
             <script>Plotly.newPlot({id_js}, {data}, {layout}, {config});</script>\n",
            id = self.id,
            h = self.height_px,
            title = super::text::escape(&self.title),
            id_js = script_json(&json!(self.id)),
            data = script_json(&Value::Array(self.data.clone())),
            layout = script_json(&self.layout),
            config = script_json(&config),
        )
    }
}

/// JSON safe inside a `<script>` element: `<`, `>` and `&` escaped, so no text can close the element.
pub(crate) fn script_json(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// The look of everything drawn for one server × workers × endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Style {
    pub color: String,
    pub dash: DashType,
    pub symbol: MarkerSymbol,
    pub hollow: MarkerSymbol,
}

/// The colour of a server: the same hue in every chart (and close to the terminal's).
pub(crate) fn server_color(view: &View<'_>, server: Arm<'_>) -> String {
    SERVER_COLORS[view.server_index(server) % SERVER_COLORS.len()].to_owned()
}

/// SVG `stroke-dasharray` of a workers count, for the page's legend.
pub(crate) fn dash_pattern(view: &View<'_>, workers: u16) -> &'static str {
    DASHES[view.workers_index(workers) % DASHES.len()].1
}

/// The glyph standing for an endpoint's marker symbol, for titles and the page's legend.
pub(crate) fn endpoint_glyph(view: &View<'_>, endpoint: &EndpointRef) -> &'static str {
    SYMBOLS[view.endpoint_index(endpoint) % SYMBOLS.len()].2
}

fn style(view: &View<'_>, key: SeriesKey<'_>) -> Style {
    let (symbol, hollow, _) = SYMBOLS[view.endpoint_index(key.endpoint) % SYMBOLS.len()].clone();
    Style {
        color: server_color(view, key.server),
        dash: DASHES[view.workers_index(key.workers) % DASHES.len()].0.clone(),
        symbol,
        hollow,
    }
}

/// Legend name and group of a server × workers line.
fn series_name(server: Arm<'_>, workers: u16) -> (String, String) {
    (format!("{server} · {}", workers_text(workers)), format!("{}-w{workers}", server.file_name()))
}

/// A panel of a grid: its title and axes.
#[derive(Debug, Clone)]
struct Panel {
    title: String,
    x_title: String,
    y_title: String,
    y_log: bool,
    /// Fixed y range (e.g. 0–105 for percentages); autorange otherwise.
    y_range: Option<[f64; 2]>,
    x_ticks: Vec<f64>,
    /// Labels for `x_ticks`; the numbers themselves when empty.
    x_tick_text: Vec<String>,
    /// Shade target rates above this one: the load generator's calibrated ceiling.
    shade_from: Option<f64>,
    /// Every line agrees with the others within noise: a linear axis from zero, and a note saying so.
    within_noise: bool,
}

impl Panel {
    /// A panel with linear axes, automatic ranges and numeric ticks; callers override what differs.
    fn new(title: impl Into<String>, x_title: impl Into<String>, y_title: impl Into<String>) -> Panel {
        Panel {
            title: title.into(),
            x_title: x_title.into(),
            y_title: y_title.into(),
            y_log: false,
            y_range: None,
            x_ticks: Vec::new(),
            x_tick_text: Vec::new(),
            shade_from: None,
            within_noise: false,
        }
    }

    /// A panel against the target rate, shaded above the calibrated ceiling.
    fn against_rate(view: &View<'_>, title: String, y_title: impl Into<String>) -> Panel {
        Panel { x_ticks: rate_ticks(view), shade_from: ceiling(view), ..Panel::new(title, X_TITLE_RATE, y_title) }
    }
}

/// The load generator's calibrated ceiling, when the run has one.
fn ceiling(view: &View<'_>) -> Option<f64> {
    view.results.run.calibration.as_ref().and_then(|c| c.ceiling_rps).map(f64::from)
}

/// Axis names of panel `index`: `("x", "y")`, `("x2", "y2")`, ...
fn axis_refs(index: usize) -> (String, String) {
    if index == 0 { ("x".into(), "y".into()) } else { (format!("x{}", index + 1), format!("y{}", index + 1)) }
}

/// The layout of a grid of panels (row-major, `None` = empty slot) under one title.
fn grid_layout(
    title: &str,
    subtitle: &str,
    panels: &[Option<Panel>],
    columns: usize,
    data: &[Value],
) -> (Value, usize) {
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let plot_px = rows * ROW_HEIGHT_PX;
    let extra_subtitle_px = subtitle.matches("<br>").count() * SUBTITLE_LINE_PX;
    let legend_entries = data.iter().filter(|t| t["showlegend"].as_bool() != Some(false)).count();
    // Tall enough for the legend beside the panels: plotly would give it a scroll bar otherwise.
    let plot_px = plot_px.max(legend_entries * LEGEND_ENTRY_PX + LEGEND_TITLE_PX);
    let height = plot_px + CHROME_HEIGHT_PX + extra_subtitle_px;
    let v_gap = if rows > 1 { ROW_GAP_PX / plot_px as f64 } else { 0.0 };
    let h_gap = 0.07;
    let mut layout = json!({
        "title": {"text": format!("<b>{title}</b>"), "subtitle": {"text": subtitle}, "x": 0.0, "xanchor": "left"},
        "height": height,
        "margin": {"t": 110 + extra_subtitle_px, "b": 70, "l": 70, "r": 20},
        "hovermode": "closest",
        "legend": {"title": {"text": "server · workers"}},
        "annotations": [],
        "plot_bgcolor": "#FBFBFC",
    });
    let mut annotations = Vec::new();
    for (index, panel) in panels.iter().enumerate() {
        let Some(panel) = panel else { continue };
        let (row, col) = (index / columns, index % columns);
        let x0 = col as f64 / columns as f64 + if col > 0 { h_gap / 2.0 } else { 0.0 };
        let x1 = (col + 1) as f64 / columns as f64 - if col + 1 < columns { h_gap / 2.0 } else { 0.0 };
        let y1 = 1.0 - row as f64 / rows as f64 - if row > 0 { v_gap / 2.0 } else { 0.0 };
        let y0 = 1.0 - (row + 1) as f64 / rows as f64 + if row + 1 < rows { v_gap / 2.0 } else { 0.0 };
        let (x_ref, y_ref) = axis_refs(index);
        let x_key = x_ref.replace('x', "xaxis");
        let y_key = y_ref.replace('y', "yaxis");
        layout[x_key] = x_axis(panel, [x0, x1], &y_ref);
        layout[y_key] = y_axis(panel, [y0, y1], &x_ref, &panel_values(data, &y_ref));
        annotations.push(json!({
            "text": format!("<b>{}</b>", panel.title), "showarrow": false,
            "xref": "paper", "yref": "paper", "x": (x0 + x1) / 2.0, "y": y1,
            "xanchor": "center", "yanchor": "bottom", "font": {"size": 13},
        }));
        if panel.within_noise {
            annotations.push(json!({
                "text": format!("{WITHIN_NOISE} (axis from zero)"), "showarrow": false,
                "xref": "paper", "yref": "paper", "x": x0 + 0.01, "y": y1 - 0.01,
                "xanchor": "left", "yanchor": "top", "font": {"size": 11, "color": "#2B8A3E"},
                "bgcolor": "rgba(255,255,255,0.8)",
            }));
        }
    }
    let mut shapes = Vec::new();
    for (index, panel) in panels.iter().enumerate() {
        if let Some(panel) = panel {
            shade_above_ceiling(panel, &axis_refs(index), &mut shapes, &mut annotations);
        }
    }
    layout["annotations"] = Value::Array(annotations);
    layout["shapes"] = Value::Array(shapes);
    (layout, height)
}

/// Rates get one labelled tick each up to this many; beyond it (saturation searches probe many rates)
/// plotly picks the ticks so the labels do not collide.
const MAX_LABELLED_TICKS: usize = 8;

/// Greys out the rates above the load generator's ceiling: results there measure vegeta, not the server.
fn shade_above_ceiling(
    panel: &Panel,
    (x_ref, y_ref): &(String, String),
    shapes: &mut Vec<Value>,
    annotations: &mut Vec<Value>,
) {
    let Some(ceiling) = panel.shade_from else { return };
    let top = panel.x_ticks.iter().copied().fold(f64::MIN, f64::max);
    if top <= ceiling {
        return;
    }
    let y_domain = format!("{y_ref} domain");
    shapes.push(json!({
        "type": "rect", "layer": "below", "xref": x_ref, "yref": y_domain,
        "x0": ceiling, "x1": top * 1.05, "y0": 0, "y1": 1,
        "fillcolor": GREY, "opacity": 0.15, "line": {"width": 0},
    }));
    annotations.push(json!({
        "text": format!("above vegeta's ceiling ({ceiling:.0} req/s)"), "showarrow": false,
        "xref": x_ref, "yref": y_domain, "x": ceiling, "y": 1.0, "xanchor": "left", "yanchor": "top",
        "font": {"size": 10, "color": "#495057"},
    }));
}

fn x_axis(panel: &Panel, domain: [f64; 2], anchor: &str) -> Value {
    let mut axis = json!({
        "domain": domain, "anchor": anchor, "title": {"text": panel.x_title, "standoff": 6},
        "zeroline": false, "showline": true, "linecolor": "#ADB5BD", "automargin": true,
    });
    if panel.x_ticks.is_empty() {
        axis["type"] = json!("category");
    } else if panel.x_ticks.len() <= MAX_LABELLED_TICKS {
        let text: Vec<String> = if panel.x_tick_text.is_empty() {
            panel.x_ticks.iter().map(|t| format!("{t:.0}")).collect()
        } else {
            panel.x_tick_text.clone()
        };
        axis["tickmode"] = json!("array");
        axis["tickvals"] = json!(panel.x_ticks);
        axis["ticktext"] = json!(text);
    }
    axis
}

/// Every finite y value the traces draw on the axis `y_ref`.
fn panel_values(data: &[Value], y_ref: &str) -> Vec<f64> {
    data.iter()
        .filter(|trace| trace["yaxis"].as_str().unwrap_or("y") == y_ref)
        .filter_map(|trace| trace["y"].as_array())
        .flatten()
        .filter_map(Value::as_f64)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect()
}

/// Ticks at 1, 2 and 5 × 10^k spanning `values`, labelled in full: plotly's own log ticks label the
/// 2s and 5s with a bare digit, which reads as a value. `None` when fewer than three would show (a
/// narrow range), so plotly picks linear-looking ticks itself.
fn log_ticks(values: &[f64]) -> Option<(Vec<f64>, Vec<String>)> {
    let low = values.iter().copied().fold(f64::MAX, f64::min);
    let high = values.iter().copied().fold(f64::MIN, f64::max);
    if values.is_empty() {
        return None;
    }
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(low.log10().floor() - 1.0);
    while decade <= high * 10.0 {
        for step in [1.0, 2.0, 5.0] {
            let tick = step * decade;
            if tick >= low / 1.6 && tick <= high * 1.6 {
                ticks.push(tick);
            }
        }
        decade *= 10.0;
    }
    if ticks.len() < 3 {
        return None;
    }
    let text = ticks.iter().map(|t| tick_label(*t)).collect();
    Some((ticks, text))
}

/// `0.05`, `0.2`, `1`, `20`, `5000`: as many decimals as the tick needs, no exponent.
fn tick_label(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.0}")
    } else {
        let decimals = (-value.log10()).ceil().max(1.0) as usize;
        format!("{value:.decimals$}")
    }
}

fn y_axis(panel: &Panel, domain: [f64; 2], anchor: &str, values: &[f64]) -> Value {
    // Lines within noise of each other are not stretched apart by a log or autoscaled axis.
    let y_log = panel.y_log && !panel.within_noise;
    let mut axis = json!({
        "domain": domain, "anchor": anchor, "title": {"text": if y_log { panel.y_title.clone() } else { panel.y_title.replace(", log)", ")") }},
        "type": if y_log { "log" } else { "linear" },
        "showline": true, "linecolor": "#ADB5BD", "automargin": true, "rangemode": "tozero",
    });
    if let Some(range) = panel.y_range {
        axis["range"] = json!(range);
    }
    if y_log && let Some((values, text)) = log_ticks(values) {
        axis["tickmode"] = json!("array");
        axis["tickvals"] = json!(values);
        axis["ticktext"] = json!(text);
    }
    axis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_put_the_tail_on_equal_steps() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert!(nines(100.0) > nines(99.99));
    }

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let text = script_json(&json!({"a": "</script><b>&"}));
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
    }
}
