//! What a PostgreSQL error means for the run that met it: a server that cannot serve us now
//! (waiting may mend it), a role or database that does not allow what the binaries do
//! (configuration: retrying cannot help), or one statement refused.

/// Why PostgreSQL failed a statement or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// It cannot be reached, not yet or no longer.
    Unreachable,
    /// The role lacks a privilege (SQLSTATE 42501).
    Privilege,
    /// The database only reads (SQLSTATE 25006): `default_transaction_read_only`, a standby.
    ReadOnly,
    /// This statement or connection is refused for another reason.
    Refused,
}

impl Fault {
    /// Whether a role or database setting is at fault, which only its administrator mends.
    pub fn is_configuration(self) -> bool {
        matches!(self, Self::Privilege | Self::ReadOnly)
    }
}

pub fn fault(error: &sqlx::Error) -> Fault {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Fault::Unreachable,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("42501") => Fault::Privilege,
            Some("25006") => Fault::ReadOnly,
            Some(code) if unreachable_sqlstate(code) => Fault::Unreachable,
            _ => Fault::Refused,
        },
        // sqlx reports a broken TLS handshake as I/O; its TLS errors are certificates or keys
        // it cannot load or use, which waiting does not mend.
        _ => Fault::Refused,
    }
}

/// Whether `error` means the database cannot be reached, not yet or no longer, as opposed to
/// a statement or a connection it refuses for good.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    fault(error) == Fault::Unreachable
}

/// SQLSTATEs of a server that cannot serve us now: connection exceptions (class 08), shut
/// down by an administrator or a crash (57P01, 57P02), starting up or shutting down (57P03),
/// too many connections (53300).
fn unreachable_sqlstate(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03" | "53300") || code.starts_with("08")
}

/// How long a run keeps retrying a statement while the database cannot be reached (a restart,
/// a failover): exponential backoff from 100 ms to 5 s between attempts, given up once the
/// budget has passed since the first attempt. The budget is wall-clock time, attempts
/// included: an attempt that waits on a pool with no server behind it takes as long as the
/// pool's acquire timeout, and counting only the waits between attempts made a 60 s budget
/// last nine minutes. Only [`Fault::Unreachable`] is retried: anything else fails at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub budget: std::time::Duration,
}

impl Retry {
    /// Never retries: each statement gets one attempt.
    pub const NEVER: Self = Self {
        budget: std::time::Duration::ZERO,
    };

    /// Runs `attempt` until it succeeds, fails with anything but an unreachable server, or the
    /// budget is spent. Each attempt must be safe to repeat (the callers' statements are
    /// idempotent: a page merges, a deletion mark keeps the first time).
    pub async fn run<T, Attempt, Fut>(&self, attempt: Attempt) -> Result<T, sqlx::Error>
    where
        Attempt: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        use backon::Retryable;
        let started = tokio::time::Instant::now();
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(100))
            .with_max_delay(std::time::Duration::from_secs(5))
            .without_max_times()
            .with_total_delay(Some(self.budget));
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|error: &sqlx::Error| {
                is_unreachable(error) && within_budget(started.elapsed(), self.budget)
            })
            .notify(|error, wait| {
                tracing::warn!(%error, retry_in = ?wait, "the database cannot be reached; retrying");
            })
            .await
    }
}

/// Whether a run that has been failing for `failing` may try again.
fn within_budget(failing: std::time::Duration, budget: std::time::Duration) -> bool {
    failing < budget
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn unreachable() -> sqlx::Error {
        sqlx::Error::PoolTimedOut
    }

    #[tokio::test(start_paused = true)]
    async fn time_spent_in_attempts_counts_against_the_budget() {
        let attempts = AtomicU32::new(0);
        let retry = Retry {
            budget: Duration::from_secs(60),
        };
        let started = tokio::time::Instant::now();
        // Each attempt waits 30 s, as a pool's acquire does with no server behind it.
        let outcome: Result<(), _> = retry
            .run(|| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(unreachable())
            })
            .await;
        assert!(matches!(outcome, Err(sqlx::Error::PoolTimedOut)));
        // 0-30 s, then 30.1-60.1 s: past the budget, so no third attempt.
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert!(
            started.elapsed() < Duration::from_secs(61),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_budget_tries_once() {
        let attempts = AtomicU32::new(0);
        let outcome: Result<(), _> = Retry::NEVER
            .run(|| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(unreachable())
            })
            .await;
        assert!(outcome.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_statement_is_not_retried() {
        let attempts = AtomicU32::new(0);
        let retry = Retry {
            budget: Duration::from_secs(60),
        };
        let outcome: Result<(), _> = retry
            .run(|| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(sqlx::Error::RowNotFound)
            })
            .await;
        assert!(outcome.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_shorter_than_the_budget_is_ridden_out() {
        let attempts = AtomicU32::new(0);
        let retry = Retry {
            budget: Duration::from_secs(60),
        };
        let outcome = retry
            .run(|| async {
                if attempts.fetch_add(1, Ordering::SeqCst) < 4 {
                    Err(unreachable())
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(outcome.unwrap(), 7);
        assert_eq!(attempts.load(Ordering::SeqCst), 5);
    }
}
