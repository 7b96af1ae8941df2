//! Client-side rate limit of API requests, as client-go's `--kube-api-qps`/`--kube-api-burst`:
//! a token bucket of `burst` requests refilled at `qps` per second (GCRA), applied to every
//! request of the client (a watch costs one token when it starts).
//!
//! A client built with the [`ThrottleLayer::background`] lane of the same bucket (the one that
//! writes Events) only takes a token while the bucket holds more than half the burst: a due
//! minute's Job creations and status writes never wait behind its Events.

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
    /// How far ahead of the present the next slot may be and still be taken: the burst.
    tolerance: Duration,
    /// The same for background requests: half the burst is kept for the foreground.
    background_tolerance: Duration,
    next: Mutex<Option<Instant>>,
}

impl Bucket {
    fn new(rate: Rate) -> Self {
        let interval = Duration::from_nanos((1e9 / rate.qps.max(1e-9)).round() as u64);
        let burst = rate.burst.max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(burst - 1),
            background_tolerance: interval.saturating_mul(burst.div_ceil(2) - 1),
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

    /// Takes a slot for a background request arriving `now` if the bucket holds more than half
    /// the burst; else reserves nothing and says when to ask again.
    fn take_above_reserve(&self, now: Instant) -> Result<(), Instant> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let tat = next.unwrap_or(now).max(now);
        match tat.checked_sub(self.background_tolerance) {
            Some(from) if from > now => Err(from),
            _ => {
                *next = Some(tat + self.interval);
                Ok(())
            }
        }
    }
}

/// Which requests a [`Throttle`] sends: the foreground's take any token, in order; the
/// background's only those above the reserve.
#[derive(Debug, Clone, Copy)]
enum Lane {
    Foreground,
    Background,
}

/// A [`Layer`] adding the rate limit `rate` to a client's service stack.
#[derive(Debug, Clone)]
pub struct ThrottleLayer {
    bucket: Arc<Bucket>,
    lane: Lane,
}

impl ThrottleLayer {
    pub fn new(rate: Rate) -> Self {
        Self {
            bucket: Arc::new(Bucket::new(rate)),
            lane: Lane::Foreground,
        }
    }

    /// The background lane of the same bucket, for requests that may wait (Events).
    pub fn background(&self) -> Self {
        Self {
            bucket: self.bucket.clone(),
            lane: Lane::Background,
        }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            bucket: self.bucket.clone(),
            lane: self.lane,
            slot: Slot::Unreserved,
        }
    }
}

/// A service that waits for its slot in the bucket before each request.
pub struct Throttle<S> {
    inner: S,
    bucket: Arc<Bucket>,
    lane: Lane,
    /// The next request's slot in the bucket.
    slot: Slot,
}

/// Where the next request stands in the bucket.
enum Slot {
    /// Not reserved yet.
    Unreserved,
    /// Reserved for a later instant.
    At(Pin<Box<Sleep>>),
    /// Not reserved: the background asks again at this instant.
    Retry(Pin<Box<Sleep>>),
    /// Reserved and due: the request may go.
    Open,
}

impl<S: Clone> Clone for Throttle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bucket: self.bucket.clone(),
            lane: self.lane,
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
        loop {
            match &mut self.slot {
                Slot::Unreserved => {
                    let now = Instant::now();
                    // Within the burst no timer is armed: a timer fires on the runtime's next
                    // millisecond tick at the earliest, and the client's one request queue
                    // would wait for that before every request.
                    self.slot = match self.lane {
                        Lane::Foreground => match self.bucket.reserve(now) {
                            allowed if allowed <= now => Slot::Open,
                            allowed => Slot::At(Box::pin(tokio::time::sleep_until(allowed))),
                        },
                        Lane::Background => match self.bucket.take_above_reserve(now) {
                            Ok(()) => Slot::Open,
                            Err(again) => Slot::Retry(Box::pin(tokio::time::sleep_until(again))),
                        },
                    };
                }
                Slot::At(wait) => {
                    ready!(wait.as_mut().poll(cx));
                    self.slot = Slot::Open;
                }
                Slot::Retry(wait) => {
                    ready!(wait.as_mut().poll(cx));
                    self.slot = Slot::Unreserved;
                }
                Slot::Open => return self.inner.poll_ready(cx),
            }
        }
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

    #[test]
    fn the_background_takes_tokens_only_above_half_the_burst() {
        let bucket = Bucket::new(Rate {
            qps: 10.0,
            burst: 4,
        });
        let t0 = Instant::now();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(bucket.take_above_reserve(t0), Ok(()), "4 tokens");
        assert_eq!(bucket.take_above_reserve(t0), Ok(()), "3 tokens");
        // 2 tokens are the foreground's: the background may go once a third is back.
        assert_eq!(bucket.take_above_reserve(t0), Err(t0 + ms(100)));
        assert_eq!(bucket.reserve(t0), t0, "the foreground takes the reserve");
        assert_eq!(bucket.reserve(t0), t0);
        assert_eq!(bucket.take_above_reserve(t0), Err(t0 + ms(300)));
        assert_eq!(
            bucket.reserve(t0),
            t0 + ms(100),
            "and waits in order after it"
        );
        // Asking took nothing: refilled, the background goes again.
        assert_eq!(bucket.take_above_reserve(t0 + ms(500)), Ok(()));
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
