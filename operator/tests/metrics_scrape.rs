//! `/metrics` of a running operator (controller + HTTP server) against a mocked API server
//! and real PostgreSQL: per-collection series from the controller's cache, the
//! messages counter fed by a run the operator sees finish, series gone with a deleted
//! collection, and the readiness/leader gauges.
//!
//! The scrape is also the fixture `charts/tests/fixtures/metrics.txt`: the chart tests parse
//! it with Prometheus' own parsers and check that the dashboard and the alert rules use only
//! metrics it exports. This test fails when the committed copy is stale; regenerate it with
//! `UPDATE_METRICS_FIXTURE=1 cargo nextest run -p operator --test metrics_scrape`.

mod common;

use std::{path::PathBuf, sync::Arc, time::Duration};

use chrono::TimeDelta;
use common::{TestJob, apiserver, at, defaults, job_for};
use contract::audit::{
    AuditEvent, AuditWriter, CollectionEnd, CollectionProgress, CollectionStart, RunIdentity,
};
use crds::testing::{TestCollection, t0};
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunId, RunResult, RunSummary,
};
use http::{Method, Request, Response, StatusCode};
use kube::{
    Client, ResourceExt,
    client::Body,
    runtime::events::{Recorder, Reporter},
};
use operator::{
    cache, controller,
    events::Publisher,
    http::{Health, bind, serve},
    metrics::Metrics,
    reconcile::Context,
    time::to_k8s,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{mpsc, watch},
};

const COLLECTIONS: &str =
    "/apis/collection.mtproto.dev/v1alpha1/namespaces/telegram/channelcollections";
const JOBS: &str = "/apis/batch/v1/namespaces/telegram/jobs";
const PODS: &str = "/api/v1/namespaces/telegram/pods";

fn object(cc: &ChannelCollection) -> Value {
    let mut v = serde_json::to_value(cc).unwrap();
    v["apiVersion"] = json!("collection.mtproto.dev/v1alpha1");
    v["kind"] = json!("ChannelCollection");
    v
}

/// Collecting: 3 of 10 channels, an ETA, a flood wait.
fn news() -> ChannelCollection {
    ChannelCollection::test()
        .named("news")
        .with_status(ChannelCollectionStatus {
            state: Some(CollectionState::Collecting),
            progress: Some("3/10".into()),
            currently_collecting: true,
            channels_processed: 3,
            channels_total: 10,
            messages_collected_current_run: 1520,
            errors_current_run: 1,
            flood_wait_seconds_current_run: 420,
            estimated_time_remaining: Some(250),
            collection_start_time: Some(to_k8s(t0())),
            last_schedule_time: Some(to_k8s(t0())),
            last_successful_time: Some(to_k8s(t0() - TimeDelta::minutes(5))),
            next_run_time: Some(to_k8s(t0() + TimeDelta::minutes(10))),
            last_run: Some(RunSummary {
                job: "news-1".into(),
                start_time: Some(to_k8s(t0() - TimeDelta::minutes(15))),
                end_time: Some(to_k8s(t0() - TimeDelta::minutes(5))),
                result: Some(RunResult::Succeeded),
                messages: Some(99),
                ..RunSummary::default()
            }),
            ..ChannelCollectionStatus::default()
        })
}

/// Daily at 03:00, its run's Job has just succeeded (the audit log says 42 messages).
fn daily() -> ChannelCollection {
    let cc = ChannelCollection::test()
        .named("daily")
        .cron("0 3 * * *", None)
        .media(crds::testing::media_s3());
    let run = job_for(&cc, t0()).name_any();
    cc.with_status(ChannelCollectionStatus {
        state: Some(CollectionState::Collecting),
        currently_collecting: true,
        active_job: Some(RunId::from(run.as_str())),
        last_schedule_time: Some(to_k8s(t0())),
        ..ChannelCollectionStatus::default()
    })
}

/// Suspended and idle; its first status write fails (a reconcile failure to count).
fn paused() -> ChannelCollection {
    ChannelCollection::test()
        .named("paused")
        .suspended()
        .with_status(ChannelCollectionStatus {
            state: Some(CollectionState::Suspended),
            ..ChannelCollectionStatus::default()
        })
}

/// The daily run's files: 5 downloaded (3 MB), 1 too big, 1 failed.
fn daily_media() -> contract::media::MediaCounts {
    contract::media::MediaCounts {
        files_downloaded: 5,
        bytes_downloaded: 3_000_000,
        files_skipped_too_big: 1,
        files_skipped_over_budget: 0,
        bytes_skipped: 80_000_000,
        files_failed: 1,
    }
}

