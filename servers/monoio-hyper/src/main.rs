//! `monoio-hyper-server`: the catalogue on thread-per-core monoio runtimes. See the README for every flag.

use std::process::ExitCode;

use clap::Parser;
use monoio_common::IoDriverArgs;
use shared::ServerArgs;

/// Serve the runtime-bench endpoint catalogue on thread-per-core monoio runtimes (hyper HTTP/1.1).
#[derive(Debug, Parser)]
#[command(name = "monoio-hyper-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    io: IoDriverArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match monoio_hyper_server::run(cli.server, cli.io.io_driver) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("monoio-hyper-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}
