//! Live progress (from `run-status`'s derivation of the audit log) merged into the Job-level
//! status `decide` computes. Pure: the reconcile shell reads the audit log, derives, and calls
//! these in order: [`record_end`] on the status `decide` starts from, then
//! [`DerivedStatus::apply_to`] on its result, then [`finish`].

use chrono::{DateTime, Utc};
use crds::{ChannelCollectionStatus, CollectionState, RunResult, RunSummary, condition::STALLED};
use run_status::{DerivedStatus, ProgressUnavailable, SESSION_INVALID};

use crate::{
    conditions::{Progress, with_progress},
    decide::{Notice, RUN_FAILED, RUN_SUCCEEDED, run_transitions},
    time::from_k8s,
};

/// Message of `Stalled`/`Ready` when the last run's summary has none of its own.
const SESSION_INVALID_MESSAGE: &str =
    "the Telegram session is revoked or not authorised; update the session Secret";

/// `ProgressUnavailable` message when the operator has no database but the collection names
/// its own: the operator never reads Secrets, so it reads the audit log from its own
/// `DATABASE_URL` only.
const NOT_CONFIGURED_WITH_SPEC_DATABASE: &str = "the operator has no database configured \
     (it reads the audit log from its own DATABASE_URL, never from spec.database's Secret), \
     so run progress cannot be read; showing Job status only";

/// Records a run whose end the derivation saw (`DerivedStatus::finished`) in `status`, the
/// stored status `decide` then starts from: `lastRun` becomes the derivation's summary (the
/// audit log's reason and counts), `activeJob` no longer names the run, and
/// `lastSuccessfulTime` moves to its end when it succeeded.
pub fn record_end(status: &mut ChannelCollectionStatus, finished: &RunSummary) {
    status.last_run = Some(finished.clone());
    if status.active_job.as_deref() == Some(finished.job.as_str()) {
        status.active_job = None;
    }
    if finished.result == Some(RunResult::Succeeded)
        && let Some(end) = &finished.end_time
        && status
            .last_successful_time
            .as_ref()
            .is_none_or(|t| from_k8s(t) < from_k8s(end))
    {
        status.last_successful_time = Some(end.clone());
    }
}

/// What [`finish`] needs besides the statuses.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The derivation applied last: the one describing the collection now.
    pub derived: &'a DerivedStatus,
    /// The spec is invalid: its `Failed` state and `Stalled` win.
    pub invalid: bool,
    /// The collection names its own database (`spec.database`).
    pub spec_database: bool,
    pub generation: Option<i64>,
    pub now: DateTime<Utc>,
}

/// Completes `status` (Job-level status with the derivation applied) and returns the Events
/// to publish, given `decided` (the Events `decide` chose) and `previous` (the stored status).
///
/// - A run whose end is recorded in `lastRun` is not active any more, even while its Job
///   still terminates (the derivation counts `FailureTarget`, `SuccessCriteriaMet` and a
///   deletion in progress as the end; `decide` waits for the Job's final condition).
/// - An invalid spec's `Failed` state wins over the derived state.
/// - A revoked session: `Stalled=True`/`Ready=False` reason `SessionInvalid`, and a Warning
///   Event when that starts.
/// - `ProgressUnavailable` while the active run's audit log cannot be read.
/// - Run Events (RunSucceeded/RunFailed) from the merged `lastRun`, so they carry the audit
///   log's reason.
pub fn finish(
    status: &mut ChannelCollectionStatus,
    previous: &ChannelCollectionStatus,
    decided: &[Notice],
    input: &Finish<'_>,
) -> Vec<Notice> {
    if let (Some(run), Some(active)) = (&status.last_run, &status.active_job)
        && &run.job == active
    {
        status.active_job = None;
    }
    if input.invalid {
        status.state = Some(CollectionState::Failed);
    }

    let derived = input.derived;
    let session_message = derived.session_invalid.then(|| {
        status
            .last_run
            .as_ref()
            .filter(|r| r.reason.as_deref() == Some(SESSION_INVALID))
            .and_then(|r| r.message.clone())
            .unwrap_or_else(|| SESSION_INVALID_MESSAGE.to_string())
    });
    let unavailable = derived
        .progress_unavailable
        .filter(|_| derived.currently_collecting)
        .map(|why| {
            let message = match why {
                ProgressUnavailable::NotConfigured if input.spec_database => {
                    NOT_CONFIGURED_WITH_SPEC_DATABASE
                }
                _ => why.message(),
            };
            (why.reason(), message)
        });
    status.conditions = with_progress(
        std::mem::take(&mut status.conditions),
        &previous.conditions,
        input.generation,
        &Progress {
            session_invalid: session_message.as_deref(),
            unavailable,
        },
        input.now,
    );

    let mut notices: Vec<Notice> = decided
        .iter()
        .filter(|n| n.reason != RUN_SUCCEEDED && n.reason != RUN_FAILED)
        .cloned()
        .collect();
    notices.extend(run_transitions(previous, status));
    if let Some(message) = session_message
        && !stalled_by_session(previous)
        && stalled_by_session(status)
    {
        notices.push(Notice {
            warning: true,
            reason: SESSION_INVALID,
            note: message,
        });
    }
    notices
}

fn stalled_by_session(status: &ChannelCollectionStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == STALLED && c.status == "True" && c.reason == SESSION_INVALID)
}
