//! The pure derivation of a collection's live status from its run's Job and audit rows.

use chrono::{DateTime, TimeDelta, Utc};
use contract::audit::{AuditRow, CollectionEnd};
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, MAX_RECENT_ERRORS, MAX_SHARDS,
    RecentError, RunId, RunMedia, RunResult, RunSummary, ShardState, ShardStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::eta;
use super::failure::Failure;

use super::durations::ChannelDurations;
use super::runlog::{Attempt, RunLog, flood_wait_seconds};
use super::shard::{self, Shard};
use crate::job::{self, JobPhase, ShardPlan};
use crate::time::to_k8s;

/// Longest channel error message kept in `status.recentErrors`.
const MAX_ERROR_MESSAGE: usize = 256;

/// The run the operator follows (`status.activeJob`, else the newest active run): its Job's
/// phase and what the audit log says about it. The one shape of it the status reads.
#[derive(Clone, Debug)]
pub struct Followed<'a> {
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

/// The audit-log side of a [`Followed`] run.
#[derive(Clone, Copy, Debug)]
pub enum AuditInput<'a> {
    /// Rows read for the run (all attempts, as [`contract::audit::read_run`] returns them) and the
    /// per-channel history of the collection's previous runs (may be empty).
    Rows {
        rows: &'a [AuditRow],
        history: &'a ChannelDurations,
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
    pub current_channel: Option<String>,
    pub channels_processed: i32,
    pub channels_total: i32,
    pub messages_collected_current_run: i64,
    pub errors_current_run: i32,
    /// Seconds of flood waits in the run so far ([`flood_wait_seconds`]).
    pub flood_wait_seconds_current_run: i64,
    /// Files of the run so far (every attempt and index); `None` while there are none.
    pub media_current_run: Option<RunMedia>,
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
    /// run did, while no run is going on): set `Stalled=True` reason [`Failure::SessionInvalid`].
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
    run: Option<&Followed<'_>>,
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

/// State when no run is going on; the one place that decides it.
pub(super) fn resting_state(suspended: bool, last: Option<&RunSummary>) -> CollectionState {
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
        current_channel: None,
        channels_processed: previous.channels_processed,
        channels_total: previous.channels_total,
        messages_collected_current_run: previous.messages_collected_current_run,
        errors_current_run: previous.errors_current_run,
        flood_wait_seconds_current_run: previous.flood_wait_seconds_current_run,
        media_current_run: previous.media_current_run,
        collection_start_time: previous.collection_start_time.clone(),
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: previous.recent_errors.clone(),
        finished: None,
        session_invalid: last
            .and_then(|r| r.reason.as_deref())
            .and_then(Failure::parse)
            == Some(Failure::SessionInvalid),
        progress_unavailable: None,
        shards: previous.shards.clone(),
    }
}

