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

use crate::results::{CapacityResult, EndpointRef};

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

/// Colours for servers the palette does not name, in server order.
const FALLBACK_COLORS: &[&str] = &["#2B8A3E", "#AE3EC9", "#C2255C", "#0B7285", "#5C940D"];
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
            title = super::html::escape(&self.title),
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
pub(crate) fn server_color(view: &View<'_>, server: &str) -> String {
    match server {
        "axum" => "#E8590C".to_owned(),
        "monoio" => "#1C7ED6".to_owned(),
        _ => FALLBACK_COLORS[view.server_index(server) % FALLBACK_COLORS.len()].to_owned(),
    }
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
fn series_name(server: &str, workers: u16) -> (String, String) {
    (format!("{server} · {}", workers_text(workers)), format!("{server}-w{workers}"))
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
    let mut axis = json!({
        "domain": domain, "anchor": anchor, "title": {"text": panel.y_title},
        "type": if panel.y_log { "log" } else { "linear" },
        "showline": true, "linecolor": "#ADB5BD", "automargin": true, "rangemode": "tozero",
    });
    if let Some(range) = panel.y_range {
        axis["range"] = json!(range);
    }
    if panel.y_log
        && let Some((values, text)) = log_ticks(values)
    {
        axis["tickmode"] = json!("array");
        axis["tickvals"] = json!(values);
        axis["ticktext"] = json!(text);
    }
    axis
}

/// How one chart against target rate reads its metric.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateChart {
    pub metric: Metric,
    /// Used in the element id: `chart-{slug}-{family}`.
    pub slug: &'static str,
    pub title: &'static str,
    pub y_title: &'static str,
    pub y_log: bool,
    pub y_range: Option<[f64; 2]>,
    /// Draw the y = x target line (achieved rate charts).
    pub target_line: bool,
}

/// The seed's five charts, each against target rate.
pub(crate) const RATE_CHARTS: &[RateChart] = &[
    RateChart {
        metric: Metric::Achieved,
        slug: "achieved",
        title: "Achieved rate vs target rate",
        y_title: "achieved (req/s, HTTP 200 only)",
        y_log: false,
        y_range: None,
        target_line: true,
    },
    RateChart {
        metric: Metric::SuccessPct,
        slug: "success",
        title: "Success rate vs target rate",
        y_title: "success (% of requests with HTTP 200)",
        y_log: false,
        y_range: Some([0.0, 105.0]),
        target_line: false,
    },
    RateChart {
        metric: Metric::ServerCpu,
        slug: "cpu",
        title: "Server CPU vs target rate",
        y_title: "server CPU (% of one core)",
        y_log: false,
        y_range: None,
        target_line: false,
    },
    RateChart {
        metric: Metric::ServerRssMb,
        slug: "memory",
        title: "Server memory vs target rate",
        y_title: "server RSS, mean (MB)",
        y_log: false,
        y_range: None,
        target_line: false,
    },
];

/// Percentile rows of the latency chart.
const LATENCY_ROWS: &[Metric] = &[Metric::P50, Metric::P95, Metric::P99];

fn rate_ticks(view: &View<'_>) -> Vec<f64> {
    view.rates.iter().map(|&r| f64::from(r)).collect()
}

/// A rate chart for one endpoint family: one panel per endpoint.
pub(crate) fn rate_chart(view: &View<'_>, family: Family, endpoints: &[&EndpointRef], chart: &RateChart) -> Figure {
    let columns = endpoints.len().clamp(1, MAX_COLUMNS);
    let panels: Vec<Option<Panel>> = endpoints
        .iter()
        .map(|e| {
            Some(Panel {
                y_log: chart.y_log,
                y_range: chart.y_range,
                ..Panel::against_rate(view, format!("{} {}", endpoint_glyph(view, e), e.name), chart.y_title)
            })
        })
        .collect();
    let mut data = Vec::new();
    for (index, endpoint) in endpoints.iter().enumerate() {
        let axes = axis_refs(index);
        if chart.target_line {
            data.push(target_line(view, &axes, index == 0));
        }
        for key in view.series_for(endpoint) {
            data.extend(metric_traces(view, key, chart.metric, &axes));
        }
    }
    let title = format!("{} — {}", chart.title, family.title());
    finish(
        format!("chart-{}-{}", chart.slug, family.slug()),
        &title,
        &subtitle(view, endpoints),
        panels,
        columns,
        data,
        view,
        endpoints,
    )
}

