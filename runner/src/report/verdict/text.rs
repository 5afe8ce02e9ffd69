//! The verdict as text, the last thing a study prints: a table per endpoint, then the readings.

use std::fmt::Write as _;

use super::{ArmVerdict, Capacity, NO_DIFFERENCE, Spread, Verdict};
use crate::report::text::num;

/// The verdict table and readings.
pub fn render(verdict: &Verdict) -> String {
    let mut text = String::from(
        "VERDICT. Cost: server CPU µs per request at one rate for every arm (median of the repeats, min–max).\n\
         Capacity: the SLO search where the server is the limit (≥: a lower bound); ~: projected from cost.\n\
         Sleeps that hold a thread: capacity only (at the tens of requests per second they serve, a cost per\n\
         request is mostly idle wake-ups, comparable with no other endpoint's).\n",
    );
    let mut rows = vec![[
        "endpoint @ rate".to_owned(),
        "arm".to_owned(),
        "cost µs/req".to_owned(),
        "× best".to_owned(),
        "capacity".to_owned(),
    ]];
    for endpoint in &verdict.endpoints {
        let label = match endpoint.rate {
            Some(rate) => format!("{} @ {rate}/s", endpoint.endpoint.name),
            None => endpoint.endpoint.name.clone(),
        };
        for (index, arm) in endpoint.arms.iter().enumerate() {
            rows.push(arm_cells(if index == 0 { &label } else { "" }, arm, endpoint.rate.is_some()));
        }
    }
    push_aligned(&mut text, &rows);
    text.push_str("\nReading:\n");
    for reading in &verdict.readings {
        let _ = writeln!(text, "  {reading}");
    }
    if !verdict.missing.is_empty() {
        let _ = writeln!(text, "Missing (not run, or no valid result): {}", verdict.missing.join("; "));
    }
    text
}

/// The cells of one arm's row: endpoint label (first arm only), arm, cost, ratio, capacity.
fn arm_cells(label: &str, arm: &ArmVerdict, cost_measured: bool) -> [String; 5] {
    [
        label.to_owned(),
        arm.arm.clone(),
        arm.cost.map_or_else(|| cost_missing(cost_measured).to_owned(), |c| spread_text(&c)),
        ratio_text(arm),
        capacity_text(&arm.capacity),
    ]
}

/// The rows as columns as wide as their widest cell (in characters: `µ`, `–` and `≥` are one each): the
/// labels left-aligned, the figures right-aligned.
fn push_aligned(text: &mut String, rows: &[[String; 5]]) {
    let width = |column: usize| rows.iter().map(|row| row[column].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..5).map(width).collect();
    for row in rows {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
        let _ = writeln!(text, "{}", line.trim_end());
    }
}

/// The cost cell without a cost: a test that did not measure one, or an endpoint measured by capacity alone.
pub(super) fn cost_missing(cost_measured: bool) -> &'static str {
    if cost_measured { "not measured" } else { "capacity only" }
}

fn spread_text(spread: &Spread) -> String {
    if spread.n > 1 {
        format!("{} ({}–{})", num(spread.median), num(spread.min), num(spread.max))
    } else {
        num(spread.median)
    }
}

/// `best`, `1.42 (1.30–1.55)`, or the words for a ratio within the best arm's spread.
pub(super) fn ratio_text(arm: &ArmVerdict) -> String {
    match arm.ratio {
        Some(ratio) if (ratio.median - 1.0).abs() < 1e-9 => "best".to_owned(),
        Some(_) if arm.within_spread => NO_DIFFERENCE.replace(" beyond the spread", " (spread)"),
        Some(ratio) => format!("{:.2} ({:.2}–{:.2})", ratio.median, ratio.min, ratio.max),
        None => "—".to_owned(),
    }
}

pub(super) fn capacity_text(capacity: &Capacity) -> String {
    match capacity {
        Capacity::Measured(rps) => format!("{rps} req/s"),
        Capacity::LowerBound(rps, _) => format!("≥ {rps} req/s"),
        Capacity::Projected(rps) => format!("~{} req/s", num(*rps)),
        Capacity::Unknown => "—".to_owned(),
    }
}
