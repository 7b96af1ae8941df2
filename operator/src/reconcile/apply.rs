//! Carries out a [`Plan`]: deletes replaced and surplus Jobs, creates (or adopts) the new one,
//! and writes the status when it changed.

use crate::job::{JobPhase, ShardPlan};
use crate::status::{AuditInput, ChannelDurations, ProgressUnavailable};
use crds::{ChannelCollection, ChannelCollectionStatus, RunId};
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy},
};
use tracing::{debug, info};

use super::{Context, Error, FIELD_MANAGER, read::Observed};
use crate::{
    decide::Plan,
    job,
    runs::{RunView, view},
    status::{Followed, Notice},
    write_order::Lane,
};

/// What carrying out the plan changed.
pub(super) struct Applied {
    /// The runs now, a Job created or adopted here included.
    pub runs: Vec<RunView>,
    /// The Job created (or adopted) for a new run.
    pub created: Option<RunId>,
    /// The new run's Job name belongs to something else.
    pub name_taken: Option<RunId>,
    /// A just-created run's (empty) history and its indexes, which the status borrows.
    fresh_history: ChannelDurations,
    fresh_shards: Vec<ShardPlan>,
}

impl Applied {
    /// The followed run of `observed`, or else the run created now (its collector cannot have
    /// written anything yet, so no query is needed).
    pub fn followed<'a>(&'a self, observed: &'a Observed, database: bool) -> Option<Followed<'a>> {
        if let Some(run) = &observed.followed {
            return Some(run.as_followed());
        }
        let id = self.created.as_ref()?;
        Some(Followed {
            id: id.clone(),
            phase: JobPhase::Active { ready: false },
            job_started: None,
            shards: &self.fresh_shards,
            audit: if database {
                AuditInput::Rows {
                    rows: &[],
                    history: &self.fresh_history,
                }
            } else {
                AuditInput::Unavailable(ProgressUnavailable::NotConfigured)
            },
        })
    }
}

pub(super) async fn carry_out(
    cc: &ChannelCollection,
    namespace: &str,
    plan: &Plan,
    mut runs: Vec<RunView>,
    ctx: &Context,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Applied, Error> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    for doomed in &plan.replace {
        ctx.ensure_leader()?;
        // Foreground: the Job stays (and blocks the next run) until its pods are gone, so the
        // old and new collector never share the session.
        let _slot = ctx.writes.slot(Lane::Run).await;
        delete(&jobs, doomed, PropagationPolicy::Foreground).await?;
        info!(job = %doomed, "deleting the active Job to replace it");
    }

    let mut created = None;
    let mut name_taken = None;
    if let Some(new) = &plan.create {
        ctx.ensure_leader()?;
        let name = new.job.name_any();
        let slot = ctx.writes.slot(Lane::Run).await;
        let creating = jobs.create(&PostParams::default(), &new.job).await;
        drop(slot);
        match creating {
            Ok(_) => {
                ctx.metrics.jobs_created.inc();
                info!(job = %name, "created Job");
                ctx.publish(cc, &Notice::normal("JobCreated", new.note.clone()));
                created = Some(RunId(name));
            }
            Err(kube::Error::Api(status))
                if status.code == 409 && status.reason == "AlreadyExists" =>
            {
                // Created before (a status write got lost, or the cache lags): the name is
                // deterministic for the run, so it is this run's Job if it is ours.
                let _slot = ctx.writes.slot(Lane::Run).await;
                let existing = jobs.get(&name).await.map_err(|source| Error::GetJob {
                    job: name.clone(),
                    source,
                })?;
                if job::is_owned_by(&existing, cc) {
                    debug!(job = %name, "adopted existing Job");
                    created = Some(RunId(name));
                } else {
                    name_taken = Some(RunId(name));
                }
            }
            Err(source) => return Err(Error::CreateJob { job: name, source }),
        }
        if let Some(id) = &created
            && !runs.iter().any(|r| &r.id == id)
            && let Some(run) = view(&new.job)
        {
            ctx.expected.expect(cc, run.clone(), now);
            runs.push(run);
        }
    }

    for doomed in &plan.cleanup {
        ctx.ensure_leader()?;
        let _slot = ctx.writes.slot(Lane::Run).await;
        delete(&jobs, doomed, PropagationPolicy::Background).await?;
        debug!(job = %doomed, "deleted Job beyond the history limit");
    }
    Ok(Applied {
        runs,
        created,
        name_taken,
        fresh_history: ChannelDurations::default(),
        fresh_shards: plan
            .create
            .as_ref()
            .map(|new| crate::job::shard_plan(&new.job))
            .unwrap_or_default(),
    })
}

/// Writes `status` by server-side apply, only when it differs from `cc`'s (the cached one, or
/// the last one written when the cache has not seen it yet): an unchanged active run costs no
/// patch.
pub(super) async fn write_status(
    cc: &ChannelCollection,
    namespace: &str,
    status: &ChannelCollectionStatus,
    ctx: &Context,
) -> Result<(), Error> {
    if cc.status.as_ref() == Some(status) {
        return Ok(());
    }
    let _slot = ctx.writes.slot(Lane::Status).await;
    ctx.ensure_leader()?;
    let name = cc.name_any();
    let patch = serde_json::json!({
        "apiVersion": ChannelCollection::api_version(&()),
        "kind": ChannelCollection::kind(&()),
        "status": status,
    });
    Api::<ChannelCollection>::namespaced(ctx.client.clone(), namespace)
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| Error::PatchStatus {
            collection: name.clone(),
            source,
        })?;
    ctx.written.wrote(cc, status);
    Ok(())
}

async fn delete(
    jobs: &Api<Job>,
    name: &RunId,
    propagation: PropagationPolicy,
) -> Result<(), Error> {
    let params = DeleteParams {
        propagation_policy: Some(propagation),
        ..DeleteParams::default()
    };
    match jobs.delete(name.as_str(), &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::DeleteJob {
            job: name.to_string(),
            source,
        }),
    }
}
