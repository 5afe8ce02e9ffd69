//! The verdict as text, the last thing a study prints: a table per endpoint, then the readings.

use std::fmt::Write as _;

use super::{ArmVerdict, Capacity, NO_DIFFERENCE, Spread, Verdict};
use crate::report::text::num;

/// The verdict table and readings.
pub fn render(verdict: &Verdict) -> String {
    let mut text = String::from(
        "VERDICT. Cost: server CPU µs per request at one rate for every arm (median of the repeats, min–max).\n\
         Capacity: the SLO search where the server is the limit (≥: a lower bound); ~: projected from cost.\n",
    );
    let _ = writeln!(
        text,
        "{:<40} {:<15} {:>22} {:>20} {:>14}",
        "endpoint @ rate", "arm", "cost µs/req", "× best", "capacity"
    );
    for endpoint in &verdict.endpoints {
        let label = match endpoint.rate {
            Some(rate) => format!("{} @ {rate}/s", endpoint.endpoint.name),
            None => endpoint.endpoint.name.clone(),
        };
        for (index, arm) in endpoint.arms.iter().enumerate() {
            let shown = if index == 0 { label.as_str() } else { "" };
            let _ = writeln!(text, "{}", arm_line(shown, arm));
        }
    }
    text.push_str("\nReading:\n");
    for reading in &verdict.readings {
        let _ = writeln!(text, "  {reading}");
    }
    if !verdict.missing.is_empty() {
        let _ = writeln!(text, "Missing (the study did not finish?): {}", verdict.missing.join("; "));
    }
    text
}

fn arm_line(label: &str, arm: &ArmVerdict) -> String {
    format!(
        "{label:<40} {:<15} {:>22} {:>20} {:>14}",
        arm.arm,
        arm.cost.map_or_else(|| "not measured".to_owned(), |c| spread_text(&c)),
        ratio_text(arm),
        capacity_text(&arm.capacity)
    )
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
