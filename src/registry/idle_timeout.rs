//! A byte stream that fails with `TimedOut` when its sender sends nothing for too long: a
//! client's request body (a stalled client costs only its connection, and only for that
//! long) or an upstream's response body (a stalled upstream does not hold a fetch forever).

use bytes::Bytes;
use futures_util::Stream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Wraps a body stream; ends with a `TimedOut` error after `idle` without a byte.
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl<S> IdleTimeout<S> {
    pub fn new(inner: S, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            done: false,
        }
    }
}

impl<S> Stream for IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, io::Error>> + Unpin,
{
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let deadline = Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                if item.is_none() {
                    self.done = true;
                }
                Poll::Ready(item)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no bytes for {} s", self.idle.as_secs()),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_times_out_and_ends() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(1);
        let inner =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
            );
        let mut body = IdleTimeout::new(Box::pin(inner), Duration::from_secs(60));
        tx.send(Ok(Bytes::from_static(b"a"))).await.expect("send");
        assert_eq!(body.next().await.expect("item").expect("bytes"), "a");
        // Nothing more is sent: after 60 s the body fails, then ends.
        let err = body.next().await.expect("item").expect_err("timeout");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(body.next().await.is_none());
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn every_chunk_restarts_the_clock() {
        let chunks = futures_util::stream::iter(0..5).then(|i| async move {
            tokio::time::sleep(Duration::from_secs(50)).await;
            Ok::<_, io::Error>(Bytes::from(vec![i]))
        });
        let body = IdleTimeout::new(Box::pin(chunks), Duration::from_secs(60));
        let got: Vec<_> = body.collect().await;
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(Result::is_ok));
    }
}
