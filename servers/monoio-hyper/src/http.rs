//! hyper on a monoio socket: the socket goes through monoio's poll-io bridge (`into_poll_io` + `MonoioIo`),
//! readiness-based I/O on top of the runtime's driver instead of io_uring completions. That is the price of
//! running the very HTTP/1 codec the tokio arms run; the connection itself is `shared::hyper_conn`'s.

use std::rc::Rc;

use monoio::io::IntoPollIo;
use monoio::net::TcpStream;
use monoio_common::MonoioResponder;
use monoio_compat::hyper::MonoioIo;
use shared::per_core::DrainSignal;

/// Serves one accepted connection until the client closes it or the worker drains.
pub async fn serve_connection(stream: TcpStream, responder: Rc<MonoioResponder>, drain: DrainSignal) {
    match stream.into_poll_io() {
        Ok(io) => shared::hyper_conn::serve_connection(MonoioIo::new(io), responder, drain).await,
        Err(error) => eprintln!("monoio-hyper-server: cannot switch an accepted socket to poll-io: {error}"),
    }
}
