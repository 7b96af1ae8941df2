//! The pure derivation of a collection's live status from its run's Job and audit rows.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use contract::audit::{AuditRow, EndReason};
use contract::channel;
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, MAX_RECENT_ERRORS, RecentError,
    RunId, RunResult, RunSummary, ShardStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::eta;
use super::flood::flood_wait_seconds;
use super::history::ChannelHistory;
use super::runlog::{Attempt, RunLog};
use crate::job::{self, JobPhase, ShardPlan};
use crate::time::to_k8s;

/// `lastRun.reason` of a run that ended because the Telegram session is not usable; the
/// operator reports it as `Stalled=True` with this reason.
pub const SESSION_INVALID: &str = "SessionInvalid";
/// `lastRun.reason` of a run whose collector stopped early (SIGTERM, or a newer reason).
pub const ABORTED: &str = "Aborted";

/// Longest channel error message kept in `status.recentErrors`.
const MAX_ERROR_MESSAGE: usize = 256;

/// A run the operator is following: its Job's phase and what the audit log says about it.
#[derive(Clone, Debug)]
pub struct TrackedRun<'a> {
    /// The run (`status.activeJob`).
    pub id: RunId,
    /// Its Job's phase ([`job::phase`]; a Job that is gone is a failed run).
    pub phase: JobPhase,
    /// When Kubernetes started its Job ([`job::start_time`]).
    pub job_started: Option<DateTime<Utc>>,
    /// The run's audit rows, or why they could not be read.
    pub audit: AuditInput<'a>,
    /// A sharded run's indexes as its Job planned them ([`job::shard_plan`]); empty for an
    /// unsharded run.
    pub shards: &'a [ShardPlan],
}

/// The audit-log side of a [`TrackedRun`].
#[derive(Clone, Copy, Debug)]
pub enum AuditInput<'a> {
    /// Rows read for the run (all attempts, as [`contract::audit::read_run`] returns them) and the
    /// per-channel history of the collection's previous runs (may be empty).
    Rows {
        rows: &'a [AuditRow],
        history: &'a ChannelHistory,
    },
    /// The audit log could not be read: only Job-level status is reported.
    Unavailable(ProgressUnavailable),
}

/// Why live progress cannot be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressUnavailable {
    /// No database is configured for the collection nor for the operator.
    NotConfigured,
    /// The database did not answer, or the query failed (the operator logs the cause).
    Unreachable,
}

impl ProgressUnavailable {
    /// Reason for the `ProgressUnavailable` condition.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotConfigured => "DatabaseNotConfigured",
            Self::Unreachable => "AuditLogUnreachable",
        }
    }

    /// Message for the `ProgressUnavailable` condition; never contains the database URL.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotConfigured => {
                "no database is configured, so run progress cannot be read; showing Job status only"
            }
            Self::Unreachable => {
                "the audit log cannot be read right now; showing Job status only until it can"
            }
        }
    }
}

/// The part of `.status` derived from a run's audit rows (the operator's `status` module
/// decides the rest).
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedStatus {
    pub state: CollectionState,
    /// `processed/total`, e.g. `3/10`; `None` when unknown.
    pub progress: Option<String>,
    /// Human ETA (`4m10s`) while a run is active and an estimate exists.
    pub eta: Option<String>,
    pub currently_collecting: bool,
    pub current_channel: Option<String>,
    pub channels_processed: i32,
    pub channels_total: i32,
    pub messages_collected_current_run: i64,
    pub errors_current_run: i32,
    /// Seconds of flood waits in the run so far ([`flood_wait_seconds`]).
    pub flood_wait_seconds_current_run: i64,
    pub collection_start_time: Option<Time>,
    /// Seconds left, never negative.
    pub estimated_time_remaining: Option<i64>,
    /// End of the flood wait in progress; only set while it lies in the future.
    pub waiting_until: Option<Time>,
    /// Newest first, at most [`MAX_RECENT_ERRORS`]: this run's channel errors merged with
    /// earlier ones from the status.
    pub recent_errors: Vec<RecentError>,
    /// Set once the tracked run is over: record it as `status.lastRun`, clear `activeJob` and
    /// stop tracking the run (later reconciles pass no run, so no database query).
    pub finished: Option<RunSummary>,
    /// The run ended because the Telegram session is revoked or not authorised (or the last
    /// run did, while no run is going on): set `Stalled=True` reason [`SESSION_INVALID`].
    pub session_invalid: bool,
    /// Set while the audit log could not be read for an active run: set the
    /// `ProgressUnavailable` condition from it. Progress fields then hold no numbers.
    pub progress_unavailable: Option<ProgressUnavailable>,
    /// Per index of a sharded run (`status.shards`); empty for an unsharded run.
    pub shards: Vec<ShardStatus>,
}

