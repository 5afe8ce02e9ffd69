//! One HTTP/1.1 connection served by hyper with the limits every hyper arm shares, whatever the runtime: the
//! same hyper settings, the request-head cap, the header and idle timeouts, half-closed clients answered, and a
//! graceful stop that closes at once what has no request in flight.
//!
//! hyper's own `header_read_timeout` needs a `Send + Sync` timer, which monoio's sleep is not, and hyper has no
//! idle timeout at all. So the timeouts are kept here, the same way for every runtime: a [`Clock`] notes where
//! the connection is in its request cycle (reading a head, a request in flight, its response being written,
//! idle between requests) and since when. The I/O wrapper moves it from idle to reading a head when bytes arrive, the service wrapper
//! marks a request in flight from the moment hyper hands it over until its response is ready. A watchdog in
//! the connection's own task races hyper's connection future against the runtime's sleep.
//!
//! The watchdog does not arm a timer per request. It keeps one sleep armed for a deadline no later than the
//! real one; when it fires early (the connection moved on since) it is re-armed for the real deadline. A busy
//! keep-alive connection therefore costs one timer per header timeout, not two per request.

use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper::{Request, Response};

use crate::config::ConnectionLimits;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// hyper ended it cleanly: the client closed or asked to close, or a stop let its request finish.
    Finished,
    /// hyper ended it with an error: a reset, or a request it answered with 400 or 431 and then closed.
    Failed,
    /// The client did not send a whole request head within the header timeout.
    HeaderTimeout,
    /// No request came within the idle timeout.
    IdleTimeout,
    /// A stop found no request in flight and closed the connection at once.
    Drained,
}

/// The hyper settings every hyper arm uses: one place, so the arms differ in their runtime, never in how
/// they parse HTTP.
///
/// - `max_header_size`: a request head (request line and headers) longer than
///   [`ConnectionLimits::max_head_bytes`] is answered 431 and the connection closed (hyper's `Parse::TooLarge`),
///   whether it is still arriving or came whole in one read. (`max_buf_size` alone is not a limit on the head:
///   measured, one read can fill the buffer past it and a 64 KiB + 1 head was answered 200.)
/// - `half_close`: a client that shut down its write side after a complete request still gets its answer;
///   without it hyper drops the request in flight as soon as it reads the end of the stream.
pub fn builder(limits: &ConnectionLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.max_header_size(limits.max_head_bytes).half_close(true);
    builder
}

/// Serves one accepted connection until hyper finishes it, a timeout closes it, or `drain` completes: then
/// a request in flight is finished (hyper answers it and closes), and a connection with none (idle, or still
/// sending its head) is closed at once.
///
/// `sleep` is the runtime's timer (`tokio::time::sleep`, `monoio::time::sleep`). The returned future is `Send`
/// when `io`, `service`, its futures, the sleep and `drain` are, so work-stealing runtimes can spawn it.
pub async fn serve_connection<I, S, B, Sleep, SleepFuture, Drain>(
    io: I,
    service: S,
    limits: ConnectionLimits,
    sleep: Sleep,
    drain: Drain,
) -> ConnectionEnd
where
    I: Read + Write + Unpin,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    Sleep: Fn(Duration) -> SleepFuture,
    SleepFuture: Future<Output = ()>,
    Drain: Future<Output = ()>,
{
    let clock = Arc::new(Clock::new(Instant::now()));
    let io = WatchedIo { inner: io, clock: Arc::clone(&clock) };
    // Marks each request in flight from the moment hyper hands it over (its head is complete) until the
    // response is ready or the request is dropped. Built here rather than returned from a function: an opaque
    // `impl Service` would hide whether its futures are `Send`.
    let in_flight_clock = Arc::clone(&clock);
    let service = service_fn(move |request| {
        let in_flight = InFlight::enter(Arc::clone(&in_flight_clock));
        let response = service.call(request);
        async move {
            let response = response.await;
            drop(in_flight);
            response
        }
    });
    let mut connection = pin!(builder(&limits).serve_connection(io, service));
    let mut drain = pin!(drain);
    let mut draining = false;
    let mut watchdog = Watchdog::new(clock, limits);
    let mut timer = pin!(sleep(limits.header_timeout));
    poll_fn(|cx| {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(ended(result));
        }
        if !draining && drain.as_mut().poll(cx).is_ready() {
            draining = true;
            connection.as_mut().graceful_shutdown();
            // An idle connection closes on this very poll.
            if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                return Poll::Ready(ended(result));
            }
        }
        // A response that is ready but not yet written (a client slow to read) is hyper's to finish: it closes
        // once it flushed, keep-alive being off.
        if draining && watchdog.clock.awaiting_request() {
            return Poll::Ready(ConnectionEnd::Drained);
        }
        watchdog.poll_expired(cx, timer.as_mut(), &sleep)
    })
    .await
}

