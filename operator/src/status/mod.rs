//! The one status computation: `.status` and the Events of its transitions, as a pure function
//! of the collection (spec and previous status), its runs after this reconcile's actions, the
//! audit log of the run it follows, the plan, and `now` ([`status()`]). Called once per
//! reconcile; nothing else writes a status field.
//!
//! Around it: [`derive()`] maps the run the operator follows (its Job's phase, audit rows and
//! per-channel history) to progress, ETA, current channel, flood waits, recent errors and the
//! run's summary once it is over; [`conditions`] are the kstatus conditions; [`reader`] holds
//! the two indexed queries an active run needs.
//!
//! Fixes over the system this replaces: audit rows are matched to runs by run id (never by
//! timestamps); a run is collecting only once its collector wrote `collection_start` and while
//! its Job is active; a Job that failed, hit its deadline or was deleted without
//! `collection_end` becomes a failed run with a reason; retried pods each start an attempt and
//! status follows the newest; the ETA costs each channel by what is known about it (see
//! [`eta`]); flood waits show as `Waiting` with their end; future times are only ever written
//! to string fields. The ETA is rounded ([`eta::quantize`]) so that a run counting down between
//! two audit rows does not need a patch at every refresh.

pub mod conditions;
mod derive;
pub mod durations;
pub mod eta;
mod failure;
pub mod reader;
pub mod runlog;
mod shard;

pub use derive::{AuditInput, DerivedStatus, Followed, ProgressUnavailable, derive};
pub use durations::ChannelDurations;
pub use failure::Failure;
pub use reader::{AuditSnapshot, ReadError};

use chrono::{DateTime, Utc};
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, MAX_RECENT_RUNS, RunId, RunResult,
    RunSummary, condition::STALLED,
};

use crate::{
    decide::{Plan, Stall, rfc3339},
    job::JobPhase,
    pods::PodProblem,
    runs::RunView,
    time::{from_k8s, to_k8s},
};
use conditions::{Health, Progress, conditions, with_progress};

/// An Event to publish about the collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    /// Stable PascalCase reason (`RunFailed`, ...).
    pub reason: &'static str,
    pub note: String,
}

impl Notice {
    pub fn normal(reason: &'static str, note: String) -> Self {
        Self {
            warning: false,
            reason,
            note,
        }
    }

    pub fn warning(reason: &'static str, note: String) -> Self {
        Self {
            warning: true,
            reason,
            note,
        }
    }
}

/// Reasons of the run Events.
pub const RUN_SUCCEEDED: &str = "RunSucceeded";
pub const RUN_FAILED: &str = "RunFailed";
/// Reason of the Event saying a run's pod cannot start.
pub const POD_NOT_STARTING: &str = "PodNotStarting";
/// `Stalled` reason when a Job of the collection's name belongs to something else.
pub const JOB_NAME_TAKEN: &str = "JobNameTaken";

/// `ProgressUnavailable` message when the operator has no database but the collection names
/// its own: the operator never reads Secrets, so it reads the audit log from its own
/// `DATABASE_URL` only.
const NOT_CONFIGURED_WITH_SPEC_DATABASE: &str = "the operator has no database configured \
     (it reads the audit log from its own DATABASE_URL, never from spec.database's Secret), \
     so run progress cannot be read; showing Job status only";

/// Everything the status depends on.
#[derive(Debug, Clone)]
pub struct StatusInput<'a> {
    /// The collection as cached: spec, generation and the previous status.
    pub collection: &'a ChannelCollection,
    /// Its runs after this reconcile's actions (a Job created now included), oldest first.
    pub runs: &'a [RunView],
    pub followed: Option<Followed<'a>>,
    /// Why the active run's pod cannot start, if it cannot.
    pub pod_problem: Option<&'a PodProblem>,
    pub plan: &'a Plan,
    /// The Job to create is named like a Job of something else (found when creating it).
    pub name_taken: Option<&'a RunId>,
    pub now: DateTime<Utc>,
}

