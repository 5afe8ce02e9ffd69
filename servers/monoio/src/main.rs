//! `monoio-server`: the catalogue on thread-per-core monoio runtimes with completion I/O. See the README for
//! every flag.

use std::process::ExitCode;

use clap::Parser;
use monoio_common::IoDriverArgs;
use shared::ServerArgs;

/// Serve the runtime-bench endpoint catalogue on thread-per-core monoio runtimes (completion I/O, httparse
/// HTTP/1.1).
#[derive(Debug, Parser)]
#[command(name = "monoio-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    io: IoDriverArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let limits = cli.server.connection_limits();
    match monoio_server::run(cli.server, cli.io.io_driver, limits) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("monoio-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}
