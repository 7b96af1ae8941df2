//! Flood waits: sleep through the short ones (and say so in the audit log, so the operator can
//! show "Waiting"), give up on the long ones so only that channel fails.

use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::time::Duration;

use grammers_mtsender::{InvocationError, RetryContext, RetryPolicy};
use tokio::sync::mpsc;

use crate::telegram::rpc_error::flood_wait;

/// Sent each time the collector sleeps on a flood wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodNotice {
    pub wait: Duration,
}

/// What to do about one failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Sleep this long, then try again (a flood wait within the threshold).
    WaitFlood(Duration),
    /// Try again after a short pause (a dropped connection).
    Reconnect(Duration),
    /// Let the error reach the caller.
    GiveUp,
}

/// Telegram may answer a retried call with another flood wait; past this many tries the
/// channel fails rather than waiting forever.
const MAX_FLOOD_TRIES: u32 = 5;
/// Dropped connections are retried this often, one second apart.
const MAX_IO_TRIES: u32 = 3;

/// The pure rule behind [`FloodPolicy`].
pub fn decide(error: &InvocationError, fail_count: NonZeroU32, threshold: Duration) -> Decision {
    if let Some(wait) = flood_wait(error) {
        return if wait <= threshold && fail_count.get() <= MAX_FLOOD_TRIES {
            Decision::WaitFlood(wait)
        } else {
            Decision::GiveUp
        };
    }
    match error {
        InvocationError::Io(_) if fail_count.get() <= MAX_IO_TRIES => {
            Decision::Reconnect(Duration::from_secs(1))
        }
        _ => Decision::GiveUp,
    }
}

/// grammers' retry hook: sleeps through flood waits up to `threshold` and reports each wait.
pub struct FloodPolicy {
    threshold: Duration,
    notices: mpsc::UnboundedSender<FloodNotice>,
}

impl FloodPolicy {
    pub fn new(threshold: Duration) -> (Self, mpsc::UnboundedReceiver<FloodNotice>) {
        let (notices, rx) = mpsc::unbounded_channel();
        (Self { threshold, notices }, rx)
    }

    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Decides, and reports the wait when it is a flood wait we sleep through.
    pub fn decide(&self, error: &InvocationError, fail_count: NonZeroU32) -> Decision {
        let decision = decide(error, fail_count, self.threshold);
        if let Decision::WaitFlood(wait) = decision {
            // Nobody listening (the run is over) is not a reason to stop waiting.
            let _ = self.notices.send(FloodNotice { wait });
        }
        decision
    }
}

impl RetryPolicy for FloodPolicy {
    fn should_retry(&self, ctx: &RetryContext) -> ControlFlow<(), Duration> {
        match self.decide(&ctx.error, ctx.fail_count) {
            Decision::WaitFlood(wait) | Decision::Reconnect(wait) => ControlFlow::Continue(wait),
            Decision::GiveUp => ControlFlow::Break(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_mtsender::RpcError;
    use grammers_tl_types as tl;

    fn flood(seconds: u32) -> InvocationError {
        InvocationError::Rpc(RpcError::from(tl::types::RpcError {
            error_code: 420,
            error_message: format!("FLOOD_WAIT_{seconds}"),
        }))
    }

    fn nth(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn waits_within_the_threshold_are_slept_and_reported() {
        let (policy, mut notices) = FloodPolicy::new(Duration::from_secs(60));
        let ctx = RetryContext {
            fail_count: nth(1),
            slept_so_far: Duration::ZERO,
            error: flood(30),
        };
        assert_eq!(
            policy.should_retry(&ctx),
            ControlFlow::Continue(Duration::from_secs(30))
        );
        assert_eq!(
            notices.try_recv().unwrap(),
            FloodNotice {
                wait: Duration::from_secs(30)
            }
        );
        let exact = RetryContext {
            error: flood(60),
            ..ctx
        };
        assert_eq!(
            policy.should_retry(&exact),
            ControlFlow::Continue(Duration::from_secs(60))
        );
    }

    #[test]
    fn waits_above_the_threshold_reach_the_caller_unreported() {
        let (policy, mut notices) = FloodPolicy::new(Duration::from_secs(60));
        let ctx = RetryContext {
            fail_count: nth(1),
            slept_so_far: Duration::ZERO,
            error: flood(61),
        };
        assert_eq!(policy.should_retry(&ctx), ControlFlow::Break(()));
        assert!(notices.try_recv().is_err());
    }

    #[test]
    fn repeated_floods_eventually_give_up() {
        let threshold = Duration::from_secs(60);
        assert_eq!(
            decide(&flood(1), nth(MAX_FLOOD_TRIES), threshold),
            Decision::WaitFlood(Duration::from_secs(1))
        );
        assert_eq!(
            decide(&flood(1), nth(MAX_FLOOD_TRIES + 1), threshold),
            Decision::GiveUp
        );
    }

    #[test]
    fn dropped_connections_are_retried_a_few_times_other_errors_never() {
        let io = || InvocationError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let threshold = Duration::from_secs(60);
        assert_eq!(
            decide(&io(), nth(1), threshold),
            Decision::Reconnect(Duration::from_secs(1))
        );
        assert_eq!(
            decide(&io(), nth(MAX_IO_TRIES + 1), threshold),
            Decision::GiveUp
        );
        let private = InvocationError::Rpc(RpcError::from(tl::types::RpcError {
            error_code: 400,
            error_message: "CHANNEL_PRIVATE".into(),
        }));
        assert_eq!(decide(&private, nth(1), threshold), Decision::GiveUp);
    }
}
