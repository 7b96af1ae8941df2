//! What one reconcile does, as a pure function of the collection, its runs and `now`: which Job
//! to create, which to delete, what the schedule says, and when to look again. The status is
//! not decided here: [`crate::status`] computes it from the result.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use contract::job::annotation;
use crds::{ChannelCollection, RunId, condition::STALLED};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

use crate::{
    job::{self, BuildError, JobDefaults, ManualRequest, ShardInputs},
    runs::{RunView, beyond_history},
    schedule::{self, Action, Activity, Inputs, Missed, Trigger},
    status::Notice,
    status::{ChannelDurations, Failure},
    time::from_k8s,
    validate::validate,
};

/// A Job to create and the Event that announces it.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub job: Job,
    pub note: String,
}

/// What the schedule says, for the status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    /// `status.schedule`: the cadence in words.
    pub text: Option<String>,
    /// When the next run is due; `None` while suspended or invalid.
    pub next_run: Option<DateTime<Utc>>,
    /// The latest scheduled time started (a Job created now included).
    pub last_schedule_time: Option<DateTime<Utc>>,
    /// The `requestedAt` value acted upon (a Job created now included).
    pub last_handled_requested_at: Option<String>,
    /// `Replace` is stopping the active run(s) before the due one starts.
    pub replacing: bool,
}

/// Why the collection cannot run as specified (a user error: not retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// The spec breaks a rule.
    InvalidSpec(String),
    /// The Job for a due run cannot be built.
    JobNotBuildable(BuildError),
}

/// What one reconcile does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The run to start now.
    pub create: Option<NewRun>,
    /// Active Jobs to delete so a due run can replace them (foreground: their pods go first).
    pub replace: Vec<RunId>,
    /// Settled Jobs beyond the history limits, oldest first (background deletion).
    pub cleanup: Vec<RunId>,
    pub schedule: Schedule,
    /// Events about the schedule (missed runs).
    pub notices: Vec<Notice>,
    /// When to reconcile again without a watch event; `None`: only when something changes.
    pub requeue_at: Option<DateTime<Utc>>,
    /// Set when nothing can run until the spec changes.
    pub stall: Option<Stall>,
}

/// The plan for `cc` with its owned `runs` (oldest first) at `now`. A sharded run created
/// here has its channels assigned without history; see [`decide_with`].
pub fn decide(
    cc: &ChannelCollection,
    runs: &[RunView],
    defaults: &JobDefaults,
    now: DateTime<Utc>,
) -> Plan {
    decide_with(cc, runs, defaults, None, now)
}

/// Whether the Job `plan` creates would use the collection's per-channel history: it is a
/// sharded run, whose channels are balanced by it. The shell then reads the history once and
/// decides again with [`decide_with`].
pub fn wants_history(cc: &ChannelCollection, plan: &Plan) -> bool {
    plan.create.is_some() && cc.spec.is_sharded()
}

/// [`decide`], with the collection's per-channel `history` (the ETA's) for the assignment of a
/// sharded run's channels; the previous assignment comes from the newest sharded run in
/// `runs`.
pub fn decide_with(
    cc: &ChannelCollection,
    runs: &[RunView],
    defaults: &JobDefaults,
    history: Option<&ChannelDurations>,
    now: DateTime<Utc>,
) -> Plan {
    let previous = cc.status.clone().unwrap_or_default();
    let mut validated = validate(&cc.spec).map_err(|e| e.to_string());
    if validated.is_ok() && cc.spec.database.is_none() && defaults.database.is_none() {
        validated = Err(BuildError::NoDatabase.to_string());
    }
    // A missing destination is the spec's to fix (or the operator's default to set).
    if validated.is_ok()
        && let Err(error) = job::media_of(&cc.spec, defaults)
    {
        validated = Err(error.to_string());
    }
    let cadence = match validated {
        Ok(cadence) => cadence,
        Err(message) => return stalled(cc, Stall::InvalidSpec(message)),
    };

    let requested_at = cc
        .annotations()
        .get(annotation::REQUESTED_AT)
        .map(String::as_str);
    // The status write after a create can fail; the Jobs remember what was started.
    let last_schedule_time = runs
        .iter()
        .map(|r| r.scheduled)
        .chain(previous.last_schedule_time.as_ref().map(from_k8s))
        .max();
    let last_handled = match requested_at {
        Some(value)
            if runs
                .iter()
                .any(|r| r.requested_at.as_deref() == Some(value)) =>
        {
            Some(value.to_string())
        }
        _ => previous.last_handled_requested_at.clone(),
    };
    let activity = if runs.iter().any(|r| r.is_active() && !r.deleting) {
        Activity::Running
    } else if runs.iter().any(|r| r.holds_session) {
        Activity::Terminating
    } else {
        Activity::None
    };

    let due = schedule::due(
        &cadence,
        &Inputs {
            created: cc
                .metadata
                .creation_timestamp
                .as_ref()
                .map(from_k8s)
                .unwrap_or(now),
            last_schedule_time,
            suspend: cc.spec.suspend,
            starting_deadline: cc.spec.starting_deadline_seconds.map(TimeDelta::seconds),
            concurrency: cc.spec.concurrency_policy,
            activity,
            requested_at,
            last_handled_requested_at: last_handled.as_deref(),
            previous_next_run: previous.next_run_time.as_ref().map(from_k8s),
            held_until: session_retry_at(cc),
            now,
        },
    );

    let notices = due.missed.iter().map(|m| missed(cc, m)).collect();
    let mut out = Plan {
        create: None,
        replace: Vec::new(),
        cleanup: beyond_history(
            runs,
            cc.spec.successful_jobs_history_limit,
            cc.spec.failed_jobs_history_limit,
        ),
        schedule: Schedule {
            text: Some(cadence.describe().to_string()),
            next_run: due.next_run,
            last_schedule_time,
            last_handled_requested_at: last_handled.clone(),
            replacing: false,
        },
        notices,
        requeue_at: due.requeue_at,
        stall: None,
    };
    match &due.action {
        Action::Start { scheduled, trigger } => {
            let request = due.handles_request.as_deref().map(|value| ManualRequest {
                value,
                previous: last_handled.as_deref(),
            });
            let previous = runs
                .iter()
                .rev()
                .find(|r| !r.shards.is_empty())
                .map_or(&[][..], |r| r.shards.as_slice());
            let shards = ShardInputs { history, previous };
            let built = match job::build_with(cc, defaults, *scheduled, request.as_ref(), &shards) {
                Ok(built) => built,
                Err(error) => return stalled(cc, Stall::JobNotBuildable(error)),
            };
            let name = built.name_any();
            let note = match trigger {
                Trigger::Schedule => format!(
                    "Created Job {name} for the run scheduled at {}",
                    rfc3339(*scheduled)
                ),
                Trigger::Manual => format!(
                    "Created Job {name} for the manual request {:?}",
                    due.handles_request.as_deref().unwrap_or_default()
                ),
            };
            // Intervals count from the run just started, manual or not.
            out.schedule.last_schedule_time = Some(*scheduled);
            if let Some(value) = &due.handles_request {
                out.schedule.last_handled_requested_at = Some(value.clone());
            }
            out.create = Some(NewRun { job: built, note });
        }
        Action::ReplaceActive { .. } => {
            out.replace = runs
                .iter()
                .filter(|r| r.is_active() && !r.deleting)
                .map(|r| r.id.clone())
                .collect();
            out.schedule.replacing = true;
        }
        Action::Wait | Action::Blocked { .. } => {}
    }
    out
}

