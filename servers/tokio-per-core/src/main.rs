//! `tokio-per-core-server`: the catalogue on one pinned tokio current_thread runtime per worker. See the
//! README for every flag.

fn main() -> std::process::ExitCode {
    shared::entry::serve_main(
        "tokio-per-core-server",
        "Serve the runtime-bench endpoint catalogue on one pinned tokio current_thread runtime per worker (hyper \
         HTTP/1.1).",
        tokio_per_core_server::run,
    )
}
