//! Client-side rate limit of API requests, as client-go's `--kube-api-qps`/`--kube-api-burst`:
//! a token bucket of `burst` requests refilled at `qps` per second (GCRA), applied to every
//! request of the client (a watch costs one token when it starts).

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// Requests per second and burst of a [`Throttle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub qps: f64,
    pub burst: u32,
}

/// The shared bucket: the theoretical arrival time of the next request.
#[derive(Debug)]
struct Bucket {
    interval: Duration,
    tolerance: Duration,
    next: Mutex<Option<Instant>>,
}

impl Bucket {
    fn new(rate: Rate) -> Self {
        let interval = Duration::from_nanos((1e9 / rate.qps.max(1e-9)).round() as u64);
        Self {
            interval,
            tolerance: interval.saturating_mul(rate.burst.max(1) - 1),
            next: Mutex::new(None),
        }
    }

    /// Reserves the next slot: when a request arriving `now` may go.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let tat = next.unwrap_or(now).max(now);
        let allowed = tat.checked_sub(self.tolerance).unwrap_or(now).max(now);
        *next = Some(tat + self.interval);
        allowed
    }
}

/// A [`Layer`] adding the rate limit `rate` to a client's service stack.
#[derive(Debug, Clone)]
pub struct ThrottleLayer(Arc<Bucket>);

impl ThrottleLayer {
    pub fn new(rate: Rate) -> Self {
        Self(Arc::new(Bucket::new(rate)))
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            bucket: self.0.clone(),
            wait: None,
        }
    }
}

/// A service that waits for its slot in the bucket before each request.
pub struct Throttle<S> {
    inner: S,
    bucket: Arc<Bucket>,
    /// The reserved slot of the next request, once reserved.
    wait: Option<Pin<Box<Sleep>>>,
}

impl<S: Clone> Clone for Throttle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bucket: self.bucket.clone(),
            wait: None,
        }
    }
}

impl<S, R> Service<R> for Throttle<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let bucket = &self.bucket;
        let wait = self.wait.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep_until(bucket.reserve(Instant::now())))
        });
        ready!(wait.as_mut().poll(cx));
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The slot is used up; the next request reserves its own.
        self.wait = None;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_one_per_interval() {
        let bucket = Bucket::new(Rate {
            qps: 10.0,
            burst: 3,
        });
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..6).map(|_| bucket.reserve(t0) - t0).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(slots, [ms(0), ms(0), ms(0), ms(100), ms(200), ms(300)]);
        // An idle second refills the bucket.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(bucket.reserve(later), later);
    }
}
