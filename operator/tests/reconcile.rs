//! The reconcile shell against a mocked API server (tower-test, as kube-rs controller-rs's
//! `fixtures.rs`): every request is answered by a [`Scenario`], checked against
//! `rbac.json`, and awaited with a timeout.

mod common;

use contract::job::annotation;
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use common::{TestJob, apiserver, at, defaults, job_for};
use contract::audit::{
    AuditEvent, AuditWriter, CollectionEnd, CollectionProgress, CollectionStart, EndReason,
    RunIdentity,
};
use crds::testing::{TestCollection, UID, t0};
use crds::{ChannelCollection, ChannelCollectionStatus, RunResult, RunSummary};
use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Client,
    client::Body,
    runtime::{
        controller::Action,
        events::{Recorder, Reporter},
    },
};
use operator::{
    cache::Stores,
    events::Publisher,
    metrics::Metrics,
    reconcile::{Context, Error, reconcile},
    time::to_k8s,
};
use serde_json::{Value, json};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::watch;

/// How the mocked API server answers.
#[derive(Clone)]
enum Scenario {
    /// Jobs are listed as given; creates succeed.
    Jobs(Vec<Job>),
    /// Creating the Job fails with AlreadyExists; GET returns this Job.
    AlreadyExists(Box<Job>),
    /// Creating the Job fails with this status code and reason.
    CreateFails(u16, &'static str),
}

/// What the operator did, in order.
#[derive(Default, Debug)]
struct Seen {
    /// The reconcile's own requests; Events are written in the background, in no fixed order
    /// against them, and are in `events`.
    requests: Vec<String>,
    created: Vec<Value>,
    deleted: Vec<(String, Value)>,
    status: Option<Value>,
    events: Vec<Value>,
    /// The `jobs_created` metric after the reconcile.
    jobs_created: u64,
    /// Runs whose per-channel history the operator keeps after the reconcile.
    histories_cached: usize,
}

impl Seen {
    fn events(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or("").to_string(),
                    e["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
    fn condition(&self, type_: &str) -> Option<Value> {
        self.status.as_ref()?["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
            .cloned()
    }
}

fn context(client: Client, now: DateTime<Utc>) -> Arc<Context> {
    context_with(client, now, None, common::stores(&[], &[], &[]))
}

fn context_with(
    client: Client,
    now: DateTime<Utc>,
    database: Option<PgPool>,
    stores: Stores,
) -> Arc<Context> {
    let (_gate, leader) = watch::channel(true);
    Arc::new(Context {
        stores,
        events: Publisher::spawn(
            Recorder::new(
                client.clone(),
                Reporter {
                    controller: "channel-collection-operator".into(),
                    instance: None,
                },
            ),
            leader.clone(),
            Default::default(),
            Default::default(),
        ),
        client,
        defaults: defaults(),
        metrics: Arc::new(Metrics::default()),
        leader,
        refresh: Duration::from_secs(10),
        database,
        runs: Default::default(),
        now: Arc::new(move || now),
        failures: Default::default(),
        expected: Default::default(),
        written: Default::default(),
        writes: Default::default(),
    })
}

/// Runs one reconcile of `cc` at `now` against the scenario, without a database.
async fn run(
    cc: ChannelCollection,
    now: DateTime<Utc>,
    scenario: Scenario,
) -> (Result<Action, Error>, Seen) {
    run_with(cc, now, scenario, None).await
}

/// Runs one reconcile of `cc` at `now` against the scenario, reading the audit log from
/// `database`.
async fn run_with(
    cc: ChannelCollection,
    now: DateTime<Utc>,
    scenario: Scenario,
    database: Option<PgPool>,
) -> (Result<Action, Error>, Seen) {
    run_with_pods(cc, now, scenario, database, vec![]).await
}

/// [`run_with`], with `pods` cached for the Jobs.
async fn run_with_pods(
    cc: ChannelCollection,
    now: DateTime<Utc>,
    scenario: Scenario,
    database: Option<PgPool>,
    pods: Vec<Pod>,
) -> (Result<Action, Error>, Seen) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "telegram");
    let cached = match &scenario {
        Scenario::Jobs(jobs) => jobs.clone(),
        Scenario::AlreadyExists(_) | Scenario::CreateFails(..) => vec![],
    };
    let stores = common::stores(std::slice::from_ref(&cc), &cached, &pods);
    let server = tokio::spawn(async move {
        let mut seen = Seen::default();
        // Ends when the operator's last client clone is dropped.
        while let Some(request) = apiserver::next(&mut handle).await {
            let path = request.path().to_string();
            if !path.contains("/events") {
                seen.requests.push(format!("{} {}", request.method, path));
            }
            match (&request.method, path.as_str()) {
                (&Method::POST, "/apis/batch/v1/namespaces/telegram/jobs") => {
                    seen.created.push(request.body.clone());
                    match &scenario {
                        Scenario::AlreadyExists(_) => request.respond(apiserver::status_error(
                            409,
                            "AlreadyExists",
                            "jobs.batch already exists",
                        )),
                        Scenario::CreateFails(code, reason) => {
                            request.respond(apiserver::status_error(*code, reason, "refused"))
                        }
                        Scenario::Jobs(_) => request.echo(StatusCode::CREATED),
                    }
                }
                (&Method::GET, p) if p.starts_with("/apis/batch/v1/namespaces/telegram/jobs/") => {
                    match &scenario {
                        Scenario::AlreadyExists(job) => request.respond(apiserver::json(
                            StatusCode::OK,
                            &serde_json::to_value(job).unwrap(),
                        )),
                        Scenario::Jobs(_) | Scenario::CreateFails(..) => {
                            request.respond(apiserver::status_error(404, "NotFound", "not found"))
                        }
                    }
                }
                (&Method::DELETE, p)
                    if p.starts_with("/apis/batch/v1/namespaces/telegram/jobs/") =>
                {
                    let name = p.rsplit('/').next().unwrap().to_string();
                    seen.deleted.push((name, request.body.clone()));
                    request.respond(apiserver::json(
                        StatusCode::OK,
                        &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                    ));
                }
                (
                    &Method::PATCH,
                    "/apis/collection.mtproto.dev/v1alpha1/namespaces/telegram/channelcollections/news/status",
                ) => {
                    assert!(
                        request
                            .query()
                            .contains("fieldManager=channel-collection-operator"),
                        "{}",
                        request.query()
                    );
                    assert!(
                        request.query().contains("force=true"),
                        "{}",
                        request.query()
                    );
                    seen.status = Some(request.body.clone());
                    let mut echoed = request.body.clone();
                    echoed["metadata"] =
                        json!({"name": "news", "namespace": "telegram", "uid": UID});
                    echoed["spec"] = serde_json::to_value(crds::testing::spec()).unwrap();
                    request.respond(apiserver::json(StatusCode::OK, &echoed));
                }
                (&Method::POST, "/apis/events.k8s.io/v1/namespaces/telegram/events") => {
                    seen.events.push(request.body.clone());
                    request.echo(StatusCode::CREATED);
                }
                (method, path) => panic!("unexpected request {method} {path}"),
            }
        }
        seen
    });
    let ctx = context_with(client, now, database, stores);
    let metrics = ctx.metrics.clone();
    let kept = ctx.clone();
    let result = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(cc), ctx))
        .await
        .expect("reconcile finished in time");
    let histories_cached = kept.runs.len();
    // The mock server ends once the last client (held by the context) is gone.
    drop(kept);
    let mut seen = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("mock server ended")
        .expect("mock server ok");
    seen.jobs_created = metrics.jobs_created.get();
    seen.histories_cached = histories_cached;
    (result, seen)
}

