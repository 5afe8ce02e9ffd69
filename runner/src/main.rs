//! `runner`: parse the command line, run the chosen command, print the error chain, set the exit code.
//!
//! Exit codes: 0 success; 1 a failure while running; 2 bad arguments or a missing tool (vegeta, a server
//! binary, a manifest arm's program); 130 interrupted by Ctrl-C (every finished test is kept). `runner compare`: 0 no regression, 1 a
//! regression, 2 runs that cannot be compared.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use runner::cli::{CalibrateArgs, Cli, Command, CompareArgs, ReportArgs, RunArgs};
use runner::config::{Plan, PlanError};
use runner::host::machine;
use runner::model::{self, RunResults};
use runner::report;
use runner::run::calibration;
use runner::run::progress::stdout_is_terminal;
use runner::run::remote::RemoteSetupError;
use runner::run::{self as session, Tools};
use runner::tools::external::ManifestError;
use runner::tools::remote::{BadHost, SshError};
use runner::tools::server::ServerError;
use runner::tools::vegeta::VegetaError;

/// A usage error found outside the plan (e.g. `report --dir` naming a folder that is not there): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse_with_defaults();
    let outcome = match cli.command {
        Some(Command::Run(args)) => run_benchmark(&args),
        None => run_benchmark(&cli.run),
        Some(Command::Report(args)) => render_report(&args),
        Some(Command::Calibrate(args)) => calibrate(&args),
        Some(Command::Compare(args)) => compare_runs(&args),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("runner: {error:#}");
        ExitCode::from(exit_code_for(&error))
    })
}

/// Usage errors and missing tools exit 2, like clap's own usage errors; everything else 1.
fn exit_code_for(error: &anyhow::Error) -> u8 {
    let is_usage = error.downcast_ref::<PlanError>().is_some()
        || error.downcast_ref::<UsageError>().is_some()
        || error.downcast_ref::<ManifestError>().is_some()
        || error.downcast_ref::<RemoteSetupError>().is_some()
        || error.downcast_ref::<VegetaError>().is_some_and(VegetaError::is_setup_problem)
        || error.downcast_ref::<ServerError>().is_some_and(|e| matches!(e, ServerError::BinaryMissing { .. }))
        || error.downcast_ref::<BadHost>().is_some()
        || error
            .downcast_ref::<SshError>()
            .is_some_and(|e| matches!(e, SshError::Unreachable { .. } | SshError::KeyRefused { .. }));
    if is_usage { 2 } else { 1 }
}

