//! The load generator's calibrated ceiling: building it from a `runner calibrate` run, and the warnings a
//! run gets when it asks for rates above it.

use anyhow::{Context, Result};

use crate::config::Plan;
use crate::model::{Calibration, RunResults};

/// Warnings for requested rates above the calibrated load-generator ceiling.
pub fn ceiling_notes(plan: &Plan, calibration: &Calibration) -> Vec<String> {
    let Some(ceiling) = calibration.ceiling_rps else { return Vec::new() };
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

/// The calibration a `runner calibrate` run produced: its single search's sustainable rate.
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
        generator: None,
        vegeta_cpus: None,
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