const CREATE: &str = "POST /apis/batch/v1/namespaces/telegram/jobs";
const STATUS: &str = "PATCH /apis/collection.mtproto.dev/v1alpha1/namespaces/telegram/channelcollections/news/status";

#[tokio::test]
async fn first_reconcile_sets_conditions_and_next_run_time() {
    let cc = ChannelCollection::test().cron("0 13 * * *", None);
    let (result, seen) = run(cc, at(12, 0, 5), Scenario::Jobs(vec![])).await;
    assert_eq!(seen.requests, [STATUS], "nothing is due before 13:00");
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["nextRunTime"], "2026-11-28T13:00:00Z");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["schedule"], "0 13 * * *");
    assert_eq!(status["state"], "Idle");
    assert_eq!(seen.condition("Ready").unwrap()["status"], "True");
    assert_eq!(seen.condition("Ready").unwrap()["observedGeneration"], 1);
    assert_eq!(
        seen.condition("Reconciling"),
        None,
        "kstatus: absent unless true"
    );
    assert_eq!(
        seen.condition("Stalled"),
        None,
        "kstatus: absent unless true"
    );
    assert_eq!(seen.events, Vec::<Value>::new());
    // Requeued exactly at the next run time.
    assert_eq!(
        result.unwrap(),
        Action::requeue(Duration::from_secs(60 * 60 - 5))
    );
}

#[tokio::test]
async fn a_due_run_creates_exactly_one_job() {
    let cc = ChannelCollection::test();
    let (result, seen) = run(cc, at(12, 0, 5), Scenario::Jobs(vec![])).await;
    assert_eq!(
        seen.requests,
        [CREATE, STATUS],
        "Events are not on the reconcile's path"
    );
    assert_eq!(seen.created.len(), 1);
    assert_eq!(seen.jobs_created, 1, "jobs_created metric");
    let job = &seen.created[0];
    assert_eq!(job["metadata"]["name"], "news-29931120");
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], UID);
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["activeJob"], "news-29931120");
    assert_eq!(status["lastScheduleTime"], "2026-11-28T12:00:00Z");
    assert_eq!(status["nextRunTime"], "2026-11-28T12:10:00Z");
    assert_eq!(
        status["state"], "Starting",
        "nothing collects before the collector says so"
    );
    assert_eq!(status["currentlyCollecting"], false);
    assert_eq!(
        seen.condition("Reconciling").unwrap()["status"],
        "True",
        "the pod is not running yet"
    );
    assert_eq!(
        seen.events(),
        [("Normal".to_string(), "JobCreated".to_string())]
    );
    // While a run is active, status is refreshed every `refresh`.
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(10)));
}

#[tokio::test]
async fn already_exists_adopts_our_job() {
    let cc = ChannelCollection::test();
    let existing = job_for(&cc, t0()).running(true);
    let (result, seen) = run(
        cc,
        at(12, 0, 5),
        Scenario::AlreadyExists(Box::new(existing)),
    )
    .await;
    assert_eq!(
        seen.requests,
        [
            CREATE,
            "GET /apis/batch/v1/namespaces/telegram/jobs/news-29931120",
            STATUS
        ]
    );
    result.unwrap();
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["activeJob"], "news-29931120");
    assert_eq!(status["lastScheduleTime"], "2026-11-28T12:00:00Z");
    assert!(
        seen.events.is_empty(),
        "adopting is not a transition worth an Event"
    );
    assert_eq!(seen.jobs_created, 0, "an adopted Job was not created by us");
}

#[tokio::test]
async fn already_exists_but_foreign_is_an_error_not_an_adoption() {
    let cc = ChannelCollection::test();
    let existing = job_for(&cc, t0()).running(true).foreign();
    let (result, seen) = run(
        cc,
        at(12, 0, 5),
        Scenario::AlreadyExists(Box::new(existing)),
    )
    .await;
    assert_eq!(
        seen.requests,
        [
            CREATE,
            "GET /apis/batch/v1/namespaces/telegram/jobs/news-29931120",
            STATUS,
        ]
    );
    assert_eq!(
        result.unwrap(),
        Action::await_change(),
        "a retry cannot fix it: no backoff"
    );
    let stalled = seen.condition("Stalled").expect("Stalled is set");
    assert_eq!(stalled["reason"], "JobNameTaken");
    assert_eq!(
        seen.events(),
        [("Warning".to_string(), "JobNameTaken".to_string())]
    );
}

