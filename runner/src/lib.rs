//! runtime-bench's runner: benchmarks every server x endpoint x workers x rate through vegeta, samples the
//! server's and the load generator's CPU and memory, persists every test as it ends, and renders reports.
//!
//! # Layout
//! Layers, top to bottom; a module uses only modules below it (`layering.rs` checks it on the source).
//! `main` parses [`cli`], [`config`] resolves it into a plan, [`run`] runs the plan, [`report`] renders it.
//! - [`run`]: the session over the matrix or the searches, one test, readiness, audit, run folder, progress,
//!   calibration; the outside world behind [`run::Backend`].
//! - [`config`]: the flags resolved into a [`config::Plan`] with a [`config::Mode`]; what cannot run is refused.
//! - [`cli`]: the flags, as clap types (durations parsed by clap); help text reads [`defaults`].
//! - [`metrics`]: exact metrics from vegeta's per-request results.
//! - [`tools`]: one process supervisor, the server process and vegeta (locate, targets, attack, decode).
//! - [`host`]: the machine, CPU affinity and ports.
//! - [`sampling`]: CPU and memory sampling of the server and the load generator.
//! - [`judge`]: validity, search verdicts, capacity summaries.
//! - [`search`]: the saturation search, pure over a [`search::Prober`].
//! - [`report`]: terminal tables, ASCII charts and the HTML report, pure functions of [`model`] only.
//! - [`model`]: the results schema, the contract between measuring and reporting; imports nothing else.
//! - [`defaults`]: every default and threshold; a leaf any layer may read.
//! - [`poll`]: `poll_until`, the one way the runner waits for a condition; a leaf.

pub mod cli;
pub mod config;
pub mod defaults;
pub mod host;
pub mod judge;
pub mod metrics;
pub mod model;
pub mod poll;
pub mod report;
pub mod run;
pub mod sampling;
pub mod search;
pub mod tools;

#[cfg(test)]
mod layering;