/// Job-level status only: no number the audit log would have given is shown.
fn job_only(
    run: &Followed<'_>,
    why: ProgressUnavailable,
    previous: &ChannelCollectionStatus,
    suspended: bool,
    now: DateTime<Utc>,
) -> DerivedStatus {
    let phase = &run.phase;
    let started = run.job_started;
    let finished = (!matches!(phase, JobPhase::Active { .. })).then(|| {
        let result = if matches!(phase, JobPhase::Failed { .. }) {
            RunResult::Failed
        } else {
            RunResult::Succeeded
        };
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
        current_channel: None,
        channels_processed: 0,
        channels_total: 0,
        messages_collected_current_run: 0,
        errors_current_run: 0,
        flood_wait_seconds_current_run: 0,
        media_current_run: None,
        collection_start_time: started.map(to_k8s),
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: previous.recent_errors.clone(),
        finished,
        session_invalid: false,
        progress_unavailable: Some(why),
        shards: shard::planned(run.shards),
    }
}

fn from_audit(
    collection: &ChannelCollection,
    run: &Followed<'_>,
    rows: &[AuditRow],
    history: &ChannelDurations,
    previous: &ChannelCollectionStatus,
    now: DateTime<Utc>,
) -> DerivedStatus {
    let phase = &run.phase;
    let active = matches!(phase, JobPhase::Active { .. });
    let sharded = !run.shards.is_empty() || rows.iter().any(|r| r.shard.is_some());
    let shards = if sharded {
        Shard::split(run.shards, rows)
    } else {
        vec![Shard::whole(&collection.spec.channels, rows)]
    };
    // Every attempt of every index, for what sums over attempts (messages, errors, start).
    let all = RunLog {
        attempts: shards
            .iter()
            .flat_map(|s| s.log.attempts.iter().cloned())
            .collect(),
        unreadable: shards.iter().map(|s| s.log.unreadable).sum(),
    };
    let states: Vec<ShardState> = shards.iter().map(|s| s.state(phase, now)).collect();

    let mut statuses = Vec::with_capacity(shards.len());
    let (mut total, mut processed, mut errors, mut messages) = (0u64, 0u64, 0u64, 0u64);
    let mut slowest = Some(TimeDelta::zero());
    for (shard, state) in shards.iter().zip(&states) {
        let attempt = shard.attempt();
        let shard_processed = attempt.map_or(0, Attempt::processed);
        let shard_errors = attempt.map_or(0, Attempt::errors);
        let shard_messages = shard.log.messages();
        total += u64::from(shard.total());
        processed += u64::from(shard_processed);
        errors += u64::from(shard_errors);
        messages += shard_messages;
        let left = active
            .then(|| match state {
                ShardState::Succeeded | ShardState::Failed => Some(TimeDelta::zero()),
                _ => shard.remaining(history, now),
            })
            .flatten();
        slowest = match (slowest, left) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        let current = match (active, attempt) {
            (true, Some(a)) if shard.started() => eta::current_channel(a, history, shard.channels),
            _ => None,
        };
        let failure = shard
            .failure()
            .or_else(|| (*state == ShardState::Failed).then_some(Failure::NoCollectionEnd));
        statuses.push(ShardStatus {
            index: i32::try_from(shard.index).unwrap_or(i32::MAX),
            session: shard.session.unwrap_or_default().to_owned(),
            state: Some(*state),
            current_channel: current,
            channels_processed: to_i32(shard_processed as usize),
            channels_total: to_i32(shard.total() as usize),
            messages: i64::try_from(shard_messages).unwrap_or(i64::MAX),
            errors: to_i32(shard_errors as usize),
            estimated_time_remaining: left.map(|d| eta::quantize(ceil_seconds(d))),
            reason: failure.map(|f| f.as_str().to_owned()),
        });
    }

    // Each index's newest attempt is the one status follows; the run started with the first.
    let started = shards
        .iter()
        .filter_map(|s| s.attempt().and_then(|a| a.started))
        .min()
        .or(run.job_started);
    let state = if states.contains(&ShardState::Collecting) {
        CollectionState::Collecting
    } else if states.contains(&ShardState::Waiting) {
        // Only while every collecting index waits.
        CollectionState::Waiting
    } else if shards.iter().any(Shard::started) {
        // Some indexes are done, the others not started yet (or the one index just ended).
        CollectionState::Collecting
    } else {
        CollectionState::Starting
    };
    let current_channel = statuses
        .iter()
        .find(|s| s.state == Some(ShardState::Collecting) && s.current_channel.is_some())
        .or_else(|| statuses.iter().find(|s| s.current_channel.is_some()))
        .and_then(|s| s.current_channel.clone());
    let any_rows = !all.attempts.is_empty();
    let remaining = slowest.filter(|_| active && any_rows);
    let media = all.media();

    let mut status = DerivedStatus {
        state,
        progress: Some(format!("{processed}/{total}")),
        eta: None,
        current_channel: if active { current_channel } else { None },
        channels_processed: to_i32(processed as usize),
        channels_total: to_i32(total as usize),
        messages_collected_current_run: i64::try_from(messages).unwrap_or(i64::MAX),
        errors_current_run: to_i32(errors as usize),
        flood_wait_seconds_current_run: flood_wait_seconds(rows),
        media_current_run: (!media.is_empty()).then(|| media.into()),
        collection_start_time: started.map(to_k8s),
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: merge_errors(&all, &previous.recent_errors),
        finished: None,
        session_invalid: shards
            .iter()
            .any(|s| s.failure() == Some(Failure::SessionInvalid)),
        progress_unavailable: None,
        shards: if sharded {
            statuses.truncate(MAX_SHARDS);
            statuses
        } else {
            Vec::new()
        },
    };

    if active {
        status.estimated_time_remaining = remaining.map(|d| eta::quantize(ceil_seconds(d)));
        status.eta = status
            .estimated_time_remaining
            .map(|secs| crds::time::span(TimeDelta::seconds(secs)));
        if state == CollectionState::Waiting {
            status.waiting_until = shards
                .iter()
                .filter_map(|s| s.waiting_until(now))
                .min()
                .map(to_k8s);
        }
        return status;
    }

    let (result, reason, message) = outcome(phase, &shards, &states);
    let ends: Vec<&CollectionEnd> = shards.iter().filter_map(Shard::end).collect();
    let synced: u64 = shards.iter().map(|s| u64::from(s.synced())).sum();
    let summary = RunSummary {
        job: run.id.clone(),
        start_time: all.started().or(started).map(to_k8s),
        end_time: Some(to_k8s(finished_at(
            phase,
            ends.iter().map(|e| e.end_time).max(),
            now,
        ))),
        result: Some(result),
        reason,
        message,
        messages: any_rows.then_some(status.messages_collected_current_run),
        channels_synced: any_rows.then(|| to_i32(synced as usize)),
        channels_total: any_rows.then_some(status.channels_total),
        errors: any_rows.then_some(status.errors_current_run),
        edits: (!ends.is_empty()).then(|| count(ends.iter().map(|e| e.edits_found).sum())),
        deletions: (!ends.is_empty()).then(|| count(ends.iter().map(|e| e.deletions_found).sum())),
        // Zeros are news for a collection that downloads files; nothing for one that does not.
        media: (any_rows && (collection.spec.media.is_some() || !media.is_empty()))
            .then(|| media.into()),
    };
    status.state = resting_state(collection.spec.suspend, Some(&summary));
    status.finished = Some(summary);
    status
}

/// Result, reason and message of a run that is over. An index whose collector said why it
/// stopped early is the cause, else one Kubernetes gave up on, else one that never recorded
/// its end (the others most likely stopped because of it: `FailJob` ends every pod); it is
/// named by index and session Secret in a sharded run. With no such index, the Job's word.
fn outcome(
    phase: &JobPhase,
    shards: &[Shard<'_>],
    states: &[ShardState],
) -> (RunResult, Option<String>, Option<String>) {
    let failed = shards
        .iter()
        .find(|s| s.end().is_some() && s.failure().is_some())
        .or_else(|| shards.iter().find(|s| s.retries_exhausted))
        .or_else(|| {
            shards
                .iter()
                .zip(states)
                .find(|(_, state)| **state == ShardState::Failed)
                .map(|(shard, _)| shard)
        });
    let Some(shard) = failed else {
        return match phase {
            JobPhase::Failed { reason, .. } => {
                (RunResult::Failed, Some(reason.clone()), job_detail(phase))
            }
            _ => (RunResult::Succeeded, None, None),
        };
    };
    let who = shard.who();
    match shard.failure() {
        Some(failure @ (Failure::SessionInvalid | Failure::Aborted)) => (
            RunResult::Failed,
            Some(failure.as_str().to_owned()),
            Some(format!("{who}{}", failure.message())),
        ),
        failure => {
            let failure = failure.unwrap_or(Failure::NoCollectionEnd);
            let reason = match phase {
                JobPhase::Failed { reason, .. } => reason.clone(),
                _ => failure.as_str().to_owned(),
            };
            let detail = job_detail(phase)
                .map(|d| format!("; {d}"))
                .unwrap_or_default();
            (
                RunResult::Failed,
                Some(reason),
                Some(format!("{who}{}{detail}", failure.message())),
            )
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

/// A count from the audit log as a status integer.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Whole seconds, rounded up so a run with 0.4 s left does not read as done.
pub(crate) fn ceil_seconds(d: chrono::TimeDelta) -> i64 {
    let ms = d.num_milliseconds().max(0);
    (ms + 999) / 1000
}
