//! Wires the kube-runtime Controller: watch collections (all namespaces or one), own
//! their Jobs, reconcile, stop gracefully when asked.

use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crds::ChannelCollection;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, Resource,
    runtime::{Controller, reflector::Store, watcher},
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::{
    job::{LABEL_MANAGED_BY, MANAGED_BY},
    reconcile::{Context, ErrorChain, error_policy, reconcile},
};

/// Runs the controller until `stop` turns true; in-flight reconciles get
/// `Context::shutdown_grace` to finish (kube-runtime's graceful shutdown does not end
/// while its watches are backing off from an unreachable API server, so it is bounded).
///
/// `synced` turns true once the first list of collections has arrived (readiness).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    synced: Arc<AtomicBool>,
    stop: watch::Receiver<bool>,
) {
    let client = ctx.client.clone();
    let grace = ctx.shutdown_grace;
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
    // The per-collection metrics read this cache while this controller runs.
    let _serving = ctx.metrics.collections.serve(store.clone(), synced.clone());
    tokio::spawn(async move {
        if first_sync(&store).await {
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
    let running = controller
        .owns(jobs, owned)
        .graceful_shutdown_on(crate::app::stopped(stop.clone()))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, action)) => debug!(%object, ?action, "reconciled"),
                Err(error) => warn!(error = %ErrorChain(&error), "controller"),
            }
        });
    let deadline = async move {
        crate::app::stopped(stop).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = running => info!("controller stopped"),
        () = deadline => warn!(grace_secs = grace.as_secs(), "controller did not stop in time; dropped it"),
    }
}

/// How often [`first_sync`] looks again.
const SYNC_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Resolves once `store` holds its first complete list; false if its writer went away first.
///
/// The controller waits for its store too, and a store wakes only the waiter that polled it
/// last, so one plain `wait_until_ready` here could sleep forever: it is polled again and again.
pub async fn first_sync<K>(store: &Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    loop {
        if let Ok(ready) = tokio::time::timeout(SYNC_POLL, store.wait_until_ready()).await {
            return ready.is_ok();
        }
    }
}
