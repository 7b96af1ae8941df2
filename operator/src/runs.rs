//! What the operator sees of its Jobs: one [`RunView`] per owned Job, derived purely from the
//! Job object (its annotations and the Job controller's status). The Job's phase is read once,
//! by [`job::phase`], for scheduling and status alike.

use crate::job::{self, JobPhase, ShardPlan};
use chrono::{DateTime, Utc};
use contract::job::annotation;
use crds::{ChannelCollection, RunId};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

use crate::{job::is_owned_by, time::from_k8s};

/// One run, seen through its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    pub id: RunId,
    /// The scheduled time the Job was created for (its annotation, else its creation).
    pub scheduled: DateTime<Utc>,
    /// The manual request it served, if any.
    pub requested_at: Option<String>,
    /// When Kubernetes started the Job.
    pub started: Option<DateTime<Utc>>,
    pub phase: JobPhase,
    /// Its pods may still hold the Telegram session: the Job has no final `Complete` or
    /// `Failed` condition yet (its outcome may be decided already, or it is being deleted).
    pub holds_session: bool,
    /// Deletion already requested (history cleanup or Replace).
    pub deleting: bool,
    /// A sharded run's indexes (session Secret names, assigned channels); empty otherwise.
    pub shards: Vec<ShardPlan>,
}

impl RunView {
    /// The run is going on (its Job is neither done nor being deleted).
    pub fn is_active(&self) -> bool {
        matches!(self.phase, JobPhase::Active { .. })
    }

    /// Over, and its pods are gone.
    pub fn is_settled(&self) -> bool {
        !self.holds_session
    }
}

/// Views of the Jobs `cc` controls (others are ignored), oldest scheduled first.
pub fn owned_runs<'a>(
    cc: &ChannelCollection,
    jobs: impl IntoIterator<Item = &'a Job>,
) -> Vec<RunView> {
    let mut runs: Vec<RunView> = jobs
        .into_iter()
        .filter(|j| is_owned_by(j, cc))
        .filter_map(view)
        .collect();
    runs.sort_by(|a, b| a.scheduled.cmp(&b.scheduled).then_with(|| a.id.cmp(&b.id)));
    runs
}

/// A Job as a run, or `None` for a Job without a name.
pub fn view(job: &Job) -> Option<RunView> {
    let name = job.metadata.name.clone()?;
    let annotations = job.annotations();
    let scheduled = annotations
        .get(annotation::SCHEDULED_AT)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| job.metadata.creation_timestamp.as_ref().map(from_k8s))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    Some(RunView {
        id: RunId(name),
        scheduled,
        requested_at: annotations.get(annotation::REQUESTED_AT).cloned(),
        started: job::start_time(job),
        phase: job::phase(Some(job)),
        holds_session: !job::pods_gone(job),
        deleting: job.metadata.deletion_timestamp.is_some(),
        shards: job::shard_plan(job),
    })
}

/// Settled runs beyond the history limits, oldest first (each limit counts its own kind).
pub fn beyond_history(runs: &[RunView], successful_limit: i32, failed_limit: i32) -> Vec<RunId> {
    let keep = |limit: i32| usize::try_from(limit).unwrap_or(0);
    let pick = |succeeded: bool, limit: usize| {
        let settled: Vec<&RunView> = runs
            .iter()
            .filter(|r| {
                !r.deleting
                    && r.is_settled()
                    && matches!(r.phase, JobPhase::Succeeded { .. }) == succeeded
            })
            .collect();
        let excess = settled.len().saturating_sub(limit);
        settled
            .into_iter()
            .take(excess)
            .map(|r| r.id.clone())
            .collect::<Vec<_>>()
    };
    let mut doomed = pick(true, keep(successful_limit));
    doomed.extend(pick(false, keep(failed_limit)));
    doomed
}
