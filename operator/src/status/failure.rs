//! Why a run, or one index of a sharded run, did not succeed: the one vocabulary of
//! `lastRun.reason`, `status.shards[].reason`, the conditions, the Events and the metrics.
//! Kubernetes' own Job reasons (`DeadlineExceeded`, `BackoffLimitExceeded`, ...) pass through
//! `lastRun.reason` as Kubernetes wrote them.

use contract::audit::{CollectionEnd, EndReason};
use crds::{RunResult, RunSummary};

/// A reason of our own for a failed run or index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The collector found the Telegram session revoked or not authorised.
    SessionInvalid,
    /// The collector was stopped before it finished (SIGTERM: a deadline, a deletion, `Replace`).
    Aborted,
    /// Kubernetes counts the index as failed: its pods failed more often than its own retries
    /// allow (`backoffLimitPerIndex`).
    RetriesExhausted,
    /// The Job ended without the collector recording the end of the run.
    NoCollectionEnd,
}

impl Failure {
    pub const ALL: [Self; 4] = [
        Self::SessionInvalid,
        Self::Aborted,
        Self::RetriesExhausted,
        Self::NoCollectionEnd,
    ];

    /// The PascalCase name written to status fields and Events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SessionInvalid => "SessionInvalid",
            Self::Aborted => "Aborted",
            Self::RetriesExhausted => "RetriesExhausted",
            Self::NoCollectionEnd => "NoCollectionEnd",
        }
    }

    /// The reason a status field holds, if it is one of ours.
    pub fn parse(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == reason)
    }

    /// What happened, and what to do about it; the one wording of each.
    pub const fn message(self) -> &'static str {
        match self {
            Self::SessionInvalid => {
                "the Telegram session is revoked or not authorised; create a new one with \
                 `collector-job login`, update the session Secret and ask for a run (annotation \
                 collection.mtproto.dev/requestedAt)"
            }
            Self::Aborted => "the collector was stopped before it finished the run",
            Self::RetriesExhausted => "its pods failed more often than spec.backoffLimit",
            Self::NoCollectionEnd => "the collector did not record the end of the run",
        }
    }

    /// Why a finished run failed, if the reason is one of ours.
    pub fn of_run(run: &RunSummary) -> Option<Self> {
        if run.result != Some(RunResult::Failed) {
            return None;
        }
        run.reason.as_deref().and_then(Self::parse)
    }

    /// What the collector said about its own early end; `None` for a run that finished.
    pub fn of_end(end: &CollectionEnd) -> Option<Self> {
        match end.reason {
            Some(EndReason::SessionInvalid) => Some(Self::SessionInvalid),
            Some(EndReason::Terminated | EndReason::Other) => Some(Self::Aborted),
            None if end.aborted => Some(Self::Aborted),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_as_itself() {
        for failure in Failure::ALL {
            assert_eq!(Failure::parse(failure.as_str()), Some(failure));
        }
        assert_eq!(Failure::parse("DeadlineExceeded"), None);
    }
}
