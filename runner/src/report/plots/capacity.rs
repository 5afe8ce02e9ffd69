//! The capacity chart of a saturation search: sustainable rate per server x workers, bounds faded.

use super::*;

/// Bar fill pattern per workers count in the capacity chart, where dashes cannot show.
pub(super) const PATTERNS: &[PatternShape] = &[
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
                        capacity.iter().find(|c| c.arm() == server && c.workers == workers && c.endpoint.name == e.name)
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

pub(super) fn capacity_bars(
    view: &View<'_>,
    server: Arm<'_>,
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

pub(super) fn capacity_hover(result: &CapacityResult) -> String {
    let mut text = format!(
        "<b>{}</b> · {} · {}<br>sustainable: {}",
        result.arm(),
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
    text.push_str(&format!(
        "<br>{} probes; stopped: {}",
        result.probes.len(),
        super::super::text::escape(&result.stop)
    ));
    if !result.valid {
        text.push_str("<br>(lower bound: the search did not converge)");
    }
    text
}
