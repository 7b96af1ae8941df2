//! Wires the kube-runtime Controller to the operator's caches: reconcile each collection when
//! it, one of its Jobs, or one of their pods changes; stop gracefully when asked.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use kube::runtime::{Controller, controller, reflector::ObjectRef};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use telemetry::ErrorChain;

use crate::{
    cache::Caches,
    listen,
    reconcile::{Context, error_policy, reconcile},
};

/// How the controller runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Most reconciles at once (each collection is only ever reconciled once at a time).
    pub concurrency: u16,
    /// How long in-flight reconciles get to finish after `stop` (kube-runtime's graceful
    /// shutdown does not end while a watch backs off from an unreachable API server).
    pub shutdown_grace: Duration,
    /// Reconcile a collection when PostgreSQL announces one of its audit rows.
    pub listen_audit_log: bool,
}

/// Runs the controller until `stop` turns true. It starts once every cache has synced, so
/// the first reconcile of each collection already sees all of its Jobs.
pub async fn run(
    ctx: Arc<Context>,
    caches: &Caches,
    settings: Settings,
    stop: watch::Receiver<bool>,
) {
    tokio::select! {
        synced = caches.readiness.wait() => if !synced { return },
        () = crate::app::stopped(stop.clone()) => return,
    }
    // The per-collection metrics read the synced cache while this replica leads.
    let _serving = ctx
        .metrics
        .collections
        .serve(ctx.stores.collections.clone());
    let stores = ctx.stores.clone();
    info!(concurrency = settings.concurrency, "controller starting");
    let mut controller = Controller::for_shared_stream(
        caches.feeds.collections.subscribe(),
        stores.collections.clone(),
    );
    // Each audit row wakes its collection; without a database there is nothing to listen to.
    if let Some(pool) = ctx.database.clone().filter(|_| settings.listen_audit_log) {
        let collections = stores.collections.clone();
        controller = controller.reconcile_on(listen::triggers(pool, move || {
            collections
                .state()
                .iter()
                .filter(|cc| cc.status.as_ref().is_some_and(|s| s.active_job.is_some()))
                .map(|cc| ObjectRef::from_obj(cc.as_ref()))
                .collect()
        }));
    }
    let running = controller
        .owns_shared_stream(caches.feeds.jobs.subscribe())
        .watches_shared_stream(caches.feeds.pods.subscribe(), move |pod| {
            stores.collection_of_pod(&pod)
        })
        .with_config(controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(crate::app::stopped(stop.clone()))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, action)) => debug!(%object, ?action, "reconciled"),
                Err(error) => warn!(error = %ErrorChain(&error), "controller"),
            }
        });
    let grace = settings.shutdown_grace;
    let deadline = async move {
        crate::app::stopped(stop).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = running => info!("controller stopped"),
        () = deadline => warn!(grace_secs = grace.as_secs(), "controller did not stop in time; dropped it"),
    }
}