fn ended(result: hyper::Result<()>) -> ConnectionEnd {
    if result.is_ok() { ConnectionEnd::Finished } else { ConnectionEnd::Failed }
}

/// A request in flight on one connection; dropping it (response ready, or the request cancelled) makes the
/// connection idle from that instant.
struct InFlight(Arc<Clock>);

impl InFlight {
    fn enter(clock: Arc<Clock>) -> InFlight {
        clock.set(Phase::InFlight, clock.start);
        InFlight(clock)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.set(Phase::Responding, Instant::now());
    }
}

/// The connection's socket, noting on the clock when the next request's first bytes arrive.
struct WatchedIo<I> {
    inner: I,
    clock: Arc<Clock>,
}

impl<I: Read + Unpin> Read for WatchedIo<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        // A ready read is data or the end of the stream; either way the idle wait is over (hyper closes at the
        // end of the stream on its own).
        if let Poll::Ready(Ok(())) = polled {
            this.clock.bytes_arrived();
        }
        polled
    }
}

impl<I: Write + Unpin> Write for WatchedIo<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        // hyper flushes after writing out what it buffered, so a ready response is on the wire by now.
        if let Poll::Ready(Ok(())) = flushed {
            this.clock.response_written();
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head to complete: from the accept for the first request, from its first bytes
    /// for the next ones. The header timeout runs.
    Head,
    /// A request is being handled. No timeout: the request's own work decides how long it takes.
    InFlight,
    /// The response is ready but not yet written out (the client is slow to read). The idle timeout runs, so a
    /// client that never reads is closed.
    Responding,
    /// Between requests of a keep-alive connection. The idle timeout runs.
    Idle,
}

impl Phase {
    fn code(self) -> u64 {
        match self {
            Phase::Head => 0,
            Phase::InFlight => 1,
            Phase::Responding => 2,
            Phase::Idle => 3,
        }
    }

    fn from_code(code: u64) -> Phase {
        match code {
            0 => Phase::Head,
            1 => Phase::InFlight,
            2 => Phase::Responding,
            _ => Phase::Idle,
        }
    }
}

/// One connection's phase and since when, in one atomic word: the phase in the top two bits, nanoseconds
/// since the connection's start in the rest (enough for 146 years). Everything that touches it runs in the
/// connection's own task, one poll after another, so relaxed ordering suffices: the atomic is there to make
/// the clock `Send + Sync` for work-stealing runtimes, and costs a plain load or store.
struct Clock {
    start: Instant,
    word: AtomicU64,
}

const PHASE_SHIFT: u32 = 62;
const SINCE_MASK: u64 = (1 << PHASE_SHIFT) - 1;

impl Clock {
    /// A connection accepted at `start`, waiting for its first request head.
    fn new(start: Instant) -> Clock {
        let clock = Clock { start, word: AtomicU64::new(0) };
        clock.set(Phase::Head, start);
        clock
    }

