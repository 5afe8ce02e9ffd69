//! Charts against target rate: achieved rate, latency percentiles, success, server CPU and memory, one
//! panel per endpoint, with the legend, the target line and hover text they share.

use super::*;

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
pub(super) const LATENCY_ROWS: &[Metric] = &[Metric::P50, Metric::P95, Metric::P99];

pub(super) fn rate_ticks(view: &View<'_>) -> Vec<f64> {
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
                within_noise: chart.y_range.is_none() && within_noise(view, e, chart.metric),
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
            panels[index] = Some(Panel {
                y_log: true,
                within_noise: within_noise(view, endpoint, metric),
                ..Panel::against_rate(view, title, y_title)
            });
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
pub(super) fn finish(
    id: String,
    title: &str,
    subtitle: &str,
    panels: Vec<Option<Panel>>,
    columns: usize,
    mut data: Vec<Value>,
    view: &View<'_>,
    endpoints: &[&EndpointRef],
) -> Figure {
    data.extend(legend_entries(view, endpoints));
    let (layout, height_px) = grid_layout(title, subtitle, &panels, columns, &data);
    Figure { id, title: title.to_owned(), data, layout, height_px }
}

/// The chart's fine print: how to read it, and which tests it cannot show.
pub(super) fn subtitle(view: &View<'_>, endpoints: &[&EndpointRef]) -> String {
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
pub(super) fn legend_entries(view: &View<'_>, endpoints: &[&EndpointRef]) -> Vec<Value> {
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
    if has_invalid_points(view, endpoints) {
        let entry = Scatter::new(vec![Option::<f64>::None], vec![Option::<f64>::None])
            .name("hollow: invalid result")
            .legend_group("invalid")
            .mode(Mode::Markers)
            .marker(Marker::new().symbol(MarkerSymbol::CircleOpen).color(GREY).size(9));
        entries.push(to_value(&entry));
    }
    entries
}

/// Whether any point of these endpoints is drawn hollow (measured, but not valid): read from the results,
/// not from the traces already built.
pub(super) fn has_invalid_points(view: &View<'_>, endpoints: &[&EndpointRef]) -> bool {
    view.cells.iter().any(|c| endpoints.iter().any(|e| e.name == c.endpoint.name) && c.has_numbers() && !c.is_valid())
}

pub(super) fn to_value<T: serde::Serialize>(trace: &T) -> Value {
    serde_json::to_value(trace).unwrap_or(Value::Null)
}

/// The grey y = x line: achieving exactly the target rate.
pub(super) fn target_line(view: &View<'_>, (x_ref, y_ref): &(String, String), show_legend: bool) -> Value {
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
pub(super) fn metric_traces(
    view: &View<'_>,
    key: SeriesKey<'_>,
    metric: Metric,
    axes: &(String, String),
) -> Vec<Value> {
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

pub(super) fn series_trace(
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
pub(super) fn hover_text(cell: &Cell<'_>, metric: Metric, spread: Spread) -> String {
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
    if let Some(cost) = cell.stat(Metric::ServerUsPerRequest).filter(|_| metric != Metric::ServerUsPerRequest) {
        text.push_str(&format!("<br>server CPU {} µs/request", num1(cost.median)));
    }
    if let Some(projected) = cell.stat(Metric::ProjectedRps) {
        text.push_str(&format!(
            "<br>projected capacity {} req/s (from CPU per request, not measured)",
            num(projected.median)
        ));
    }
    for issue in cell.issues() {
        text.push_str(&format!("<br>({})", super::super::text::escape(&issue)));
    }
    if cell.shared_cores() {
        text.push_str("<br>(shared CPUs with the load generator)");
    }
    text
}
