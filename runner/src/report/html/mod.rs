//! The self-contained HTML report: one file with plotly.js embedded once in `<head>` (no CDN, renders
//! offline), a header saying what was run, when, on what and with which caveats, the charts of
//! [`super::plots`], and a sortable table of every test.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use plotly::Plot;

mod header;
mod tables;
mod warnings;

use crate::model::RunResults;

use super::plots::{self, Figure, RATE_CHARTS};
use super::summary::View;
pub(crate) use super::text::escape;
use header::run_header;
use tables::{capacity_table, details_table};
use warnings::warnings;

/// The HTML report of a run, as one string.
pub fn render_html(results: &RunResults) -> String {
    let view = View::new(results);
    let mut page = String::with_capacity(5 << 20);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n");
    page.push_str(&head(&view));
    page.push_str("<body>\n<main>\n");
    page.push_str(&run_header(&view));
    if let Some(verdict) = super::verdict::verdict(results) {
        page.push_str(&super::verdict::html::render(&verdict));
    }
    page.push_str(&warnings(&view));
    page.push_str(&how_to_read(&view));
    page.push_str(&chart_sections(&view));
    page.push_str(&details_table(&view));
    page.push_str(&footer(&view));
    page.push_str("</main>\n<script>\n");
    page.push_str(SORT_SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

/// Writes the HTML report to `path`.
pub fn write_html(results: &RunResults, path: &Path) -> Result<()> {
    std::fs::write(path, render_html(results)).with_context(|| format!("writing the HTML report {}", path.display()))
}

fn head(view: &View<'_>) -> String {
    let run = &view.results.run;
    format!(
        "<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>runtime-bench {} — {}</title>\n{}\n<style>\n{CSS}</style>\n</head>\n",
        escape(&run.id),
        escape(&view.arm_names().join(" vs ")),
        plotly_js()
    )
}

/// plotly.js alone: the first script block of the crate's offline sources (the second is MathJax, which
/// nothing here needs and which would add 2 MB).
fn plotly_js() -> String {
    let sources = Plot::offline_js_sources();
    const END: &str = "</script>";
    match sources.find(END) {
        Some(end) => sources[..end + END.len()].trim_start().to_owned(),
        None => sources,
    }
}

/// The legend for every chart: colours, dashes and symbols, drawn with the same values the charts use.
fn how_to_read(view: &View<'_>) -> String {
    let mut html =
        String::from("<section id=\"how-to-read\">\n<h2>How to read the charts</h2>\n<ul class=\"legend\">\n");
    let servers: Vec<String> = view
        .servers
        .iter()
        .map(|&arm| {
            let swatch = plots::server_color(view, arm);
            format!("<span class=\"swatch\" style=\"background:{swatch}\"></span>{}", escape(&arm.to_string()))
        })
        .collect();
    let _ = writeln!(html, "<li><b>Colour = server:</b> {}</li>", servers.join(" "));
    let dashes: Vec<String> = view
        .workers
        .iter()
        .map(|&w| {
            format!(
                "<svg class=\"dash\" width=\"44\" height=\"10\"><line x1=\"0\" y1=\"5\" x2=\"44\" y2=\"5\" stroke=\"#495057\" \
                 stroke-width=\"2.5\" stroke-dasharray=\"{}\"/></svg>{w} worker{}",
                plots::dash_pattern(view, w),
                if w == 1 { "" } else { "s" }
            )
        })
        .collect();
    let _ = writeln!(html, "<li><b>Line dash = server workers (threads):</b> {}</li>", dashes.join(" "));
    let symbols: Vec<String> =
        view.endpoints.iter().map(|e| format!("{} {}", plots::endpoint_glyph(view, e), escape(&e.name))).collect();
    let _ = writeln!(
        html,
        "<li><b>Marker = endpoint</b> (each endpoint also has its own panel): {}</li>",
        symbols.join(" · ")
    );
    html.push_str(
        "<li><b>Hollow marker</b> = invalid result (the hover text says why); lines join valid points only.</li>\n\
         <li><b>Point</b> = median over repeats; <b>error bars</b> = min–max over repeats.</li>\n\
         <li><b>\u{201c}no difference beyond the noise\u{201d}</b> on a panel: at every rate its lines overlap within \
         their min–max, are within 10% of each other, or (latency) within 0.5 ms; it is drawn on a linear axis \
         from zero, so noise does not look like a difference.</li>\n\
         <li><b>Failed tests</b> are not drawn; each chart lists the ones it is missing.</li>\n\
         <li>Click a legend entry to hide or show that line in every panel; double-click to isolate it.</li>\n\
         </ul>\n</section>\n",
    );
    html
}

fn chart_sections(view: &View<'_>) -> String {
    let families = view.families();
    let mut html = String::from("<nav><b>Sections:</b> ");
    for (family, _) in &families {
        let _ = write!(html, "<a href=\"#family-{}\">{}</a> · ", family.slug(), family.title());
    }
    let capacity = plots::capacity_chart(view);
    if capacity.is_some() {
        html.push_str("<a href=\"#capacity\">Saturation search</a> · ");
    }
    html.push_str(
        "<a href=\"#scaling\">Worker scaling</a> · <a href=\"#distributions\">Latency distributions</a> · \
         <a href=\"#details\">All results</a></nav>\n",
    );
    if let Some(figure) = capacity {
        html.push_str("<section id=\"capacity\">\n<h2>Saturation search</h2>\n");
        html.push_str(&figure.to_html());
        html.push_str(&capacity_table(view));
        html.push_str("</section>\n");
    }
    for (family, endpoints) in &families {
        let _ =
            writeln!(html, "<section class=\"family\" id=\"family-{}\">\n<h2>{}</h2>", family.slug(), family.title());
        let figures = RATE_CHARTS
            .iter()
            .take(1)
            .map(|chart| plots::rate_chart(view, *family, endpoints, chart))
            .chain([plots::latency_chart(view, *family, endpoints)])
            .chain(RATE_CHARTS.iter().skip(1).map(|chart| plots::rate_chart(view, *family, endpoints, chart)));
        for figure in figures {
            html.push_str(&figure.to_html());
        }
        html.push_str("</section>\n");
    }
    html.push_str("<section id=\"scaling\">\n<h2>Worker scaling</h2>\n");
    html.push_str(&plots::worker_scaling_chart(view).to_html());
    html.push_str("</section>\n<section id=\"distributions\">\n<h2>Latency distributions</h2>\n");
    let distributions: Vec<Figure> =
        view.endpoints.iter().map(|e| plots::latency_distribution_chart(view, e)).collect();
    for figure in distributions {
        html.push_str(&figure.to_html());
    }
    html.push_str("</section>\n");
    html
}

fn footer(view: &View<'_>) -> String {
    format!(
        "<footer>Generated by runtime-bench runner {} from {}/results.json (schema {}). Re-render with \
         <code>runner report</code>.</footer>\n",
        escape(&view.results.run.versions.runner),
        escape(&view.results.run.id),
        view.results.schema_version
    )
}

/// The page's stylesheet and its table-sorting script, kept as the files they are.
const CSS: &str = include_str!("../assets/report.css");
const SORT_SCRIPT: &str = include_str!("../assets/sort.js");
