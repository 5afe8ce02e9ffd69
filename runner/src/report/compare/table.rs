//! The comparison as text: one line per figure of every matched test, the tests only one run has, and a
//! last line that says "no regression" or how many tests regressed.

use std::fmt::Write as _;

use super::{Comparison, FigureChange, Verdict};
use crate::report::spread::Spread;
use crate::report::text::num;

/// The words the last line starts with when nothing got worse.
pub const NO_REGRESSION: &str = "no regression";

/// The whole comparison, ready to print.
pub fn render(comparison: &Comparison) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "comparing {} (old) with {} (new)", comparison.old_run, comparison.new_run);
    let _ = writeln!(
        text,
        "a change counts beyond {}% of the median and beyond both runs' min–max spread widened by the measurement \
         uncertainty (latency: also beyond {} ms; p99: over {}+ requests)",
        num(comparison.threshold_pct),
        num(crate::defaults::LATENCY_NOISE_FLOOR_MS),
        crate::defaults::COMPARE_P99_MIN_REQUESTS
    );
    for note in &comparison.notes {
        let _ = writeln!(text, "note: {note}");
    }
    let width = comparison.matched.iter().map(|m| m.key.label().chars().count()).max().unwrap_or(4).max(4);
    let _ = writeln!(text, "{:<width$}  {:<18} {:>22} {:>22} {:>8}  verdict", "test", "figure", "old", "new", "change");
    for matched in &comparison.matched {
        let label = matched.key.label();
        if let Some(note) = &matched.note {
            let verdict = if matched.newly_failed { " (WORSE)" } else { "" };
            let _ = writeln!(text, "{label:<width$}  {note}{verdict}");
        }
        for change in &matched.changes {
            let _ = writeln!(text, "{label:<width$}  {}", change_line(change));
        }
    }
    for (which, keys) in [("old", &comparison.only_old), ("new", &comparison.only_new)] {
        if !keys.is_empty() {
            let labels: Vec<String> = keys.iter().map(|k| k.label()).collect();
            let _ = writeln!(text, "only in the {which} run (not compared): {}", labels.join("; "));
        }
    }
    text.push_str(&closing_line(comparison));
    text.push('\n');
    text
}

fn change_line(change: &FigureChange) -> String {
    let verdict = match change.verdict {
        Verdict::Same => "same",
        Verdict::Better => "better",
        Verdict::Worse => "WORSE",
    };
    let why = change.unresolved.as_ref().map(|why| format!(" ({why})")).unwrap_or_default();
    format!(
        "{:<18} {:>22} {:>22} {:>+7.1}%  {verdict}{why}",
        change.figure.label(),
        range_text(&change.old),
        range_text(&change.new),
        change.change_pct
    )
}

/// `2.35`, or `2.35 (2.10–2.60, n=3)` over repeats or within a measurement uncertainty.
fn range_text(range: &Spread) -> String {
    if range.n > 1 || range.min < range.max {
        format!("{} ({}–{}, n={})", num(range.median), num(range.min), num(range.max), range.n)
    } else {
        num(range.median)
    }
}

fn closing_line(comparison: &Comparison) -> String {
    let regressions = comparison.regressions();
    let tests = comparison.matched.len();
    if regressions == 0 {
        format!("{NO_REGRESSION}: {tests} matching tests and searches, none worse beyond the threshold and spread")
    } else {
        format!(
            "REGRESSION: {regressions} of {tests} matching tests and searches got worse beyond the threshold and spread"
        )
    }
}