/// The status for `input` and the Events of what changed since the previous one.
pub fn status(input: &StatusInput<'_>) -> (ChannelCollectionStatus, Vec<Notice>) {
    let cc = input.collection;
    let previous = cc.status.clone().unwrap_or_default();
    let generation = cc.metadata.generation;
    let derived = derive(cc, input.followed.as_ref(), input.now);

    let last_run = last_run(&previous, input.runs, derived.finished.as_ref());
    let active =
        input.runs.iter().rev().find(|r| {
            r.is_active() && !r.deleting && last_run.as_ref().is_none_or(|l| l.job != r.id)
        });
    let tearing_down = input
        .runs
        .iter()
        .rev()
        .find(|r| r.deleting && r.holds_session);
    let followed_is_active = active
        .zip(input.followed.as_ref())
        .is_some_and(|(a, f)| a.id == f.id);
    let stall = stall(input.plan, input.name_taken);

    let state = if stall.is_some() {
        CollectionState::Failed
    } else if active.is_some() {
        if followed_is_active {
            derived.state
        } else {
            CollectionState::Starting
        }
    } else {
        derive::resting_state(cc.spec.suspend, last_run.as_ref())
    };

    let health = match (&stall, active) {
        (Some((reason, message)), _) => Health::Stalled {
            reason,
            message: message.clone(),
        },
        (None, Some(run)) if input.plan.schedule.replacing => Health::Replacing {
            job: run.id.to_string(),
        },
        (None, Some(run)) if state == CollectionState::Starting => Health::RunStarting {
            job: run.id.to_string(),
            problem: input.pod_problem.cloned(),
        },
        (None, Some(run)) => Health::Healthy {
            reason: "Collecting",
            message: format!("Job {} is collecting", run.id),
        },
        (None, None) => match tearing_down {
            Some(run) => Health::Replacing {
                job: run.id.to_string(),
            },
            None => resting_health(
                cc.spec.suspend,
                last_run.as_ref(),
                input.plan.schedule.next_run,
            ),
        },
    };

    // A retry of a known-revoked session keeps it `Stalled` until the retry shows the session
    // works (a channel done) or ends another way, so the condition and its metric hold steady.
    let last_failure = last_run.as_ref().and_then(Failure::of_run);
    let retrying_revoked_session = active.is_some()
        && last_failure == Some(Failure::SessionInvalid)
        && !(followed_is_active && derived.channels_processed > 0);
    let session_message = (derived.session_invalid || retrying_revoked_session).then(|| {
        last_run
            .as_ref()
            .filter(|_| last_failure == Some(Failure::SessionInvalid))
            .and_then(|r| r.message.clone())
            .unwrap_or_else(|| Failure::SessionInvalid.message().to_string())
    });
    let unavailable = derived
        .progress_unavailable
        .filter(|_| followed_is_active)
        .map(|why| {
            let message = match why {
                ProgressUnavailable::NotConfigured if cc.spec.database.is_some() => {
                    NOT_CONFIGURED_WITH_SPEC_DATABASE
                }
                _ => why.message(),
            };
            (why.reason(), message)
        });
    let conditions = with_progress(
        conditions(&previous.conditions, generation, &health, input.now),
        &previous.conditions,
        generation,
        &Progress {
            session_invalid: session_message.as_deref(),
            unavailable,
        },
        input.now,
    );

    let schedule = &input.plan.schedule;
    let last_successful = input
        .runs
        .iter()
        .filter_map(|r| match r.phase {
            JobPhase::Succeeded { at } => at,
            _ => None,
        })
        .chain(
            last_run
                .as_ref()
                .filter(|r| r.result == Some(RunResult::Succeeded))
                .and_then(|r| r.end_time.as_ref())
                .map(from_k8s),
        )
        .chain(previous.last_successful_time.as_ref().map(from_k8s))
        .max();
    // Progress numbers: the active run's, live; else the last run's, final.
    let progress = if active.is_some() && !followed_is_active {
        DerivedStatus {
            recent_errors: derived.recent_errors.clone(),
            ..fresh_progress(cc)
        }
    } else {
        derived.clone()
    };
    let status = ChannelCollectionStatus {
        observed_generation: generation,
        conditions,
        schedule: schedule.text.clone(),
        state: Some(state),
        progress: progress.progress,
        eta: progress.eta,
        currently_collecting: matches!(
            state,
            CollectionState::Collecting | CollectionState::Waiting
        ),
        current_channel: progress.current_channel,
        channels_processed: progress.channels_processed,
        channels_total: progress.channels_total,
        messages_collected_current_run: progress.messages_collected_current_run,
        errors_current_run: progress.errors_current_run,
        flood_wait_seconds_current_run: progress.flood_wait_seconds_current_run,
        media_current_run: progress.media_current_run,
        collection_start_time: match active {
            Some(run) => progress.collection_start_time.or(run.started.map(to_k8s)),
            None => progress.collection_start_time,
        },
        estimated_time_remaining: progress.estimated_time_remaining,
        waiting_until: progress.waiting_until,
        active_job: active.map(|r| r.id.clone()),
        last_schedule_time: schedule.last_schedule_time.map(to_k8s),
        last_successful_time: last_successful.map(to_k8s),
        next_run_time: schedule.next_run.map(to_k8s),
        last_handled_requested_at: schedule.last_handled_requested_at.clone(),
        recent_runs: recent_runs(&previous.recent_runs, last_run.as_ref()),
        last_run,
        recent_errors: progress.recent_errors,
        shards: progress.shards,
    };
    let notices = notices(&previous, &status, input, stall.as_ref(), session_message);
    (status, notices)
}

