//! The load generator's calibration: its throughput ceiling, its latency floor and clean ceiling, built from a
//! `runner calibrate` run, and what a run gets from it (warnings for rates above the throughput ceiling, the
//! marker on tests above the clean ceiling). A study with no calibration to take its cost rate from runs a
//! quick one first ([`run_quick`]) and stores it like `runner calibrate` does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};

use super::backend::Tools;
use crate::config::{Plan, study};
use crate::judge::clean_ceiling::{GeneratorProbe, floor_record, includes_generator_latency};
use crate::model::{
    CALIBRATION_FILE, Calibration, GENERATOR_LATENCY_MARKER, Machine, RunResults, TestRecord, TestStatus,
    write_json_atomic,
};

/// Why `out` holds no calibration a run on `machine` can use (missing, made on another machine, or
/// unreadable), in words naming the file; `None` when it holds one.
pub fn missing(out: &Path, machine: &Machine) -> Option<String> {
    let path = out.join(CALIBRATION_FILE);
    match Calibration::load_for(out, machine) {
        Ok(Some(_)) => None,
        Ok(None) if path.exists() => Some(format!("{} was made on another machine", path.display())),
        Ok(None) => Some(format!("{} is missing", path.display())),
        Err(error) => Some(format!("{error}")),
    }
}

/// The study's quick calibration: short probes from the cost rate up (see [`study::quick_calibration`]),
/// stored in `plan.out`'s calibration file; `None` when Ctrl-C interrupted it (nothing is stored then).
pub fn run_quick(plan: &Plan, arguments: Vec<String>, interrupted: Arc<AtomicBool>) -> Result<Option<Calibration>> {
    let quick = study::quick_calibration(&plan.out, plan.vegeta.clone(), plan.pin_cores)?;
    let tools = Tools::locate(&quick)?;
    let outcome = super::run(&quick, &tools, arguments, interrupted)?;
    if outcome.interrupted() {
        return Ok(None);
    }
    let calibration = calibration_from(&outcome.results)?;
    write_json_atomic(&plan.out.join(CALIBRATION_FILE), &calibration)?;
    Ok(Some(calibration))
}

/// Warnings for requested rates above the calibrated load-generator ceiling. A calibration whose search did
/// not converge (the study's quick one stops at twice its cost rate) has only a lower bound: no warning.
pub fn ceiling_notes(plan: &Plan, calibration: &Calibration) -> Vec<String> {
    let Some(ceiling) = calibration.ceiling_rps.filter(|_| calibration.valid) else { return Vec::new() };
    let above: Vec<String> = plan.rates().iter().filter(|&&r| r > ceiling).map(ToString::to_string).collect();
    if above.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "rates {} req/s exceed the calibrated load-generator ceiling of {ceiling} req/s ({}): results there \
         measure vegeta as much as the server",
        above.join(", "),
        calibration.measured_at
    )]
}

/// The markers of a test at `rate` under this calibration: above the clean ceiling, its latency includes the
/// load generator's own. A calibration from before the clean ceiling existed marks nothing.
pub fn markers(rate: u32, calibration: Option<&Calibration>) -> Vec<String> {
    let clean = calibration.and_then(|c| c.generator.as_ref()).map(|g| g.clean_ceiling_rps);
    if includes_generator_latency(rate, clean) { vec![GENERATOR_LATENCY_MARKER.to_owned()] } else { Vec::new() }
}

/// What a calibration probe says about the generator: its no-op latency, lag and CPU at that rate.
fn generator_probe(test: &TestRecord) -> Option<GeneratorProbe> {
    let metrics = test.metrics.as_ref()?;
    let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1000.0);
    Some(GeneratorProbe {
        rate: test.rate,
        p50: ms(metrics.latency_ms.p50),
        p99: ms(metrics.latency_ms.p99),
        lag_p99: test.schedule_lag.as_ref().map(|lag| ms(lag.p99_ms)),
        vegeta_us_per_request: test
            .accounting
            .as_ref()
            .and_then(|a| a.load_generator.cpu.value())
            .and_then(|cpu| cpu.us_per_request),
        valid: test.status == TestStatus::Ok && test.validity.valid,
        requests: metrics.requests,
    })
}

/// The calibration a `runner calibrate` run produced: the throughput search's sustainable rate as the
/// ceiling, and the generator's floor and clean ceiling from every probe of both searches.
pub fn calibration_from(results: &RunResults) -> Result<Calibration> {
    let capacity = results.capacity.first().context("the calibration search did not run (interrupted?)")?;
    Ok(Calibration {
        ceiling_rps: capacity.sustainable_rps,
        server: capacity.server.clone(),
        workers: capacity.workers,
        measured_at: results.run.finished_at.clone().unwrap_or_else(super::clock::now),
        machine: results.run.machine.clone(),
        vegeta: results.run.versions.vegeta.clone(),
        stop: capacity.stop.clone(),
        valid: capacity.valid,
        run_id: results.run.id.clone(),
        probes: capacity.probes.clone(),
        generator: Some(floor_record(&results.tests.iter().filter_map(generator_probe).collect::<Vec<_>>())),
        vegeta_cpus: results
            .run
            .core_layout
            .placements
            .get(&capacity.workers)
            .map(|placement| placement.load_generator_cpus.len())
            .filter(|&cpus| cpus > 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    #[test]
    fn rates_above_the_calibrated_ceiling_are_warned_about() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["runner", "--rates", "500,5000,9000"]).expect("parses");
        let plan = Plan::resolve(&cli.run).expect("valid");
        let machine = crate::host::machine::detect();
        let calibration = Calibration {
            ceiling_rps: Some(4000),
            server: "axum".into(),
            workers: 1,
            measured_at: "2026-11-28T00:00:00Z".into(),
            machine: machine.clone(),
            vegeta: "v12.13.0".into(),
            stop: "converged within 5%".into(),
            valid: true,
            run_id: "bench_x".into(),
            probes: Vec::new(),
            generator: None,
            vegeta_cpus: Some(1),
        };
        let notes = ceiling_notes(&plan, &calibration);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("5000, 9000") && notes[0].contains("4000"), "{notes:?}");
        let bound = Calibration { valid: false, ..calibration.clone() };
        assert!(ceiling_notes(&plan, &bound).is_empty(), "a lower bound is no ceiling");

        let dir = tempfile::tempdir().expect("temp dir");
        model::write_json_atomic(&dir.path().join(model::CALIBRATION_FILE), &calibration).expect("written");
        assert_eq!(Calibration::load_for(dir.path(), &machine).expect("readable").as_ref(), Some(&calibration));
        let other = model::Machine { cores: machine.cores + 1, ..machine };
        assert_eq!(
            Calibration::load_for(dir.path(), &other).expect("readable"),
            None,
            "another machine's ceiling does not apply"
        );
    }
}
