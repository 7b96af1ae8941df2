//! Test objects built like `ChannelCollection::test().suspended()`, shared by the
//! integration tests. Each test file uses a different subset.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use contract::job::annotation;
use crds::{
    ApiCredentials, ChannelCollection, ChannelCollectionSpec, ChannelCollectionStatus,
    ConcurrencyPolicy, DatabaseSource, SecretKeyRef, SecretRef, SessionSource, ShardSession,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::{
    api::batch::v1::{Job, JobCondition, JobStatus},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    api::ObjectMeta,
    runtime::{reflector, watcher},
};
use operator::{
    cache::Stores,
    decide::{Plan, decide},
    job::{self, JobDefaults},
    runs::{RunView, owned_runs, view},
    status::{Followed, Notice, StatusInput, status},
    time::to_k8s,
};

pub const NAMESPACE: &str = "telegram";
pub const NAME: &str = "news";
pub const UID: &str = "5b0f2a8e-1c1e-4a39-9f59-6f1f3f0d0c11";

/// 2026-11-28T12:00:00Z, the instant most tests start from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

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
    }
}

pub fn spec() -> ChannelCollectionSpec {
    ChannelCollectionSpec {
        channels: vec![
            "@durov".to_string(),
            "https://t.me/telegram".to_string(),
            "1006503122".to_string(),
        ],
        interval: Some("10m".to_string()),
        schedule: None,
        time_zone: None,
        suspend: false,
        starting_deadline_seconds: None,
        successful_jobs_history_limit: 3,
        failed_jobs_history_limit: 1,
        timeout: Some("30m".to_string()),
        backoff_limit: 2,
        concurrency_policy: ConcurrencyPolicy::Forbid,
        session: Some(SessionSource {
            secret_ref: SecretKeyRef {
                name: "tg-session".to_string(),
                key: "session".to_string(),
            },
        }),
        sessions: None,
        api_credentials: ApiCredentials {
            secret_ref: SecretRef {
                name: "tg-api".to_string(),
            },
        },
        database: None,
        collector: None,
        limits: None,
    }
}

pub trait TestCollection: Sized {
    fn test() -> Self;
    fn suspended(self) -> Self;
    fn named(self, name: &str) -> Self;
    fn interval(self, interval: &str) -> Self;
    fn cron(self, schedule: &str, time_zone: Option<&str>) -> Self;
    fn deadline(self, seconds: i64) -> Self;
    fn replace(self) -> Self;
    fn created(self, t: DateTime<Utc>) -> Self;
    fn requested(self, value: &str) -> Self;
    fn history(self, successful: i32, failed: i32) -> Self;
    fn with_status(self, status: ChannelCollectionStatus) -> Self;
    fn last_scheduled(self, t: DateTime<Utc>) -> Self;
    fn database(self, name: &str, key: &str) -> Self;
    /// `spec.sessions` with one entry per Secret name (key `session`), instead of `session`.
    fn sharded(self, secrets: &[&str]) -> Self;
}

impl TestCollection for ChannelCollection {
    fn test() -> Self {
        let mut cc = ChannelCollection::new(NAME, spec());
        cc.metadata = ObjectMeta {
            name: Some(NAME.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            uid: Some(UID.to_string()),
            generation: Some(1),
            resource_version: Some("100".to_string()),
            creation_timestamp: Some(to_k8s(t0())),
            ..ObjectMeta::default()
        };
        cc
    }
    fn suspended(mut self) -> Self {
        self.spec.suspend = true;
        self
    }
    fn sharded(mut self, secrets: &[&str]) -> Self {
        self.spec.session = None;
        self.spec.sessions = Some(
            secrets
                .iter()
                .map(|name| ShardSession {
                    secret_ref: SecretKeyRef {
                        name: name.to_string(),
                        key: "session".to_string(),
                    },
                    api_credentials: None,
                })
                .collect(),
        );
        self
    }
    fn named(mut self, name: &str) -> Self {
        self.metadata.name = Some(name.to_string());
        self
    }
    fn interval(mut self, interval: &str) -> Self {
        self.spec.interval = Some(interval.to_string());
        self.spec.schedule = None;
        self
    }
    fn cron(mut self, schedule: &str, time_zone: Option<&str>) -> Self {
        self.spec.interval = None;
        self.spec.schedule = Some(schedule.to_string());
        self.spec.time_zone = time_zone.map(str::to_string);
        self
    }
    fn deadline(mut self, seconds: i64) -> Self {
        self.spec.starting_deadline_seconds = Some(seconds);
        self
    }
    fn replace(mut self) -> Self {
        self.spec.concurrency_policy = ConcurrencyPolicy::Replace;
        self
    }
    fn created(mut self, t: DateTime<Utc>) -> Self {
        self.metadata.creation_timestamp = Some(to_k8s(t));
        self
    }
    fn requested(mut self, value: &str) -> Self {
        self.metadata
            .annotations
            .get_or_insert_default()
            .insert(annotation::REQUESTED_AT.to_string(), value.to_string());
        self
    }
    fn history(mut self, successful: i32, failed: i32) -> Self {
        self.spec.successful_jobs_history_limit = successful;
        self.spec.failed_jobs_history_limit = failed;
        self
    }
    fn with_status(mut self, status: ChannelCollectionStatus) -> Self {
        self.status = Some(status);
        self
    }
    fn last_scheduled(mut self, t: DateTime<Utc>) -> Self {
        self.status.get_or_insert_default().last_schedule_time = Some(to_k8s(t));
        self
    }
    fn database(mut self, name: &str, key: &str) -> Self {
        self.spec.database = Some(DatabaseSource {
            secret_ref: SecretKeyRef {
                name: name.to_string(),
                key: key.to_string(),
            },
        });
        self
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
    Stores {
        collections: store(collections),
        jobs: store(jobs),
        pods: store(pods),
    }
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
