//! One reconcile's whole decision, as a pure function of the collection, its Jobs and
//! `now`: which Job to create, which to delete, the new status, the Events, and when
//! to look again. The reconcile shell only carries it out.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use crds::{
    ChannelCollection, ChannelCollectionStatus, REQUESTED_AT_ANNOTATION, RunResult,
    condition::STALLED,
};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

use crate::{
    job::{self, BuildError, JobDefaults},
    runs::{Outcome, RunView, beyond_history, owned_runs},
    schedule::{self, Action, Activity, Inputs, Missed, Trigger},
    status::{StatusInput, job_level_status},
    time::from_k8s,
    validate::validate,
};

/// An Event to publish about the collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    /// Stable PascalCase reason (`RunFailed`, ...).
    pub reason: &'static str,
    pub note: String,
}

/// What one reconcile does.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The Job to create, if a run starts now.
    pub create: Option<Job>,
    /// Event to publish once `create` succeeded.
    pub created_note: Option<String>,
    /// Active Jobs to delete so a due run can replace them (foreground: their pods go first).
    pub replace: Vec<String>,
    /// Finished Jobs beyond the history limits, oldest first (background deletion).
    pub cleanup: Vec<String>,
    /// The status to apply.
    pub status: ChannelCollectionStatus,
    /// Events for transitions seen in this reconcile.
    pub notices: Vec<Notice>,
    /// When to reconcile again without a watch event; `None`: only when something changes.
    pub requeue_at: Option<DateTime<Utc>>,
    /// The spec is invalid: nothing was planned, wait for a change.
    pub invalid: bool,
}

/// The decision for `cc` with its (listed) Jobs at `now`.
pub fn decide(
    cc: &ChannelCollection,
    jobs: &[Job],
    defaults: &JobDefaults,
    now: DateTime<Utc>,
) -> Result<Decision, BuildError> {
    let previous = cc.status.clone().unwrap_or_default();
    let generation = cc.metadata.generation;
    let mut runs = owned_runs(cc, jobs);

    let mut validated = validate(&cc.spec).map_err(|e| e.to_string());
    if validated.is_ok() && cc.spec.database.is_none() && defaults.database.is_none() {
        validated = Err(BuildError::NoDatabase.to_string());
    }
    let cadence = match validated {
        Ok(cadence) => cadence,
        Err(message) => return Ok(invalid(cc, &previous, &runs, message, now)),
    };

    let requested_at = cc
        .annotations()
        .get(REQUESTED_AT_ANNOTATION)
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
    let activity = if runs
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Running { .. }) && !r.deleting)
    {
        Activity::Running
    } else if runs.iter().any(RunView::is_unfinished) {
        Activity::Terminating
    } else {
        Activity::None
    };

    let plan = schedule::plan(
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
            now,
        },
    );

    let mut notices = Vec::new();
    match &plan.missed {
        Some(Missed::PastDeadline { count, latest }) => notices.push(Notice {
            warning: true,
            reason: "MissedSchedule",
            note: format!(
                "{} scheduled run(s) missed, the latest at {}: not started within startingDeadlineSeconds ({}s)",
                if *count > schedule::MAX_COUNTED_MISSES { format!("more than {}", schedule::MAX_COUNTED_MISSES) } else { count.to_string() },
                rfc3339(*latest),
                cc.spec.starting_deadline_seconds.unwrap_or_default()
            ),
        }),
        Some(Missed::TooMany { latest }) => notices.push(Notice {
            warning: true,
            reason: "MissedSchedule",
            note: format!(
                "more than {} scheduled runs were missed; starting only the most recent one, scheduled at {}",
                schedule::MAX_COUNTED_MISSES,
                rfc3339(*latest)
            ),
        }),
        None => {}
    }

    let mut create = None;
    let mut created_note = None;
    let mut replace = Vec::new();
    let mut new_last_schedule = last_schedule_time;
    let mut new_last_handled = last_handled;
    match &plan.action {
        Action::Start { scheduled, trigger } => {
            let built = job::build(cc, defaults, *scheduled, plan.handles_request.as_deref())?;
            let name = built.name_any();
            created_note = Some(match trigger {
                Trigger::Schedule => format!(
                    "Created Job {name} for the run scheduled at {}",
                    rfc3339(*scheduled)
                ),
                Trigger::Manual => format!(
                    "Created Job {name} for the manual request {:?}",
                    plan.handles_request.as_deref().unwrap_or_default()
                ),
            });
            runs.push(RunView {
                job: name,
                scheduled: *scheduled,
                requested_at: plan.handles_request.clone(),
                start: None,
                end: None,
                outcome: Outcome::Running { ready: false },
                deleting: false,
            });
            new_last_schedule = Some(*scheduled);
            if plan.handles_request.is_some() {
                new_last_handled = plan.handles_request.clone();
            }
            create = Some(built);
        }
        Action::ReplaceActive { .. } => {
            replace = runs
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Running { .. }) && !r.deleting)
                .map(|r| r.job.clone())
                .collect();
        }
        Action::Wait | Action::Blocked { .. } => {}
    }

    let cleanup = beyond_history(
        &runs,
        cc.spec.successful_jobs_history_limit,
        cc.spec.failed_jobs_history_limit,
    );
    let status = job_level_status(&StatusInput {
        previous: &previous,
        generation,
        schedule: Some(cadence.describe().to_string()),
        suspend: cc.spec.suspend,
        invalid: None,
        runs: &runs,
        replacing: !replace.is_empty(),
        last_schedule_time: new_last_schedule,
        last_handled_requested_at: new_last_handled,
        next_run: plan.next_run,
        now,
    });
    notices.extend(run_transitions(&previous, &status));

    Ok(Decision {
        create,
        created_note,
        replace,
        cleanup,
        status,
        notices,
        requeue_at: plan.requeue_at,
        invalid: false,
    })
}