/// Latency against target rate for one family: a row of panels per percentile, a column per endpoint.
pub(crate) fn latency_chart(view: &View<'_>, family: Family, endpoints: &[&EndpointRef]) -> Figure {
    let columns = endpoints.len().clamp(1, MAX_COLUMNS);
    let rows_per_percentile = endpoints.len().div_ceil(columns).max(1);
    let mut panels: Vec<Option<Panel>> = Vec::new();
    let mut data = Vec::new();
    for &metric in LATENCY_ROWS {
        let base = panels.len();
        panels.resize(base + rows_per_percentile * columns, None);
        for (offset, endpoint) in endpoints.iter().enumerate() {
            let index = base + offset;
            let title = format!("{} {} — {}", endpoint_glyph(view, endpoint), endpoint.name, metric.label());
            let y_title = format!("{} latency (ms, log)", metric.label());
            panels[index] = Some(Panel { y_log: true, ..Panel::against_rate(view, title, y_title) });
            for key in view.series_for(endpoint) {
                data.extend(metric_traces(view, key, metric, &axis_refs(index)));
            }
        }
    }
    let title = format!("Latency vs target rate (p50, p95, p99) — {}", family.title());
    finish(
        format!("chart-latency-{}", family.slug()),
        &title,
        &subtitle(view, endpoints),
        panels,
        columns,
        data,
        view,
        endpoints,
    )
}

/// Assembles a figure: legend entries, layout and height.
#[allow(clippy::too_many_arguments)]
fn finish(
    id: String,
    title: &str,
    subtitle: &str,
    panels: Vec<Option<Panel>>,
    columns: usize,
    mut data: Vec<Value>,
    view: &View<'_>,
    endpoints: &[&EndpointRef],
) -> Figure {
    data.extend(legend_entries(view, endpoints, &data));
    let (layout, height_px) = grid_layout(title, subtitle, &panels, columns, &data);
    Figure { id, title: title.to_owned(), data, layout, height_px }
}

/// The chart's fine print: how to read it, and which tests it cannot show.
fn subtitle(view: &View<'_>, endpoints: &[&EndpointRef]) -> String {
    let mut text = "Points: median over repeats; error bars: min–max; hollow markers: invalid results \
                    (reason in hover)."
        .to_owned();
    let cells: Vec<&Cell<'_>> =
        view.cells.iter().filter(|c| endpoints.iter().any(|e| e.name == c.endpoint.name)).collect();
    let failed: Vec<String> = cells.iter().filter(|c| !c.has_numbers()).map(|c| c.label()).collect();
    if !failed.is_empty() {
        text.push_str(&format!("<br>Failed, not drawn: {}.", failed.join("; ")));
    }
    let audits: Vec<String> = cells
        .iter()
        .filter(|c| c.lost_writes() > 0 || c.phantom_writes() > 0)
        .map(|c| format!("{}: {} lost, {} phantom", c.label(), c.lost_writes(), c.phantom_writes()))
        .collect();
    if !audits.is_empty() {
        text.push_str(&format!(
            "<br>Write audit mismatches (drawn, but the database disagrees): {}.",
            audits.join("; ")
        ));
    }
    text
}

/// One legend entry per server × workers line (toggling it toggles the line in every panel), plus the
/// meaning of the grey target line and of hollow markers when the chart has them.
fn legend_entries(view: &View<'_>, endpoints: &[&EndpointRef], data: &[Value]) -> Vec<Value> {
    let mut entries = Vec::new();
    let Some(&first_endpoint) = endpoints.first() else { return entries };
    for &server in &view.servers {
        for &workers in &view.workers {
            let present =
                endpoints.iter().any(|e| view.series_for(e).iter().any(|k| k.server == server && k.workers == workers));
            if !present {
                continue;
            }
            let (name, group) = series_name(server, workers);
            let key_style = style(view, SeriesKey { server, workers, endpoint: first_endpoint });
            let entry = Scatter::new(vec![Option::<f64>::None], vec![Option::<f64>::None])
                .name(name)
                .legend_group(group)
                .mode(Mode::Lines)
                .line(Line::new().color(key_style.color).dash(key_style.dash).width(2.5));
            entries.push(to_value(&entry));
        }
    }
    let has_invalid = data.iter().any(is_hollow);
    if has_invalid {
        let entry = Scatter::new(vec![Option::<f64>::None], vec![Option::<f64>::None])
            .name("hollow: invalid result")
            .legend_group("invalid")
            .mode(Mode::Markers)
            .marker(Marker::new().symbol(MarkerSymbol::CircleOpen).color(GREY).size(9));
        entries.push(to_value(&entry));
    }
    entries
}

