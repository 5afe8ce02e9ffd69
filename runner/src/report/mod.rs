//! Reports: pure functions of [`crate::model::RunResults`], so `runner report` re-renders any run folder and tests can
//! check the output without running anything.
//!
//! # Layout
//! - `summary`: the results grouped for reporting (cells over repeats, medians, spreads, caveats); every
//!   renderer reads the run through it, so they agree on what a number means.
//! - `table`: the per-rate text table printed after each rate.
//! - `ascii`: ASCII line charts; `terminal` puts tables, charts and a capacity summary together.
//! - `html`: the self-contained HTML report, with its charts built in `plots`.
//! - `compare`: `runner compare OLD NEW`, matching tests of two runs and the changes beyond their spread.
//! - `csv`: `results.csv`, one row per test, every number and word of its record as a column.
//! - `verdict`: the study's verdict (cost, capacity, ratio to the best, readings): terminal and HTML.
//! - `spread`: min, median and max over repeats, widened by measurement uncertainty where a figure has one.
//! - `text`: width-aware text helpers shared by the terminal renderers.
//! - `assets/`: the HTML report's stylesheet and script, as files (`include_str!`).
//!
//! Reports read only [`crate::model`]: the servers, their colours and labels come from what the run recorded,
//! so a run with more arms renders with no code change.

mod ascii;
pub mod compare;
pub mod csv;
mod html;
mod plots;
pub mod spread;
mod summary;
mod table;
mod terminal;
mod text;
pub mod verdict;

pub use csv::{CSV_FILE, write_csv};
pub use html::{render_html, write_html};
pub use table::{TABLE_WIDTH, rate_table};
pub use terminal::{DEFAULT_WIDTH, MAX_WIDTH, MIN_WIDTH, terminal_report, terminal_summary, terminal_width};

/// File name of the HTML report inside a run folder.
pub const HTML_FILE: &str = "report.html";
