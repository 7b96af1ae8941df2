//! What a reconcile starts from: the collection's runs and pods from the caches, and the
//! followed run's audit rows (one indexed query; the per-channel history once per run).

use std::sync::Arc;

use crate::job::{self, JobPhase, ShardPlan};
use crate::status::{AuditSnapshot, ReadError, reader};
use contract::audit::AuditRow;
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
    if let Some(read) = ctx.runs.get(namespace, &run) {
        return Some(read.history);
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
            let read = AuditSnapshot {
                rows: Vec::new(),
                history: history.clone(),
            };
            ctx.runs.put(namespace, &run, read);
            Some(history)
        }
        Err(error) => {
            warn!(run = %run, error = %ErrorChain(&error), "cannot read the channel history; assigning channels by hash");
            None
        }
    }
}

/// Rows a reader reads again on each refresh, besides the new ones: the rows of one run
/// commit out of id order only among its concurrent writers (at most one per shard), so a row
/// with a lower id than the last one read can still appear among these.
const REREAD_ROWS: usize = 32;

/// How many of `rows` (oldest first) a refresh keeps, and the id after which it reads the rest
/// again: all but the last [`REREAD_ROWS`].
fn reread_from(rows: &[AuditRow]) -> (usize, i64) {
    let keep = rows.len().saturating_sub(REREAD_ROWS);
    let after = keep.checked_sub(1).map_or(0, |last| rows[last].id);
    (keep, after)
}

/// The run's rows and its collection's per-channel history: on the run's first refresh all of
/// them, then only the rows written since (and the last [`REREAD_ROWS`] again); the history
/// once per run, as it does not change during the run. A failure is logged with its causes
/// (never the URL) and shown as progress unavailable: scheduling goes on.
async fn read(
    ctx: &Context,
    pool: &PgPool,
    namespace: &str,
    name: &str,
    run: &RunId,
) -> Result<AuditSnapshot, ReadError> {
    let read = async {
        let Some(mut known) = ctx.runs.get(namespace, run) else {
            let rows = reader::read_run_rows(pool, run).await?;
            let history = reader::read_durations(
                pool,
                namespace,
                name,
                run,
                contract::audit::PastRunLimits::default(),
            )
            .await?;
            return Ok(AuditSnapshot { rows, history });
        };
        let (keep, after) = reread_from(&known.rows);
        let fresh = reader::read_run_rows_after(pool, run, after).await?;
        known.rows.truncate(keep);
        known.rows.extend(fresh);
        Ok(known)
    };
    let result = read.await;
    if let Ok(snapshot) = &result {
        ctx.runs.put(namespace, run, snapshot.clone());
    }
    if let Err(error) = &result {
        warn!(run = %run, error = %ErrorChain(error), "cannot read the audit log; reporting Job-level status only");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(ids: impl IntoIterator<Item = i64>) -> Vec<AuditRow> {
        ids.into_iter()
            .map(|id| AuditRow {
                id,
                timestamp: chrono::DateTime::UNIX_EPOCH,
                pod_name: None,
                shard: None,
                event: Err("not read".into()),
            })
            .collect()
    }

    #[test]
    fn a_refresh_reads_the_new_rows_and_the_last_few_again() {
        assert_eq!(reread_from(&[]), (0, 0), "nothing known: everything");
        assert_eq!(reread_from(&rows(1..=10)), (0, 0), "few rows: all again");
        let known = rows(1..=40);
        let (keep, after) = reread_from(&known);
        assert_eq!((keep, after), (8, 8));
        // Row 20 committed after row 40 was read (another shard's writer): the reread
        // window still holds it, and nothing comes twice.
        let mut merged = known.clone();
        merged.truncate(keep);
        merged.extend(rows((after + 1)..=41));
        assert_eq!(merged, rows(1..=41));
    }
}
