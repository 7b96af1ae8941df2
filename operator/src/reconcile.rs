//! The reconcile shell: list the collection's Jobs, read the followed run's audit rows, ask
//! [`crate::decide`] what to do, do it, and write the status. All decisions live in the pure
//! core (`decide`, `run_status::derive`, [`crate::progress`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use crds::{ChannelCollection, ChannelCollectionStatus};
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
        reflector::ObjectRef,
    },
};
use run_status::{
    AuditSnapshot, Cadence, ChannelHistory, DerivedStatus, JobPhase, ReadError, TrackedRun, reader,
};
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::{debug, info, instrument, warn};

use crate::{
    decide::{Notice, RUN_FAILED, RUN_SUCCEEDED, decide},
    job::{self, BuildError, JobDefaults},
    metrics::Metrics,
    progress::{self, Finish},
};

/// Field manager of every write the operator makes (status SSA in particular).
pub const FIELD_MANAGER: &str = "channel-collection-operator";

/// Shortest and longest wait after a failed reconcile (doubling in between).
const BACKOFF_MIN: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Where the current time comes from (fixed in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Shared state of every reconcile.
pub struct Context {
    /// Kubernetes API client.
    pub client: Client,
    /// Publishes Events on the collections.
    pub recorder: Recorder,
    /// Collector image and database Secret for specs that leave them out.
    pub defaults: JobDefaults,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// True while this instance holds the leader lease; every write checks it first.
    pub leader: watch::Receiver<bool>,
    /// How often status is refreshed while a run is active.
    pub refresh: Duration,
    /// The operator's database, where the audit log is read; `None`: not configured, so
    /// only Job-level status is reported. Lazy: nothing connects until an active run is
    /// read, so an unreachable database never blocks start-up.
    ///
    /// Collections whose `spec.database` names another database are read from this one too
    /// (the operator never reads Secrets): if their collector writes elsewhere, their runs
    /// show no progress.
    pub database: Option<PgPool>,
    /// Per-channel history of the runs being followed, read once per run.
    pub history: HistoryCache,
    /// How long in-flight reconciles get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// The current time.
    pub clock: Clock,
    /// Consecutive failures per collection, for the error backoff.
    pub failures: Mutex<HashMap<ObjectRef<ChannelCollection>, u32>>,
}

/// What failed during a reconcile (all transient; user errors become `Stalled` instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not the leader: writes are stopped")]
    NotLeader,
    #[error("collection {0} has no namespace")]
    MissingNamespace(String),
    #[error("listing the Jobs of {collection} failed")]
    ListJobs {
        collection: String,
        #[source]
        source: kube::Error,
    },
    #[error("building the Job for {collection} failed")]
    BuildJob {
        collection: String,
        #[source]
        source: BuildError,
    },
    #[error("creating Job {job} failed")]
    CreateJob {
        job: String,
        #[source]
        source: kube::Error,
    },
    #[error("reading the existing Job {job} failed")]
    GetJob {
        job: String,
        #[source]
        source: kube::Error,
    },
    #[error("Job {job} exists but belongs to something else; delete it or rename the collection")]
    JobNameTaken { job: String },
    #[error(
        "Job {job} already exists for another run of this collection; retrying with a new name"
    )]
    JobNameInUse { job: String },
    #[error("deleting Job {job} failed")]
    DeleteJob {
        job: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the status of {collection} failed")]
    PatchStatus {
        collection: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// Stable metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::NotLeader => "not_leader",
            Error::MissingNamespace(_) => "missing_namespace",
            Error::ListJobs { .. } => "list_jobs",
            Error::BuildJob { .. } => "build_job",
            Error::CreateJob { .. } => "create_job",
            Error::GetJob { .. } => "get_job",
            Error::JobNameTaken { .. } => "job_name_taken",
            Error::JobNameInUse { .. } => "job_name_in_use",
            Error::DeleteJob { .. } => "delete_job",
            Error::PatchStatus { .. } => "patch_status",
        }
    }
}

impl Context {
    fn ensure_leader(&self) -> Result<(), Error> {
        if *self.leader.borrow() {
            Ok(())
        } else {
            Err(Error::NotLeader)
        }
    }

