//! `monoio-hyper-server`: the catalogue on thread-per-core monoio runtimes. See the README for every flag.

fn main() -> std::process::ExitCode {
    shared::entry::serve_main(
        "monoio-hyper-server",
        "Serve the runtime-bench endpoint catalogue on thread-per-core monoio runtimes (hyper HTTP/1.1).",
        |args: monoio_common::MonoioArgs| monoio_hyper_server::run(args.server, args.io.io_driver),
    )
}