fn to_value<T: serde::Serialize>(trace: &T) -> Value {
    serde_json::to_value(trace).unwrap_or(Value::Null)
}

/// The grey y = x line: achieving exactly the target rate.
fn target_line(view: &View<'_>, (x_ref, y_ref): &(String, String), show_legend: bool) -> Value {
    let low = view.rates.first().copied().map_or(0.0, f64::from);
    let high = view.rates.last().copied().map_or(0.0, f64::from);
    let line = Scatter::new(vec![low, high], vec![low, high])
        .name("target (achieved = target)")
        .legend_group("target")
        .show_legend(show_legend)
        .mode(Mode::Lines)
        .line(Line::new().color(GREY).dash(DashType::Dot).width(1.5))
        .hover_info(HoverInfo::Skip)
        .x_axis(x_ref)
        .y_axis(y_ref);
    to_value(&line)
}

/// A series' traces: the line through its valid points, and hollow markers for its invalid points.
fn metric_traces(view: &View<'_>, key: SeriesKey<'_>, metric: Metric, axes: &(String, String)) -> Vec<Value> {
    let cells: Vec<&Cell<'_>> = view.rates.iter().filter_map(|&r| view.cell(key, r)).collect();
    let valid: Vec<&Cell<'_>> = cells.iter().copied().filter(|c| c.is_valid()).collect();
    let invalid: Vec<&Cell<'_>> = cells.iter().copied().filter(|c| c.has_numbers() && !c.is_valid()).collect();
    let mut traces = Vec::new();
    // Every rate of the series appears, with null where the point is not valid, so the line breaks
    // there instead of bridging an invalid or failed point.
    let line_points: Vec<(f64, Option<Spread>, Option<&Cell<'_>>)> = cells
        .iter()
        .map(|c| {
            let valid = c.is_valid();
            (f64::from(c.rate), c.stat(metric).filter(|_| valid), valid.then_some(*c))
        })
        .collect();
    if !valid.is_empty() {
        traces.push(series_trace(view, key, metric, &line_points, false, axes));
    }
    if !invalid.is_empty() {
        let points: Vec<_> = invalid.iter().map(|c| (f64::from(c.rate), c.stat(metric), Some(*c))).collect();
        traces.push(series_trace(view, key, metric, &points, true, axes));
    }
    traces
}

fn series_trace(
    view: &View<'_>,
    key: SeriesKey<'_>,
    metric: Metric,
    points: &[(f64, Option<Spread>, Option<&Cell<'_>>)],
    invalid: bool,
    (x_ref, y_ref): &(String, String),
) -> Value {
    let look = style(view, key);
    let (name, group) = series_name(key.server, key.workers);
    let x: Vec<f64> = points.iter().map(|p| p.0).collect();
    let y: Vec<Option<f64>> = points.iter().map(|p| p.1.map(|s| s.median)).collect();
    let plus: Vec<f64> = points.iter().map(|p| p.1.map_or(0.0, |s| s.max - s.median)).collect();
    let minus: Vec<f64> = points.iter().map(|p| p.1.map_or(0.0, |s| s.median - s.min)).collect();
    let hover: Vec<String> = points
        .iter()
        .map(|(_, spread, cell)| match (spread, cell) {
            (Some(spread), Some(cell)) => hover_text(cell, metric, *spread),
            _ => String::new(),
        })
        .collect();
    let repeated = points.iter().any(|p| p.1.is_some_and(|s| s.n > 1));
    let marker = Marker::new()
        .symbol(if invalid { look.hollow } else { look.symbol })
        .size(if invalid { 11 } else { 8 })
        .color(look.color.clone())
        .line(Line::new().color(look.color.clone()).width(if invalid { 2.0 } else { 1.0 }));
    let mut trace = Scatter::new(x, y)
        .name(if invalid { format!("{name} (invalid)") } else { name })
        .legend_group(group)
        .show_legend(false)
        .mode(if invalid { Mode::Markers } else { Mode::LinesMarkers })
        .line(Line::new().color(look.color.clone()).dash(look.dash).width(2.0))
        .marker(marker)
        .hover_text_array(hover)
        .hover_info(HoverInfo::Text)
        .connect_gaps(false)
        .x_axis(x_ref)
        .y_axis(y_ref);
    if repeated {
        trace = trace.error_y(
            ErrorData::new(ErrorType::Data)
                .array(plus)
                .array_minus(minus)
                .symmetric(false)
                .visible(true)
                .color(look.color)
                .thickness(1.2)
                .width(4),
        );
    }
    to_value(&trace)
}

/// Names the point (server, endpoint, workers, rate), gives the value with its unit, the spread over
/// repeats and, for an invalid point, why.
fn hover_text(cell: &Cell<'_>, metric: Metric, spread: Spread) -> String {
    let mut text = format!(
        "<b>{}</b> · {} · {}<br>target {} req/s<br>{}: {} {}",
        cell.server,
        cell.endpoint.name,
        workers_text(cell.workers),
        cell.rate,
        metric.label(),
        num(spread.median),
        metric.unit()
    );
    if spread.n > 1 {
        text.push_str(&format!("<br>median of {} repeats, min–max {}–{}", spread.n, num(spread.min), num(spread.max)));
    }
    if let Some(achieved) = cell.stat(Metric::Achieved).filter(|_| metric != Metric::Achieved) {
        text.push_str(&format!("<br>achieved {} req/s", num1(achieved.median)));
    }
    for issue in cell.issues() {
        text.push_str(&format!("<br>({})", super::html::escape(&issue)));
    }
    if cell.shared_cores() {
        text.push_str("<br>(shared CPUs with the load generator)");
    }
    text
}

/// Best achieved rate per workers count: does adding workers buy throughput? One panel per family,
/// log y so that doubling looks the same at 20 req/s as at 1000 req/s.
pub(crate) fn worker_scaling_chart(view: &View<'_>) -> Figure {
    let families = view.families();
    let columns = families.len().clamp(1, MAX_COLUMNS);
    let worker_ticks: Vec<f64> = view.workers.iter().map(|&w| f64::from(w)).collect();
    let mut panels = Vec::new();
    let mut data = Vec::new();
    for (index, (family, endpoints)) in families.iter().enumerate() {
        panels.push(Some(Panel {
            y_log: true,
            x_ticks: worker_ticks.clone(),
            x_tick_text: view.workers.iter().map(u16::to_string).collect(),
            ..Panel::new(family.title(), "server workers (threads)", "best achieved (req/s, log)")
        }));
        for endpoint in endpoints {
            for &server in &view.servers {
                data.extend(scaling_traces(view, server, endpoint, &axis_refs(index)));
            }
        }
    }
    if data.iter().any(|t| t["name"].as_str().is_some_and(|n| n.ends_with(LOWER_BOUND))) {
        let entry = Scatter::new(vec![Option::<f64>::None], vec![Option::<f64>::None])
            .name("hollow: lower bound (a higher rate failed or was invalid)")
            .mode(Mode::Markers)
            .marker(Marker::new().symbol(MarkerSymbol::CircleOpen).color(GREY).size(9));
        data.push(to_value(&entry));
    }
    let subtitle = "Per server and endpoint: the highest median achieved rate of any valid result, over all target \
                    rates. Flat = more workers bought nothing, or the target rates were too low to tell; \
                    a best equal to the top target rate is a floor, not a ceiling.";
    let title = "Worker scaling: best achieved rate per workers count";
    let (mut layout, height_px) = grid_layout(title, subtitle, &panels, columns, &data);
    layout["legend"] = json!({"title": {"text": "server · endpoint"}});
    Figure { id: "chart-worker-scaling".into(), title: "Worker scaling".into(), data, layout, height_px }
}

/// Suffix of the names of lower-bound traces in the worker-scaling chart.
const LOWER_BOUND: &str = " (lower bound)";

fn is_hollow(trace: &Value) -> bool {
    trace["marker"]["symbol"].as_str().is_some_and(|s| s.ends_with("-open"))
}

/// The best valid achieved rate of one server × endpoint × workers, the rate it came at, and whether
/// it is only a lower bound because a higher target rate has no valid result.
fn best_achieved(view: &View<'_>, key: SeriesKey<'_>) -> Option<(f64, u32, bool)> {
    let cells: Vec<&Cell<'_>> = view.rates.iter().filter_map(|&r| view.cell(key, r)).collect();
    let (achieved, rate) = cells
        .iter()
        .filter(|c| c.is_valid())
        .filter_map(|c| c.stat(Metric::Achieved).map(|s| (s.median, c.rate)))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    let lower_bound = cells.iter().any(|c| c.rate > rate && !c.is_valid());
    Some((achieved, rate, lower_bound))
}

/// The line of one server × endpoint across workers counts, plus hollow markers for lower bounds.
fn scaling_traces(
    view: &View<'_>,
    server: &str,
    endpoint: &EndpointRef,
    (x_ref, y_ref): &(String, String),
) -> Vec<Value> {
    let mut points = Vec::new();
    for &workers in &view.workers {
        let key = SeriesKey { server, workers, endpoint };
        if let Some((achieved, rate, lower_bound)) = best_achieved(view, key) {
            let mut hover = format!(
                "<b>{server}</b> · {} · {}<br>best achieved {} req/s at target {rate} req/s",
                endpoint.name,
                workers_text(workers),
                num1(achieved),
            );
            if lower_bound {
                hover.push_str("<br>(lower bound: a higher target rate failed or was invalid)");
            }
            points.push((f64::from(workers), achieved, hover, lower_bound));
        }
    }
    if points.is_empty() {
        return Vec::new();
    }
    let look = style(view, SeriesKey { server, workers: view.workers.first().copied().unwrap_or(1), endpoint });
    let group = format!("{server}-{}", endpoint.name);
    let line = Scatter::new(points.iter().map(|p| p.0).collect(), points.iter().map(|p| p.1).collect())
        .name(format!("{server} · {} {}", endpoint_glyph(view, endpoint), endpoint.name))
        .legend_group(group.clone())
        .mode(Mode::LinesMarkers)
        .line(Line::new().color(look.color.clone()).width(2.0))
        .marker(Marker::new().symbol(look.symbol.clone()).size(9).color(look.color.clone()))
        .hover_text_array(points.iter().map(|p| p.2.clone()).collect())
        .hover_info(HoverInfo::Text)
        .x_axis(x_ref)
        .y_axis(y_ref);
    let mut traces = vec![to_value(&line)];
    let bounds: Vec<_> = points.iter().filter(|p| p.3).collect();
    if !bounds.is_empty() {
        let hollow = Scatter::new(bounds.iter().map(|p| p.0).collect(), bounds.iter().map(|p| p.1).collect())
            .name(format!("{server} · {}{LOWER_BOUND}", endpoint.name))
            .legend_group(group)
            .show_legend(false)
            .mode(Mode::Markers)
            // A white-filled marker drawn over the line's own marker, so the point reads as hollow.
            .marker(
                Marker::new()
                    .symbol(look.symbol)
                    .size(12)
                    .color("white")
                    .line(Line::new().color(look.color).width(2.0)),
            )
            .hover_text_array(bounds.iter().map(|p| p.2.clone()).collect())
            .hover_info(HoverInfo::Text)
            .x_axis(x_ref)
            .y_axis(y_ref);
        traces.push(to_value(&hollow));
    }
    traces
}

/// Bar fill pattern per workers count in the capacity chart, where dashes cannot show.
const PATTERNS: &[PatternShape] = &[
    PatternShape::None,
    PatternShape::RightDiagonalLine,
    PatternShape::DiagonalCross,
    PatternShape::Dot,
    PatternShape::HorizontalLine,
    PatternShape::VerticalLine,
];

/// The saturation search's sustainable rates (`--find-max` runs only): one panel per family, a group of
/// bars per endpoint, one bar per server × workers. Bars of searches that did not converge are faded and
/// labelled `≥`, because their rate is only a lower bound.
pub(crate) fn capacity_chart(view: &View<'_>) -> Option<Figure> {
    let capacity = &view.results.capacity;
    if capacity.is_empty() {
        return None;
    }
    // Only families the search covered get a panel.
    let families: Vec<_> = view
        .families()
        .into_iter()
        .filter(|(_, endpoints)| endpoints.iter().any(|e| capacity.iter().any(|c| c.endpoint.name == e.name)))
        .collect();
    let columns = families.len().clamp(1, MAX_COLUMNS);
    let mut panels = Vec::new();
    let mut data = Vec::new();
    let mut in_legend = Vec::new();
    for (index, (family, endpoints)) in families.iter().enumerate() {
        panels.push(Some(Panel::new(family.title(), "endpoint", "sustainable rate (req/s)")));
        for &server in &view.servers {
            for &workers in &view.workers {
                let results: Vec<&CapacityResult> = endpoints
                    .iter()
                    .filter_map(|e| {
                        capacity
                            .iter()
                            .find(|c| c.server == server && c.workers == workers && c.endpoint.name == e.name)
                    })
                    .collect();
                if results.is_empty() {
                    continue;
                }
                // Each server × workers appears in the legend once, wherever it first has a bar.
                let first = !in_legend.contains(&(server, workers));
                in_legend.push((server, workers));
                data.push(capacity_bars(view, server, workers, &results, first, &axis_refs(index)));
            }
        }
    }
    let subtitle = view.results.run.config.search.as_ref().map_or_else(
        || "Highest probed rate that met the SLO with a valid result.".to_owned(),
        |search| {
            format!(
                "Highest probed rate with p99 ≤ {} ms and success ≥ {}% on a valid result, within {}%. \
                 Faded bars marked ≥: the search did not converge, the rate is a lower bound (hover says why).",
                search.slo_p99_ms, search.slo_success_pct, search.precision_pct
            )
        },
    );
    let title = "Sustainable rate per endpoint (saturation search)";
    let (mut layout, height_px) = grid_layout(title, &subtitle, &panels, columns, &data);
    layout["barmode"] = json!("group");
    Some(Figure { id: "chart-capacity".into(), title: title.into(), data, layout, height_px })
}

fn capacity_bars(
    view: &View<'_>,
    server: &str,
    workers: u16,
    results: &[&CapacityResult],
    show_legend: bool,
    (x_ref, y_ref): &(String, String),
) -> Value {
    let (name, group) = series_name(server, workers);
    let x: Vec<String> = results.iter().map(|c| c.endpoint.name.clone()).collect();
    let y: Vec<f64> = results.iter().map(|c| c.sustainable_rps.map_or(0.0, f64::from)).collect();
    let labels: Vec<String> = results
        .iter()
        .map(|c| {
            let rate = c.sustainable_rps.map_or_else(|| "none".to_owned(), |r| r.to_string());
            if c.valid { rate } else { format!("≥{rate}") }
        })
        .collect();
    let hover: Vec<String> = results.iter().map(|c| capacity_hover(c)).collect();
    let opacity: Vec<f64> = results.iter().map(|c| if c.valid { 1.0 } else { 0.45 }).collect();
    let pattern = PATTERNS[view.workers_index(workers) % PATTERNS.len()].clone();
    let bars = Bar::new(x, y)
        .name(name)
        .legend_group(group)
        .show_legend(show_legend)
        .text_array(labels)
        .hover_text_array(hover)
        .hover_info(HoverInfo::Text)
        .marker(
            Marker::new()
                .color(server_color(view, server))
                .pattern(Pattern::new().shape(pattern).fill_mode(PatternFillMode::Overlay).foreground_color("white")),
        )
        .x_axis(x_ref)
        .y_axis(y_ref);
    let mut value = to_value(&bars);
    // plotly.js takes per-bar opacity on the marker; the typed `Marker` only has a single value.
    value["marker"]["opacity"] = json!(opacity);
    value
}

fn capacity_hover(result: &CapacityResult) -> String {
    let mut text = format!(
        "<b>{}</b> · {} · {}<br>sustainable: {}",
        result.server,
        result.endpoint.name,
        workers_text(result.workers),
        result.sustainable_rps.map_or_else(|| "none".to_owned(), |r| format!("{r} req/s")),
    );
    if let Some(miss) = result.lowest_miss_rps {
        text.push_str(&format!("<br>lowest miss: {miss} req/s"));
    }
    if let Some(p99) = result.p99_ms {
        text.push_str(&format!("<br>p99 there: {} ms", num(p99)));
    }
    if let Some(cpu) = result.cpu_mean_pct {
        text.push_str(&format!("<br>server CPU there: {} %", num1(cpu)));
    }
    text.push_str(&format!("<br>{} probes; stopped: {}", result.probes.len(), super::html::escape(&result.stop)));
    if !result.valid {
        text.push_str("<br>(lower bound: the search did not converge)");
    }
    text
}

/// The "nines" position of a percentile: 90 → 1, 99 → 2, 99.9 → 3; 100 (the maximum) sits half a
/// decade past 99.99 so it stays on the axis.
fn nines(percentile: f64) -> f64 {
    if percentile >= 100.0 { 4.5 } else { -(1.0 - percentile / 100.0).log10() }
}

const NINES_TICKS: &[(f64, &str)] =
    &[(0.0, "p0"), (50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99.9"), (99.99, "p99.99"), (100.0, "max")];

/// One endpoint's latency distribution: one panel per target rate, servers × workers compared.
pub(crate) fn latency_distribution_chart(view: &View<'_>, endpoint: &EndpointRef) -> Figure {
    let columns = view.rates.len().clamp(1, MAX_COLUMNS);
    let mut panels = Vec::new();
    let mut data = Vec::new();
    for (index, &rate) in view.rates.iter().enumerate() {
        panels.push(Some(Panel {
            y_log: true,
            x_ticks: NINES_TICKS.iter().map(|(p, _)| nines(*p)).collect(),
            x_tick_text: NINES_TICKS.iter().map(|(_, t)| (*t).to_owned()).collect(),
            ..Panel::new(format!("at {rate} req/s"), "percentile (log scale of nines)", "latency (ms, log)")
        }));
        for key in view.series_for(endpoint) {
            if let Some(trace) = view.cell(key, rate).and_then(|c| distribution_trace(view, c, &axis_refs(index))) {
                data.push(trace);
            }
        }
    }
    let title = format!("Latency distribution — {} {}", endpoint_glyph(view, endpoint), endpoint.name);
    let subtitle = format!(
        "{} {}: latency at each percentile, one panel per target rate. Median over repeats; hollow markers: invalid results.",
        endpoint.method, endpoint.path
    );
    let mut figure = finish(
        format!("chart-latency-dist-{}", endpoint.name),
        &title,
        &subtitle,
        panels,
        columns,
        data,
        view,
        &[endpoint],
    );
    figure.layout["hovermode"] = json!("x unified");
    figure
}

fn distribution_trace(view: &View<'_>, cell: &Cell<'_>, (x_ref, y_ref): &(String, String)) -> Option<Value> {
    let (records, valid) = cell.headline();
    let percentiles: Vec<f64> =
        records.first()?.metrics.as_ref()?.latency_curve_ms.iter().map(|p| p.percentile).collect();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for percentile in percentiles {
        let values = records.iter().filter_map(|t| {
            t.metrics.as_ref()?.latency_curve_ms.iter().find(|p| p.percentile == percentile).map(|p| p.latency_ms)
        });
        if let Some(spread) = Spread::of(values) {
            x.push(nines(percentile));
            y.push(spread.median);
        }
    }
    let key = SeriesKey { server: cell.server, workers: cell.workers, endpoint: cell.endpoint };
    let look = style(view, key);
    let (name, group) = series_name(cell.server, cell.workers);
    let suffix = if valid { String::new() } else { format!(" (invalid: {})", cell.issues().join("; ")) };
    let trace = Scatter::new(x, y)
        .name(format!("{name}{}", if valid { "" } else { " (invalid)" }))
        .legend_group(group)
        .show_legend(false)
        .mode(Mode::LinesMarkers)
        .line(Line::new().color(look.color.clone()).dash(look.dash).width(2.0))
        .marker(Marker::new().symbol(if valid { look.symbol } else { look.hollow }).size(6).color(look.color))
        .hover_template(format!(
            "{} · {} · {}: %{{y:.3f}} ms{}<extra></extra>",
            cell.server,
            workers_text(cell.workers),
            cell.endpoint.name,
            super::html::escape(&suffix)
        ))
        .x_axis(x_ref)
        .y_axis(y_ref);
    Some(to_value(&trace))
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
