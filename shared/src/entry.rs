//! Every server binary's `main`: parse its flags (`ServerArgs`, plus an arm's own), run, and exit non-zero
//! with the error on stderr, prefixed with the binary's name.

use std::fmt::Display;
use std::process::ExitCode;

use clap::{Args, Command, FromArgMatches};

/// Parses `A` as `binary`'s command line (clap prints help, version and usage errors itself), then runs it.
pub fn serve_main<A, E>(binary: &'static str, about: &'static str, run: impl FnOnce(A) -> Result<(), E>) -> ExitCode
where
    A: Args + FromArgMatches,
    E: Display,
{
    // After the flags: their struct's own doc comment would otherwise replace the binary's description.
    let command = A::augment_args(Command::new(binary)).about(about).version(env!("CARGO_PKG_VERSION"));
    let args = match A::from_arg_matches(&command.get_matches()) {
        Ok(args) => args,
        Err(error) => error.exit(),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{binary}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
