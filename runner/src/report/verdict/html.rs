//! The verdict as the first section of the HTML report.

use std::fmt::Write as _;

use super::text::{capacity_text, cost_missing, ratio_text};
use super::{Capacity, NO_DIFFERENCE, Verdict};
use crate::report::text::{escape, num};

/// `<section id="verdict">`: the table and the readings.
pub fn render(verdict: &Verdict) -> String {
    let mut html = String::from(
        "<section id=\"verdict\">\n<h2>Verdict</h2>\n<p><b>Cost</b>: server CPU µs per request at one rate for \
         every arm (median of the repeats, min–max). <b>Capacity</b>: the SLO search where the server is the \
         limit (≥ marks a lower bound); ~ is projected from cost (CPUs × 10<sup>6</sup> / µs per request), \
         never measured; sleeps that hold a thread are measured by capacity only (at tens of requests per \
         second they serve, a cost per request is mostly idle wake-ups, comparable with no other endpoint's). <b>× best</b>: each arm's cost over the cheapest arm's; \u{201c}",
    );
    html.push_str(NO_DIFFERENCE);
    html.push_str("\u{201d} where its repeats overlap the cheapest arm's.</p>\n<ul class=\"readings\">\n");
    for reading in &verdict.readings {
        let _ = writeln!(html, "<li>{}</li>", escape(reading));
    }
    html.push_str(
        "</ul>\n<table class=\"verdict\">\n<thead><tr><th>endpoint</th><th>rate</th><th>arm</th>\
                   <th>cost µs/req</th><th>min–max</th><th>× best</th><th>capacity</th></tr></thead>\n<tbody>\n",
    );
    for endpoint in &verdict.endpoints {
        for arm in &endpoint.arms {
            let cost = arm.cost.map_or_else(|| cost_missing(endpoint.rate.is_some()).to_owned(), |c| num(c.median));
            let range =
                arm.cost.filter(|c| c.n > 1).map_or_else(String::new, |c| format!("{}–{}", num(c.min), num(c.max)));
            let title = match &arm.capacity {
                Capacity::LowerBound(_, why) => format!(" title=\"{}\"", escape(why)),
                _ => String::new(),
            };
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{cost}</td><td>{range}</td><td>{}</td><td{title}>{}</td></tr>",
                escape(&endpoint.endpoint.name),
                endpoint.rate.map_or_else(String::new, |r| format!("{r}/s")),
                escape(&arm.arm),
                escape(&ratio_text(arm)),
                escape(&capacity_text(&arm.capacity)),
            );
        }
    }
    html.push_str("</tbody>\n</table>\n");
    if !verdict.missing.is_empty() {
        let _ = writeln!(html, "<p class=\"missing\"><b>Missing</b>: {}</p>", escape(&verdict.missing.join("; ")));
    }
    html.push_str("</section>\n");
    html
}
