//! `run`, `suspend` and `resume` against a mocked API server: one merge patch each, its exact
//! path and body.

mod common;

use common::{ApiServer, NEWS, json_response, run, status_error};
use crds::ChannelCollection;
use crds::testing::{TestCollection, t0};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Expects one merge patch of `news` by the plugin with `body`, and answers with `answer`.
async fn expect_patch(api: &mut ApiServer, body: Value, answer: &ChannelCollection) {
    let patch = api.expect(Method::PATCH, NEWS).await;
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.param("fieldManager").as_deref(), Some("kubectl-chc"));
    assert_eq!(patch.body, body);
    patch.respond(json_response(
        StatusCode::OK,
        &serde_json::to_value(answer).unwrap(),
    ));
}

#[tokio::test]
async fn run_sets_a_new_requested_at() {
    let now = t0() + chrono::TimeDelta::milliseconds(250);
    let ran = run(&["run", "news"], now, |mut api: ApiServer| async move {
        let value = "2026-11-28T12:00:00.250Z";
        expect_patch(
            &mut api,
            json!({"metadata": {"annotations": {"collection.mtproto.dev/requestedAt": value}}}),
            &ChannelCollection::test().requested(value),
        )
        .await;
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(
        ran.out,
        "telegram/news: run requested (collection.mtproto.dev/requestedAt=2026-11-28T12:00:00.250Z)\n"
    );
}

#[tokio::test]
async fn suspend_and_resume_set_spec_suspend() {
    let ran = run(
        &["suspend", "news"],
        t0(),
        |mut api: ApiServer| async move {
            expect_patch(
                &mut api,
                json!({"spec": {"suspend": true}}),
                &ChannelCollection::test().suspended(),
            )
            .await;
            api.done().await;
        },
    )
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(
        ran.out,
        "telegram/news: suspended (a run in progress finishes)\n"
    );

    let ran = run(&["resume", "news"], t0(), |mut api: ApiServer| async move {
        expect_patch(
            &mut api,
            json!({"spec": {"suspend": false}}),
            &ChannelCollection::test(),
        )
        .await;
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 0, "{}", ran.err);
    assert_eq!(ran.out, "telegram/news: resumed\n");
}

#[tokio::test]
async fn the_namespace_flag_is_the_request_s_namespace() {
    let ran = run(
        &["suspend", "-n", "ops", "news"],
        t0(),
        |mut api: ApiServer| async move {
            let patch = api
                .expect(
                    Method::PATCH,
                    "/apis/collection.mtproto.dev/v1alpha1/namespaces/ops/channelcollections/news",
                )
                .await;
            patch.respond(json_response(
                StatusCode::OK,
                &serde_json::to_value(ChannelCollection::test().namespaced("ops").suspended())
                    .unwrap(),
            ));
            api.done().await;
        },
    )
    .await;
    assert_eq!(
        ran.out,
        "ops/news: suspended (a run in progress finishes)\n"
    );
}

#[tokio::test]
async fn a_missing_collection_and_a_refusal_are_told_apart() {
    let ran = run(&["resume", "nope"], t0(), |mut api: ApiServer| async move {
        api.next().await.respond(status_error(
            404,
            "NotFound",
            "channelcollections.collection.mtproto.dev \"nope\" not found",
        ));
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(ran.error(), "ChannelCollection telegram/nope not found");

    let ran = run(&["run", "news"], t0(), |mut api: ApiServer| async move {
        api.next().await.respond(status_error(
            403,
            "Forbidden",
            "channelcollections.collection.mtproto.dev \"news\" is forbidden: User \"dev\" cannot patch resource \"channelcollections\"",
        ));
        api.done().await;
    })
    .await;
    assert_eq!(ran.exit_code(), 2);
    assert_eq!(
        ran.error(),
        "cannot request a run of ChannelCollection telegram/news: channelcollections.collection.mtproto.dev \
         \"news\" is forbidden: User \"dev\" cannot patch resource \"channelcollections\" (403 Forbidden)"
    );
    assert_eq!(ran.out, "", "nothing claimed");
}
