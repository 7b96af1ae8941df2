//! The Job-level `.status` of a collection, as a pure function.
//!
//! This covers what the operator knows from the spec, the schedule and the Jobs. Live
//! progress (progress, ETA, current channel, counts, flood waits, recent errors) comes from
//! the audit log and is merged on top of this result by the caller; every field set here
//! is one the progress derivation does not own, except `state`/`currentlyCollecting`,
//! which it may refine (e.g. `Collecting` -> `Waiting`).

use chrono::{DateTime, Utc};
use crds::{ChannelCollectionStatus, CollectionState, RunResult, RunSummary};

use crate::{
    conditions::{Health, conditions},
    runs::{Outcome, RunView},
    time::to_k8s,
};

/// Everything the Job-level status depends on.
#[derive(Debug, Clone)]
pub struct StatusInput<'a> {
    pub previous: &'a ChannelCollectionStatus,
    pub generation: Option<i64>,
    /// `status.schedule` text.
    pub schedule: Option<String>,
    pub suspend: bool,
    /// Set when the spec is invalid: the readable reason.
    pub invalid: Option<String>,
    /// The owned runs after this reconcile's actions (a Job created now is included).
    pub runs: &'a [RunView],
    /// `Replace` is stopping these runs before the due one starts.
    pub replacing: bool,
    pub last_schedule_time: Option<DateTime<Utc>>,
    pub last_handled_requested_at: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// The status for `input`; a [`RunSummary`] recorded earlier (with the audit log's reason and
/// counts) is kept as is while it still describes the newest finished Job.
pub fn job_level_status(input: &StatusInput<'_>) -> ChannelCollectionStatus {
    let prev = input.previous;
    // A run whose end is recorded already (the audit-log derivation counts a Job's decided
    // outcome, `FailureTarget`/`SuccessCriteriaMet`, as its end while its pods terminate) is
    // not shown as collecting. A deleted run still is, so `Replace` shows its teardown.
    let ended = prev.last_run.as_ref().map(|r| r.job.as_str());
    let active = input.runs.iter().rev().find(|r| {
        r.is_unfinished() && (Some(r.job.as_str()) != ended || r.outcome == Outcome::Terminating)
    });
    let last_run = last_run(prev, input.runs, input.now);
    let last_successful = input
        .runs
        .iter()
        .filter(|r| r.outcome == Outcome::Succeeded)
        .filter_map(|r| r.end)
        .chain(
            prev.last_successful_time
                .as_ref()
                .map(crate::time::from_k8s),
        )
        .max();

    let last_failed = last_run
        .as_ref()
        .is_some_and(|r| r.result == Some(RunResult::Failed));
    let (state, health) = if let Some(message) = &input.invalid {
        (
            CollectionState::Failed,
            Health::Invalid {
                message: message.clone(),
            },
        )
    } else if let Some(run) = active {
        let health = match (&run.outcome, input.replacing) {
            (_, true) | (Outcome::Terminating, _) => Health::Replacing {
                job: run.job.clone(),
            },
            (Outcome::Running { ready: false }, _) => Health::RunStarting {
                job: run.job.clone(),
            },
            _ => Health::Healthy {
                reason: "Collecting",
                message: format!("Job {} is collecting", run.job),
            },
        };
        (CollectionState::Collecting, health)
    } else if input.suspend {
        let message = "spec.suspend is set: no new runs start".to_string();
        (
            CollectionState::Suspended,
            Health::Healthy {
                reason: "Suspended",
                message,
            },
        )
    } else if last_failed {
        let run = last_run.as_ref().expect("last_failed implies a last run");
        let why = [run.reason.as_deref(), run.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        let message = if why.is_empty() {
            format!("run {} failed", run.job)
        } else {
            format!("run {} failed: {why}", run.job)
        };
        (CollectionState::Failed, Health::RunFailed { message })
    } else {
        let message = match input.next_run {
            Some(next) => format!(
                "next run at {}",
                next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None => "no run scheduled".to_string(),
        };
        (
            CollectionState::Idle,
            Health::Healthy {
                reason: "Idle",
                message,
            },
        )
    };

    ChannelCollectionStatus {
        observed_generation: input.generation,
        conditions: conditions(&prev.conditions, input.generation, &health, input.now),
        schedule: input.schedule.clone(),
        state: Some(state),
        currently_collecting: active.is_some(),
        active_job: active.map(|r| r.job.clone()),
        collection_start_time: active.and_then(|r| r.start).map(to_k8s),
        last_schedule_time: input.last_schedule_time.map(to_k8s),
        last_successful_time: last_successful.map(to_k8s),
        next_run_time: input.next_run.map(to_k8s),
        last_handled_requested_at: input.last_handled_requested_at.clone(),
        last_run,
        ..ChannelCollectionStatus::default()
    }
}

/// The newest finished run: from the Jobs, or the previous summary when its Job is gone
/// (history cleanup), or a failed summary when the active Job vanished unfinished.
fn last_run(
    prev: &ChannelCollectionStatus,
    runs: &[RunView],
    now: DateTime<Utc>,
) -> Option<RunSummary> {
    let newest_finished = runs.iter().rev().find(|r| r.is_finished());
    if let Some(run) = newest_finished {
        let summary = summarize(run);
        match &prev.last_run {
            // Same Job: keep the summary as recorded. Once the audit log gave the run's end
            // (its reason, e.g. SessionInvalid, and counts), it is more precise than the Job's.
            Some(p) if p.job == run.job => return Some(p.clone()),
            // A newer summary (e.g. a vanished Job) that the Jobs cannot show.
            Some(p) if p.end_time.as_ref().map(crate::time::from_k8s) > run.end => {
                return Some(p.clone());
            }
            _ => return Some(summary),
        }
    }
    if let Some(vanished) = &prev.active_job
        && !runs.iter().any(|r| &r.job == vanished)
    {
        return Some(RunSummary {
            job: vanished.clone(),
            start_time: prev.collection_start_time.clone(),
            end_time: Some(to_k8s(now)),
            result: Some(RunResult::Failed),
            reason: Some("JobDeleted".to_string()),
            message: Some(format!(
                "Job {vanished} disappeared before it finished (deleted or replaced)"
            )),
            ..RunSummary::default()
        });
    }
    prev.last_run.clone()
}

fn summarize(run: &RunView) -> RunSummary {
    let (result, reason, message) = match &run.outcome {
        Outcome::Succeeded => (Some(RunResult::Succeeded), None, None),
        Outcome::Failed { reason, message } => {
            (Some(RunResult::Failed), reason.clone(), message.clone())
        }
        _ => (None, None, None),
    };
    RunSummary {
        job: run.job.clone(),
        start_time: run.start.map(to_k8s),
        end_time: run.end.map(to_k8s),
        result,
        reason,
        message,
        ..RunSummary::default()
    }
}