async fn write_daily_run(pool: &PgPool, run: &str) {
    let writer = AuditWriter::new(
        pool.clone(),
        RunIdentity {
            run_id: run.to_string(),
            namespace: "telegram".into(),
            name: "daily".into(),
            pod_name: Some(format!("{run}-pod")),
            shard: None,
        },
    );
    for event in [
        AuditEvent::Start(CollectionStart {
            total_channels: 1,
            start_time: at(12, 0, 5),
        }),
        AuditEvent::Progress(CollectionProgress {
            edits_found: 0,
            deletions_found: 0,
            media: daily_media(),
            channel_name: "@durov".into(),
            messages_collected: 42,
            channels_processed: 1,
            total_channels: 1,
            errors: 0,
            progress_time: at(12, 0, 50),
            error: None,
        }),
        AuditEvent::End(CollectionEnd {
            edits_found: 0,
            deletions_found: 0,
            media: daily_media(),
            total_messages: 42,
            channels_synced: 1,
            total_channels: 1,
            errors: 0,
            end_time: at(12, 0, 55),
            aborted: false,
            reason: None,
        }),
    ] {
        writer.record(&event).await.unwrap();
    }
}

/// Answers the operator's requests until its client is gone. Watches hang; a message on
/// `delete` ends the collections watch with a DELETED event for that collection.
async fn serve_cluster(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    mut delete: mpsc::Receiver<ChannelCollection>,
    daily_job: Value,
) {
    let mut hanging: Vec<apiserver::Received> = Vec::new();
    let mut paused_failed = false;
    loop {
        let request = tokio::select! {
            next = handle.next_request() => {
                let Some((request, send)) = next else { break };
                let (parts, body) = request.into_parts();
                apiserver::assert_allowed(&parts.method, &parts.uri);
                let bytes = body.collect_bytes().await.unwrap();
                apiserver::Received {
                    method: parts.method,
                    uri: parts.uri,
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    send,
                }
            }
            Some(gone) = delete.recv() => {
                let line = format!("{}\n", json!({"type": "DELETED", "object": object(&gone)}));
                let (watches, others): (Vec<_>, Vec<_>) =
                    hanging.drain(..).partition(|r| r.path() == COLLECTIONS);
                hanging = others;
                for watch in watches {
                    watch.respond(Response::builder().status(200).body(Body::from(line.clone().into_bytes())).unwrap());
                }
                continue;
            }
        };
        let path = request.path().to_string();
        if request.method == Method::GET && request.query().contains("watch=true") {
            hanging.push(request);
            continue;
        }
        match (&request.method, path.as_str()) {
            (&Method::GET, COLLECTIONS) => {
                let items: Vec<Value> = [news(), daily(), paused()].iter().map(object).collect();
                request.respond(apiserver::json(
                    StatusCode::OK,
                    &json!({"apiVersion": "collection.mtproto.dev/v1alpha1", "kind": "ChannelCollectionList",
                            "metadata": {"resourceVersion": "1"}, "items": items}),
                ));
            }
            (&Method::GET, PODS) => request.respond(apiserver::json(
                StatusCode::OK,
                &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
                        "items": []}),
            )),
            (&Method::GET, JOBS) => {
                request.respond(apiserver::json(
                    StatusCode::OK,
                    &json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "1"},
                            "items": [daily_job.clone()]}),
                ));
            }
            (&Method::POST, JOBS) => request.echo(StatusCode::CREATED),
            (&Method::PATCH, p) if p.ends_with("/paused/status") && !paused_failed => {
                paused_failed = true;
                request.respond(apiserver::status_error(
                    500,
                    "InternalError",
                    "etcd is slow",
                ));
            }
            (&Method::PATCH, p) if p.ends_with("/status") => {
                // What the API server returns: the object with the applied status (the cache
                // is not updated, as no watch event follows).
                let name = p.trim_end_matches("/status").rsplit('/').next().unwrap();
                let mut patched = [news(), daily(), paused()]
                    .into_iter()
                    .find(|cc| cc.name_any() == name)
                    .map(|cc| object(&cc))
                    .expect("a listed collection");
                patched["status"] = request.body["status"].clone();
                request.respond(apiserver::json(StatusCode::OK, &patched));
            }
            (_, p) if p.starts_with("/apis/events.k8s.io/") => request.echo(StatusCode::CREATED),
            (method, path) => panic!("unexpected request {method} {path}"),
        }
    }
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

/// Scrapes until `check` holds (the controller works in the background).
async fn scrape_until(
    addr: std::net::SocketAddr,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = scrape(addr).await;
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/tests/fixtures/metrics.txt")
}

/// What must not change without regenerating the fixture: every comment line (HELP, TYPE,
/// UNIT, EOF), every series, and the values of the per-collection series (the others count
/// reconciles and their durations, which vary from run to run).
fn skeleton(exposition: &str) -> Vec<String> {
    exposition
        .lines()
        .map(|line| {
            if line.starts_with('#') || line.starts_with("channelcollection_") {
                line.to_string()
            } else {
                line.rsplit_once(' ')
                    .map_or(line, |(series, _)| series)
                    .to_string()
            }
        })
        .collect()
}

/// A running operator (controller and HTTP server) against the mocked cluster.
struct Running {
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    delete: mpsc::Sender<ChannelCollection>,
    stop: watch::Sender<bool>,
    controller: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<Result<(), operator::http::Error>>,
}

