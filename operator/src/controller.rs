//! Wires the kube-runtime Controller: watch collections (all namespaces or one), own
//! their Jobs, reconcile, stop gracefully when asked.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crds::ChannelCollection;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api,
    runtime::{Controller, watcher},
};
use tracing::{debug, info, warn};

use crate::{
    job::{LABEL_MANAGED_BY, MANAGED_BY},
    reconcile::{Context, ErrorChain, error_policy, reconcile},
};

/// Runs the controller until `shutdown` resolves (in-flight reconciles finish first).
///
/// `synced` turns true once the first list of collections has arrived (readiness).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    synced: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (collections, jobs): (Api<ChannelCollection>, Api<Job>) = match namespace.as_deref() {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client, ns),
        ),
        None => (Api::all(client.clone()), Api::all(client)),
    };
    synced.store(false, Ordering::Release);
    let controller = Controller::new(collections, watcher::Config::default().any_semantic());
    let store = controller.store();
    tokio::spawn(async move {
        if store.wait_until_ready().await.is_ok() {
            synced.store(true, Ordering::Release);
            info!("first watch sync done");
        }
    });
    // Only our Jobs are watched (and cached), not every Job in the cluster.
    let owned = watcher::Config::default()
        .labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}"))
        .any_semantic();
    info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        "controller starting"
    );
    controller
        .owns(jobs, owned)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, action)) => debug!(%object, ?action, "reconciled"),
                Err(error) => warn!(error = %ErrorChain(&error), "controller"),
            }
        })
        .await;
    info!("controller stopped");
}
