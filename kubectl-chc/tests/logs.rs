//! `logs` against a mocked API server: the run's pods by their Job's label, then each pod's
//! `collector` log.

mod common;

use common::{ApiServer, NEWS, PODS, json_response, run, status_error, text_response};
use crds::testing::{TestCollection, t0};
use crds::{ChannelCollection, ChannelCollectionStatus, RunResult, RunSummary};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const RUN: &str = "news-29931120";

fn active(job: &str) -> ChannelCollection {
    ChannelCollection::test().with_status(ChannelCollectionStatus {
        active_job: Some(job.into()),
        ..ChannelCollectionStatus::default()
    })
}

fn finished(job: &str) -> ChannelCollection {
    ChannelCollection::test().with_status(ChannelCollectionStatus {
        last_run: Some(RunSummary {
            job: job.into(),
            result: Some(RunResult::Failed),
            ..RunSummary::default()
        }),
        ..ChannelCollectionStatus::default()
    })
}

/// A pod of the run, with its completion index when sharded, created `minute` minutes after
/// 12:00.
fn pod(name: &str, index: Option<u32>, minute: u32) -> Value {
    let mut annotations = json!({});
    if let Some(i) = index {
        annotations["batch.kubernetes.io/job-completion-index"] = json!(i.to_string());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "telegram",
            "creationTimestamp": format!("2026-11-28T12:{minute:02}:00Z"),
            "labels": {"batch.kubernetes.io/job-name": RUN, "job-name": RUN},
            "annotations": annotations,
        },
    })
}

fn pods(items: Vec<Value>) -> http::Response<kube::client::Body> {
    json_response(
        StatusCode::OK,
        &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": items}),
    )
}

async fn expect_collection(api: &mut ApiServer, cc: &ChannelCollection) {
    api.expect(Method::GET, NEWS).await.respond(json_response(
        StatusCode::OK,
        &serde_json::to_value(cc).unwrap(),
    ));
}

async fn expect_pods(api: &mut ApiServer, selector: &str) -> common::Received {
    let request = api.expect(Method::GET, PODS).await;
    assert_eq!(request.param("labelSelector").as_deref(), Some(selector));
    request
}

/// Expects the log request of `pod`'s collector container.
async fn expect_log(api: &mut ApiServer, pod: &str, follow: bool) -> common::Received {
    let request = api.expect(Method::GET, &format!("{PODS}/{pod}/log")).await;
    assert_eq!(request.param("container").as_deref(), Some("collector"));
    assert_eq!(
        request.param("follow").as_deref(),
        follow.then_some("true"),
        "{}",
        request.uri
    );
    request
}