#[tokio::test]
async fn history_cleanup_deletes_the_oldest_finished_jobs() {
    let cc = ChannelCollection::test().history_limits(2, 1);
    let succeeded: Vec<Job> = [at(11, 20, 0), at(11, 30, 0), at(11, 40, 0), at(11, 50, 0)]
        .into_iter()
        .map(|t| job_for(&cc, t).succeeded(t + chrono::TimeDelta::minutes(3)))
        .collect();
    let failed: Vec<Job> = [at(11, 0, 0), at(11, 10, 0)]
        .into_iter()
        .map(|t| job_for(&cc, t).failed(t + chrono::TimeDelta::minutes(2), "BackoffLimitExceeded"))
        .collect();
    // Listed newest first, to show order comes from the scheduled time, not the list.
    let mut jobs: Vec<Job> = succeeded.iter().chain(failed.iter()).cloned().collect();
    jobs.reverse();
    let cc = cc.with_status(ChannelCollectionStatus {
        last_schedule_time: Some(to_k8s(at(11, 50, 0))),
        last_run: Some(RunSummary {
            job: "news-29931110".into(),
            result: Some(RunResult::Succeeded),
            ..RunSummary::default()
        }),
        ..ChannelCollectionStatus::default()
    });
    let (result, seen) = run(cc, at(11, 55, 0), Scenario::Jobs(jobs)).await;
    result.unwrap();
    let deleted: Vec<&str> = seen.deleted.iter().map(|(n, _)| n.as_str()).collect();
    // 11:20 and 11:30 succeeded (keep 2), 11:00 failed (keep 1).
    assert_eq!(deleted, ["news-29931080", "news-29931090", "news-29931060"]);
    for (name, body) in &seen.deleted {
        assert_eq!(body["propagationPolicy"], "Background", "{name}");
    }
    assert!(seen.created.is_empty(), "nothing is due at 11:55");
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastRun"]["job"], "news-29931110");
    assert_eq!(status["lastSuccessfulTime"], "2026-11-28T11:53:00Z");
    assert!(seen.events.is_empty(), "lastRun did not change");
}

#[tokio::test]
async fn invalid_spec_stalls_without_creating_anything() {
    let cc = ChannelCollection::test().cron("61 * * * *", Some("Mars/Olympus"));
    let (result, seen) = run(cc, at(12, 0, 5), Scenario::Jobs(vec![])).await;
    assert_eq!(seen.requests, [STATUS]);
    assert!(seen.created.is_empty());
    let stalled = seen.condition("Stalled").unwrap();
    assert_eq!(stalled["status"], "True");
    assert_eq!(stalled["reason"], "InvalidSpec");
    assert!(
        stalled["message"]
            .as_str()
            .unwrap()
            .contains("not a valid cron expression"),
        "{stalled}"
    );
    assert_eq!(seen.condition("Ready").unwrap()["status"], "False");
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["state"], "Failed");
    assert!(status.get("nextRunTime").is_none());
    assert_eq!(
        seen.events(),
        [("Warning".to_string(), "InvalidSpec".to_string())]
    );
    assert_eq!(seen.events[0]["note"], stalled["message"]);
    assert_eq!(
        result.unwrap(),
        Action::await_change(),
        "user errors are not retried"
    );
}

#[tokio::test]
async fn an_unchanged_invalid_spec_is_not_reported_again() {
    let cc = ChannelCollection::test().cron("61 * * * *", None);
    let (_, first) = run(cc.clone(), at(12, 0, 5), Scenario::Jobs(vec![])).await;
    let status: ChannelCollectionStatus =
        serde_json::from_value(first.status.unwrap()["status"].clone()).unwrap();
    let (result, second) = run(cc.with_status(status), at(12, 1, 0), Scenario::Jobs(vec![])).await;
    assert_eq!(
        second.requests,
        Vec::<String>::new(),
        "same status, no Event: nothing to write"
    );
    assert_eq!(result.unwrap(), Action::await_change());
}

#[tokio::test]
async fn a_finished_run_is_recorded_and_announced_once() {
    let cc = ChannelCollection::test();
    let job = job_for(&cc, t0()).failed(at(12, 4, 0), "BackoffLimitExceeded");
    let cc = cc.with_status(ChannelCollectionStatus {
        active_job: Some("news-29931120".into()),
        last_schedule_time: Some(to_k8s(t0())),
        ..ChannelCollectionStatus::default()
    });
    let (_, seen) = run(cc.clone(), at(12, 5, 0), Scenario::Jobs(vec![job.clone()])).await;
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastRun"]["result"], "Failed");
    assert_eq!(status["lastRun"]["reason"], "BackoffLimitExceeded");
    assert_eq!(status["state"], "Failed");
    assert!(status.get("activeJob").is_none());
    assert_eq!(seen.condition("Ready").unwrap()["reason"], "RunFailed");
    assert_eq!(
        seen.events(),
        [("Warning".to_string(), "RunFailed".to_string())]
    );

    let written: ChannelCollectionStatus = serde_json::from_value(status.clone()).unwrap();
    let (_, again) = run(
        cc.with_status(written),
        at(12, 6, 0),
        Scenario::Jobs(vec![job]),
    )
    .await;
    assert!(again.events.is_empty(), "RunFailed only on the transition");
}

#[tokio::test]
async fn replace_deletes_the_active_job_in_the_foreground_first() {
    let cc = ChannelCollection::test().replace().last_scheduled(t0());
    let active = job_for(&cc, t0()).running(true);
    let (result, seen) = run(cc, at(12, 10, 0), Scenario::Jobs(vec![active])).await;
    assert_eq!(seen.deleted.len(), 1);
    assert_eq!(seen.deleted[0].0, "news-29931120");
    assert_eq!(seen.deleted[0].1["propagationPolicy"], "Foreground");
    assert!(
        seen.created.is_empty(),
        "the new run waits until the old pods are gone"
    );
    assert_eq!(
        seen.condition("Reconciling").unwrap()["reason"],
        "ReplacingRun"
    );
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(5)));
}

