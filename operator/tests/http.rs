//! `/healthz`, `/readyz` and `/metrics` over a real socket, readiness fed by the caches
//! against a mocked API server that answers as a real one does: a list, then a watch stream
//! of events and bookmarks.

mod common;

use std::{sync::Arc, time::Duration};

use common::apiserver;
use crds::ChannelCollection;
use crds::testing::TestCollection;
use http::{Request, Response, StatusCode};
use kube::{Client, client::Body};
use operator::{
    cache,
    http::{Health, bind, serve},
    metrics::Metrics,
};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let code = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

/// Answers like an API server: each list with its items and a resourceVersion, each watch
/// with an event and a bookmark.
async fn api_server(mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>) {
    let mut open = Vec::new();
    let mut watched = std::collections::HashSet::new();
    while let Some(request) = apiserver::next(&mut handle).await {
        let path = request.path().to_string();
        let watch = request.query().contains("watch=true");
        let (kind, item) = if path.ends_with("/channelcollections") {
            let mut cc = serde_json::to_value(ChannelCollection::test()).unwrap();
            cc["apiVersion"] = json!("collection.mtproto.dev/v1alpha1");
            cc["kind"] = json!("ChannelCollection");
            ("ChannelCollection", Some(cc))
        } else if path.ends_with("/jobs") {
            ("Job", None)
        } else if path.ends_with("/pods") {
            ("Pod", None)
        } else {
            panic!("unexpected request {path}")
        };
        if !watch {
            request.respond(apiserver::json(
                StatusCode::OK,
                &json!({"kind": format!("{kind}List"), "apiVersion": "v1",
                        "metadata": {"resourceVersion": "10"}, "items": item.iter().collect::<Vec<_>>()}),
            ));
            continue;
        }
        let mut lines = String::new();
        if let Some(mut object) = item {
            object["metadata"]["resourceVersion"] = json!("11");
            lines += &format!("{}\n", json!({"type": "MODIFIED", "object": object}));
        }
        lines += &format!(
            "{}\n",
            json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": "v1",
                   "metadata": {"resourceVersion": "12"}}})
        );
        // The first watch of each kind ends after its events, as a server's watch timeout
        // does; the watcher then resumes from the bookmark, and that watch stays open.
        if watched.insert(kind) {
            request.respond(
                Response::builder()
                    .status(200)
                    .body(Body::from(lines.into_bytes()))
                    .unwrap(),
            );
        } else {
            open.push(request);
        }
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let metrics = Arc::new(Metrics::default());
    let (leader_tx, leader) = watch::channel(false);
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (caches, keep_current) = cache::start(Client::new(service, "telegram"), Some("telegram"));
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, mut stop) = watch::channel(false);
    let server = tokio::spawn(serve(
        listener,
        Health {
            metrics: metrics.clone(),
            leader,
            caches: caches.readiness.clone(),
            page: None,
        },
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ));

    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(
        get(addr, "/").await.0,
        404,
        "no monitoring page when it is off"
    );
    assert_eq!(
        get(addr, "/readyz").await,
        (200, "standby".to_string()),
        "a standby replica is ready"
    );
    leader_tx.send_replace(true);
    assert_eq!(
        get(addr, "/readyz").await.0,
        503,
        "a leader is not ready before its first watch sync"
    );
    // Another waiter on the collections store, as kube-runtime's own controller runner is:
    // readiness must not depend on who polls first.
    let store = caches.stores.collections.clone();
    tokio::spawn(async move { store.wait_until_ready().await });
    tokio::spawn(keep_current);
    tokio::spawn(api_server(handle));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while get(addr, "/readyz").await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never turned 200 after the lists and watch events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        caches.stores.collections.state().len(),
        1,
        "the listed collection is cached"
    );

    {
        let _timer = metrics.reconcile_started();
    }
    metrics.failed("create_job");
    metrics.failed("create_job");
    metrics.jobs_created.inc();
    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    for line in [
        "channel_collection_operator_reconciles_total 1",
        "channel_collection_operator_reconcile_failures_total{reason=\"create_job\"} 2",
        "channel_collection_operator_jobs_created_total 1",
        "channel_collection_operator_reconcile_duration_seconds_count 1",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }

    stop_tx.send_replace(true);
    server.await.unwrap().unwrap();
    // The port is free again after a graceful stop.
    bind(addr).await.expect("rebinding after shutdown");
}

#[tokio::test]
async fn a_taken_port_fails_at_startup() {
    let first = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let error = bind(first.local_addr().unwrap()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("binding the health/metrics address"),
        "{error}"
    );
}
