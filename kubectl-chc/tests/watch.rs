//! `watch` and `run --wait` against a mocked API server: the watch of the one collection,
//! the view printed at each event, the result and the exit code.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{ApiServer, NEWS, json_response, list, run, status_error, watch_body, watch_events};
use crds::testing::{TestCollection, t0};
use crds::time::to_k8s;
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunResult, RunSummary, ShardState,
    ShardStatus,
};
use http::{Method, StatusCode};
use serde_json::json;

const RUN: &str = "news-29931120";
const PREVIOUS: &str = "news-29931110";

fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

fn previous() -> RunSummary {
    RunSummary {
        job: PREVIOUS.into(),
        start_time: Some(to_k8s(at(-600))),
        end_time: Some(to_k8s(at(-480))),
        result: Some(RunResult::Succeeded),
        ..RunSummary::default()
    }
}

/// `news` collecting run [`RUN`]: `done` of 3 channels.
fn collecting(done: i32) -> ChannelCollection {
    ChannelCollection::test().with_status(ChannelCollectionStatus {
        state: Some(CollectionState::Collecting),
        active_job: Some(RUN.into()),
        collection_start_time: Some(to_k8s(t0())),
        channels_processed: done,
        channels_total: 3,
        messages_collected_current_run: 100 * i64::from(done),
        estimated_time_remaining: Some(60 * i64::from(3 - done)),
        current_channel: Some("@durov".into()),
        last_run: Some(previous()),
        recent_runs: vec![previous()],
        ..ChannelCollectionStatus::default()
    })
}

/// In a flood wait until `until`.
fn waiting(done: i32, until: DateTime<Utc>) -> ChannelCollection {
    let mut cc = collecting(done);
    let status = cc.status.as_mut().unwrap();
    status.state = Some(CollectionState::Waiting);
    status.waiting_until = Some(to_k8s(until));
    cc
}

fn summary(job: &str, result: RunResult) -> RunSummary {
    RunSummary {
        job: job.into(),
        start_time: Some(to_k8s(t0())),
        end_time: Some(to_k8s(at(250))),
        result: Some(result),
        reason: (result == RunResult::Failed).then(|| "SessionInvalid".to_string()),
        message: (result == RunResult::Failed)
            .then(|| "the Telegram session is revoked".to_string()),
        messages: Some(300),
        channels_synced: Some(3),
        channels_total: Some(3),
        errors: Some(0),
        edits: None,
        deletions: None,
        media: None,
    }
}

/// The run `job` over, with `result`.
fn finished(job: &str, result: RunResult) -> ChannelCollection {
    let run = summary(job, result);
    ChannelCollection::test().with_status(ChannelCollectionStatus {
        state: Some(match result {
            RunResult::Succeeded => CollectionState::Idle,
            RunResult::Failed => CollectionState::Failed,
        }),
        channels_processed: 3,
        channels_total: 3,
        messages_collected_current_run: 300,
        recent_runs: vec![run.clone(), previous()],
        last_run: Some(run),
        ..ChannelCollectionStatus::default()
    })
}