#[tokio::test]
async fn a_missed_start_window_warns_once() {
    let cc = ChannelCollection::test()
        .cron("*/5 * * * *", None)
        .deadline(60)
        .with_status(ChannelCollectionStatus {
            last_schedule_time: Some(to_k8s(t0())),
            next_run_time: Some(to_k8s(at(12, 5, 0))),
            ..ChannelCollectionStatus::default()
        });
    let (result, seen) = run(cc, at(12, 7, 0), Scenario::Jobs(vec![])).await;
    assert_eq!(seen.requests, [STATUS]);
    assert_eq!(
        seen.events(),
        [("Warning".to_string(), "MissedSchedule".to_string())]
    );
    let note = seen.events[0]["note"].as_str().unwrap();
    assert!(
        note.contains("2026-11-28T12:05:00Z") && note.contains("startingDeadlineSeconds (60s)"),
        "{note}"
    );
    assert_eq!(
        seen.status.as_ref().unwrap()["status"]["nextRunTime"],
        "2026-11-28T12:10:00Z"
    );
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(180)));
}

#[tokio::test]
async fn more_than_100_missed_runs_start_the_latest_and_warn() {
    let cc = ChannelCollection::test()
        .interval("1m")
        .last_scheduled(t0());
    let (_, seen) = run(cc, at(14, 0, 30), Scenario::Jobs(vec![])).await;
    assert_eq!(seen.requests, [CREATE, STATUS]);
    assert_eq!(seen.events.len(), 2, "JobCreated and the warning");
    assert_eq!(
        seen.created[0]["metadata"]["name"], "news-29931240",
        "the 14:00 run"
    );
    assert_eq!(
        seen.events(),
        [
            ("Normal".to_string(), "JobCreated".to_string()),
            ("Warning".to_string(), "MissedSchedule".to_string())
        ]
    );
}

#[tokio::test]
async fn a_successful_run_is_announced() {
    let cc = ChannelCollection::test();
    let job = job_for(&cc, t0()).succeeded(at(12, 4, 0));
    let cc = cc.with_status(ChannelCollectionStatus {
        active_job: Some("news-29931120".into()),
        last_schedule_time: Some(to_k8s(t0())),
        ..ChannelCollectionStatus::default()
    });
    let (_, seen) = run(cc, at(12, 5, 0), Scenario::Jobs(vec![job])).await;
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastRun"]["result"], "Succeeded");
    assert_eq!(status["lastSuccessfulTime"], "2026-11-28T12:04:00Z");
    assert_eq!(status["state"], "Idle");
    assert_eq!(seen.condition("Ready").unwrap()["status"], "True");
    assert_eq!(
        seen.events(),
        [("Normal".to_string(), "RunSucceeded".to_string())]
    );
}

#[tokio::test]
async fn a_vanished_active_job_is_a_failed_run_not_collecting_forever() {
    let cc = ChannelCollection::test().with_status(ChannelCollectionStatus {
        active_job: Some("news-29931120".into()),
        last_schedule_time: Some(to_k8s(t0())),
        ..ChannelCollectionStatus::default()
    });
    let (_, seen) = run(cc, at(12, 5, 0), Scenario::Jobs(vec![])).await;
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastRun"]["job"], "news-29931120");
    assert_eq!(status["lastRun"]["reason"], "JobDeleted");
    assert_eq!(status["currentlyCollecting"], false);
    assert_eq!(
        seen.events(),
        [("Warning".to_string(), "RunFailed".to_string())]
    );
}

#[tokio::test]
async fn suspended_collections_start_nothing() {
    let cc = ChannelCollection::test().suspended().requested("now");
    let (result, seen) = run(cc, at(12, 30, 0), Scenario::Jobs(vec![])).await;
    assert_eq!(seen.requests, [STATUS]);
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["state"], "Suspended");
    assert!(status.get("nextRunTime").is_none());
    assert!(
        status.get("lastHandledRequestedAt").is_none(),
        "the request waits for resume"
    );
    assert_eq!(result.unwrap(), Action::await_change());
}

#[tokio::test]
async fn a_manual_request_runs_now_and_is_echoed() {
    let cc = ChannelCollection::test()
        .last_scheduled(t0())
        .requested("2026-11-28T12:03:00Z");
    let (_, seen) = run(cc, at(12, 3, 10), Scenario::Jobs(vec![])).await;
    assert_eq!(seen.created.len(), 1);
    let job = &seen.created[0];
    let name = job["metadata"]["name"].as_str().unwrap();
    assert!(
        regex::Regex::new(r"^news-r[0-9a-f]{8}$")
            .unwrap()
            .is_match(name),
        "a manual run's Job is named after its request: {name}"
    );
    assert_eq!(
        job["metadata"]["annotations"][annotation::REQUESTED_AT],
        "2026-11-28T12:03:00Z"
    );
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastHandledRequestedAt"], "2026-11-28T12:03:00Z");
    assert_eq!(
        status["nextRunTime"], "2026-11-28T12:13:10Z",
        "intervals count from the manual run"
    );
}

#[tokio::test]
async fn a_lost_status_write_does_not_start_the_manual_run_twice() {
    // The Job for the request exists but the status never recorded it.
    let cc = ChannelCollection::test()
        .last_scheduled(t0())
        .requested("r1");
    let mut job = job_for(&cc, at(12, 3, 10)).running(true);
    job.metadata
        .annotations
        .get_or_insert_default()
        .insert(annotation::REQUESTED_AT.to_string(), "r1".to_string());
    let (_, seen) = run(cc, at(12, 4, 0), Scenario::Jobs(vec![job])).await;
    assert!(seen.created.is_empty());
    assert_eq!(
        seen.status.as_ref().unwrap()["status"]["lastHandledRequestedAt"],
        "r1"
    );
}

#[tokio::test]
async fn a_blocked_manual_request_settles_instead_of_rewriting_status() {
    // Forbid, an active run, and a manual request: the request waits. The status written
    // must not depend on `now`, or every reconcile would write (and so trigger) another.
    let cc = ChannelCollection::test()
        .last_scheduled(t0())
        .requested("r1");
    let job = job_for(&cc, t0()).running(true);
    let (_, first) = run(cc.clone(), at(12, 3, 0), Scenario::Jobs(vec![job.clone()])).await;
    assert!(first.created.is_empty());
    let status: ChannelCollectionStatus =
        serde_json::from_value(first.status.unwrap()["status"].clone()).unwrap();
    assert_eq!(
        status.last_handled_requested_at, None,
        "not handled while waiting"
    );
    let (_, second) = run(
        cc.with_status(status),
        at(12, 3, 7),
        Scenario::Jobs(vec![job]),
    )
    .await;
    assert_eq!(
        second.requests,
        Vec::<String>::new(),
        "nothing changed, nothing written"
    );
}

