//! `axum-server`: the catalogue on tokio's work-stealing runtime. See the README for every flag.

use clap::Parser;
use shared::ServerArgs;

/// Serve the runtime-bench endpoint catalogue on tokio's multi-thread work-stealing runtime (axum).
#[derive(Debug, Parser)]
#[command(name = "axum-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match axum_server::run(cli.server) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axum-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
