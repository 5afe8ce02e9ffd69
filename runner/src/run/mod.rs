//! Running a plan: the session over the matrix or the searches ([`session`]), one test ([`measure`]), the
//! readiness checks around it ([`readiness`]), the external arms' catalogues ([`discovery`]), the write
//! audit ([`audit`]), the run folder and its metadata ([`folder`]), progress ([`progress`]) and the
//! calibration ([`calibration`]). Everything outside the runner
//! is reached through [`backend::Backend`], so the orchestration is unit-tested with fakes.

mod attack_results;
mod attack_set;
pub mod audit;
pub mod backend;
pub mod calibration;
pub mod clock;
mod discovery;
pub mod folder;
mod measure;
pub mod progress;
pub mod readiness;
pub mod remote;
mod session;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

pub use backend::{Backend, Tools};

use crate::config::Plan;
use crate::host::affinity::core_layout;
use crate::model::{RunResults, RunStatus, SCHEMA_VERSION};
use session::Session;

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub results: RunResults,
}

impl RunOutcome {
    pub fn interrupted(&self) -> bool {
        self.results.run.status == RunStatus::Interrupted
    }
}

/// Runs the whole plan through `backend`; `interrupted` is set by the Ctrl-C handler.
pub fn run(
    plan: &Plan,
    backend: &dyn Backend,
    arguments: Vec<String>,
    interrupted: Arc<AtomicBool>,
) -> Result<RunOutcome> {
    // Remote attackers reach this machine's server on its address towards them, never on loopback.
    let remote_attackers = plan.attackers.iter().any(crate::config::Attacker::is_remote);
    let address = remote_attackers.then(|| backend.address_towards(&plan.attackers)).transpose()?;
    let run_dir = folder::create_run_dir(&plan.out)?;
    let layout = core_layout(&plan.workers, plan.pin_cores);
    let mut metadata = folder::run_metadata(plan, backend.load_generator_version(), arguments, &run_dir, &layout);
    metadata.server_host = backend.server_host();
    let results = RunResults { schema_version: SCHEMA_VERSION, run: metadata, tests: Vec::new(), capacity: Vec::new() };
    let mut session = Session::new(plan, backend, run_dir, layout, interrupted, results, address);
    session.run_all()?;
    let (run_dir, results) = session.into_results();
    Ok(RunOutcome { run_dir, results })
}