#[tokio::test]
async fn transient_errors_back_off_exponentially() {
    use operator::reconcile::error_policy;
    let (service, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(service, "telegram"), t0());
    let cc = Arc::new(ChannelCollection::test());
    let error = || Error::DeleteJob {
        job: "x".to_string(),
        source: kube::Error::Api(
            kube::core::Status::failure("unavailable", "ServiceUnavailable")
                .with_code(503)
                .boxed(),
        ),
    };
    let waits: Vec<Action> = (0..4)
        .map(|_| error_policy(cc.clone(), &error(), ctx.clone()))
        .collect();
    let expected: Vec<Action> = [5, 10, 20, 40]
        .into_iter()
        .map(|s| Action::requeue(Duration::from_secs(s)))
        .collect();
    assert_eq!(waits, expected);
    for _ in 0..10 {
        error_policy(cc.clone(), &error(), ctx.clone());
    }
    assert_eq!(
        error_policy(cc.clone(), &error(), ctx.clone()),
        Action::requeue(Duration::from_secs(300)),
        "capped"
    );
    assert_eq!(
        error_policy(cc.clone(), &Error::NotLeader, ctx.clone()),
        Action::await_change()
    );
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains("reconcile_failures_total{reason=\"delete_job\"} 15"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_refused_create_is_a_transient_error_not_an_adoption() {
    for (code, reason) in [
        (409, "Conflict"),
        (403, "Forbidden"),
        (500, "InternalError"),
    ] {
        let (result, seen) = run(
            ChannelCollection::test(),
            at(12, 0, 5),
            Scenario::CreateFails(code, reason),
        )
        .await;
        assert_eq!(
            seen.requests,
            [CREATE],
            "{reason}: no GET, no status, no Event"
        );
        let error = result.unwrap_err();
        assert_eq!(error.metric_label(), "create_job", "{reason}: {error}");
        assert_eq!(seen.jobs_created, 0);
    }
}

#[tokio::test]
async fn a_manual_request_in_the_minute_of_an_earlier_run_is_not_swallowed() {
    // The 12:00 run is done; a request at 12:00:40 starts at once, under a name of its own
    // (`<collection>-<minutes>` would be the 12:00 run's).
    let cc = ChannelCollection::test()
        .last_scheduled(t0())
        .requested("r1");
    let earlier = job_for(&cc, t0()).succeeded(at(12, 0, 30));
    let (result, seen) = run(
        cc.clone(),
        at(12, 0, 40),
        Scenario::Jobs(vec![earlier.clone()]),
    )
    .await;
    assert_eq!(seen.created.len(), 1, "within one reconcile");
    let name = seen.created[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(name, "news-29931120");
    let status = written(&seen);
    assert_eq!(status.last_handled_requested_at.as_deref(), Some("r1"));
    assert_eq!(status.active_job, Some(name.as_str().into()));
    result.unwrap();

    // A restart (or a lost status write) finds the same Job and adopts it: no second run.
    let mut ours = job_for(&cc, at(12, 0, 40)).running(false);
    ours.metadata.name = Some(name.clone());
    ours.metadata
        .annotations
        .get_or_insert_default()
        .insert(annotation::REQUESTED_AT.to_string(), "r1".to_string());
    let (_, again) = run(cc, at(12, 0, 50), Scenario::Jobs(vec![earlier, ours])).await;
    assert!(again.created.is_empty(), "{:?}", again.created);
}

#[test]
fn rbac_attributes_are_parsed() {
    use apiserver::{assert_allowed, rbac_attributes};
    let uri: http::Uri = "/apis/batch/v1/namespaces/ns/jobs?labelSelector=a"
        .parse()
        .unwrap();
    assert_eq!(
        rbac_attributes(&Method::GET, &uri),
        ("batch".into(), "jobs".into(), "list".into())
    );
    let uri: http::Uri =
        "/apis/collection.mtproto.dev/v1alpha1/namespaces/ns/channelcollections/x/status?fieldManager=a".parse().unwrap();
    assert_eq!(
        rbac_attributes(&Method::PATCH, &uri),
        (
            "collection.mtproto.dev".into(),
            "channelcollections/status".into(),
            "patch".into()
        )
    );
    let uri: http::Uri = "/apis/batch/v1/jobs?watch=true".parse().unwrap();
    assert_eq!(
        rbac_attributes(&Method::GET, &uri),
        ("batch".into(), "jobs".into(), "watch".into())
    );
    let uri: http::Uri = "/api/v1/namespaces/ns/secrets/s".parse().unwrap();
    let denied = std::panic::catch_unwind(|| assert_allowed(&Method::GET, &uri));
    assert!(denied.is_err(), "reading a Secret must not be allowed");
}

// Live progress from the audit log (the status derivation wired into the reconcile).

const RUN: &str = "news-29931120";

/// Writes `events` for run [`RUN`] of telegram/news through the collector's own writer.
async fn write_rows(pool: &PgPool, pod: &str, events: &[AuditEvent]) {
    let writer = AuditWriter::new(
        pool.clone(),
        RunIdentity {
            run_id: RUN.to_string(),
            namespace: "telegram".to_string(),
            name: "news".to_string(),
            pod_name: Some(pod.to_string()),
            shard: None,
        },
    );
    for event in events {
        writer.record(event).await.expect("audit row written");
    }
}

fn start(total: u32, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent::Start(CollectionStart {
        total_channels: total,
        start_time: at,
    })
}

fn channel_done(name: &str, messages: u64, processed: u32, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent::Progress(CollectionProgress {
        edits_found: 0,
        deletions_found: 0,
        media: Default::default(),
        channel_name: name.to_string(),
        messages_collected: messages,
        channels_processed: processed,
        total_channels: 3,
        errors: 0,
        progress_time: at,
        error: None,
    })
}

/// The collection with `status` as A's reconcile wrote it when run [`RUN`] started.
fn running(cc: ChannelCollection) -> ChannelCollection {
    cc.with_status(ChannelCollectionStatus {
        active_job: Some(RUN.into()),
        last_schedule_time: Some(to_k8s(t0())),
        ..ChannelCollectionStatus::default()
    })
}

fn written(seen: &Seen) -> ChannelCollectionStatus {
    serde_json::from_value(seen.status.as_ref().expect("a status patch")["status"].clone())
        .expect("the patched status parses")
}

/// A lazy pool for a database at `port` on localhost that gives up after a second.
fn pool_at(port: u16) -> PgPool {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy_with(
            PgConnectOptions::new()
                .host("127.0.0.1")
                .port(port)
                .username("postgres")
                .password("not-a-real-password"),
        )
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_active_run_patches_its_progress_and_an_unchanged_one_nothing(pool: PgPool) {
    let cc = ChannelCollection::test();
    let job = job_for(&cc, t0()).running(true);
    write_rows(
        &pool,
        "news-29931120-abcde",
        &[
            start(3, at(12, 0, 10)),
            channel_done("@durov", 42, 1, at(12, 1, 0)),
        ],
    )
    .await;

    let cc = running(cc);
    let (result, seen) = run_with(
        cc.clone(),
        at(12, 1, 30),
        Scenario::Jobs(vec![job.clone()]),
        Some(pool.clone()),
    )
    .await;
    assert_eq!(seen.requests, [STATUS]);
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["state"], "Collecting");
    assert_eq!(status["progress"], "1/3");
    assert_eq!(status["channelsProcessed"], 1);
    assert_eq!(status["channelsTotal"], 3);
    assert_eq!(status["messagesCollectedCurrentRun"], 42);
    assert_eq!(status["currentlyCollecting"], true);
    assert_eq!(status["activeJob"], RUN);
    assert_eq!(status["collectionStartTime"], "2026-11-28T12:00:10Z");
    assert_eq!(
        status["currentChannel"], "https://t.me/telegram",
        "the next spec channel"
    );
    assert!(
        status["eta"].as_str().is_some(),
        "an ETA from this run's pace: {status}"
    );
    assert_eq!(seen.condition("ProgressUnavailable"), None);
    assert_eq!(
        seen.histories_cached, 1,
        "the history is read once per run, later refreshes read only its rows"
    );
    assert_eq!(
        result.unwrap(),
        Action::requeue(Duration::from_secs(10)),
        "an active run is re-read every refresh"
    );

    // The next refresh, with no new rows: nothing to write.
    let (result, again) = run_with(
        cc.clone().with_status(written(&seen)),
        at(12, 1, 35),
        Scenario::Jobs(vec![job.clone()]),
        Some(pool.clone()),
    )
    .await;
    assert_eq!(
        again.requests,
        Vec::<String>::new(),
        "unchanged run, no patch"
    );
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(10)));

    // A new row moves the status on.
    write_rows(
        &pool,
        "news-29931120-abcde",
        &[channel_done("https://t.me/telegram", 8, 2, at(12, 1, 40))],
    )
    .await;
    let (_, moved) = run_with(
        cc.with_status(written(&seen)),
        at(12, 1, 45),
        Scenario::Jobs(vec![job]),
        Some(pool),
    )
    .await;
    let status = &moved.status.as_ref().expect("a patch for the new row")["status"];
    assert_eq!(status["progress"], "2/3");
    assert_eq!(status["messagesCollectedCurrentRun"], 50);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_run_ended_by_a_revoked_session_stalls_with_session_invalid(pool: PgPool) {
    let cc = ChannelCollection::test();
    let job = job_for(&cc, t0()).failed(at(12, 2, 0), "BackoffLimitExceeded");
    write_rows(
        &pool,
        "news-29931120-abcde",
        &[
            start(3, at(12, 0, 10)),
            AuditEvent::End(CollectionEnd {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                total_messages: 0,
                channels_synced: 0,
                total_channels: 3,
                errors: 0,
                end_time: at(12, 0, 12),
                aborted: false,
                reason: Some(EndReason::SessionInvalid),
            }),
        ],
    )
    .await;

    let cc = running(cc);
    let (result, seen) = run_with(
        cc.clone(),
        at(12, 2, 30),
        Scenario::Jobs(vec![job.clone()]),
        Some(pool.clone()),
    )
    .await;
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastRun"]["job"], RUN);
    assert_eq!(status["lastRun"]["result"], "Failed");
    assert_eq!(status["lastRun"]["reason"], "SessionInvalid");
    assert_eq!(status["lastRun"]["channelsTotal"], 3);
    assert_eq!(status["state"], "Failed");
    assert_eq!(status["currentlyCollecting"], false);
    assert!(status.get("activeJob").is_none(), "the run is over");
    assert_eq!(
        seen.histories_cached, 0,
        "an ended run's history is dropped"
    );
    let stalled = seen.condition("Stalled").expect("Stalled is set");
    assert_eq!(stalled["status"], "True");
    assert_eq!(stalled["reason"], "SessionInvalid");
    let ready = seen.condition("Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "SessionInvalid");
    assert_eq!(
        seen.events(),
        [
            ("Warning".to_string(), "RunFailed".to_string()),
            ("Warning".to_string(), "SessionInvalid".to_string())
        ]
    );
    assert!(
        seen.events[0]["note"]
            .as_str()
            .unwrap()
            .contains("SessionInvalid"),
        "the run's Event carries the audit log's reason: {}",
        seen.events[0]["note"]
    );
    // Over: no refresh for progress (the next scheduled run is at 12:10).
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(450)));

    // The next reconcile keeps the audit log's account (not the Job's BackoffLimitExceeded),
    // writes nothing and announces nothing again.
    let (_, again) = run_with(
        cc.with_status(written(&seen)),
        at(12, 3, 0),
        Scenario::Jobs(vec![job]),
        Some(pool),
    )
    .await;
    assert_eq!(
        again.requests,
        Vec::<String>::new(),
        "settled: {:?}",
        again.status
    );
}

#[tokio::test]
async fn an_unreachable_database_keeps_scheduling_and_says_progress_is_unavailable() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (result, seen) = run_with(
        ChannelCollection::test(),
        at(12, 0, 5),
        Scenario::Jobs(vec![]),
        Some(pool_at(port)),
    )
    .await;
    assert_eq!(seen.created.len(), 1, "the due run starts all the same");
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["activeJob"], RUN);
    assert_eq!(
        status["state"], "Starting",
        "a Job created now has no rows yet: no query"
    );
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(10)));

    // The next refresh reads its log, and cannot.
    let cc = ChannelCollection::test();
    let job = job_for(&cc, t0()).running(true);
    let (result, seen) = run_with(
        running(cc),
        at(12, 0, 15),
        Scenario::Jobs(vec![job]),
        Some(pool_at(port)),
    )
    .await;
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["state"], "Collecting", "its pod runs");
    assert!(
        status.get("progress").is_none(),
        "no numbers without the log"
    );
    let unavailable = seen
        .condition("ProgressUnavailable")
        .expect("ProgressUnavailable is set");
    assert_eq!(unavailable["status"], "True");
    assert_eq!(unavailable["reason"], "AuditLogUnreachable");
    let text = unavailable.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("not-a-real-password"),
        "{text}"
    );
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(10)));
}