/// The first retry of a known-revoked Telegram session: the newest finished run ended
/// `SessionInvalid`. A new Job per interval would only fail the same way, so retries are spaced
/// out: each waits twice as long as the session has been known revoked at the previous
/// attempt, at least [`SESSION_RETRY_MIN`] and at most [`SESSION_RETRY_MAX`] after it. A spec
/// changed since the session was found revoked lifts the hold (the next due run starts at once),
/// and a manual request is never held. The operator cannot see the Secret itself change
/// (it never reads Secrets): after replacing it, ask for a run.
pub fn session_retry_at(cc: &ChannelCollection) -> Option<DateTime<Utc>> {
    let status = cc.status.as_ref()?;
    let last = status.last_run.as_ref()?;
    if Failure::of_run(last) != Some(Failure::SessionInvalid) {
        return None;
    }
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == STALLED && c.reason == Failure::SessionInvalid.as_str());
    if let Some(condition) = stalled
        && condition.observed_generation < cc.metadata.generation
    {
        return None;
    }
    let attempt = last
        .start_time
        .as_ref()
        .or(last.end_time.as_ref())
        .map(from_k8s)?;
    let known_since = stalled.map_or(attempt, |c| from_k8s(&c.last_transition_time));
    let wait = ((attempt - known_since) * 2).clamp(SESSION_RETRY_MIN, SESSION_RETRY_MAX);
    Some(attempt + wait)
}

/// Shortest wait before retrying a revoked session.
pub const SESSION_RETRY_MIN: TimeDelta = TimeDelta::minutes(5);
/// Longest wait before retrying a revoked session.
pub const SESSION_RETRY_MAX: TimeDelta = TimeDelta::hours(6);

/// Nothing runs until the spec changes; the schedule text stays readable.
fn stalled(cc: &ChannelCollection, stall: Stall) -> Plan {
    let previous = cc.status.clone().unwrap_or_default();
    let text = cc
        .spec
        .schedule
        .clone()
        .or_else(|| cc.spec.interval.as_ref().map(|i| format!("every {i}")));
    Plan {
        create: None,
        replace: Vec::new(),
        cleanup: Vec::new(),
        schedule: Schedule {
            text,
            next_run: None,
            last_schedule_time: previous.last_schedule_time.as_ref().map(from_k8s),
            last_handled_requested_at: previous.last_handled_requested_at.clone(),
            replacing: false,
        },
        notices: Vec::new(),
        requeue_at: None,
        stall: Some(stall),
    }
}

fn missed(cc: &ChannelCollection, missed: &Missed) -> Notice {
    let note = match missed {
        Missed::PastDeadline { count, latest } => format!(
            "{} scheduled run(s) missed, the latest at {}: not started within startingDeadlineSeconds ({}s)",
            if *count > schedule::MAX_COUNTED_MISSES {
                format!("more than {}", schedule::MAX_COUNTED_MISSES)
            } else {
                count.to_string()
            },
            rfc3339(*latest),
            cc.spec.starting_deadline_seconds.unwrap_or_default()
        ),
        Missed::TooMany { latest } => format!(
            "more than {} scheduled runs were missed; starting only the most recent one, scheduled at {}",
            schedule::MAX_COUNTED_MISSES,
            rfc3339(*latest)
        ),
    };
    Notice::warning("MissedSchedule", note)
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
