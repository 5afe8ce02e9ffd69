//! All integration tests in one binary (one build, one link), split by topic. They start the real server
//! binaries and the real vegeta of the current build profile.

mod common;
mod conformance;
mod e2e;
mod fuzz;
mod hardening;
mod manifest;
mod report;
