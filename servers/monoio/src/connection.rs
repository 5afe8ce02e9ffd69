//! One accepted connection, served until it closes or the worker drains: requests are read with owned-buffer
//! io_uring completions (`AsyncReadRent::read` into the connection's own `Vec`), parsed by [`crate::h1`],
//! routed by `shared::router`, answered in order by the worker's `shared::dispatch::Responder`, and written
//! back with `AsyncWriteRent::write_all`.
//!
//! Requests are handled one at a time, so pipelined requests are answered in the order they came. A request
//! is complete once its body has been followed to its end (bodies are discarded); only then is it
//! dispatched, so a client that half-closes after a complete request still gets its answer, and the next
//! request starts exactly where the body ended.
//!
//! Timing rules: a fresh connection must deliver a whole head within the header timeout; a kept-alive one
//! may wait up to the idle timeout for its next request's first byte, and then has the header timeout for
//! the rest of the head. A draining worker closes connections that wait for or are receiving a head at once;
//! a request being handled is finished and answered with `connection: close`.

use std::mem;
use std::rc::Rc;
use std::time::Duration;

use http::Method;
use monoio::buf::{IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::time::Instant;
use monoio_common::MonoioResponder;
use shared::config::ConnectionLimits;
use shared::per_core::DrainSignal;

use crate::h1::body::{BodyDecoder, Discarded};
use crate::h1::head::{self, BodyFraming, Parsed, RequestHead, Version};
use crate::h1::response::{self, Persistence, ResponseParts};

/// Room made for each read; the buffer grows past it only while a head or a pipelined batch needs it.
const READ_CHUNK: usize = 8 * 1024;
/// How long a connection closed after an error keeps reading what the client still sends, so the client
/// sees the error response instead of a reset that can discard it.
const LINGER: Duration = Duration::from_millis(500);
/// How much a lingering connection reads at most before it closes anyway.
const LINGER_BYTES: usize = 256 * 1024;

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed or the connection timed out, failed or was drained between requests: close without
    /// a word.
    Quiet,
    /// A response said `connection: close`: stop sending, then close.
    Closed,
    /// The request cannot be served: answer this status with `connection: close`, then close.
    Reject(u16),
}

/// Serves `stream` until the client closes it, a limit closes it, or the worker drains between requests.
pub async fn serve(stream: TcpStream, responder: Rc<MonoioResponder>, limits: ConnectionLimits, drain: DrainSignal) {
    let mut connection = Connection {
        stream,
        input: Vec::with_capacity(READ_CHUNK),
        output: Vec::with_capacity(READ_CHUNK),
        limits,
        drain,
    };
    // A bug in this codec must cost one connection, not the worker and every connection on it: monoio does not
    // catch a panic in a task. (Handler panics are already 500s, in `shared::dispatch`.)
    let _ = shared::dispatch::catch_panic(async move {
        let ending = connection.serve_requests(&responder).await;
        connection.close(ending).await;
    })
    .await;
}

struct Connection {
    stream: TcpStream,
    /// Received bytes not yet consumed, from the start of the next unparsed piece.
    input: Vec<u8>,
    /// The response being written (kept to reuse its allocation).
    output: Vec<u8>,
    limits: ConnectionLimits,
    /// Held for the connection's life: the worker's drain waits for it.
    drain: DrainSignal,
}

/// How a read waits.
#[derive(Debug, Clone, Copy)]
struct Wait {
    deadline: Instant,
    /// A drain closes the connection while it waits (nothing is in flight).
    ends_on_drain: bool,
}

impl Connection {
    /// The request loop; returns how the connection ends.
    async fn serve_requests(&mut self, responder: &MonoioResponder) -> Ending {
        let mut head_deadline = Some(Instant::now() + self.limits.header_timeout);
        loop {
            match self.serve_request(responder, head_deadline).await {
                // A pipelined request already received gets the header timeout from now; otherwise the idle
                // timeout runs until its first byte.
                Ok(()) => head_deadline = (!self.input.is_empty()).then(|| Instant::now() + self.limits.header_timeout),
                Err(ending) => return ending,
            }
        }
    }

    /// One request, read, dispatched and answered; `Ok` when the connection stays open for the next.
    async fn serve_request(
        &mut self,
        responder: &MonoioResponder,
        head_deadline: Option<Instant>,
    ) -> Result<(), Ending> {
        let head = self.read_head(head_deadline).await?;
        self.read_body(&head).await?;
        let reply = responder.reply(shared::router::route(head.method.as_str(), head.target.path())).await;
        let keep_alive = head.keep_alive && !self.drain.is_draining();
        let parts = ResponseParts {
            version: head.version,
            status: reply.status,
            json: true,
            body: &reply.body,
            head_only: head.method == Method::HEAD,
            persistence: if keep_alive { Persistence::KeepAlive } else { Persistence::Close },
        };
        self.respond(&parts).await?;
        if keep_alive { Ok(()) } else { Err(Ending::Closed) }
    }

