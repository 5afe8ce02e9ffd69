//! The per-core worker body on monoio: build this thread's runtime on the asked driver, register the
//! worker's listener, and serve it through `shared::per_core`'s accept loop, one task per connection.

use std::future::Future;
use std::rc::Rc;

use monoio::blocking::DefaultThreadPool;
use monoio::net::{TcpListener, TcpStream};
use shared::IoDriver;
use shared::dispatch::Responder;
use shared::per_core::{BoxError, DrainSignal, Worker};

use crate::{MonoioExecutor, MonoioResponder, runtime};

/// Runs one worker until its drain ends. Errors before serving (the runtime, the listener) fail the start.
pub fn serve<C, F>(
    worker: Worker,
    driver: IoDriver,
    pool: &DefaultThreadPool,
    serve_connection: &C,
) -> Result<(), BoxError>
where
    C: Fn(TcpStream, Rc<MonoioResponder>, DrainSignal) -> F,
    F: Future<Output = ()> + 'static,
{
    let Worker { listener, state, lifecycle, .. } = worker;
    let mut runtime = runtime::build(driver, pool.clone())?;
    let driver = runtime::driver_of(&runtime);
    runtime::prepare_listener(&listener, driver)?;
    let responder = Rc::new(Responder::new(state, MonoioExecutor, driver));
    runtime.block_on(async move {
        // Registering needs the runtime's driver, so it happens inside it.
        let listener =
            TcpListener::from_std(listener).map_err(|source| runtime::RuntimeError::Register { driver, source })?;
        // Owns the listener, so the accept loop closes it when the drain starts: a listener left open would take
        // in new connections nobody serves until the process exits.
        let accept = async move || listener.accept().await.map(|(stream, _peer)| stream);
        let on_connection = |stream: TcpStream, drain| {
            // Small JSON responses must not wait for Nagle's algorithm; every arm sets the same. A socket that
            // refuses the option is already broken, and the codec will find out on its first read.
            let _ = stream.set_nodelay(true);
            monoio::spawn(serve_connection(stream, Rc::clone(&responder), drain));
        };
        lifecycle.serve(driver, &MonoioExecutor, accept, on_connection).await;
        Ok(())
    })
}
