//! What the operator sees of its Jobs: one [`RunView`] per owned Job, derived purely
//! from the Job object (its annotations and the Job controller's own status).

use chrono::{DateTime, Utc};
use crds::{ChannelCollection, REQUESTED_AT_ANNOTATION};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

use crate::{
    job::{ANNOTATION_SCHEDULED_AT, is_owned_by},
    time::from_k8s,
};

/// Where a run's Job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not finished; `ready` once a collector pod runs.
    Running {
        ready: bool,
    },
    /// Not finished and being deleted: its pods may still hold the session.
    Terminating,
    Succeeded,
    Failed {
        reason: Option<String>,
        message: Option<String>,
    },
}

/// One run, seen through its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    pub job: String,
    /// The scheduled time the Job was created for (its annotation, else its creation).
    pub scheduled: DateTime<Utc>,
    /// The manual request it served, if any.
    pub requested_at: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    /// Deletion already requested (history cleanup or Replace).
    pub deleting: bool,
}

impl RunView {
    pub fn is_finished(&self) -> bool {
        matches!(self.outcome, Outcome::Succeeded | Outcome::Failed { .. })
    }

    pub fn is_unfinished(&self) -> bool {
        !self.is_finished()
    }
}

/// Views of the Jobs `cc` controls (others are ignored), oldest scheduled first.
pub fn owned_runs(cc: &ChannelCollection, jobs: &[Job]) -> Vec<RunView> {
    let mut runs: Vec<RunView> = jobs
        .iter()
        .filter(|j| is_owned_by(j, cc))
        .filter_map(view)
        .collect();
    runs.sort_by(|a, b| {
        a.scheduled
            .cmp(&b.scheduled)
            .then_with(|| a.job.cmp(&b.job))
    });
    runs
}

/// A Job as a run, or `None` for a Job without a name.
pub fn view(job: &Job) -> Option<RunView> {
    let name = job.metadata.name.clone()?;
    let annotations = job.annotations();
    let scheduled = annotations
        .get(ANNOTATION_SCHEDULED_AT)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| job.metadata.creation_timestamp.as_ref().map(from_k8s))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let status = job.status.clone().unwrap_or_default();
    let condition = |type_: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_ && c.status == "True")
            .cloned()
    };
    let deleting = job.metadata.deletion_timestamp.is_some();
    let (outcome, end) = if let Some(done) = condition("Complete") {
        let end = status
            .completion_time
            .as_ref()
            .or(done.last_transition_time.as_ref())
            .map(from_k8s);
        (Outcome::Succeeded, end)
    } else if let Some(failed) = condition("Failed") {
        let end = failed.last_transition_time.as_ref().map(from_k8s);
        (
            Outcome::Failed {
                reason: failed.reason.clone(),
                message: failed.message.clone(),
            },
            end,
        )
    } else if deleting {
        (Outcome::Terminating, None)
    } else {
        // `ready` is missing before Kubernetes 1.24's JobReadyPods; fall back to `active`.
        let ready = match status.ready {
            Some(ready) => ready > 0,
            None => status.active.unwrap_or(0) > 0,
        };
        (Outcome::Running { ready }, None)
    };
    Some(RunView {
        job: name,
        scheduled,
        requested_at: annotations.get(REQUESTED_AT_ANNOTATION).cloned(),
        start: status.start_time.as_ref().map(from_k8s),
        end,
        outcome,
        deleting,
    })
}

/// Finished Jobs beyond the history limits, oldest first (each limit counts its own kind).
pub fn beyond_history(runs: &[RunView], successful_limit: i32, failed_limit: i32) -> Vec<String> {
    let keep = |limit: i32| usize::try_from(limit).unwrap_or(0);
    let pick = |succeeded: bool, limit: usize| {
        let finished: Vec<&RunView> = runs
            .iter()
            .filter(|r| {
                !r.deleting
                    && r.is_finished()
                    && matches!(r.outcome, Outcome::Succeeded) == succeeded
            })
            .collect();
        let excess = finished.len().saturating_sub(limit);
        finished
            .into_iter()
            .take(excess)
            .map(|r| r.job.clone())
            .collect::<Vec<_>>()
    };
    let mut doomed = pick(true, keep(successful_limit));
    doomed.extend(pick(false, keep(failed_limit)));
    doomed
}