    /// Reads until `input` starts with a whole head, and consumes it. `deadline` bounds the whole head;
    /// `None` means the connection is idle: the idle timeout runs until the first byte, the header timeout
    /// from there.
    async fn read_head(&mut self, mut deadline: Option<Instant>) -> Result<RequestHead, Ending> {
        let mut scanned = 0;
        loop {
            if head::may_end_head(&self.input, scanned) {
                match head::parse(&self.input, self.limits.max_head_bytes) {
                    Ok(Parsed::Complete { head, len }) => {
                        self.input.drain(..len);
                        return Ok(head);
                    }
                    Ok(Parsed::Partial) => {}
                    Err(error) => return Err(Ending::Reject(error.status())),
                }
            }
            if self.input.len() > self.limits.max_head_bytes {
                return Err(Ending::Reject(431));
            }
            scanned = self.input.len();
            let wait = Wait {
                deadline: deadline.unwrap_or_else(|| Instant::now() + self.limits.idle_timeout),
                ends_on_drain: true,
            };
            if self.fill(wait).await? == 0 {
                return Err(Ending::Quiet);
            }
            deadline.get_or_insert_with(|| Instant::now() + self.limits.header_timeout);
        }
    }

    /// Follows the request's body to its end, discarding it; answers `Expect: 100-continue` first when the
    /// client is waiting for it. Each read may take up to the idle timeout.
    async fn read_body(&mut self, head: &RequestHead) -> Result<(), Ending> {
        let mut decoder = match head.body {
            BodyFraming::None => return Ok(()),
            BodyFraming::Sized(length) => BodyDecoder::sized(length),
            BodyFraming::Chunked => BodyDecoder::chunked(),
        };
        if head.expects_continue && head.version == Version::Http11 && self.input.is_empty() {
            self.write(response::CONTINUE).await?;
        }
        loop {
            let Discarded { consumed, done } = decoder.discard(&self.input).map_err(|_| Ending::Reject(400))?;
            self.input.drain(..consumed);
            if done {
                return Ok(());
            }
            let wait = Wait { deadline: Instant::now() + self.limits.idle_timeout, ends_on_drain: false };
            if self.fill(wait).await? == 0 {
                return Err(Ending::Quiet);
            }
        }
    }

    /// One owned-buffer read appended to `input`: the bytes read, 0 at end of stream. A timeout, an error
    /// or a drain (when the wait allows it) ends the connection; the read in flight is cancelled with it, and
    /// with it the buffer, which is why every such outcome closes.
    async fn fill(&mut self, wait: Wait) -> Result<usize, Ending> {
        let mut buffer = mem::take(&mut self.input);
        if buffer.capacity() - buffer.len() < READ_CHUNK / 2 {
            buffer.reserve(READ_CHUNK);
        }
        let filled = buffer.len();
        let read = monoio::time::timeout_at(wait.deadline, self.stream.read(buffer.slice_mut(filled..)));
        let outcome = if wait.ends_on_drain {
            let drain = &mut self.drain;
            monoio::select! {
                outcome = read => outcome,
                () = drain.draining() => return Err(Ending::Quiet),
            }
        } else {
            read.await
        };
        let (result, buffer) = outcome.map_err(|_elapsed| Ending::Quiet)?;
        self.input = SliceMut::into_inner(buffer);
        result.map_err(|_| Ending::Quiet)
    }

    async fn respond(&mut self, parts: &ResponseParts<'_>) -> Result<(), Ending> {
        let mut output = mem::take(&mut self.output);
        output.clear();
        response::encode(&mut output, parts);
        let result = self.write_owned(output).await;
        result.map_err(|_| Ending::Quiet)
    }

    async fn write(&mut self, bytes: &'static [u8]) -> Result<(), Ending> {
        let deadline = Instant::now() + self.limits.idle_timeout;
        match monoio::time::timeout_at(deadline, self.stream.write_all(bytes)).await {
            Ok((Ok(_), _)) => Ok(()),
            _ => Err(Ending::Quiet),
        }
    }

    /// Writes `output` whole, within the idle timeout (a client that stops reading cannot hold the
    /// connection), and keeps the buffer for the next response.
    async fn write_owned(&mut self, output: Vec<u8>) -> Result<(), ()> {
        let deadline = Instant::now() + self.limits.idle_timeout;
        let (result, output) = monoio::time::timeout_at(deadline, self.stream.write_all(output)).await.map_err(drop)?;
        self.output = output;
        result.map(drop).map_err(drop)
    }

    /// Ends the connection. A rejected request gets its error response (empty body, like hyper's); after a
    /// last response the connection lingers if the client may still be sending, so it reads the answer
    /// rather than a reset that can discard it.
    async fn close(&mut self, ending: Ending) {
        match ending {
            Ending::Quiet => {}
            Ending::Closed if self.input.is_empty() => {
                let _ = self.stream.shutdown().await;
            }
            Ending::Closed => self.linger().await,
            Ending::Reject(status) => {
                let parts = ResponseParts {
                    version: Version::Http11,
                    status,
                    json: false,
                    body: b"",
                    head_only: false,
                    persistence: Persistence::Close,
                };
                if self.respond(&parts).await.is_ok() {
                    self.linger().await;
                }
            }
        }
    }

    /// Stops sending, then reads and drops what the client still sends, until it closes, [`LINGER`] passes
    /// or [`LINGER_BYTES`] arrived.
    async fn linger(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER;
        let mut discarded = 0;
        let mut buffer = mem::take(&mut self.input);
        while discarded < LINGER_BYTES {
            buffer.clear();
            buffer.reserve(READ_CHUNK);
            match monoio::time::timeout_at(deadline, self.stream.read(buffer)).await {
                Ok((Ok(read), returned)) if read > 0 => {
                    discarded += read;
                    buffer = returned;
                }
                _ => return,
            }
        }
    }
}
