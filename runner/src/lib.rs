//! runtime-bench's runner: benchmarks every server x endpoint x workers x rate through vegeta, samples the
//! server's and the load generator's CPU and memory, persists every test as it ends, and renders reports.
//!
//! # Layout
//! - [`cli`]: the flags, as clap types only.
//! - [`plan`]: flags resolved into a validated matrix of tests (bad combinations rejected before anything runs).
//! - [`server`]: one server process: start on a free port, wait until ready, stop, never outlive the runner.
//! - [`vegeta`]: finding vegeta, writing targets, running an attack, decoding its raw results.
//! - [`metrics`]: exact metrics from vegeta's per-request results.
//! - [`pacing`]: schedule lag of the load generator and whether the server kept up, from the same results.
//! - [`monitor`]: CPU and memory sampling of the server and the load generator.
//! - [`proc_account`]: exact CPU time and run-queue delay of a process over a window, from `/proc`.
//! - [`affinity`]: which CPUs a server and vegeta get, and pinning children to them.
//! - [`cpu_cost`]: CPU µs per request, projected capacity, and the starvation and contention rules.
//! - [`child`]: making sure no child process outlives the runner.
//! - [`machine`]: what machine and versions the numbers come from.
//! - [`scheduler`]: runs the matrix (or the searches), persisting after every test.
//! - [`validity`]: whether a result can be trusted, and why not.
//! - [`progress`]: the progress bar over a run.
//! - [`calibration`]: the load generator's ceiling and warnings about rates above it.
//! - [`clean_ceiling`]: the load generator's latency floor and clean ceiling, from calibration probes.
//! - [`search`]: the saturation search for the highest rate within an SLO.
//! - [`trust_record`]: the schema types of what limits a measurement (accounting, lag, kept-up, floor).
//! - [`results`]: the results schema, the contract between measuring and reporting.
//! - [`report`]: terminal tables, ASCII charts and the HTML report, all pure functions of the results.

pub mod affinity;
pub mod calibration;
pub mod child;
pub mod clean_ceiling;
pub mod cli;
pub mod cpu_cost;
pub mod machine;
pub mod metrics;
pub mod monitor;
pub mod pacing;
pub mod plan;
pub mod proc_account;
pub mod progress;
pub mod report;
pub mod results;
pub mod scheduler;
pub mod search;
pub mod server;
pub mod trust_record;
pub mod validity;
pub mod vegeta;
