//! `tokio-per-core-server`: the catalogue on one pinned tokio current_thread runtime per worker. See the
//! README for every flag.

use std::process::ExitCode;

use clap::Parser;
use shared::ServerArgs;

/// Serve the runtime-bench endpoint catalogue on one pinned tokio current_thread runtime per worker (hyper HTTP/1.1).
#[derive(Debug, Parser)]
#[command(name = "tokio-per-core-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match tokio_per_core_server::run(cli.server) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tokio-per-core-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}
