//! One worker body: a tokio `current_thread` runtime on this (pinned) thread, the worker's listener
//! registered with it, and one task per accepted connection, served by `shared::hyper_conn`.

use std::sync::Arc;

use anyhow::Context;
use hyper_util::rt::TokioIo;
use shared::IoDriver;
use shared::dispatch::Responder;
use shared::per_core::{BoxError, Worker};
use tokio::net::{TcpListener, TcpStream};

use crate::pool::BlockingPool;

/// Runs one worker until its drain ends. Errors before serving (the runtime, the listener) fail the start.
pub fn serve(worker: Worker, pool: &BlockingPool) -> Result<(), BoxError> {
    let Worker { index, listener, state, lifecycle, .. } = worker;
    let executor = pool.executor().context("the blocking pool is shut down")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("cannot build the tokio runtime of worker {index}"))?;
    // tokio drives sockets through epoll (mio); it has no io_uring driver.
    let responder = Arc::new(Responder::new(state, executor.clone(), IoDriver::Epoll));
    runtime.block_on(async move {
        // Registering needs the runtime's reactor, so it happens inside it.
        let listener = TcpListener::from_std(listener).context("cannot register the listener with tokio")?;
        // Owns the listener, so the accept loop closes it when the drain starts: a listener left open would take
        // in new connections nobody serves until the process exits.
        let accept = async move || listener.accept().await.map(|(stream, _peer)| stream);
        let on_connection = |stream: TcpStream, drain| {
            // Small JSON responses must not wait for Nagle's algorithm; every arm sets the same.
            let _ = stream.set_nodelay(true);
            tokio::spawn(shared::hyper_conn::serve_connection(
                TokioIo::new(stream),
                Arc::clone(&responder),
                tokio::time::sleep,
                drain,
            ));
        };
        lifecycle.serve(IoDriver::Epoll, &executor, accept, on_connection).await;
        Ok(())
    })
}
