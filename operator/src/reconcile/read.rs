//! What a reconcile starts from: the collection's runs and pods from the caches, and the
//! followed run's audit rows (one indexed query; the per-channel history once per run).

use std::sync::Arc;

use crate::job::{self, JobPhase, ShardPlan};
use crate::status::{AuditSnapshot, ReadError, reader};
use crds::{ChannelCollection, ChannelCollectionStatus, RunId};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use sqlx::PgPool;
use tracing::warn;

use super::Context;
use telemetry::ErrorChain;

use crate::{
    pods::{self, PodProblem},
    runs::{RunView, owned_runs},
    status::Followed,
};

/// The run whose live status is derived, and its audit log as read.
pub(super) struct FollowedRun {
    pub id: RunId,
    pub phase: JobPhase,
    pub started: Option<chrono::DateTime<chrono::Utc>>,
    /// A sharded run's indexes, from its Job (or, once it is gone, the previous status).
    pub shards: Vec<ShardPlan>,
    /// `None`: no database configured (or not read yet).
    pub audit: Option<Result<AuditSnapshot, ReadError>>,
}

impl FollowedRun {
    pub fn as_followed(&self) -> Followed<'_> {
        Followed {
            id: self.id.clone(),
            phase: self.phase.clone(),
            job_started: self.started,
            audit: reader::input_from(self.audit.as_ref()),
            shards: &self.shards,
        }
    }
}

/// What the caches and the audit log say about a collection.
pub(super) struct Observed {
    /// Its runs, oldest first.
    pub runs: Vec<RunView>,
    pub followed: Option<FollowedRun>,
    /// Why the active run's pod cannot start, if it cannot.
    pub pod_problem: Option<PodProblem>,
}

impl Observed {
    /// The followed run, when `status` no longer shows it active: it is over.
    pub fn ended(&self, status: &ChannelCollectionStatus) -> Option<&RunId> {
        let run = &self.followed.as_ref()?.id;
        (status.active_job.as_ref() != Some(run)).then_some(run)
    }
}

/// Reads `cc` (in `namespace`) from the caches, and the followed run's audit rows.
pub(super) async fn observe(
    cc: &ChannelCollection,
    namespace: &str,
    ctx: &Context,
    now: chrono::DateTime<chrono::Utc>,
) -> Observed {
    let jobs: Vec<Arc<Job>> = match cc.uid() {
        Some(uid) => ctx.stores.jobs_of(namespace, &uid),
        None => Vec::new(),
    };
    let mut runs = owned_runs(cc, jobs.iter().map(AsRef::as_ref));
    // A Job this operator just created that the cache does not show yet.
    if let Some(pending) = ctx.expected.pending(cc, &runs, now) {
        runs.push(pending);
    }
    let previous = cc.status.clone().unwrap_or_default();
    let followed = followed(&previous, &runs);
    let pod_problem = runs
        .iter()
        .rev()
        .find(|r| r.is_active() && !r.deleting)
        .and_then(|run| jobs.iter().find(|j| j.name_any() == run.id.as_str()))
        .and_then(|job| job.uid())
        .and_then(|uid| {
            pods::problem(
                ctx.stores
                    .pods_of(namespace, &uid)
                    .iter()
                    .map(AsRef::as_ref),
            )
        });
    let followed = match (followed, &ctx.database) {
        (Some(mut run), Some(pool)) => {
            run.audit = Some(read(ctx, pool, namespace, &cc.name_any(), &run.id).await);
            Some(run)
        }
        (followed, _) => followed,
    };
    Observed {
        runs,
        followed,
        pod_problem,
    }
}

/// The run to derive live status for: `status.activeJob` first, whether its Job is still
/// active, finished or gone (its outcome is not recorded until a status saying so is
/// written); else the newest active run. `None`: idle, no database query. Its audit log is
/// read afterwards.
fn followed(previous: &ChannelCollectionStatus, runs: &[RunView]) -> Option<FollowedRun> {
    let of_run = |run: &RunView| FollowedRun {
        id: run.id.clone(),
        phase: run.phase.clone(),
        started: run.started,
        shards: run.shards.clone(),
        audit: None,
    };
    let Some(active) = &previous.active_job else {
        return runs
            .iter()
            .rev()
            .find(|r| r.is_active() && !r.deleting)
            .map(of_run);
    };
    Some(match runs.iter().find(|r| &r.id == active) {
        Some(run) => of_run(run),
        // The Job is gone: its indexes' sessions as the status last showed them.
        None => FollowedRun {
            id: active.clone(),
            phase: job::phase(None),
            started: None,
            shards: previous
                .shards
                .iter()
                .map(|s| ShardPlan {
                    session: s.session.clone(),
                    channels: Vec::new(),
                    failed: s.state == Some(crds::ShardState::Failed),
                })
                .collect(),
            audit: None,
        },
    })
}

/// The per-channel history a new sharded run `run` is assigned by: read once, when its Job is
/// created, and cached as that run's history, so its first refresh reads it from the cache.
/// `None` (hash assignment) without a database or when the read fails (logged).
pub(super) async fn durations_for_new_run(
    ctx: &Context,
    namespace: &str,
    name: &str,
    run: &str,
) -> Option<crate::status::ChannelDurations> {
    let pool = ctx.database.as_ref()?;
    let run = RunId::from(run);
    if let Some(history) = ctx.durations.get(namespace, &run) {
        return Some(history);
    }
    match reader::read_durations(
        pool,
        namespace,
        name,
        &run,
        contract::audit::PastRunLimits::default(),
    )
    .await
    {
        Ok(history) => {
            ctx.durations.put(namespace, &run, history.clone());
            Some(history)
        }
        Err(error) => {
            warn!(run = %run, error = %ErrorChain(&error), "cannot read the channel history; assigning channels by hash");
            None
        }
    }
}

/// The run's rows and its collection's per-channel history (read on the run's first refresh
/// only: it does not change during the run). A failure is logged with its causes (never the
/// URL) and shown as progress unavailable: scheduling goes on.
async fn read(
    ctx: &Context,
    pool: &PgPool,
    namespace: &str,
    name: &str,
    run: &RunId,
) -> Result<AuditSnapshot, ReadError> {
    let read = async {
        let rows = reader::read_run_rows(pool, run).await?;
        let history = match ctx.durations.get(namespace, run) {
            Some(history) => history,
            None => {
                let history = reader::read_durations(
                    pool,
                    namespace,
                    name,
                    run,
                    contract::audit::PastRunLimits::default(),
                )
                .await?;
                ctx.durations.put(namespace, run, history.clone());
                history
            }
        };
        Ok(AuditSnapshot { rows, history })
    };
    let result = read.await;
    if let Err(error) = &result {
        warn!(run = %run, error = %ErrorChain(error), "cannot read the audit log; reporting Job-level status only");
    }
    result
}