#[tokio::test]
async fn without_a_database_progress_is_not_configured() {
    let cc = ChannelCollection::test();
    let job = job_for(&cc, t0()).running(true);
    let (_, seen) = run(running(cc), at(12, 1, 0), Scenario::Jobs(vec![job])).await;
    let unavailable = seen.condition("ProgressUnavailable").unwrap();
    assert_eq!(unavailable["reason"], "DatabaseNotConfigured");
    assert_eq!(
        seen.status.as_ref().unwrap()["status"]["state"],
        "Collecting"
    );
}

#[tokio::test]
async fn an_idle_collection_makes_no_database_query() {
    // A listener counting connection attempts: any query would have to connect.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (count_tx, count) = watch::channel(0u32);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            // Never answers: the pool times out as with a hung database.
            held.push(socket);
            count_tx.send_modify(|n| *n += 1);
        }
    });

    let cc = ChannelCollection::test();
    let done = job_for(&cc, t0()).succeeded(at(12, 4, 0));
    let idle = cc.with_status(ChannelCollectionStatus {
        last_schedule_time: Some(to_k8s(t0())),
        last_run: Some(RunSummary {
            job: RUN.into(),
            result: Some(RunResult::Succeeded),
            ..RunSummary::default()
        }),
        ..ChannelCollectionStatus::default()
    });
    let (result, seen) = run_with(
        idle,
        at(12, 5, 0),
        Scenario::Jobs(vec![done.clone()]),
        Some(pool_at(port)),
    )
    .await;
    result.unwrap();
    assert_eq!(*count.borrow(), 0, "no connection for an idle collection");
    assert_eq!(seen.condition("ProgressUnavailable"), None);

    // The same pool is used for an active run: the check above can fail.
    let active = job_for(&ChannelCollection::test(), t0()).running(true);
    let (_, seen) = run_with(
        running(ChannelCollection::test()),
        at(12, 1, 0),
        Scenario::Jobs(vec![active]),
        Some(pool_at(port)),
    )
    .await;
    assert!(*count.borrow() > 0, "an active run is read");
    assert_eq!(
        seen.condition("ProgressUnavailable").unwrap()["reason"],
        "AuditLogUnreachable"
    );
}