    fn set(&self, phase: Phase, since: Instant) {
        let nanos = u64::try_from(since.saturating_duration_since(self.start).as_nanos()).unwrap_or(SINCE_MASK);
        self.word.store(phase.code() << PHASE_SHIFT | nanos.min(SINCE_MASK), Ordering::Relaxed);
    }

    fn get(&self) -> (Phase, Instant) {
        let word = self.word.load(Ordering::Relaxed);
        (Phase::from_code(word >> PHASE_SHIFT), self.start + Duration::from_nanos(word & SINCE_MASK))
    }

    /// No request in flight and no response waiting to be written: a stop may close the connection now.
    fn awaiting_request(&self) -> bool {
        matches!(self.get().0, Phase::Head | Phase::Idle)
    }

    /// The last response was written out: the connection waits for its next request from now.
    fn response_written(&self) {
        if self.get().0 == Phase::Responding {
            self.set(Phase::Idle, Instant::now());
        }
    }

    /// Bytes (or the end of the stream) arrived: an idle connection starts reading its next head now.
    fn bytes_arrived(&self) {
        if self.get().0 == Phase::Idle {
            self.set(Phase::Head, Instant::now());
        }
    }
}

/// When a connection in `phase` since `since` is to be closed; `None` while a request is in flight.
fn deadline(phase: Phase, since: Instant, limits: &ConnectionLimits) -> Option<Instant> {
    match phase {
        Phase::Head => Some(since + limits.header_timeout),
        Phase::Responding | Phase::Idle => Some(since + limits.idle_timeout),
        Phase::InFlight => None,
    }
}

/// Whether the armed sleep must be replaced: nothing is armed but a deadline runs, or the deadline moved
/// earlier than what is armed. A later deadline keeps the armed sleep, which re-arms when it fires.
fn must_rearm(armed: Option<Instant>, deadline: Option<Instant>) -> bool {
    match (armed, deadline) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(armed), Some(deadline)) => deadline < armed,
    }
}

/// The timeouts of one connection: its clock and the deadline its sleep is armed for.
struct Watchdog {
    clock: Arc<Clock>,
    limits: ConnectionLimits,
    armed: Option<Instant>,
}

impl Watchdog {
    /// The caller's first sleep runs for the header timeout from the clock's start.
    fn new(clock: Arc<Clock>, limits: ConnectionLimits) -> Watchdog {
        let armed = Some(clock.start + limits.header_timeout);
        Watchdog { clock, limits, armed }
    }

