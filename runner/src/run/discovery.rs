//! Before the first test: which planned endpoints each external arm serves. Each is started once (as the
//! ancestor did, its catalogue is read from the running server: `/api/endpoints` or its OpenAPI document),
//! and the planned cells it lacks become [`AbsentCell`]s with their reason, so they are skipped and shown
//! as absent, never measured as zero.

use std::path::Path;

use super::backend::{Backend, Launch};
use super::measure::{DB_FOLDER, remove_database};
use crate::config::{Plan, TestCase};
use crate::model::AbsentCell;

/// What the discovery found: the cells to skip, and notes for the run.
#[derive(Debug, Default)]
pub(super) struct Discovery {
    pub absent: Vec<AbsentCell>,
    pub notes: Vec<String>,
}

impl Discovery {
    /// Whether the test's arm lacks its endpoint.
    pub fn skips(&self, case: &TestCase<'_>) -> bool {
        self.absent.iter().any(|cell| cell.server == case.server && cell.endpoint == case.endpoint.name)
    }
}

/// Starts every external arm of the plan once on `host` (a fresh address from `next_host` each) and reads
/// its catalogue. An arm that cannot be started is noted; its tests then fail with their own reasons.
pub(super) fn discover(
    plan: &Plan,
    backend: &dyn Backend,
    run_dir: &Path,
    next_host: &dyn Fn() -> String,
) -> Discovery {
    let mut found = Discovery::default();
    for arm in &plan.external {
        let db = run_dir.join(DB_FOLDER).join(format!("{}_catalogue.db", arm.name));
        if let Some(folder) = db.parent() {
            let _ = std::fs::create_dir_all(folder);
        }
        let launch = Launch {
            server: arm.name.clone(),
            host: next_host(),
            port: 0,
            workers: plan.workers.first().copied().unwrap_or(1),
            db: db.clone(),
            cpus: Vec::new(),
            extra_args: Vec::new(),
        };
        let coverage = backend.start_server(&launch).and_then(|server| {
            let coverage = server.coverage();
            server.stop()?;
            coverage
        });
        remove_database(&db);
        match coverage {
            Ok(coverage) => {
                let planned = |name: &String| plan.endpoints.iter().any(|e| e.name == name);
                let lacking: Vec<AbsentCell> = coverage
                    .lacking
                    .into_iter()
                    .filter(|(endpoint, _)| planned(endpoint))
                    .map(|(endpoint, reason)| AbsentCell { server: arm.name.clone(), endpoint, reason })
                    .collect();
                found.notes.extend(absent_note(&arm.name, &lacking));
                found.absent.extend(lacking);
            }
            Err(error) => found.notes.push(format!(
                "the {} arm could not be started to read its catalogue ({error:#}); its tests record why they failed",
                arm.name
            )),
        }
    }
    for note in &found.notes {
        eprintln!("note: {note}");
    }
    found
}

/// One note per arm listing the cells it lacks, with their reasons.
fn absent_note(arm: &str, lacking: &[AbsentCell]) -> Option<String> {
    if lacking.is_empty() {
        return None;
    }
    let cells: Vec<String> = lacking.iter().map(|cell| format!("{} ({})", cell.endpoint, cell.reason)).collect();
    Some(format!(
        "{arm} lacks {} planned endpoint(s), absent from the results (not measured, not zero): {}",
        lacking.len(),
        cells.join("; ")
    ))
}
