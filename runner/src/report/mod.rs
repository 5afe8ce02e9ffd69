//! Reports: pure functions of [`RunResults`], so `runner report` re-renders any run folder and tests can
//! check the output without running anything.
//!
//! # Layout
//! - `summary`: the results grouped for reporting (cells over repeats, medians, spreads, caveats); every
//!   renderer reads the run through it, so they agree on what a number means.
//! - `table`: the per-rate text table printed after each rate.
//! - `ascii`: ASCII line charts; `terminal` puts tables, charts and a capacity summary together.
//! - `html`: the self-contained HTML report, with its charts built in `plots`.
//! - `text`: width-aware text helpers shared by the terminal renderers.
//!
//! Each output format is also a [`Renderer`], so callers that pick a format at run time hold one trait
//! object instead of matching on formats.

mod ascii;
mod html;
mod plots;
mod summary;
mod table;
mod terminal;
mod text;

use crate::model::RunResults;

pub use html::{render_html, write_html};
pub use table::{TABLE_WIDTH, rate_table};
pub use terminal::{DEFAULT_WIDTH, MAX_WIDTH, MIN_WIDTH, terminal_report, terminal_summary, terminal_width};

/// File name of the HTML report inside a run folder.
pub const HTML_FILE: &str = "report.html";

/// One output format: turns a run's results into text, reading nothing else.
pub trait Renderer {
    fn render(&self, results: &RunResults) -> String;
}

/// The table of one target rate ([`rate_table`]).
#[derive(Debug, Clone, Copy)]
pub struct RateTable {
    pub rate: u32,
    pub color: bool,
}

impl Renderer for RateTable {
    fn render(&self, results: &RunResults) -> String {
        rate_table(results, self.rate, self.color)
    }
}

/// The whole-run terminal report ([`terminal_report`]).
#[derive(Debug, Clone, Copy)]
pub struct TerminalReport {
    pub width: usize,
    pub color: bool,
}

impl Renderer for TerminalReport {
    fn render(&self, results: &RunResults) -> String {
        terminal_report(results, self.width, self.color)
    }
}

/// The self-contained HTML report ([`render_html`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlReport;

impl Renderer for HtmlReport {
    fn render(&self, results: &RunResults) -> String {
        render_html(results)
    }
}
