//! `monoio-server`: the catalogue on thread-per-core monoio runtimes with completion I/O. See the README for
//! every flag.

fn main() -> std::process::ExitCode {
    shared::entry::serve_main(
        "monoio-server",
        "Serve the runtime-bench endpoint catalogue on thread-per-core monoio runtimes (completion I/O, httparse \
         HTTP/1.1).",
        |args: monoio_common::MonoioArgs| {
            let limits = args.server.connection_limits();
            monoio_server::run(args.server, args.io.io_driver, limits)
        },
    )
}