    async fn publish(&self, cc: &ChannelCollection, notice: &Notice) {
        if self.ensure_leader().is_err() {
            return;
        }
        let event = Event {
            type_: if notice.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: notice.reason.to_string(),
            note: Some(notice.note.clone()),
            action: "Reconcile".to_string(),
            secondary: None,
        };
        // An Event that cannot be written is not worth failing the reconcile for.
        if let Err(error) = self.recorder.publish(&event, &cc.object_ref(&())).await {
            warn!(reason = notice.reason, error = %error, "publishing an Event failed");
        }
    }
}

/// Reconciles one collection.
#[instrument(skip_all, fields(namespace = cc.namespace().unwrap_or_default(), name = %cc.name_any()), err)]
pub async fn reconcile(cc: Arc<ChannelCollection>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started();
    ctx.ensure_leader()?;
    let name = cc.name_any();
    let namespace = cc
        .namespace()
        .ok_or_else(|| Error::MissingNamespace(name.clone()))?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let collections: Api<ChannelCollection> = Api::namespaced(ctx.client.clone(), &namespace);

    let listed = jobs
        .list(&ListParams::default().labels(&job::selector(&name)))
        .await
        .map_err(|source| Error::ListJobs {
            collection: name.clone(),
            source,
        })?
        .items;
    let now = (ctx.clock)();
    let previous = cc.status.clone().unwrap_or_default();

    // The run whose audit rows give live progress; none: idle, no database query.
    let followed = run_status::followed_run(&previous, &listed)
        .map(|(run, job)| (run.to_owned(), job.cloned()));
    let mut derived = match &followed {
        Some((run, job)) => Some(
            ctx.derive_run(&cc, &namespace, run, job.as_ref(), now)
                .await,
        ),
        None => None,
    };
    // A run seen ending is recorded before deciding, so the Job-level status (lastRun, Ready)
    // describes it with the audit log's reason and counts.
    let mut start = previous.clone();
    if let Some(finished) = derived.as_ref().and_then(|d| d.finished.as_ref()) {
        progress::record_end(&mut start, finished);
    }
    let decided_on = with_status(&cc, start);
    let decision =
        decide(&decided_on, &listed, &ctx.defaults, now).map_err(|source| Error::BuildJob {
            collection: name.clone(),
            source,
        })?;

    let mut status = decision.status.clone();
    if let Some(d) = &derived {
        d.apply_to(&mut status);
    }
    // An active run not followed yet: the Job this reconcile creates (or, with
    // concurrencyPolicy Allow, a newer run than the followed one).
    let newer = status
        .active_job
        .clone()
        .filter(|active| followed.as_ref().is_none_or(|(run, _)| run != active))
        .and_then(|active| {
            listed
                .iter()
                .chain(decision.create.as_ref())
                .find(|j| j.metadata.name.as_deref() == Some(active.as_str()))
                .cloned()
                .map(|j| (active, j))
        })
        .filter(|(_, j)| run_status::job::phase(Some(j)) == JobPhase::Active);
    if let Some((run, job)) = newer {
        let so_far = with_status(&cc, status.clone());
        let d = ctx
            .derive_run(&so_far, &namespace, &run, Some(&job), now)
            .await;
        d.apply_to(&mut status);
        derived = Some(d);
    }
    // No run to follow (also when `decide` still counts a Job as active whose end the
    // derivation recorded earlier): the previous run's final numbers stay, nothing is live.
    let derived = match derived {
        Some(d) => d,
        None => {
            let d = run_status::derive(&decided_on, None, now);
            d.apply_to(&mut status);
            d
        }
    };
    let notices = progress::finish(
        &mut status,
        &previous,
        &decision.notices,
        &Finish {
            derived: &derived,
            invalid: decision.invalid,
            spec_database: cc.spec.database.is_some(),
            generation: cc.metadata.generation,
            now,
        },
    );

    for doomed in &decision.replace {
        ctx.ensure_leader()?;
        // Foreground: the Job stays (and blocks the next run) until its pods are gone,
        // so the old and new collector never share the session.
        delete_job(&jobs, doomed, PropagationPolicy::Foreground).await?;
        info!(job = %doomed, "deleting the active Job to replace it");
    }

    if let Some(job) = &decision.create {
        ctx.ensure_leader()?;
        let job_name = job.name_any();
        match jobs.create(&PostParams::default(), job).await {
            Ok(_) => {
                ctx.metrics.jobs_created.inc();
                info!(job = %job_name, "created Job");
                if let Some(note) = &decision.created_note {
                    ctx.publish(
                        &cc,
                        &Notice {
                            warning: false,
                            reason: "JobCreated",
                            note: note.clone(),
                        },
                    )
                    .await;
                }
            }
            Err(kube::Error::Api(status))
                if status.code == 409 && status.reason == "AlreadyExists" =>
            {
                // Created earlier (a status write got lost, or another replica): adopt it if ours.
                let existing = jobs.get(&job_name).await.map_err(|source| Error::GetJob {
                    job: job_name.clone(),
                    source,
                })?;
                if !job::is_owned_by(&existing, &cc) {
                    return Err(Error::JobNameTaken { job: job_name });
                }
                // Same name, other run: a manual request in the minute of an earlier run.
                // Adopting would swallow the request; retrying in the next minute gives a
                // new name.
                let scheduled =
                    |j: &Job| j.annotations().get(job::ANNOTATION_SCHEDULED_AT).cloned();
                if scheduled(&existing) != scheduled(job) {
                    return Err(Error::JobNameInUse { job: job_name });
                }
                debug!(job = %job_name, "adopted existing Job");
            }
            Err(source) => {
                return Err(Error::CreateJob {
                    job: job_name,
                    source,
                });
            }
        }
    }

    for doomed in &decision.cleanup {
        ctx.ensure_leader()?;
        delete_job(&jobs, doomed, PropagationPolicy::Background).await?;
        debug!(job = %doomed, "deleted Job beyond the history limit");
    }

    // Only a changed status is written: an unchanged active run costs no patch.
    if cc.status.as_ref() != Some(&status) {
        ctx.ensure_leader()?;
        let patch = serde_json::json!({
            "apiVersion": ChannelCollection::api_version(&()),
            "kind": ChannelCollection::kind(&()),
            "status": status,
        });
        collections
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
    }

    // Counted once its status is written, like the RunSucceeded/RunFailed Event announcing it.
    if notices
        .iter()
        .any(|n| n.reason == RUN_SUCCEEDED || n.reason == RUN_FAILED)
        && let Some(run) = &status.last_run
    {
        ctx.metrics.run_finished(&namespace, &name, run);
    }
    for notice in &notices {
        ctx.publish(&cc, notice).await;
    }

    ctx.failures
        .lock()
        .map(|mut f| f.remove(&ObjectRef::from_obj(cc.as_ref())))
        .ok();
    // Keep an active run's status fresh (also while the spec is invalid: the run goes on).
    let cadence = Cadence::new(ctx.refresh);
    let refresh = cadence.requeue_after(&derived).or_else(|| {
        status
            .active_job
            .is_some()
            .then(|| cadence.active_interval())
    });
    let scheduled = if decision.invalid {
        None
    } else {
        decision
            .requeue_at
            .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
    };
    let wait = match (scheduled, refresh) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(wait.map_or_else(Action::await_change, Action::requeue))
}