    /// Ready with the timeout that closes the connection, or pending with `timer` armed for the next check.
    fn poll_expired<Sleep, SleepFuture>(
        &mut self,
        cx: &mut Context<'_>,
        mut timer: Pin<&mut SleepFuture>,
        sleep: &Sleep,
    ) -> Poll<ConnectionEnd>
    where
        Sleep: Fn(Duration) -> SleepFuture,
        SleepFuture: Future<Output = ()>,
    {
        loop {
            let (phase, since) = self.clock.get();
            let deadline = deadline(phase, since, &self.limits);
            if let Some(deadline) = deadline.filter(|_| must_rearm(self.armed, deadline)) {
                timer.set(sleep(deadline.saturating_duration_since(Instant::now())));
                self.armed = Some(deadline);
            }
            if self.armed.is_none() || timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = None;
            match deadline {
                Some(deadline) if Instant::now() >= deadline => {
                    return Poll::Ready(match phase {
                        Phase::Responding | Phase::Idle => ConnectionEnd::IdleTimeout,
                        Phase::Head | Phase::InFlight => ConnectionEnd::HeaderTimeout,
                    });
                }
                // Fired for an earlier phase (or a little early): look again, re-arming for the real deadline.
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_head_bytes: 64 * 1024,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
    };

    #[test]
    fn the_clock_follows_the_request_cycle() {
        let start = Instant::now();
        let clock = Clock::new(start);
        assert_eq!(clock.get(), (Phase::Head, start), "a new connection waits for its first head");
        clock.bytes_arrived();
        assert_eq!(clock.get(), (Phase::Head, start), "bytes of the first head keep its deadline");
        let in_flight = InFlight::enter(Arc::new(Clock::new(start)));
        assert!(!in_flight.0.awaiting_request());
        let clock = Arc::clone(&in_flight.0);
        drop(in_flight);
        assert_eq!(clock.get().0, Phase::Responding, "a ready response is still to be written");
        assert!(!clock.awaiting_request(), "a stop waits for a response to be written");
        clock.response_written();
        let (phase, idle_since) = clock.get();
        assert_eq!(phase, Phase::Idle, "a written response leaves the connection idle");
        assert!(clock.awaiting_request());
        clock.bytes_arrived();
        let (phase, head_since) = clock.get();
        assert_eq!(phase, Phase::Head);
        assert!(head_since >= idle_since, "the next head's deadline runs from its first bytes");
    }

    #[test]
    fn deadlines_per_phase() {
        let since = Instant::now();
        assert_eq!(deadline(Phase::Head, since, &LIMITS), Some(since + LIMITS.header_timeout));
        assert_eq!(deadline(Phase::Idle, since, &LIMITS), Some(since + LIMITS.idle_timeout));
        assert_eq!(deadline(Phase::Responding, since, &LIMITS), Some(since + LIMITS.idle_timeout));
        assert_eq!(deadline(Phase::InFlight, since, &LIMITS), None);
    }

    #[test]
    fn the_sleep_is_rearmed_only_for_an_earlier_deadline() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        assert!(must_rearm(None, Some(now)), "nothing armed");
        assert!(must_rearm(Some(later), Some(now)), "an earlier deadline");
        assert!(!must_rearm(Some(now), Some(later)), "a later deadline waits for the armed sleep");
        assert!(!must_rearm(Some(now), None), "in flight: the armed sleep fires and is not replaced");
        assert!(!must_rearm(None, None));
    }
}

#[cfg(test)]
mod drain_tests {
    //! The stop against a client that is slow to read: a response that is ready but not yet written must still
    //! reach the client.

    use std::convert::Infallible;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;
    use std::task::Waker;

    use bytes::Bytes;
    use http_body_util::Full;

    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_head_bytes: 64 * 1024,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
    };

    /// A client connection in memory: one request to read, and a socket that takes no bytes until `writable`.
    #[derive(Clone, Default)]
    struct SlowReader {
        request: Arc<Mutex<Vec<u8>>>,
        written: Arc<Mutex<Vec<u8>>>,
        writable: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl SlowReader {
        fn start_reading(&self) {
            self.writable.store(true, Ordering::SeqCst);
            if let Some(waker) = self.waker.lock().expect("waker lock").take() {
                waker.wake();
            }
        }
    }

    impl Read for SlowReader {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
            let mut request = self.request.lock().expect("request lock");
            if request.is_empty() {
                // The client keeps its side open and sends nothing more.
                return Poll::Pending;
            }
            buf.put_slice(&request);
            request.clear();
            Poll::Ready(Ok(()))
        }
    }

    impl Write for SlowReader {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            if !self.writable.load(Ordering::SeqCst) {
                *self.waker.lock().expect("waker lock") = Some(cx.waker().clone());
                return Poll::Pending;
            }
            self.written.lock().expect("written lock").extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_stop_writes_a_ready_response_before_it_closes() {
        let client = SlowReader::default();
        client.request.lock().expect("request lock").extend_from_slice(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        let service =
            service_fn(|_request| async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("done")))) });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let end = runtime.block_on(async {
            let unblock = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                client.start_reading();
            };
            // The stop is asked for at once: the response is ready by then, but the socket takes none of it.
            let served = serve_connection(client.clone(), service, LIMITS, tokio::time::sleep, async {});
            tokio::join!(served, unblock).0
        });
        let written = String::from_utf8_lossy(&client.written.lock().expect("written lock")).into_owned();
        assert!(written.starts_with("HTTP/1.1 200") && written.ends_with("done"), "ended {end:?}, wrote {written:?}");
    }
}
