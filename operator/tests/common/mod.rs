//! Test objects built like `ChannelCollection::test().suspended()`, shared by the
//! integration tests. Each test file uses a different subset.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use crds::{ChannelCollection, ChannelCollectionStatus, SecretKeyRef};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::{
    api::batch::v1::{Job, JobCondition, JobStatus},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::runtime::{reflector, watcher};
use operator::{
    cache::Stores,
    decide::{Plan, decide},
    job::{self, JobDefaults},
    runs::{RunView, owned_runs, view},
    status::{Followed, Notice, StatusInput, status},
    time::to_k8s,
};

pub fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, h, m, s).unwrap()
}

pub fn defaults() -> JobDefaults {
    JobDefaults {
        image: "ghcr.io/mtproto-dev/collector-job:0.1.0".to_string(),
        database: Some(SecretKeyRef {
            name: "collector-db".to_string(),
            key: "DATABASE_URL".to_string(),
        }),
        media_destination: None,
    }
}

/// The Job the operator builds for `cc` at `scheduled`, in a given phase.
pub fn job_for(cc: &ChannelCollection, scheduled: DateTime<Utc>) -> Job {
    let mut job =
        job::build(cc, &defaults(), scheduled, None).expect("test collection builds a Job");
    job.metadata.creation_timestamp = Some(to_k8s(scheduled));
    job.metadata.uid = Some(format!("job-uid-{}", scheduled.timestamp()));
    job
}

pub trait TestJob: Sized {
    fn running(self, ready: bool) -> Self;
    fn succeeded(self, end: DateTime<Utc>) -> Self;
    fn failed(self, end: DateTime<Utc>, reason: &str) -> Self;
    fn foreign(self) -> Self;
}

impl TestJob for Job {
    fn running(mut self, ready: bool) -> Self {
        let start = self.metadata.creation_timestamp.clone();
        self.status = Some(JobStatus {
            active: Some(1),
            ready: Some(i32::from(ready)),
            start_time: start,
            ..JobStatus::default()
        });
        self
    }
    fn succeeded(mut self, end: DateTime<Utc>) -> Self {
        let start = self.metadata.creation_timestamp.clone();
        self.status = Some(JobStatus {
            succeeded: Some(1),
            start_time: start,
            completion_time: Some(to_k8s(end)),
            conditions: Some(vec![condition("Complete", None, end)]),
            ..JobStatus::default()
        });
        self
    }
    fn failed(mut self, end: DateTime<Utc>, reason: &str) -> Self {
        let start = self.metadata.creation_timestamp.clone();
        self.status = Some(JobStatus {
            failed: Some(1),
            start_time: start,
            conditions: Some(vec![condition("Failed", Some(reason), end)]),
            ..JobStatus::default()
        });
        self
    }
    /// Owned by another object with the same name (a deleted and re-created collection).
    fn foreign(mut self) -> Self {
        for owner in self.metadata.owner_references.iter_mut().flatten() {
            owner.uid = "someone-else".to_string();
        }
        self
    }
}

fn condition(type_: &str, reason: Option<&str>, at: DateTime<Utc>) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        reason: reason.map(str::to_string),
        message: reason.map(|r| format!("Job failed: {r}")),
        last_transition_time: Some(Time::from(to_k8s(at).0)),
        last_probe_time: None,
    }
}

pub mod apiserver;
/// Jobs and audit rows of runs, for the status derivation tests and benches.
pub mod progress;

/// Caches holding `collections`, `jobs` and `pods`, as the reflectors would after their list.
pub fn stores(collections: &[ChannelCollection], jobs: &[Job], pods: &[Pod]) -> Stores {
    fn store<K>(objects: &[K]) -> reflector::Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for object in objects {
            writer.apply_watcher_event(&watcher::Event::InitApply(object.clone()));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        store
    }
    Stores::new(store(collections), store(jobs), store(pods))
}

/// One reconcile without I/O: decide, count a Job it creates as created, and compute the
/// status, following the run the reconcile would follow, with no database (Job-level status).
pub struct Reconciled {
    pub plan: Plan,
    pub runs: Vec<RunView>,
    pub status: ChannelCollectionStatus,
    pub notices: Vec<Notice>,
}

pub fn reconcile_pure(
    cc: &ChannelCollection,
    jobs: &[Job],
    defaults: &JobDefaults,
    now: DateTime<Utc>,
) -> Reconciled {
    let mut runs = owned_runs(cc, jobs);
    let plan = decide(cc, &runs, defaults, now);
    let previous = cc.status.clone().unwrap_or_default();
    let followed_id = previous.active_job.clone().or_else(|| {
        runs.iter()
            .rev()
            .find(|r| r.is_active() && !r.deleting)
            .map(|r| r.id.clone())
    });
    if let Some(new) = &plan.create {
        runs.push(view(&new.job).unwrap());
    }
    let followed_id = followed_id.or_else(|| {
        plan.create
            .as_ref()
            .map(|n| n.job.metadata.name.clone().unwrap().into())
    });
    let followed = followed_id.map(|id| {
        let run = runs.iter().find(|r| r.id == id);
        Followed {
            phase: run.map_or_else(|| operator::job::phase(None), |r| r.phase.clone()),
            job_started: run.and_then(|r| r.started),
            id,
            audit: operator::status::AuditInput::Unavailable(
                operator::status::ProgressUnavailable::NotConfigured,
            ),
            shards: &[],
        }
    });
    let (status, notices) = status(&StatusInput {
        collection: cc,
        runs: &runs,
        followed,
        pod_problem: None,
        plan: &plan,
        name_taken: None,
        now,
    });
    Reconciled {
        plan,
        runs,
        status,
        notices,
    }
}