/// Derives the live status of `collection`.
///
/// `run` is the run the operator follows (its Job is active, or `status.activeJob` still names
/// it); `None` when there is none, which needs no database query: the previous run's final
/// numbers stay, nothing is shown as live. Pure: `now` is the only clock.
pub fn derive(
    collection: &ChannelCollection,
    run: Option<&TrackedRun<'_>>,
    now: DateTime<Utc>,
) -> DerivedStatus {
    let previous = collection.status.clone().unwrap_or_default();
    let suspended = collection.spec.suspend;
    let Some(run) = run else {
        return idle(&previous, suspended);
    };
    match run.audit {
        AuditInput::Unavailable(why) => job_only(run, why, &previous, suspended, now),
        AuditInput::Rows { rows, history } => {
            from_audit(collection, run, rows, history, &previous, now)
        }
    }
}

/// State when no run is going on.
pub(crate) fn resting_state(suspended: bool, last: Option<&RunSummary>) -> CollectionState {
    if suspended {
        CollectionState::Suspended
    } else if last.and_then(|r| r.result) == Some(RunResult::Failed) {
        CollectionState::Failed
    } else {
        CollectionState::Idle
    }
}

fn idle(previous: &ChannelCollectionStatus, suspended: bool) -> DerivedStatus {
    let last = previous.last_run.as_ref();
    DerivedStatus {
        state: resting_state(suspended, last),
        progress: previous.progress.clone(),
        eta: None,
        currently_collecting: false,
        current_channel: None,
        channels_processed: previous.channels_processed,
        channels_total: previous.channels_total,
        messages_collected_current_run: previous.messages_collected_current_run,
        errors_current_run: previous.errors_current_run,
        flood_wait_seconds_current_run: previous.flood_wait_seconds_current_run,
        collection_start_time: previous.collection_start_time.clone(),
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: previous.recent_errors.clone(),
        finished: None,
        session_invalid: last.and_then(|r| r.reason.as_deref()) == Some(SESSION_INVALID),
        progress_unavailable: None,
        shards: previous.shards.clone(),
    }
}