/// `cc` with `status` as its stored status (what `decide` and `derive` start from).
fn with_status(cc: &ChannelCollection, status: ChannelCollectionStatus) -> ChannelCollection {
    let mut cc = cc.clone();
    cc.status = Some(status);
    cc
}

impl Context {
    /// Derives the live status of run `run` of `cc`, reading its audit rows when a database
    /// is configured. A failed read is logged with its causes (never the URL) and reported
    /// as progress unavailable, never as an error of the reconcile: scheduling goes on.
    async fn derive_run(
        &self,
        cc: &ChannelCollection,
        namespace: &str,
        run: &str,
        job: Option<&Job>,
        now: DateTime<Utc>,
    ) -> DerivedStatus {
        let read: Option<Result<AuditSnapshot, ReadError>> = match &self.database {
            None => None,
            Some(pool) => {
                let read = self.read(pool, namespace, &cc.name_any(), run).await;
                if let Err(error) = &read {
                    warn!(run, error = %ErrorChain(error), "cannot read the audit log; reporting Job-level status only");
                }
                Some(read)
            }
        };
        let tracked = TrackedRun {
            run_id: run,
            job,
            audit: reader::input_from(read.as_ref()),
        };
        let derived = run_status::derive(cc, Some(&tracked), now);
        if derived.finished.is_some() {
            self.history.forget(namespace, run);
        }
        derived
    }

