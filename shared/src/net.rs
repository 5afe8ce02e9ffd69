//! Listener sockets with the same options for every server, and the line that says a server is ready.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

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