/// Job-level status only: no number the audit log would have given is shown.
fn job_only(
    run: &TrackedRun<'_>,
    why: ProgressUnavailable,
    previous: &ChannelCollectionStatus,
    suspended: bool,
    now: DateTime<Utc>,
) -> DerivedStatus {
    let phase = &run.phase;
    let started = run.job_started;
    let finished = (!matches!(phase, JobPhase::Active { .. })).then(|| {
        let (result, _, _) = outcome(phase, None);
        let reason = match phase {
            JobPhase::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        // Without the audit log nobody knows whether the collector recorded its end: only
        // Kubernetes' word.
        let message = job_detail(phase);
        RunSummary {
            job: run.id.clone(),
            start_time: started.map(to_k8s),
            end_time: Some(to_k8s(finished_at(phase, None, now))),
            result: Some(result),
            reason,
            message,
            ..RunSummary::default()
        }
    });
    // Without the audit log, a running collector pod is the best sign of collecting.
    let state = match (&finished, phase) {
        (None, JobPhase::Active { ready: true }) => CollectionState::Collecting,
        (None, _) => CollectionState::Starting,
        (Some(summary), _) => resting_state(suspended, Some(summary)),
    };
    DerivedStatus {
        state,
        progress: None,
        eta: None,
        currently_collecting: finished.is_none(),
        current_channel: None,
        channels_processed: 0,
        channels_total: 0,
        messages_collected_current_run: 0,
        errors_current_run: 0,
        flood_wait_seconds_current_run: 0,
        collection_start_time: started.map(to_k8s),
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: previous.recent_errors.clone(),
        finished,
        session_invalid: false,
        progress_unavailable: Some(why),
        shards: super::shards::planned(run.shards),
    }
}

fn from_audit(
    collection: &ChannelCollection,
    run: &TrackedRun<'_>,
    rows: &[AuditRow],
    history: &ChannelHistory,
    previous: &ChannelCollectionStatus,
    now: DateTime<Utc>,
) -> DerivedStatus {
    if !run.shards.is_empty() || rows.iter().any(|r| r.shard.is_some()) {
        return super::shards::from_audit(collection, run, rows, history, previous, now);
    }
    let phase = &run.phase;
    let spec_channels = &collection.spec.channels;
    let log = RunLog::from_rows(rows);
    let newest = log.newest();
    let empty = Attempt::default();
    let attempt = newest.unwrap_or(&empty);
    let end = attempt.end.as_ref();

    // Before the collector reports its count: the spec's channels, each counted once as the
    // collector does.
    let total = attempt.total_channels.map_or_else(
        || {
            spec_channels
                .iter()
                .map(|c| channel::key(c))
                .collect::<HashSet<_>>()
                .len()
        },
        |t| t as usize,
    );
    let processed = attempt.processed();
    let errors = attempt.errors();
    let messages = log.messages();
    let started = attempt.started.or(run.job_started);
    let session_invalid = end.and_then(|e| e.reason) == Some(EndReason::SessionInvalid);

    let mut status = DerivedStatus {
        // Collecting only once the collector said so: a pod can sit Pending for its whole
        // deadline (unschedulable, pulling, a missing Secret) while its Job counts it active.
        state: if attempt.started.is_some() {
            CollectionState::Collecting
        } else {
            CollectionState::Starting
        },
        progress: Some(format!("{processed}/{total}")),
        eta: None,
        currently_collecting: true,
        current_channel: None,
        channels_processed: to_i32(processed as usize),
        channels_total: to_i32(total),
        messages_collected_current_run: i64::try_from(messages).unwrap_or(i64::MAX),
        errors_current_run: to_i32(errors as usize),
        flood_wait_seconds_current_run: flood_wait_seconds(rows),
        collection_start_time: started.map(to_k8s),
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: merge_errors(&log, &previous.recent_errors),
        finished: None,
        session_invalid,
        progress_unavailable: None,
        shards: Vec::new(),
    };

    if matches!(phase, JobPhase::Active { .. }) {
        if newest.is_some() {
            status.current_channel = eta::current_channel(attempt, history, spec_channels);
            let left = eta::remaining(attempt, history, spec_channels, now);
            status.estimated_time_remaining = left.map(|d| eta::quantize(ceil_seconds(d)));
            status.eta = status
                .estimated_time_remaining
                .map(|secs| eta::human(chrono::TimeDelta::seconds(secs)));
        }
        if let Some(wait) = attempt.flood_wait.as_ref().filter(|w| w.until > now)
            && attempt.started.is_some()
        {
            status.state = CollectionState::Waiting;
            status.waiting_until = Some(to_k8s(wait.until));
        }
        return status;
    }

    let (result, reason, message) = outcome(phase, end);
    let summary = RunSummary {
        job: run.id.clone(),
        start_time: log.started().or(started).map(to_k8s),
        end_time: Some(to_k8s(finished_at(phase, end.map(|e| e.end_time), now))),
        result: Some(result),
        reason,
        message,
        messages: newest.map(|_| status.messages_collected_current_run),
        channels_synced: newest.map(|_| {
            end.map_or(to_i32(processed.saturating_sub(errors) as usize), |e| {
                to_i32(e.channels_synced as usize)
            })
        }),
        channels_total: newest
            .map(|_| end.map_or(status.channels_total, |e| to_i32(e.total_channels as usize))),
        errors: newest
            .map(|_| end.map_or(status.errors_current_run, |e| to_i32(e.errors as usize))),
    };
    status.currently_collecting = false;
    status.state = resting_state(collection.spec.suspend, Some(&summary));
    status.finished = Some(summary);
    status
}

/// Result, reason and message of a run that is over. What the collector said about its own end
/// (session invalid, aborted) is more precise than the Job's reason; a Job that failed
/// without a `collection_end` is a failed run, whatever its rows said before.
pub(crate) fn outcome(
    phase: &JobPhase,
    end: Option<&contract::audit::CollectionEnd>,
) -> (RunResult, Option<String>, Option<String>) {
    if let Some(end) = end {
        match end.reason {
            Some(EndReason::SessionInvalid) => {
                return (
                    RunResult::Failed,
                    Some(SESSION_INVALID.into()),
                    Some(
                        "the Telegram session is revoked or not authorised; create a new one with \
                         `collector-job login` and update the session Secret"
                            .into(),
                    ),
                );
            }
            Some(EndReason::Terminated | EndReason::Other) => {
                return (
                    RunResult::Failed,
                    Some(ABORTED.into()),
                    Some("the collector was stopped before it finished the run".into()),
                );
            }
            None if end.aborted => {
                return (
                    RunResult::Failed,
                    Some(ABORTED.into()),
                    Some("the collector was stopped before it finished the run".into()),
                );
            }
            None => {}
        }
    }
    match phase {
        JobPhase::Active { .. } | JobPhase::Succeeded { .. } => (RunResult::Succeeded, None, None),
        JobPhase::Failed { reason, .. } => {
            let detail = job_detail(phase).unwrap_or_default();
            let message = if end.is_some() {
                detail
            } else {
                format!("{detail}; the collector did not record the end of the run")
            };
            (RunResult::Failed, Some(reason.clone()), Some(message))
        }
    }
}

/// Kubernetes' word on a failed Job.
pub(crate) fn job_detail(phase: &JobPhase) -> Option<String> {
    let JobPhase::Failed {
        reason, message, ..
    } = phase
    else {
        return None;
    };
    Some(match (reason.as_str(), message) {
        (job::JOB_DELETED, None) => "the Job was deleted".to_owned(),
        (_, Some(m)) => m.clone(),
        (r, None) => format!("the Job failed ({r})"),
    })
}

/// When the run ended: the collector's `end_time`, else Kubernetes' time, else now (the Job
/// vanished without saying).
pub(crate) fn finished_at(
    phase: &JobPhase,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let job_at = match phase {
        JobPhase::Active { .. } => None,
        JobPhase::Succeeded { at } | JobPhase::Failed { at, .. } => *at,
    };
    end.or(job_at).unwrap_or(now)
}

/// This run's channel errors (every attempt) and the earlier ones, newest first, bounded.
pub(crate) fn merge_errors(log: &RunLog, earlier: &[RecentError]) -> Vec<RecentError> {
    let mut all: Vec<RecentError> = log
        .attempts
        .iter()
        .flat_map(|a| &a.done)
        .filter_map(|done| {
            let error = done.error.as_ref()?;
            Some(RecentError {
                channel: done.name.clone(),
                reason: error.reason.as_status_reason().to_owned(),
                message: truncate(&error.message, MAX_ERROR_MESSAGE),
                time: to_k8s(done.at),
            })
        })
        .collect();
    for error in earlier {
        if !all.contains(error) {
            all.push(error.clone());
        }
    }
    // Stable: errors of one second keep their write order, newest last, then reversed.
    all.sort_by(|a, b| a.time.cmp(&b.time));
    all.reverse();
    all.truncate(MAX_RECENT_ERRORS);
    all
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(crate) fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Whole seconds, rounded up so a run with 0.4 s left does not read as done.
pub(crate) fn ceil_seconds(d: chrono::TimeDelta) -> i64 {
    let ms = d.num_milliseconds().max(0);
    (ms + 999) / 1000
}