fn run_benchmark(args: &RunArgs) -> Result<ExitCode> {
    let mut plan = Plan::resolve_with_ceiling(args, clean_ceiling(&args.out))?;
    let calibrate_first = plan.study().and_then(|_| calibration::missing(&args.out, &machine::detect()));
    if calibrate_first.is_none() {
        plan.study_calibrated();
    }
    if args.dry_run {
        print!("{}", plan.describe());
        if let Some(why) = calibrate_first {
            println!("calibration: {why}; the study calibrates the load generator first");
        }
        return Ok(ExitCode::SUCCESS);
    }
    plan.check_output()?;
    let tools = Tools::locate(&plan)?;
    let interrupted = install_interrupt_flag()?;
    if let Some(why) = calibrate_first {
        eprintln!("{why}: calibrating the load generator first (a quick one, stored there for later runs)");
        let Some(calibrated) = calibration::run_quick(&plan, std::env::args().collect(), Arc::clone(&interrupted))?
        else {
            eprintln!("interrupted during the calibration: nothing stored, no study run");
            return Ok(ExitCode::from(130));
        };
        let clean = calibrated.generator.as_ref().and_then(|g| g.clean_ceiling_rps);
        let clean_text = clean.map_or_else(
            || "no probed rate was clean (the machine is busy?); rerun `runner calibrate` when it is quiet".to_owned(),
            |c| format!("clean up to {c} req/s"),
        );
        eprintln!("calibration stored in {}: {clean_text}", args.out.join(model::CALIBRATION_FILE).display());
        plan = Plan::resolve_with_ceiling(args, clean)?;
        plan.study_calibrated();
    }
    let (soft_before, soft_after) = machine::raise_open_file_limit();
    if soft_after < 4096 {
        eprintln!(
            "warning: open-file limit is {soft_after} (was {soft_before}); overloaded tests may run out of sockets"
        );
    }
    eprint!("{}", plan.describe());
    let outcome = session::run(&plan, &tools, std::env::args().collect(), Arc::clone(&interrupted))?;
    finish_run(&outcome.results, &outcome.run_dir, plan.html)?;
    if outcome.interrupted() {
        eprintln!(
            "interrupted: {} finished tests are kept in {}",
            outcome.results.tests.len(),
            outcome.run_dir.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// The load generator's calibrated clean ceiling on this machine, if `runner calibrate` stored one (a
/// corrupt calibration is reported when the run records its metadata).
fn clean_ceiling(out: &Path) -> Option<u32> {
    let calibration = model::Calibration::load_for(out, &machine::detect()).ok().flatten()?;
    calibration.generator.and_then(|generator| generator.clean_ceiling_rps)
}

/// Ctrl-C and SIGTERM set a flag the scheduler checks; children run in their own process group, so the
/// runner stops them in order (vegeta flushes, servers finish) instead of everything dying at once. A second
/// Ctrl-C exits immediately.
fn install_interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the first is being handled ends the runner at once (children die with it).
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
            .context("installing the Ctrl-C handler")?;
        signal_hook::flag::register(signal, Arc::clone(&flag)).context("installing the Ctrl-C handler")?;
    }
    Ok(flag)
}

/// The end of a run: charts and summary in the terminal, the HTML report, and links to both files.
fn finish_run(results: &RunResults, run_dir: &Path, html: bool) -> Result<()> {
    let color = stdout_is_terminal();
    println!("{}", report::terminal_summary(results, report::terminal_width(), color));
    if html {
        let html_path = run_dir.join(report::HTML_FILE);
        report::write_html(results, &html_path)?;
        println!("report:  {}", file_link(&html_path, color));
    }
    println!("results: {}", file_link(&run_dir.join(model::RESULTS_FILE), color));
    println!("run folder: {}", file_link(run_dir, color));
    // The study's answer is the last thing on the screen.
    if let Some(verdict) = report::verdict::verdict(results) {
        println!("\n{}", report::verdict::text::render(&verdict));
    }
    Ok(())
}

/// Finds vegeta's ceiling against the no-op endpoint and stores it beside the run folders.
fn calibrate(args: &CalibrateArgs) -> Result<ExitCode> {
    let plan = Plan::for_calibration(args)?;
    plan.check_output()?;
    let tools = Tools::locate(&plan)?;
    machine::raise_open_file_limit();
    eprint!("calibrating the load generator against the no-op endpoint\n{}", plan.describe());
    let interrupted = install_interrupt_flag()?;
    let outcome = session::run(&plan, &tools, std::env::args().collect(), interrupted)?;
    if outcome.interrupted() {
        eprintln!("interrupted: no calibration stored; the probes are in {}", outcome.run_dir.display());
        return Ok(ExitCode::from(130));
    }
    let calibration = calibration::calibration_from(&outcome.results)?;
    let path = plan.out.join(model::CALIBRATION_FILE);
    model::write_json_atomic(&path, &calibration)?;
    match calibration.ceiling_rps {
        Some(ceiling) => println!("load-generator ceiling: {ceiling} req/s ({})", calibration.stop),
        None => println!("no probe held its rate with valid results ({})", calibration.stop),
    }
    if let Some(generator) = &calibration.generator {
        match generator.clean_ceiling_rps {
            Some(clean) => println!(
                "clean ceiling: {clean} req/s (no-op p99 within {} ms, schedule lag within its bound)",
                generator.clean_p99_bound_ms
            ),
            None => println!("no clean rate: even the lowest probe's no-op p99 or lag was above its bound"),
        }
        if let (Some(p50), Some(p99)) = (generator.latency_floor_p50_ms, generator.latency_floor_p99_ms) {
            println!("latency floor (vegeta against the no-op): p50 {p50:.2} ms, p99 {p99:.2} ms");
        }
    }
    println!("calibration: {}", file_link(&path, stdout_is_terminal()));
    Ok(ExitCode::SUCCESS)
}

/// `runner compare`: the table, then 0 (no regression), 1 (a regression) or 2 (not comparable).
fn compare_runs(args: &CompareArgs) -> Result<ExitCode> {
    let load = |dir: &Path| RunResults::load(dir).map_err(|error| UsageError(format!("cannot compare: {error}")));
    let (old, new) = (load(&args.old)?, load(&args.new)?);
    let comparison = report::compare::compare(&old, &new, args.threshold)
        .map_err(|error| UsageError(format!("cannot compare: {error}")))?;
    print!("{}", report::compare::table::render(&comparison));
    Ok(if comparison.regressions() == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn render_report(args: &ReportArgs) -> Result<ExitCode> {
    let run_dir = report_dir(args)?;
    let results = RunResults::load(&run_dir)?;
    let csv = run_dir.join(report::CSV_FILE);
    report::write_csv(&results, &csv).with_context(|| format!("writing {}", csv.display()))?;
    let color = stdout_is_terminal();
    println!("{}", report::terminal_report(&results, report::terminal_width(), color));
    if let Some(verdict) = report::verdict::verdict(&results) {
        println!("{}", report::verdict::text::render(&verdict));
    }
    if !args.no_html {
        let html_path = args.output.clone().unwrap_or_else(|| run_dir.join(report::HTML_FILE));
        report::write_html(&results, &html_path)?;
        println!("report:  {}", file_link(&html_path, color));
    }
    Ok(ExitCode::SUCCESS)
}

/// The run folder to render: `--dir` (which must be a folder), else the newest under `--out`.
fn report_dir(args: &ReportArgs) -> Result<PathBuf> {
    match &args.dir {
        Some(dir) if dir.is_dir() => Ok(dir.clone()),
        Some(dir) => Err(UsageError(format!("--dir {} is not a folder; name a run folder", dir.display())).into()),
        None => Ok(model::newest_run_dir(&args.out)?),
    }
}

/// A clickable link (OSC 8) on a terminal; the plain `file://` URL otherwise.
fn file_link(path: &Path, terminal: bool) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let url = format!("file://{}", absolute.display());
    if terminal { format!("\x1b]8;;{url}\x1b\\{}\x1b]8;;\x1b\\", absolute.display()) } else { url }
}
