//! Listener sockets with the same options for every server, and the line that says a server is ready.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;

use crate::config::ServerArgs;

/// Why a server could not get its listening sockets.
#[derive(Debug, Error)]
pub enum BindError {
    #[error("cannot resolve listen address {host}:{port}")]
    Resolve { host: String, port: u16, source: io::Error },
    #[error("cannot listen on {addr}")]
    Listen { addr: SocketAddr, source: io::Error },
}

/// Resolves `host:port` to one socket address.
pub fn resolve_addr(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}:{port} resolves to no address")))
}

/// Binds a non-blocking listener with `SO_REUSEADDR`, the given backlog and, when asked, `SO_REUSEPORT`
/// (thread-per-core servers bind one listener per thread on the same port).
pub fn bind_listener(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Binds a server's listeners from its arguments: `count` sockets on one address, with the same options for
/// every server. More than one shares the port through `SO_REUSEPORT` (one per thread-per-core runtime),
/// but a fixed port is first probed without it, so a leftover server on that port is an "address in use"
/// error rather than silently sharing the traffic.
pub fn bind_server_listeners(args: &ServerArgs, count: usize) -> Result<Vec<TcpListener>, BindError> {
    let addr = resolve_addr(&args.host, args.port).map_err(|source| BindError::Resolve {
        host: args.host.clone(),
        port: args.port,
        source,
    })?;
    let listen_error = |addr| move |source| BindError::Listen { addr, source };
    let reuse_port = count > 1;
    if reuse_port && addr.port() != 0 {
        bind_listener(addr, args.backlog, false).map(drop).map_err(listen_error(addr))?;
    }
    let first = bind_listener(addr, args.backlog, reuse_port).map_err(listen_error(addr))?;
    let bound = first.local_addr().map_err(listen_error(addr))?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind_listener(bound, args.backlog, true).map_err(listen_error(bound))?);
    }
    Ok(listeners)
}

/// The exact readiness line the runner and the tests wait for.
pub fn listening_line(addr: SocketAddr) -> String {
    format!("listening on http://{addr}")
}

/// Prints the readiness line and flushes, so a parent reading a pipe sees it at once.
pub fn announce_listening(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", listening_line(addr))?;
    stdout.flush()
}