#[tokio::test]
async fn watch_redraws_on_each_event_until_the_run_succeeds() {
    let ran = run(
        &["watch", "news"],
        at(130),
        |mut api: ApiServer| async move {
            api.expect_list_of_news()
                .await
                .respond(list(&[collecting(1)]));
            api.expect_watch_of_news().await.respond(watch_events(&[
                waiting(1, at(172)),
                collecting(2),
                // A status write that changes nothing shown prints nothing.
                collecting(2),
                finished(RUN, RunResult::Succeeded),
            ]));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(
        ran.out,
        "\
telegram/news: Collecting, run news-29931120 (started 2m10s ago)
  [###-------] 1/3 channels   100 messages   0 errors   ETA 2m0s
  channel @durov
telegram/news: Waiting, run news-29931120 (started 2m10s ago)
  [###-------] 1/3 channels   100 messages   0 errors   ETA 2m0s
  channel @durov
  flood wait: resumes in 42s (at 12:02:52Z)
telegram/news: Collecting, run news-29931120 (started 2m10s ago)
  [######----] 2/3 channels   200 messages   0 errors   ETA 1m0s
  channel @durov
run news-29931120 succeeded in 4m10s (300 messages, 3/3 channels, 0 errors)
"
    );
    assert_eq!(ran.err, "");
}

#[tokio::test]
async fn watch_exits_1_when_the_run_fails() {
    let ran = run(
        &["watch", "news"],
        at(130),
        |mut api: ApiServer| async move {
            api.expect_list_of_news()
                .await
                .respond(list(&[collecting(1)]));
            api.expect_watch_of_news()
                .await
                .respond(watch_events(&[finished(RUN, RunResult::Failed)]));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 1);
    assert!(
        ran.out.ends_with(
            "run news-29931120 failed after 4m10s: SessionInvalid: the Telegram session is revoked \
             (300 messages, 3/3 channels, 0 errors)\n"
        ),
        "{}",
        ran.out
    );
}

fn shard(index: i32, session: &str, state: ShardState, done: i32) -> ShardStatus {
    ShardStatus {
        index,
        session: session.into(),
        state: Some(state),
        current_channel: None,
        channels_processed: done,
        channels_total: 2,
        messages: 10 * i64::from(done),
        errors: 0,
        estimated_time_remaining: None,
        reason: None,
    }
}

/// A run on two accounts, two channels each, in these states.
fn sharded(states: [(ShardState, i32); 2]) -> ChannelCollection {
    let mut cc = collecting(states.iter().map(|s| s.1).sum());
    cc.spec.channels.push("@fourth".into());
    let status = cc.status.as_mut().unwrap();
    status.channels_total = 4;
    status.shards = vec![
        shard(0, "tg-a", states[0].0, states[0].1),
        shard(1, "tg-b", states[1].0, states[1].1),
    ];
    cc
}

#[tokio::test]
async fn watch_shows_each_shard_of_a_sharded_run() {
    let ran = run(
        &["watch", "news"],
        at(130),
        move |mut api: ApiServer| async move {
            api.expect_list_of_news().await.respond(list(&[sharded([
                (ShardState::Collecting, 1),
                (ShardState::Starting, 0),
            ])]));
            api.expect_watch_of_news().await.respond(watch_events(&[
                sharded([(ShardState::Succeeded, 2), (ShardState::Collecting, 1)]),
                finished(RUN, RunResult::Succeeded),
            ]));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    let shard_lines: Vec<&str> = ran
        .out
        .lines()
        .filter(|l| l.trim_start().starts_with("shard"))
        .collect();
    assert_eq!(
        shard_lines,
        [
            "  shard 0   tg-a   Collecting   [#####-----] 1/2   10 messages   0 errors",
            "  shard 1   tg-b   Starting     [----------] 0/2   0 messages    0 errors",
            "  shard 0   tg-a   Succeeded    [##########] 2/2   20 messages   0 errors",
            "  shard 1   tg-b   Collecting   [#####-----] 1/2   10 messages   0 errors",
        ]
    );
}

#[tokio::test]
async fn watch_with_no_run_in_progress_reports_the_last_one_without_watching() {
    let resting = finished(PREVIOUS, RunResult::Failed);
    let ran = run(
        &["watch", "news"],
        at(600),
        move |mut api: ApiServer| async move {
            api.expect_list_of_news().await.respond(list(&[resting]));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 1, "the last run failed");
    assert_eq!(
        ran.out,
        "telegram/news: no run in progress\n\
         last run news-29931110 failed after 4m10s: SessionInvalid: the Telegram session is revoked \
         (300 messages, 3/3 channels, 0 errors)\n"
    );
}

#[tokio::test]
async fn watch_of_a_missing_collection_or_without_rights_says_so() {
    let ran = run(&["watch", "news"], t0(), |mut api: ApiServer| async move {
        api.expect_list_of_news().await.respond(list(&[]));
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(ran.error(), "ChannelCollection telegram/news not found");

    let ran = run(&["watch", "news", "-n", "ops"], t0(), |mut api: ApiServer| async move {
        let request = api.next().await;
        assert_eq!(
            request.path(),
            "/apis/collection.mtproto.dev/v1alpha1/namespaces/ops/channelcollections"
        );
        request.respond(status_error(
            403,
            "Forbidden",
            "channelcollections.collection.mtproto.dev is forbidden: User \"dev\" cannot list resource \"channelcollections\" in API group \"collection.mtproto.dev\" in the namespace \"ops\"",
        ));
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(
        ran.error(),
        "cannot watch ChannelCollection ops/news: channelcollections.collection.mtproto.dev is forbidden: \
         User \"dev\" cannot list resource \"channelcollections\" in API group \"collection.mtproto.dev\" \
         in the namespace \"ops\" (403 Forbidden)"
    );
}

#[tokio::test]
async fn a_broken_watch_is_retried_once_the_collection_was_seen() {
    let ran = run(
        &["watch", "news"],
        at(130),
        |mut api: ApiServer| async move {
            api.expect_list_of_news()
                .await
                .respond(list(&[collecting(1)]));
            api.expect_watch_of_news().await.respond(status_error(
                500,
                "InternalError",
                "etcdserver: leader changed",
            ));
            api.expect_watch_of_news()
                .await
                .respond(watch_events(&[finished(RUN, RunResult::Succeeded)]));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(
        ran.err,
        "warning: the watch of ChannelCollection telegram/news broke \
         (etcdserver: leader changed (500 InternalError)); retrying\n"
    );
}

#[tokio::test]
async fn a_collection_deleted_while_watched_ends_the_watch() {
    let ran = run(
        &["watch", "news"],
        at(130),
        |mut api: ApiServer| async move {
            api.expect_list_of_news()
                .await
                .respond(list(&[collecting(1)]));
            api.expect_watch_of_news()
                .await
                .respond(watch_body(&[("DELETED", &collecting(1))]));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(
        ran.error(),
        "ChannelCollection telegram/news was deleted while being watched"
    );
}

#[tokio::test]
async fn watch_gives_up_after_its_timeout() {
    let ran = run(
        &["watch", "news", "--timeout", "1s"],
        at(130),
        |mut api: ApiServer| async move {
            api.expect_list_of_news()
                .await
                .respond(list(&[collecting(1)]));
            // The watch stays open with nothing new.
            let open = api.expect_watch_of_news().await;
            api.done().await;
            drop(open);
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(
        ran.error(),
        "gave up after 1s: the run of ChannelCollection telegram/news had not ended"
    );
}

const VALUE: &str = "2026-11-28T12:00:00Z";

/// The patch `run` sends, answered with the collection as it then is.
async fn expect_request(api: &mut ApiServer, answer: &ChannelCollection) {
    let patch = api.expect(Method::PATCH, NEWS).await;
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.param("fieldManager").as_deref(), Some("kubectl-chc"));
    assert_eq!(
        patch.body,
        json!({"metadata": {"annotations": {"collection.mtproto.dev/requestedAt": VALUE}}})
    );
    patch.respond(json_response(
        StatusCode::OK,
        &serde_json::to_value(answer).unwrap(),
    ));
}

fn handled(mut cc: ChannelCollection) -> ChannelCollection {
    cc.status.get_or_insert_default().last_handled_requested_at = Some(VALUE.into());
    cc.requested(VALUE)
}

#[tokio::test]
async fn run_wait_follows_the_run_its_request_started() {
    const MANUAL: &str = "news-r1f2e3d4";
    let resting = finished(PREVIOUS, RunResult::Succeeded).requested(VALUE);
    let mut starting = collecting(0);
    {
        let status = starting.status.as_mut().unwrap();
        status.state = Some(CollectionState::Starting);
        status.active_job = Some(MANUAL.into());
        status.collection_start_time = None;
        status.current_channel = None;
        status.estimated_time_remaining = None;
    }
    let mut running = collecting(2);
    running.status.as_mut().unwrap().active_job = Some(MANUAL.into());
    let events = vec![
        // The operator has not acted on it yet.
        resting.clone(),
        handled(starting),
        handled(running),
        handled(finished(MANUAL, RunResult::Succeeded)),
    ];
    let ran = run(
        &["run", "news", "--wait"],
        t0(),
        move |mut api: ApiServer| async move {
            expect_request(&mut api, &resting).await;
            api.expect_list_of_news().await.respond(list(&[resting]));
            api.expect_watch_of_news()
                .await
                .respond(watch_events(&events));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(
        ran.out,
        "\
telegram/news: run requested (collection.mtproto.dev/requestedAt=2026-11-28T12:00:00Z)
telegram/news: run requested (2026-11-28T12:00:00Z), waiting for the operator to start it
telegram/news: Starting, run news-r1f2e3d4
  waiting for the collector to start
  [----------] 0/3 channels   0 messages   0 errors
telegram/news: Collecting, run news-r1f2e3d4 (started 0s ago)
  [######----] 2/3 channels   200 messages   0 errors   ETA 1m0s
  channel @durov
run news-r1f2e3d4 succeeded in 4m10s (300 messages, 3/3 channels, 0 errors)
"
    );
}

#[tokio::test]
async fn run_wait_exits_1_when_its_run_fails_even_after_another_run() {
    const MANUAL: &str = "news-r1f2e3d4";
    // A scheduled run is active: Forbid starts ours when it ends.
    let busy = collecting(1).requested(VALUE);
    let mut ours = collecting(0);
    ours.status.as_mut().unwrap().active_job = Some(MANUAL.into());
    let events = vec![
        finished(RUN, RunResult::Succeeded).requested(VALUE),
        handled(ours),
        handled(finished(MANUAL, RunResult::Failed)),
    ];
    let ran = run(
        &["run", "news", "--wait"],
        t0(),
        move |mut api: ApiServer| async move {
            expect_request(&mut api, &busy).await;
            api.expect_list_of_news().await.respond(list(&[busy]));
            api.expect_watch_of_news()
                .await
                .respond(watch_events(&events));
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 1, "{}", ran.out);
    let lines: Vec<&str> = ran.out.lines().collect();
    assert_eq!(
        lines[1],
        "telegram/news: run requested (2026-11-28T12:00:00Z), waiting for the operator to start it after run news-29931120"
    );
    assert!(
        !ran.out.contains("run news-29931120 succeeded"),
        "the scheduled run is not ours: {}",
        ran.out
    );
    assert_eq!(
        lines.last().copied(),
        Some(
            "run news-r1f2e3d4 failed after 4m10s: SessionInvalid: the Telegram session is revoked \
             (300 messages, 3/3 channels, 0 errors)"
        )
    );
}
