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
            slot: Slot::Unreserved,
        }
    }
}

/// A service that waits for its slot in the bucket before each request.
pub struct Throttle<S> {
    inner: S,
    bucket: Arc<Bucket>,
    /// The next request's slot in the bucket.
    slot: Slot,
}

/// Where the next request stands in the bucket.
enum Slot {
    /// Not reserved yet.
    Unreserved,
    /// Reserved for a later instant.
    At(Pin<Box<Sleep>>),
    /// Reserved and due: the request may go.
    Open,
}

impl<S: Clone> Clone for Throttle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bucket: self.bucket.clone(),
            slot: Slot::Unreserved,
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
        if matches!(self.slot, Slot::Unreserved) {
            let now = Instant::now();
            let allowed = self.bucket.reserve(now);
            // Within the burst no timer is armed: a timer fires on the runtime's next
            // millisecond tick at the earliest, and the client's one request queue would
            // wait for that before every request.
            self.slot = if allowed <= now {
                Slot::Open
            } else {
                Slot::At(Box::pin(tokio::time::sleep_until(allowed)))
            };
        }
        if let Slot::At(wait) = &mut self.slot {
            ready!(wait.as_mut().poll(cx));
            self.slot = Slot::Open;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The slot is used up; the next request reserves its own.
        self.slot = Slot::Unreserved;
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

    /// A service that is always ready.
    struct Always;

    impl Service<()> for Always {
        type Response = ();
        type Error = ();
        type Future = std::future::Ready<Result<(), ()>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }

    /// Polls `throttle` ready once, as the client's request queue does.
    fn poll_ready_once<S: Service<()>>(throttle: &mut Throttle<S>) -> bool {
        let waker = futures::task::noop_waker();
        throttle
            .poll_ready(&mut Context::from_waker(&waker))
            .is_ready()
    }

    // Real time, not paused: a timer armed at "now" would not fire before the next tick.
    #[tokio::test]
    async fn a_request_within_the_burst_goes_without_waiting_for_a_timer_tick() {
        let layer = ThrottleLayer::new(Rate {
            qps: 0.001,
            burst: 100,
        });
        let mut throttle = layer.layer(Always);
        for request in 1..=100 {
            assert!(
                poll_ready_once(&mut throttle),
                "request {request} is in the burst"
            );
            drop(throttle.call(()));
        }
        assert!(
            !poll_ready_once(&mut throttle),
            "the one after the burst waits for its slot"
        );
    }
}
