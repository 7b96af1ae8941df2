//! `/healthz`, `/readyz` and `/metrics` over a real socket.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use operator::{
    http::{Health, bind, serve},
    metrics::Metrics,
};
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

#[tokio::test]
async fn health_readiness_and_metrics() {
    let metrics = Arc::new(Metrics::default());
    let (leader_tx, leader) = watch::channel(false);
    let synced = Arc::new(AtomicBool::new(false));
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, mut stop) = watch::channel(false);
    let server = tokio::spawn(serve(
        listener,
        Health {
            metrics: metrics.clone(),
            leader,
            synced: synced.clone(),
        },
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ));

    assert_eq!(get(addr, "/healthz").await.0, 200);
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
    synced.store(true, Ordering::Release);
    assert_eq!(get(addr, "/readyz").await.0, 200);

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
