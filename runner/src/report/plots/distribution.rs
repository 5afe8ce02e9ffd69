//! Latency distributions: latency at each percentile on a "nines" axis, one panel per target rate.

use super::*;

/// The "nines" position of a percentile: 90 → 1, 99 → 2, 99.9 → 3; 100 (the maximum) sits half a
/// decade past 99.99 so it stays on the axis.
pub(super) fn nines(percentile: f64) -> f64 {
    if percentile >= 100.0 { 4.5 } else { -(1.0 - percentile / 100.0).log10() }
}

pub(super) const NINES_TICKS: &[(f64, &str)] =
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
        endpoint.method.as_str(),
        endpoint.path
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

pub(super) fn distribution_trace(view: &View<'_>, cell: &Cell<'_>, (x_ref, y_ref): &(String, String)) -> Option<Value> {
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
            super::super::text::escape(&suffix)
        ))
        .x_axis(x_ref)
        .y_axis(y_ref);
    Some(to_value(&trace))
}
