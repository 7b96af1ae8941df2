//! The binary's edge: builds the client, the HTTP server, leader election and the
//! controller from the command line, and runs them until SIGTERM.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use contract::audit::RetentionPolicy;
use crds::SecretKeyRef;
use kube::{
    Client, Config,
    client::ClientBuilder,
    config::KubeConfigOptions,
    runtime::events::{Recorder, Reporter},
};
use tokio::sync::watch;
use tracing::{error, info, warn};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use telemetry::ErrorChain;

use crate::{
    cache,
    cli::{DatabaseUrl, RunArgs},
    controller,
    events::Publisher,
    http,
    job::JobDefaults,
    leader::{self, LeaseConfig},
    metrics::Metrics,
    reconcile::{Context, FIELD_MANAGER},
    retention::{self, Retention},
    throttle::{Rate, ThrottleLayer},
    write_order::WriteOrder,
};

/// Runs the operator until SIGTERM/SIGINT.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested");
        stop_tx.send_replace(true);
    });

    let config = match &args.context {
        Some(context) => Config::from_kubeconfig(&KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        })
        .await
        .with_context(|| format!("loading kubeconfig context {context}"))?,
        None => Config::infer()
            .await
            .context("loading kubeconfig or in-cluster configuration")?,
    };
    info!(server = %config.cluster_url, namespace = args.namespace.as_deref().unwrap_or("<all>"), "connecting");
    let lease_namespace = args
        .lease_namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let throttle = ThrottleLayer::new(Rate {
        qps: args.kube_api_qps,
        burst: args.kube_api_burst,
    });
    let client: Client = ClientBuilder::try_from(config.clone())
        .context("building the Kubernetes client")?
        .with_layer(&throttle)
        .build();
    // Events go through their own client, on the background lane of the same rate limit.
    let events_client: Client = ClientBuilder::try_from(config)
        .context("building the Kubernetes client for Events")?
        .with_layer(&throttle.background())
        .build();
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("operator-{}", std::process::id()));

    let database = args.database_url.as_ref().map(audit_pool).transpose()?;
    if database.is_none() {
        warn!("no DATABASE_URL: run progress is not read, only Job-level status is reported");
    }
    let metrics = Arc::new(Metrics::default());
    let (gate, leader_state) = watch::channel(!args.leader_elect);
    // The caches run whether or not this replica leads: a standby takes over warm.
    let (caches, keep_current) = cache::start(client.clone(), args.namespace.as_deref());
    let caches = Arc::new(caches);
    let watching = tokio::spawn(keep_current);
    let listener = http::bind(args.metrics_addr).await?;
    let server = tokio::spawn(http::serve(
        listener,
        http::Health {
            metrics: metrics.clone(),
            leader: leader_state.clone(),
            caches: caches.readiness.clone(),
            page: args.monitoring_page.then(|| http::page::Page {
                collections: caches.feeds.collections.clone(),
                stop: stop.clone(),
                now: Arc::new(chrono::Utc::now),
            }),
        },
        stopped(stop.clone()),
    ));
    if args.monitoring_page {
        info!(addr = %args.metrics_addr, "serving the monitoring page, /healthz, /readyz and /metrics");
    } else {
        info!(addr = %args.metrics_addr, "serving /healthz, /readyz and /metrics");
    }
    if let (Some(pool), Retention::Keep(max_age)) = (&database, args.audit_retention) {
        let worker = retention::Worker {
            pool: pool.clone(),
            policy: RetentionPolicy::new(max_age),
            schedule: retention::Schedule::default(),
            metrics: metrics.clone(),
            now: Arc::new(chrono::Utc::now),
        };
        tokio::spawn(worker.run(leader_state.clone(), stop.clone()));
    }

    let writes = WriteOrder::new(args.kube_api_in_flight.into());
    let ctx = Arc::new(Context {
        client: client.clone(),
        stores: caches.stores.clone(),
        events: Publisher::spawn(
            Recorder::new(
                events_client,
                Reporter {
                    controller: FIELD_MANAGER.to_string(),
                    instance: Some(identity.clone()),
                },
            ),
            leader_state.clone(),
            metrics.events_dropped.clone(),
            writes.clone(),
        ),
        defaults: JobDefaults {
            image: args.collector_image.clone(),
            database: args
                .default_database_secret
                .clone()
                .map(|name| SecretKeyRef {
                    name,
                    key: args.default_database_secret_key.clone(),
                }),
            media_destination: args.media_destination.clone(),
        },
        metrics,
        leader: leader_state,
        refresh: args.status_refresh,
        database,
        runs: Default::default(),
        now: Arc::new(chrono::Utc::now),
        failures: Mutex::new(Default::default()),
        expected: Default::default(),
        written: Default::default(),
        writes,
    });
    let settings = controller::Settings {
        concurrency: args.max_concurrent_reconciles,
        shutdown_grace: args.shutdown_grace,
        listen_audit_log: args.listen_audit_log,
    };
    info!(
        namespace = args.namespace.as_deref().unwrap_or("<all>"),
        "watching"
    );
    let work = {
        let caches = caches.clone();
        move |stop: watch::Receiver<bool>| {
            let (ctx, caches) = (ctx.clone(), caches.clone());
            async move { controller::run(ctx, &caches, settings, stop).await }
        }
    };

    if args.leader_elect {
        let config = LeaseConfig {
            name: args.lease_name.clone(),
            namespace: lease_namespace,
            identity,
            duration: 15,
            grace: 5,
        };
        let Some(manager) = connect_lease(client, &config, stop.clone()).await else {
            watching.abort();
            return finish(server).await;
        };
        leader::run_when_leader(manager, gate, stop, work)
            .await
            .context("leader election")?;
    } else {
        work(stop).await;
    }
    watching.abort();
    finish(server).await
}

/// Longest wait for a database connection during a reconcile; then progress is reported
/// unavailable and the reconcile goes on.
const DATABASE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A lazy pool for reading the audit log: it connects on first use, so an unreachable
/// database never blocks start-up. Errors never contain the URL.
pub fn audit_pool(url: &DatabaseUrl) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url
        .expose()
        .parse()
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL"))?;
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(DATABASE_ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

/// Sets up the Lease, retrying (with backoff) while the API server is unreachable.
async fn connect_lease(
    client: Client,
    config: &LeaseConfig,
    mut stop: watch::Receiver<bool>,
) -> Option<kube_lease_manager::LeaseManager> {
    let mut wait = Duration::from_secs(1);
    loop {
        match leader::manager(client.clone(), config).await {
            Ok(manager) => return Some(manager),
            Err(e) => {
                error!(error = %ErrorChain(&e), retry_in_secs = wait.as_secs(), "cannot reach the Lease; retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

async fn finish(server: tokio::task::JoinHandle<Result<(), http::Error>>) -> anyhow::Result<()> {
    match server.await {
        Ok(result) => result.context("health/metrics server")?,
        Err(e) => warn!(error = %e, "health/metrics server task failed"),
    }
    info!("stopped");
    Ok(())
}

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