/// The Stalled reason and message, if nothing can run.
fn stall(plan: &Plan, name_taken: Option<&RunId>) -> Option<(&'static str, String)> {
    match (&plan.stall, name_taken) {
        (Some(Stall::InvalidSpec(message)), _) => Some(("InvalidSpec", message.clone())),
        (Some(Stall::JobNotBuildable(error)), _) => Some((
            "JobNotBuildable",
            format!("the Job of a due run cannot be built: {error}"),
        )),
        (None, Some(job)) => Some((
            JOB_NAME_TAKEN,
            format!(
                "Job {job} exists but belongs to something else; delete it or rename the collection"
            ),
        )),
        (None, None) => None,
    }
}

fn resting_health(
    suspend: bool,
    last_run: Option<&RunSummary>,
    next_run: Option<DateTime<Utc>>,
) -> Health {
    if suspend {
        return Health::Healthy {
            reason: "Suspended",
            message: "spec.suspend is set: no new runs start".to_string(),
        };
    }
    if let Some(run) = last_run.filter(|r| r.result == Some(RunResult::Failed)) {
        let why = failure(run);
        let message = if why.is_empty() {
            format!("run {} failed", run.job)
        } else {
            format!("run {} failed: {why}", run.job)
        };
        return Health::RunFailed { message };
    }
    Health::Healthy {
        reason: "Idle",
        message: match next_run {
            Some(next) => format!("next run at {}", rfc3339(next)),
            None => "no run scheduled".to_string(),
        },
    }
}

