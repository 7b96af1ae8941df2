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
/// waits would exceed the budget. Only [`Fault::Unreachable`] is retried: anything else fails
/// at once, as before.
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
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(100))
            .with_max_delay(std::time::Duration::from_secs(5))
            .without_max_times()
            .with_total_delay(Some(self.budget));
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|error: &sqlx::Error| !self.budget.is_zero() && is_unreachable(error))
            .notify(|error, wait| {
                tracing::warn!(%error, retry_in = ?wait, "the database cannot be reached; retrying");
            })
            .await
    }
}
