//! How hard hoist presses one upstream: at most N requests in flight (a semaphore whose
//! permit a streamed body keeps until dropped) and at most R requests started per second (a
//! token bucket that waits asynchronously).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::UpstreamError;

/// The limits of one upstream, shared by every clone of its client.
#[derive(Debug)]
pub struct Limits {
    in_flight: Arc<Semaphore>,
    rate: Option<TokenBucket>,
}

impl Limits {
    pub fn new(
        max_concurrency: usize,
        max_requests_per_second: Option<f64>,
    ) -> Result<Limits, UpstreamError> {
        if max_concurrency == 0 || max_concurrency > Semaphore::MAX_PERMITS {
            return Err(UpstreamError::Invalid(format!(
                "max_concurrency must be at least 1 (got {max_concurrency})"
            )));
        }
        let rate = match max_requests_per_second {
            None => None,
            Some(rps) => Some(TokenBucket::new(rps)?),
        };
        Ok(Limits {
            in_flight: Arc::new(Semaphore::new(max_concurrency)),
            rate,
        })
    }

    /// A place for one request: waits for a free slot, then for the rate.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, UpstreamError> {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| UpstreamError::Invalid("the upstream's limiter is closed".into()))?;
        if let Some(rate) = &self.rate {
            rate.take().await;
        }
        Ok(permit)
    }

    /// Slots free right now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.in_flight.available_permits()
    }
}

/// Requests per second as a token bucket holding up to one second's worth (at least one).
/// A caller takes a token even when none is left, driving the level negative, and sleeps
/// until its token would have arrived: waiters are served in order without polling.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    capacity: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(per_second: f64) -> Result<TokenBucket, UpstreamError> {
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(UpstreamError::Invalid(format!(
                "max_requests_per_second must be a positive number (got {per_second})"
            )));
        }
        let capacity = per_second.max(1.0);
        Ok(TokenBucket {
            per_second,
            capacity,
            state: Mutex::new(Bucket {
                tokens: capacity,
                at: Instant::now(),
            }),
        })
    }

    /// Take one token, waiting for it if the bucket is empty.
    pub async fn take(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Take one token at `now`; how long until it is really there.
    fn reserve(&self, now: Instant) -> Duration {
        let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.capacity);
        b.at = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_limits_are_refused() {
        assert!(Limits::new(0, None).is_err());
        for rps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Limits::new(1, Some(rps)).is_err(), "{rps}");
        }
        assert!(Limits::new(1, Some(0.5)).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_paces() {
        let bucket = TokenBucket::new(4.0).unwrap();
        let now = Instant::now();
        let waits: Vec<Duration> = (0..6).map(|_| bucket.reserve(now)).collect();
        let ms: Vec<u128> = waits.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 0, 0, 0, 250, 500]);
        // A second later the debt is paid and two tokens are back... minus the two owed.
        assert_eq!(
            bucket.reserve(now + Duration::from_secs(1)).as_millis(),
            0,
            "4 tokens arrived, 2 were owed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_rates_wait_asynchronously() {
        let bucket = TokenBucket::new(0.5).unwrap();
        let start = Instant::now();
        bucket.take().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        bucket.take().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        bucket.take().await;
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_over_many_requests() {
        let limits = Limits::new(100, Some(10.0)).unwrap();
        let start = Instant::now();
        for _ in 0..30 {
            drop(limits.acquire().await.unwrap());
        }
        // 10 at once, then 20 more at 10 per second.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.9..=2.1).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test]
    async fn permits_bound_requests_in_flight() {
        let limits = Arc::new(Limits::new(2, None).unwrap());
        let a = limits.acquire().await.unwrap();
        let _b = limits.acquire().await.unwrap();
        assert_eq!(limits.available(), 0);
        let waiting = {
            let limits = Arc::clone(&limits);
            tokio::spawn(async move { limits.acquire().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a third request waits");
        drop(a);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