#[tokio::test]
async fn the_logs_of_the_current_run_s_latest_pod() {
    let ran = run(&["logs", "news"], t0(), |mut api: ApiServer| async move {
        expect_collection(&mut api, &active(RUN)).await;
        expect_pods(&mut api, &format!("batch.kubernetes.io/job-name={RUN}"))
            .await
            .respond(pods(vec![
                pod("news-29931120-retry", None, 3),
                pod("news-29931120-first", None, 0),
            ]));
        expect_log(&mut api, "news-29931120-retry", false)
            .await
            .respond(text_response("collection_start\ncollected @durov\n"));
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(ran.out, "collection_start\ncollected @durov\n");
}

#[tokio::test]
async fn the_last_run_s_pods_by_the_older_label_when_the_newer_finds_none() {
    let ran = run(&["logs", "news"], t0(), |mut api: ApiServer| async move {
        expect_collection(&mut api, &finished(RUN)).await;
        expect_pods(&mut api, &format!("batch.kubernetes.io/job-name={RUN}"))
            .await
            .respond(pods(vec![]));
        expect_pods(&mut api, &format!("job-name={RUN}"))
            .await
            .respond(pods(vec![pod("news-29931120-abcde", None, 0)]));
        expect_log(&mut api, "news-29931120-abcde", false)
            .await
            .respond(text_response("session revoked\n"));
        api.done().await;
    })
    .await;
    assert_eq!(ran.out, "session revoked\n");
}

#[tokio::test]
async fn a_sharded_run_s_lines_name_their_shard() {
    let ran = run(&["logs", "news"], t0(), |mut api: ApiServer| async move {
        expect_collection(&mut api, &active(RUN)).await;
        expect_pods(&mut api, &format!("batch.kubernetes.io/job-name={RUN}"))
            .await
            .respond(pods(vec![
                pod("news-29931120-1-x", Some(1), 0),
                pod("news-29931120-0-x", Some(0), 0),
            ]));
        expect_log(&mut api, "news-29931120-0-x", false)
            .await
            .respond(text_response("a\nb\n"));
        expect_log(&mut api, "news-29931120-1-x", false)
            .await
            .respond(text_response("c\n"));
        api.done().await;
    })
    .await;
    assert_eq!(ran.out, "[shard 0] a\n[shard 0] b\n[shard 1] c\n");
}

#[tokio::test]
async fn follow_streams_every_shard() {
    let ran = run(
        &["logs", "-f", "news"],
        t0(),
        |mut api: ApiServer| async move {
            expect_collection(&mut api, &active(RUN)).await;
            expect_pods(&mut api, &format!("batch.kubernetes.io/job-name={RUN}"))
                .await
                .respond(pods(vec![
                    pod("news-29931120-0-x", Some(0), 0),
                    pod("news-29931120-1-x", Some(1), 0),
                ]));
            expect_log(&mut api, "news-29931120-0-x", true)
                .await
                .respond(text_response("a\nb\n"));
            expect_log(&mut api, "news-29931120-1-x", true)
                .await
                .respond(text_response("c\n"));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    // Interleaved as they arrive; each shard's own lines in order.
    let shard = |n: &str| -> Vec<&str> {
        ran.out
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("[shard {n}] ")).map(|_| l))
            .collect()
    };
    assert_eq!(shard("0"), ["[shard 0] a", "[shard 0] b"]);
    assert_eq!(shard("1"), ["[shard 1] c"]);
    assert_eq!(ran.out.lines().count(), 3);
}

#[tokio::test]
async fn a_pod_whose_logs_cannot_be_read_does_not_hide_the_others() {
    let ran = run(&["logs", "news"], t0(), |mut api: ApiServer| async move {
        expect_collection(&mut api, &active(RUN)).await;
        expect_pods(&mut api, &format!("batch.kubernetes.io/job-name={RUN}"))
            .await
            .respond(pods(vec![
                pod("news-29931120-0-x", Some(0), 0),
                pod("news-29931120-1-x", Some(1), 0),
            ]));
        expect_log(&mut api, "news-29931120-0-x", false)
            .await
            .respond(status_error(
                400,
                "BadRequest",
                "container \"collector\" in pod \"news-29931120-0-x\" is waiting to start: ContainerCreating",
            ));
        expect_log(&mut api, "news-29931120-1-x", false)
            .await
            .respond(text_response("c\n"));
        api.done().await;
    })
    .await;
    assert_eq!(ran.out, "[shard 1] c\n");
    assert_eq!(
        ran.err,
        "error: cannot read the logs of pod news-29931120-0-x: container \"collector\" in pod \
         \"news-29931120-0-x\" is waiting to start: ContainerCreating (400 BadRequest)\n"
    );
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(
        ran.error(),
        "the logs of 1 of the 2 pod(s) of Job news-29931120 could not be read"
    );
}

#[tokio::test]
async fn no_run_or_no_pods_is_said_plainly() {
    let ran = run(&["logs", "news"], t0(), |mut api: ApiServer| async move {
        expect_collection(&mut api, &ChannelCollection::test()).await;
        api.done().await;
    })
    .await;
    assert_eq!(
        ran.error(),
        "ChannelCollection telegram/news has had no run yet: there are no logs"
    );

    let ran = run(&["logs", "news"], t0(), |mut api: ApiServer| async move {
        expect_collection(&mut api, &finished(RUN)).await;
        for label in ["batch.kubernetes.io/job-name", "job-name"] {
            expect_pods(&mut api, &format!("{label}={RUN}"))
                .await
                .respond(pods(vec![]));
        }
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(
        ran.error(),
        "Job news-29931120 has no pods left (they go with the Job, e.g. past the history limits)"
    );
}
