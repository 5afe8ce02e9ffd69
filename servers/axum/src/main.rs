//! `axum-server`: the catalogue on tokio's work-stealing runtime. See the README for every flag.

fn main() -> std::process::ExitCode {
    shared::entry::serve_main(
        "axum-server",
        "Serve the runtime-bench endpoint catalogue on tokio's multi-thread work-stealing runtime (axum).",
        axum_server::run,
    )
}