fn invalid(
    cc: &ChannelCollection,
    previous: &ChannelCollectionStatus,
    runs: &[RunView],
    message: String,
    now: DateTime<Utc>,
) -> Decision {
    let schedule = cc
        .spec
        .schedule
        .clone()
        .or_else(|| cc.spec.interval.as_ref().map(|i| format!("every {i}")));
    let status = job_level_status(&StatusInput {
        previous,
        generation: cc.metadata.generation,
        schedule,
        suspend: cc.spec.suspend,
        invalid: Some(message.clone()),
        runs,
        replacing: false,
        last_schedule_time: previous.last_schedule_time.as_ref().map(from_k8s),
        last_handled_requested_at: previous.last_handled_requested_at.clone(),
        next_run: None,
        now,
    });
    // Warn once per distinct problem, not on every reconcile.
    let already_reported = previous
        .conditions
        .iter()
        .any(|c| c.type_ == STALLED && c.status == "True" && c.message == message);
    let mut notices = Vec::new();
    if !already_reported {
        notices.push(Notice {
            warning: true,
            reason: "InvalidSpec",
            note: message,
        });
    }
    notices.extend(run_transitions(previous, &status));
    Decision {
        create: None,
        created_note: None,
        replace: Vec::new(),
        cleanup: Vec::new(),
        status,
        notices,
        requeue_at: None,
        invalid: true,
    }
}

/// Reasons of the Events [`run_transitions`] publishes.
pub const RUN_SUCCEEDED: &str = "RunSucceeded";
pub const RUN_FAILED: &str = "RunFailed";

/// RunSucceeded / RunFailed when `lastRun` now describes a run it did not describe before.
pub fn run_transitions(
    previous: &ChannelCollectionStatus,
    status: &ChannelCollectionStatus,
) -> Option<Notice> {
    let run = status.last_run.as_ref()?;
    let before = previous.last_run.as_ref();
    if before.is_some_and(|b| b.job == run.job && b.result == run.result) {
        return None;
    }
    match run.result? {
        RunResult::Succeeded => Some(Notice {
            warning: false,
            reason: RUN_SUCCEEDED,
            note: format!("Run {} succeeded", run.job),
        }),
        RunResult::Failed => {
            let why = [run.reason.as_deref(), run.message.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            Some(Notice {
                warning: true,
                reason: RUN_FAILED,
                note: format!("Run {} failed: {why}", run.job),
            })
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