#[tokio::test]
async fn a_run_whose_failure_is_decided_while_its_pods_terminate_settles() {
    // Kubernetes >= 1.31: FailureTarget comes first, the Failed condition once the pods are gone.
    let cc = ChannelCollection::test();
    let mut job = job_for(&cc, t0()).running(true);
    job.status.as_mut().unwrap().conditions = Some(vec![JobCondition {
        type_: "FailureTarget".into(),
        status: "True".into(),
        reason: Some("DeadlineExceeded".into()),
        message: Some("Job was active longer than specified deadline".into()),
        last_transition_time: Some(to_k8s(at(12, 3, 0))),
        last_probe_time: None,
    }]);
    let cc = running(cc);
    let (_, seen) = run(cc.clone(), at(12, 3, 5), Scenario::Jobs(vec![job.clone()])).await;
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastRun"]["reason"], "DeadlineExceeded");
    assert_eq!(status["lastRun"]["result"], "Failed");
    assert!(status.get("activeJob").is_none(), "{status}");
    assert_eq!(status["currentlyCollecting"], false);
    assert_eq!(status["state"], "Failed");
    let ready = seen.condition("Ready").unwrap();
    assert_eq!(ready["status"], "False", "{ready}");
    assert_eq!(ready["reason"], "RunFailed");
    assert_eq!(
        seen.events(),
        [("Warning".to_string(), "RunFailed".to_string())]
    );

    // While the pods still terminate, nothing flips back to collecting.
    let (_, again) = run(
        cc.with_status(written(&seen)),
        at(12, 3, 10),
        Scenario::Jobs(vec![job]),
    )
    .await;
    assert_eq!(
        again.requests,
        Vec::<String>::new(),
        "settled: {:?}",
        again.status
    );
}

#[tokio::test]
async fn a_replaced_run_is_recorded_once_while_its_pods_go() {
    let cc = ChannelCollection::test().replace();
    let mut job = job_for(&cc, t0()).running(true);
    job.metadata.deletion_timestamp = Some(to_k8s(at(12, 10, 0)));
    let cc = running(cc);
    let (_, seen) = run(cc.clone(), at(12, 10, 2), Scenario::Jobs(vec![job.clone()])).await;
    let status = &seen.status.as_ref().unwrap()["status"];
    assert_eq!(status["lastRun"]["reason"], "JobDeleted");
    assert!(status.get("activeJob").is_none(), "{status}");
    assert_eq!(
        seen.condition("Reconciling").unwrap()["reason"],
        "ReplacingRun",
        "the teardown still shows"
    );
    assert!(
        seen.created.is_empty(),
        "the due run waits for the old pods"
    );

    let (_, again) = run(
        cc.with_status(written(&seen)),
        at(12, 10, 4),
        Scenario::Jobs(vec![job]),
    )
    .await;
    assert_eq!(
        again.requests,
        Vec::<String>::new(),
        "settled: {:?}",
        again.status
    );
}

