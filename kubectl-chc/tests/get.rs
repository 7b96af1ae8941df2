//! `get` and `history` against a mocked API server.

mod common;

use chrono::TimeDelta;
use common::{ApiServer, COLLECTIONS, NEWS, json_response, list, run};
use crds::testing::{TestCollection, t0};
use crds::time::to_k8s;
use crds::{ChannelCollection, ChannelCollectionStatus, CollectionState, RunResult, RunSummary};
use http::{Method, StatusCode};

fn minutes(m: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + TimeDelta::minutes(m)
}

fn news() -> ChannelCollection {
    let last = RunSummary {
        job: "news-29931170".into(),
        start_time: Some(to_k8s(minutes(50))),
        end_time: Some(to_k8s(minutes(54))),
        result: Some(RunResult::Succeeded),
        messages: Some(800),
        channels_synced: Some(3),
        channels_total: Some(3),
        errors: Some(0),
        ..RunSummary::default()
    };
    let failed = RunSummary {
        job: "news-29931160".into(),
        start_time: Some(to_k8s(minutes(40))),
        end_time: Some(to_k8s(minutes(41))),
        result: Some(RunResult::Failed),
        reason: Some("DeadlineExceeded".into()),
        message: Some("Job was active longer than specified deadline".into()),
        ..RunSummary::default()
    };
    ChannelCollection::test().with_status(ChannelCollectionStatus {
        schedule: Some("every 10m".into()),
        state: Some(CollectionState::Collecting),
        active_job: Some("news-29931180".into()),
        collection_start_time: Some(to_k8s(minutes(60))),
        channels_processed: 1,
        channels_total: 3,
        messages_collected_current_run: 120,
        estimated_time_remaining: Some(95),
        next_run_time: Some(to_k8s(minutes(70))),
        recent_runs: vec![last.clone(), failed],
        last_run: Some(last),
        ..ChannelCollectionStatus::default()
    })
}

#[tokio::test]
async fn get_lists_the_namespace_as_a_table() {
    let ran = run(&["get"], minutes(62), |mut api: ApiServer| async move {
        let request = api.expect(Method::GET, COLLECTIONS).await;
        assert_eq!(request.param("watch"), None);
        request.respond(list(&[
            news(),
            ChannelCollection::test()
                .named("archive")
                .suspended()
                .created(minutes(-3 * 24 * 60)),
        ]));
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(
        ran.out,
        "\
NAME      SCHEDULE    STATE        PROGRESS           MESSAGES   ERRORS   ETA     LAST RUN           NEXT RUN   AGE
archive   every 10m   -            -                  0          0        -       -                  -          3d1h
news      every 10m   Collecting   [###-------] 1/3   120        0        1m35s   Succeeded 8m ago   in 8m0s    62m
"
    );
}

#[tokio::test]
async fn get_all_namespaces_lists_everywhere() {
    let ran = run(
        &["get", "-A"],
        minutes(62),
        |mut api: ApiServer| async move {
            api.expect(
                Method::GET,
                "/apis/collection.mtproto.dev/v1alpha1/channelcollections",
            )
            .await
            .respond(list(&[news().namespaced("ops"), news()]));
            api.done().await;
        },
    )
    .await;
    let first_column: Vec<&str> = ran
        .out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(first_column, ["NAMESPACE", "ops", "telegram"]);
}

#[tokio::test]
async fn get_with_nothing_says_so_on_stderr() {
    let ran = run(
        &["get", "-n", "empty"],
        t0(),
        |mut api: ApiServer| async move {
            api.expect(
                Method::GET,
                "/apis/collection.mtproto.dev/v1alpha1/namespaces/empty/channelcollections",
            )
            .await
            .respond(list(&[]));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0);
    assert_eq!(ran.out, "");
    assert_eq!(ran.err, "No resources found in empty namespace.\n");
}

#[tokio::test]
async fn history_lists_the_current_and_recent_runs() {
    let ran = run(
        &["history", "news"],
        minutes(62),
        |mut api: ApiServer| async move {
            api.expect(Method::GET, NEWS).await.respond(json_response(
                StatusCode::OK,
                &serde_json::to_value(news()).unwrap(),
            ));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(
        ran.out,
        "\
JOB             RESULT       STARTED   DURATION   MESSAGES   CHANNELS   ERRORS   DETAIL
news-29931180   Collecting   2m ago    -          120        1/3        0
news-29931170   Succeeded    12m ago   4m0s       800        3/3        0
news-29931160   Failed       22m ago   1m0s       -          -          -        DeadlineExceeded: Job was active longer than specified deadline
"
    );
}

#[tokio::test]
async fn history_of_a_collection_that_never_ran() {
    let ran = run(
        &["history", "news"],
        t0(),
        |mut api: ApiServer| async move {
            api.expect(Method::GET, NEWS).await.respond(json_response(
                StatusCode::OK,
                &serde_json::to_value(ChannelCollection::test()).unwrap(),
            ));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0);
    assert_eq!(ran.out, "");
    assert_eq!(ran.err, "telegram/news: no runs yet\n");
}