    /// The run's rows (one indexed query) and its collection's per-channel history (read on
    /// the run's first refresh only: it does not change during the run).
    async fn read(
        &self,
        pool: &PgPool,
        namespace: &str,
        name: &str,
        run: &str,
    ) -> Result<AuditSnapshot, ReadError> {
        let rows = reader::read_run_rows(pool, run).await?;
        let history = match self.history.get(namespace, run) {
            Some(history) => history,
            None => {
                let history = reader::read_history(
                    pool,
                    namespace,
                    name,
                    run,
                    audit::HistoryLimits::default(),
                )
                .await?;
                self.history.put(namespace, run, history.clone());
                history
            }
        };
        Ok(AuditSnapshot { rows, history })
    }
}

/// Most runs whose history is kept; beyond it the cache starts over (entries of runs whose
/// end was never seen, e.g. of a deleted collection, would otherwise stay forever).
const HISTORY_CACHE_MAX: usize = 1024;

/// Per-channel history of each followed run, keyed by (namespace, run id): it does not change
/// during a run, so each refresh after the first costs one indexed query.
#[derive(Debug, Default)]
pub struct HistoryCache(Mutex<HashMap<(String, String), ChannelHistory>>);

impl HistoryCache {
    /// The history cached for `run`, if any.
    pub fn get(&self, namespace: &str, run: &str) -> Option<ChannelHistory> {
        let cache = self.0.lock().ok()?;
        cache
            .get(&(namespace.to_string(), run.to_string()))
            .cloned()
    }

    /// Caches `history` for `run`.
    pub fn put(&self, namespace: &str, run: &str, history: ChannelHistory) {
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= HISTORY_CACHE_MAX {
                cache.clear();
            }
            cache.insert((namespace.to_string(), run.to_string()), history);
        }
    }

    /// Drops `run`'s history (it is over).
    pub fn forget(&self, namespace: &str, run: &str) {
        if let Ok(mut cache) = self.0.lock() {
            cache.remove(&(namespace.to_string(), run.to_string()));
        }
    }

    /// Number of runs cached.
    pub fn len(&self) -> usize {
        self.0.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Whether no run is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

async fn delete_job(
    jobs: &Api<Job>,
    name: &str,
    propagation: PropagationPolicy,
) -> Result<(), Error> {
    let params = DeleteParams {
        propagation_policy: Some(propagation),
        ..DeleteParams::default()
    };
    match jobs.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::DeleteJob {
            job: name.to_string(),
            source,
        }),
    }
}

/// Transient failures back off exponentially per collection.
pub fn error_policy(cc: Arc<ChannelCollection>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.metric_label());
    if matches!(error, Error::NotLeader) {
        return Action::await_change();
    }
    let attempts = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(ObjectRef::from_obj(cc.as_ref())).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let wait = BACKOFF_MIN
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(10)))
        .min(BACKOFF_MAX);
    warn!(
        namespace = cc.namespace().unwrap_or_default(),
        name = %cc.name_any(),
        reason = error.metric_label(),
        error = %ErrorChain(error),
        retry_in_secs = wait.as_secs(),
        "reconcile failed"
    );
    Action::requeue(wait)
}

/// An error with its causes, `a: b: c`; causes whose text is already shown (many
/// library errors print their source themselves) are skipped.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.contains(&text) {
                shown = format!("{shown}: {text}");
            }
            source = cause.source();
        }
        f.write_str(&shown)
    }
}
