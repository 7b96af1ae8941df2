//! An account's read limit: a token bucket of messages, answered with FLOOD_WAIT_X like
//! Telegram when it would run dry. Time is a parameter.

use std::time::Instant;

use crate::scenario::FloodLimit;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: FloodLimit, now: Instant) -> Self {
        let burst = limit.burst.unwrap_or(limit.messages_per_second);
        Self {
            rate: limit.messages_per_second,
            burst,
            tokens: burst,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.updated = now;
    }

    /// Takes `cost` tokens, or returns the whole seconds (at least 1) to wait before the
    /// request would be served. A request larger than the bucket is served from a full one
    /// (and leaves it in debt), so every page can be read eventually.
    pub fn take(&mut self, cost: f64, now: Instant) -> Result<(), u32> {
        self.refill(now);
        let needed = cost.min(self.burst);
        if self.tokens + f64::EPSILON >= needed {
            self.tokens -= cost;
            Ok(())
        } else {
            let seconds = ((needed - self.tokens) / self.rate).ceil();
            Err((seconds as u32).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limit(messages_per_second: f64, burst: f64) -> FloodLimit {
        FloodLimit {
            messages_per_second,
            burst: Some(burst),
        }
    }

    #[test]
    fn a_full_bucket_serves_its_burst_then_asks_to_wait_the_refill_time() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit(100.0, 300.0), start);
        for _ in 0..3 {
            assert_eq!(bucket.take(100.0, start), Ok(()));
        }
        assert_eq!(bucket.take(100.0, start), Err(1));
        assert_eq!(
            bucket.take(100.0, start + Duration::from_millis(500)),
            Err(1)
        );
        assert_eq!(bucket.take(100.0, start + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn the_wait_is_rounded_up_to_whole_seconds() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit(10.0, 100.0), start);
        assert_eq!(bucket.take(100.0, start), Ok(()));
        // 100 tokens at 10 per second: 10 seconds; after 2.5 s, 7.5 are left, rounded up.
        assert_eq!(bucket.take(100.0, start), Err(10));
        assert_eq!(
            bucket.take(100.0, start + Duration::from_millis(2_500)),
            Err(8)
        );
    }

    #[test]
    fn pages_larger_than_the_bucket_are_served_from_a_full_one() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit(50.0, 50.0), start);
        assert_eq!(bucket.take(100.0, start), Ok(()));
        // In debt by 50: two seconds until a bucketful (50) is back.
        assert_eq!(bucket.take(100.0, start), Err(2));
        assert_eq!(bucket.take(100.0, start + Duration::from_secs(2)), Ok(()));
    }
}