/// What the server answers to a write of `body` at `path`: the body, and a status write with
/// the collection around it.
fn echoed(path: &str, body: &Value) -> Value {
    let mut answer = body.clone();
    if path.ends_with("/status") {
        answer["metadata"] = json!({"name": "news", "namespace": "telegram", "uid": UID});
        answer["spec"] = serde_json::to_value(crds::testing::spec()).unwrap();
    }
    answer
}

/// A context at `now` whose cache holds `cc` (and no Job), talking to `service`.
fn context_of(
    service: tower_test::mock::Mock<Request<Body>, Response<Body>>,
    cc: &ChannelCollection,
    now: DateTime<Utc>,
) -> Arc<Context> {
    context_with(
        Client::new(service, "telegram"),
        now,
        None,
        common::stores(std::slice::from_ref(cc), &[], &[]),
    )
}

/// The requests other than Events, and the Events' bodies.
type RequestsAndEvents = (Vec<String>, Vec<Value>);

/// A mocked API server that answers every request with its own body (a status write with the
/// collection around it), sends each status written to the returned channel, and returns the
/// requests other than Events, and the Events, once the last client is gone.
fn echoing_apiserver(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
) -> (
    tokio::task::JoinHandle<RequestsAndEvents>,
    tokio::sync::mpsc::UnboundedReceiver<ChannelCollectionStatus>,
) {
    let (status_tx, statuses) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        let (mut requests, mut events) = (Vec::new(), Vec::new());
        while let Some(request) = apiserver::next(&mut handle).await {
            let body = request.body.clone();
            if request.path().contains("/events") {
                events.push(body.clone());
            } else {
                requests.push(format!("{} {}", request.method, request.path()));
            }
            if request.path().ends_with("/status") {
                status_tx
                    .send(serde_json::from_value(body["status"].clone()).unwrap())
                    .unwrap();
            }
            let answer = echoed(request.path(), &body);
            request.respond(apiserver::json(StatusCode::CREATED, &answer));
        }
        (requests, events)
    });
    (server, statuses)
}

#[tokio::test]
async fn a_run_just_created_is_not_taken_for_deleted_while_the_cache_lags() {
    // The status write wakes the next reconcile before the Job's watch event reaches the cache.
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (server, mut statuses) = echoing_apiserver(handle);
    let cc = ChannelCollection::test();
    let ctx = context_of(service, &cc, at(12, 0, 5));
    reconcile(Arc::new(cc.clone()), ctx.clone()).await.unwrap();
    let first = statuses.recv().await.unwrap();
    assert_eq!(first.active_job, Some("news-29931120".into()));

    let action = reconcile(Arc::new(cc.with_status(first)), ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(10)),
        "still a run to refresh"
    );
    drop(ctx);
    let (requests, events) = server.await.unwrap();
    assert_eq!(
        requests,
        [CREATE, STATUS],
        "the second reconcile writes nothing"
    );
    assert_eq!(events.len(), 1, "JobCreated, and nothing more: {events:?}");
}

#[tokio::test]
async fn a_reconcile_before_the_cache_shows_its_status_write_repeats_nothing() {
    // Woken by the Job's watch event while the collection's (of the status write) is still on
    // its way: the cache shows the status from before the write.
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (server, mut statuses) = echoing_apiserver(handle);
    let mut stale = running(ChannelCollection::test());
    stale.metadata.resource_version = Some("41".into());
    let job = job_for(&stale, t0()).succeeded(at(12, 4, 0));
    let ctx = context_with(
        Client::new(service, "telegram"),
        at(12, 5, 0),
        None,
        common::stores(
            std::slice::from_ref(&stale),
            std::slice::from_ref(&job),
            &[],
        ),
    );
    reconcile(Arc::new(stale.clone()), ctx.clone())
        .await
        .unwrap();
    let first = statuses.recv().await.unwrap();
    assert_eq!(first.last_run.unwrap().result, Some(RunResult::Succeeded));
    reconcile(Arc::new(stale.clone()), ctx.clone())
        .await
        .unwrap();

    // Once the cache shows another version, it is the truth again (whoever wrote it).
    let mut edited = stale.clone();
    edited.metadata.resource_version = Some("43".into());
    reconcile(Arc::new(edited), ctx.clone()).await.unwrap();
    drop(ctx);
    let (requests, events) = server.await.unwrap();
    let reasons: Vec<&Value> = events.iter().map(|e| &e["reason"]).collect();
    // The stale reconcile repeats neither the write nor RunSucceeded; a newer version without
    // the write gets both again.
    assert_eq!(requests, [STATUS, STATUS]);
    assert_eq!(reasons, ["RunSucceeded", "RunSucceeded"]);
}

#[tokio::test]
async fn a_reconcile_does_not_wait_for_its_events() {
    // An Events API that never answers: the Job and the status are written all the same.
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        // Held, never answered, until the server ends.
        let (mut requests, mut unanswered) = (Vec::new(), Vec::new());
        while let Some(request) = apiserver::next(&mut handle).await {
            if request.path().contains("/events") {
                unanswered.push(request);
                continue;
            }
            requests.push(format!("{} {}", request.method, request.path()));
            let answer = echoed(request.path(), &request.body);
            request.respond(apiserver::json(StatusCode::CREATED, &answer));
            if requests.len() == 2 {
                break;
            }
        }
        drop(unanswered);
        requests
    });
    let cc = ChannelCollection::test();
    let ctx = context_of(service, &cc, at(12, 0, 5));
    let action = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(cc), ctx))
        .await
        .expect("the reconcile ends while its Event is unanswered")
        .unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
    let requests = server.await.unwrap();
    assert_eq!(requests, [CREATE, STATUS]);
}
