//! `monoio-server`: the catalogue on thread-per-core monoio runtimes with completion I/O. See the README for
//! every flag.

use std::process::ExitCode;

use clap::Parser;
use monoio_server::limits::{ConnectionLimits, LimitArgs};
use shared::ServerArgs;

/// Serve the runtime-bench endpoint catalogue on thread-per-core monoio runtimes (io_uring completions,
/// httparse HTTP/1.1).
#[derive(Debug, Parser)]
#[command(name = "monoio-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match monoio_server::run(cli.server, ConnectionLimits::from(&cli.limits)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("monoio-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}