async fn start(pool: PgPool) -> Running {
    let daily_job = job_for(&daily(), t0()).succeeded(at(12, 0, 58));
    write_daily_run(&pool, &daily_job.name_any()).await;

    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (delete, deletions) = mpsc::channel(1);
    tokio::spawn(serve_cluster(
        handle,
        deletions,
        serde_json::to_value(&daily_job).unwrap(),
    ));
    let client = Client::new(service, "telegram");
    let metrics = Arc::new(Metrics::default());
    let (gate, leader) = watch::channel(true);
    // This instance leads for the whole test.
    std::mem::forget(gate);
    let (caches, keep_current) = cache::start(client.clone(), Some("telegram"));
    tokio::spawn(keep_current);
    let now = at(12, 1, 0);
    let ctx = Arc::new(Context {
        stores: caches.stores.clone(),
        events: Publisher::spawn(
            Recorder::new(
                client.clone(),
                Reporter {
                    controller: "channel-collection-operator".into(),
                    instance: Some("operator-a".into()),
                },
            ),
            leader.clone(),
            Default::default(),
            Default::default(),
        ),
        client,
        defaults: defaults(),
        metrics: metrics.clone(),
        leader: leader.clone(),
        refresh: Duration::from_secs(3600),
        database: Some(pool),
        runs: Default::default(),
        now: Arc::new(move || now),
        failures: Default::default(),
        expected: Default::default(),
        written: Default::default(),
        writes: Default::default(),
    });
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopping) = watch::channel(false);
    let server = tokio::spawn(serve(
        listener,
        Health {
            metrics: metrics.clone(),
            leader,
            caches: caches.readiness.clone(),
            page: None,
        },
        operator::app::stopped(stopping.clone()),
    ));
    let settings = controller::Settings {
        concurrency: 4,
        shutdown_grace: Duration::from_secs(1),
        listen_audit_log: true,
    };
    let controller =
        tokio::spawn(async move { controller::run(ctx, &caches, settings, stopping).await });
    Running {
        addr,
        metrics,
        delete,
        stop,
        controller,
        server,
    }
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_running_operator_exports_every_collection(pool: PgPool) {
    let Running {
        addr,
        metrics,
        delete,
        stop,
        controller,
        server,
    } = start(pool).await;

    let counted = "channelcollection_messages_collected_total{namespace=\"telegram\",collection=\"daily\"} 42";
    let body = scrape_until(
        addr,
        "the finished run is counted and the failure recorded",
        |b| b.contains(counted) && b.contains("reason=\"patch_status\""),
    )
    .await;
    for line in [
        "channel_collection_operator_ready 1",
        "channel_collection_operator_leader 1",
        "channelcollection_runs_finished_total{namespace=\"telegram\",collection=\"daily\",result=\"Succeeded\"} 1",
        "channelcollection_media_files_total{namespace=\"telegram\",collection=\"daily\",outcome=\"downloaded\"} 5",
        "channelcollection_media_files_total{namespace=\"telegram\",collection=\"daily\",outcome=\"failed\"} 1",
        "channelcollection_media_bytes_total{namespace=\"telegram\",collection=\"daily\",outcome=\"downloaded\"} 3000000",
        "channelcollection_status_state{namespace=\"telegram\",collection=\"news\",state=\"Collecting\"} 1",
        "channelcollection_status_channels_processed{namespace=\"telegram\",collection=\"news\"} 3",
        "channelcollection_status_channels{namespace=\"telegram\",collection=\"news\"} 10",
        "channelcollection_status_estimated_time_remaining_seconds{namespace=\"telegram\",collection=\"news\"} 250",
        "channelcollection_status_flood_wait_seconds_current_run{namespace=\"telegram\",collection=\"news\"} 420",
        "channelcollection_spec_schedule_period_seconds{namespace=\"telegram\",collection=\"daily\"} 86400",
        "channelcollection_spec_suspend{namespace=\"telegram\",collection=\"paused\"} 1",
        "channel_collection_operator_audit_rows_deleted_total 0",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert!(
        body.ends_with("# EOF\n"),
        "a complete OpenMetrics exposition"
    );

    let committed = std::fs::read_to_string(fixture_path()).unwrap_or_default();
    if skeleton(&committed) != skeleton(&body) {
        if std::env::var_os("UPDATE_METRICS_FIXTURE").is_some() {
            std::fs::write(fixture_path(), &body).unwrap();
        } else {
            panic!(
                "{} is stale (the exported metrics changed); regenerate it with \
                 UPDATE_METRICS_FIXTURE=1 cargo nextest run -p operator --test metrics_scrape\n{body}",
                fixture_path().display()
            );
        }
    }

    // The collection is deleted: every one of its series goes, its counters too.
    delete.send(daily()).await.unwrap();
    let body = scrape_until(addr, "the deleted collection's series are gone", |b| {
        !b.contains("collection=\"daily\"")
    })
    .await;
    assert!(body.contains("collection=\"news\""), "{body}");

    stop.send_replace(true);
    controller.await.unwrap();
    server.await.unwrap().unwrap();
    // The controller stopped: the per-collection series go with its cache.
    let after = metrics.render();
    assert!(!after.contains("channelcollection_"), "{after}");
    assert!(after.contains("channel_collection_operator_reconciles_total"));
}
