//! [`first`]: waits for whichever of two futures finishes first, without any runtime's `select!`, so the
//! runtime-agnostic serving code (accept until stopped, drain a connection) works on tokio and monoio alike.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

/// Which of the two futures given to [`first`] finished, with its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `left` then `right` until one is ready and drops the other. Biased to `left`: put the stop signal
/// there, so a stop is never starved by a stream of ready work.
pub async fn first<A: Future, B: Future>(left: A, right: B) -> Either<A::Output, B::Output> {
    let (mut left, mut right) = (pin!(left), pin!(right));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = left.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        right.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future waited"),
        }
    }

    #[test]
    fn the_ready_side_wins_and_left_wins_ties() {
        assert_eq!(ready(first(std::future::pending::<()>(), async { 2 })), Either::Right(2));
        assert_eq!(ready(first(async { 1 }, std::future::pending::<()>())), Either::Left(1));
        assert_eq!(ready(first(async { 1 }, async { 2 })), Either::Left(1));
    }
}
