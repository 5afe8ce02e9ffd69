//! The run folder and the run's metadata: `<out>/bench_YYYYMMDD_HHMMSS`, and what `results.json` says about
//! the run before the first test (configuration, machine, versions, CPU layout, calibration, caveats).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::calibration::ceiling_notes;
use super::clock::now;
use crate::config::Plan;
use crate::host::{affinity, machine};
use crate::model::{
    Calibration, CoreLayout, ExternalArmConfig, Machine, RunConfig, RunMetadata, RunStatus, SearchConfig, StudyConfig,
};
use crate::tools::external::{CatalogueSource, ExternalArm};

/// Creates `<out>/bench_YYYYMMDD_HHMMSS` (with a suffix if that exists), failing early if `out` is not writable.
pub fn create_run_dir(out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let stamp = chrono::Local::now().format("bench_%Y%m%d_%H%M%S").to_string();
    for attempt in 0..100 {
        let name = if attempt == 0 { stamp.clone() } else { format!("{stamp}_{attempt}") };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return std::path::absolute(&dir).with_context(|| format!("resolving {}", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("the output folder {} is not writable", out.display()));
            }
        }
    }
    bail!("could not create a fresh run folder under {}", out.display())
}

/// What the run records before its first test. Warnings it records are printed too.
pub fn run_metadata(
    plan: &Plan,
    load_generator_version: String,
    arguments: Vec<String>,
    run_dir: &Path,
    layout: &CoreLayout,
) -> RunMetadata {
    let machine = machine::detect();
    let (calibration, mut notes) =
        if plan.is_calibration() { (None, Vec::new()) } else { calibration_for(plan, &machine) };
    notes.extend(shared_cpu_note(layout));
    for note in &notes {
        eprintln!("warning: {note}");
    }
    RunMetadata {
        id: run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        arguments,
        config: run_config(plan),
        machine,
        versions: machine::versions(&load_generator_version),
        core_layout: layout.clone(),
        started_at: now(),
        finished_at: None,
        status: RunStatus::Running,
        notes,
        calibration,
        absent: Vec::new(),
        server_host: None,
    }
}

/// This machine's calibration, if any, and the notes it brings; a corrupt file is named in a note rather
/// than ignored.
fn calibration_for(plan: &Plan, machine: &Machine) -> (Option<Calibration>, Vec<String>) {
    match Calibration::load_for(&plan.out, machine) {
        Ok(Some(calibration)) => {
            let notes = ceiling_notes(plan, &calibration);
            (Some(calibration), notes)
        }
        Ok(None) => (None, Vec::new()),
        Err(error) => (None, vec![format!("the calibration was not used: {error}")]),
    }
}

fn shared_cpu_note(layout: &CoreLayout) -> Option<String> {
    let shared: Vec<String> = layout.placements.iter().filter(|(_, p)| p.shared).map(|(w, _)| w.to_string()).collect();
    (!shared.is_empty()).then(|| {
        format!(
            "servers with {} worker(s) shared CPUs with vegeta ({} CPUs available{}): recorded, and judged by how long \
             each process waited for a CPU",
            shared.join(", "),
            affinity::allowed_cpus().len(),
            if layout.pinned { "" } else { ", --no-pin" }
        )
    })
}

fn run_config(plan: &Plan) -> RunConfig {
    RunConfig {
        servers: plan.servers.clone(),
        io_drivers: plan.io_drivers.clone(),
        filters: plan.filters.clone(),
        rates: plan.rates().to_vec(),
        duration_s: plan.duration.as_secs_f64(),
        workers: plan.workers.clone(),
        timeout_s: plan.timeout.as_secs_f64(),
        warmup_s: plan.warmup.as_secs_f64(),
        repeat: plan.repeat(),
        host: plan.host.clone().unwrap_or_else(|| crate::host::loopback::PER_TEST.to_owned()),
        pin_cores: plan.pin_cores,
        sleep_ms: plan.sleep_ms,
        max_connections: plan.max_connections,
        keep_bodies: plan.keep_bodies,
        attackers: plan.attackers.iter().map(ToString::to_string).collect(),
        search: plan.search().map(|search| SearchConfig {
            slo_p99_ms: search.slo.p99.as_secs_f64() * 1000.0,
            slo_success_pct: search.slo.success_pct,
            budget_s: search.budget.as_secs_f64(),
            start_rate: search.range.start,
            max_rate: search.range.max,
            precision_pct: crate::defaults::SEARCH_PRECISION * 100.0,
        }),
        study: plan.study().map(|study| StudyConfig {
            repeat: study.repeat,
            cost_rates: study.cost_rates.iter().map(|(name, rate)| ((*name).to_owned(), *rate)).collect(),
            capacity_endpoints: study.capacity_endpoints.iter().map(|name| (*name).to_owned()).collect(),
            base_rate_source: study.base_rate_source.clone(),
        }),
        external: plan.external.iter().map(external_config).collect(),
    }
}

/// A manifest arm as the run records it.
fn external_config(arm: &ExternalArm) -> ExternalArmConfig {
    let kind = match &arm.catalogue {
        CatalogueSource::Contract(_) => "the workspace's contract",
        CatalogueSource::OpenApi(_) => "an OpenAPI document",
    };
    ExternalArmConfig {
        name: arm.name.clone(),
        command: arm.command.clone(),
        declared_at: format!("{}:{}", arm.file, arm.line),
        catalogue: format!("{} ({kind})", arm.catalogue.path()),
        health: arm.health.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_calibration_becomes_a_note_naming_its_file() {
        use clap::Parser;
        let out = tempfile::tempdir().expect("temp dir");
        let path = out.path().join(crate::model::CALIBRATION_FILE);
        std::fs::write(&path, "{ half written").expect("written");
        let cli =
            crate::cli::Cli::try_parse_from(["runner", "--out", &out.path().display().to_string()]).expect("parses");
        let plan = Plan::resolve(&cli.run).expect("valid");
        let (calibration, notes) = calibration_for(&plan, &machine::detect());
        assert!(calibration.is_none());
        assert!(notes.iter().any(|n| n.contains(&path.display().to_string())), "{notes:?}");
    }
}
