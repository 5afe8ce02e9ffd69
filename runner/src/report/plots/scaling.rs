//! The worker-scaling chart: the best achieved rate per workers count, lower bounds marked.

use super::*;

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
    let lower_bound = |key| best_achieved(view, key).is_some_and(|(_, _, lower_bound)| lower_bound);
    let any_lower_bound =
        families.iter().flat_map(|(_, endpoints)| endpoints).any(|e| view.series_for(e).into_iter().any(lower_bound));
    if any_lower_bound {
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
pub(super) const LOWER_BOUND: &str = " (lower bound)";

/// The best valid achieved rate of one server × endpoint × workers, the rate it came at, and whether
/// it is only a lower bound because a higher target rate has no valid result.
pub(super) fn best_achieved(view: &View<'_>, key: SeriesKey<'_>) -> Option<(f64, u32, bool)> {
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
pub(super) fn scaling_traces(
    view: &View<'_>,
    server: Arm<'_>,
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
    let group = format!("{}-{}", server.file_name(), endpoint.name);
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