/// `reason: message` of a failed run.
fn failure(run: &RunSummary) -> String {
    [run.reason.as_deref(), run.message.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ")
}

/// The newest finished run: the one the audit log just saw end (its reason and counts), else
/// from the Jobs, keeping the previous summary while it describes the same (or a newer) run.
fn last_run(
    previous: &ChannelCollectionStatus,
    runs: &[RunView],
    finished_now: Option<&RunSummary>,
) -> Option<RunSummary> {
    if let Some(finished) = finished_now {
        return Some(finished.clone());
    }
    let Some(run) = runs.iter().rev().find(|r| !r.is_active()) else {
        return previous.last_run.clone();
    };
    match &previous.last_run {
        Some(p) if p.job == run.id => Some(p.clone()),
        Some(p) if p.end_time.as_ref().map(from_k8s) > ended_at(run) => Some(p.clone()),
        _ => Some(summarize(run)),
    }
}

/// `status.recentRuns`: the newest finished run (`lastRun`) first, then the previous entries
/// of other Jobs, at most [`MAX_RECENT_RUNS`]. A run's summary can be rewritten after it
/// first appears (the Job's end, then the audit log's counts): it replaces the run's entry.
pub fn recent_runs(previous: &[RunSummary], last_run: Option<&RunSummary>) -> Vec<RunSummary> {
    let Some(last) = last_run else {
        return previous.iter().take(MAX_RECENT_RUNS).cloned().collect();
    };
    std::iter::once(last)
        .chain(previous.iter().filter(|r| r.job != last.job))
        .take(MAX_RECENT_RUNS)
        .cloned()
        .collect()
}

fn ended_at(run: &RunView) -> Option<DateTime<Utc>> {
    match &run.phase {
        JobPhase::Active { .. } => None,
        JobPhase::Succeeded { at } | JobPhase::Failed { at, .. } => *at,
    }
}

/// A run's summary from its Job alone.
fn summarize(run: &RunView) -> RunSummary {
    let (result, reason, message) = match &run.phase {
        JobPhase::Active { .. } => (None, None, None),
        JobPhase::Succeeded { .. } => (Some(RunResult::Succeeded), None, None),
        JobPhase::Failed {
            reason, message, ..
        } => (
            Some(RunResult::Failed),
            Some(reason.clone()),
            message.clone(),
        ),
    };
    RunSummary {
        job: run.id.clone(),
        start_time: run.started.map(to_k8s),
        end_time: ended_at(run).map(to_k8s),
        result,
        reason,
        message,
        ..RunSummary::default()
    }
}

/// Progress of a run whose collector has written nothing yet.
fn fresh_progress(cc: &ChannelCollection) -> DerivedStatus {
    let total = cc
        .spec
        .channels
        .iter()
        .map(|c| contract::channel::key(c))
        .collect::<std::collections::HashSet<_>>()
        .len();
    DerivedStatus {
        state: CollectionState::Starting,
        progress: Some(format!("0/{total}")),
        eta: None,
        current_channel: None,
        channels_processed: 0,
        channels_total: i32::try_from(total).unwrap_or(i32::MAX),
        messages_collected_current_run: 0,
        errors_current_run: 0,
        flood_wait_seconds_current_run: 0,
        media_current_run: None,
        collection_start_time: None,
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: Vec::new(),
        finished: None,
        session_invalid: false,
        progress_unavailable: None,
        shards: Vec::new(),
    }
}

/// The Events of what changed from `previous` to `status`.
fn notices(
    previous: &ChannelCollectionStatus,
    status: &ChannelCollectionStatus,
    input: &StatusInput<'_>,
    stall: Option<&(&'static str, String)>,
    session_message: Option<String>,
) -> Vec<Notice> {
    let mut notices = input.plan.notices.clone();
    // Warn once per distinct problem, not on every reconcile.
    let stalled_before = |reason: &str, message: &str| {
        previous.conditions.iter().any(|c| {
            c.type_ == STALLED && c.status == "True" && c.reason == reason && c.message == message
        })
    };
    if let Some((reason, message)) = stall
        && !stalled_before(reason, message)
    {
        notices.push(Notice::warning(reason, message.clone()));
    }
    notices.extend(run_transition(previous, status));
    if let Some(message) = session_message
        && stall.is_none()
        && !previous.conditions.iter().any(|c| {
            c.type_ == STALLED && c.status == "True" && c.reason == Failure::SessionInvalid.as_str()
        })
    {
        notices.push(Notice::warning(Failure::SessionInvalid.as_str(), message));
    }
    if let (Some(problem), Some(job)) = (input.pod_problem, &status.active_job) {
        let told = previous
            .conditions
            .iter()
            .any(|c| c.message.ends_with(&problem.describe()));
        if !told && status.state == Some(CollectionState::Starting) {
            notices.push(Notice::warning(
                POD_NOT_STARTING,
                format!("Job {job}: {}", problem.describe()),
            ));
        }
    }
    notices
}

/// RunSucceeded / RunFailed when `lastRun` now describes a run it did not describe before.
fn run_transition(
    previous: &ChannelCollectionStatus,
    status: &ChannelCollectionStatus,
) -> Option<Notice> {
    let run = status.last_run.as_ref()?;
    let before = previous.last_run.as_ref();
    if before.is_some_and(|b| b.job == run.job && b.result == run.result) {
        return None;
    }
    match run.result? {
        RunResult::Succeeded => Some(Notice::normal(
            RUN_SUCCEEDED,
            format!("Run {} succeeded", run.job),
        )),
        RunResult::Failed => Some(Notice::warning(
            RUN_FAILED,
            format!("Run {} failed: {}", run.job, failure(run)),
        )),
    }
}
