//! Leader election with a Lease (`kube-lease-manager`): only the holder runs the
//! controller. Losing the lease closes the write gate and drops the controller (and its
//! in-flight reconciles) at once; shutdown stops it gracefully and releases the lease.

use std::future::Future;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tracing::{info, warn};

/// Lease settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Name of the Lease object.
    pub name: String,
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// This instance's identity (its pod name).
    pub identity: String,
    /// How long a lease holds without renewal, in seconds.
    pub duration: u64,
    /// Renew this many seconds before expiry.
    pub grace: u64,
}

/// What went wrong with the lease itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("setting up the Lease {name} failed")]
    Setup {
        name: String,
        #[source]
        source: LeaseManagerError,
    },
    #[error("the lease manager stopped")]
    ManagerStopped,
}

/// Connects to (and if needed creates) the Lease.
pub async fn manager(client: Client, config: &LeaseConfig) -> Result<LeaseManager, Error> {
    LeaseManagerBuilder::new(client, &config.name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration)
        .with_grace(config.grace)
        .build()
        .await
        .map_err(|source| Error::Setup {
            name: config.name.clone(),
            source,
        })
}

/// Runs `work` whenever this instance holds the lease.
///
/// `gate` is true exactly while `work` may write. `work` gets the shutdown receiver to
/// stop gracefully; when it returns (after shutdown) the lease is released.
pub async fn run_when_leader<W, Fut>(
    manager: LeaseManager,
    gate: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
    mut work: W,
) -> Result<(), Error>
where
    W: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()>,
{
    let (mut held, task) = manager.watch().await;
    loop {
        while !*held.borrow_and_update() {
            tokio::select! {
                changed = held.changed() => if changed.is_err() {
                    gate.send_replace(false);
                    return Err(Error::ManagerStopped);
                },
                _ = until(&mut shutdown, true) => {
                    drop(held);
                    let _ = task.await;
                    return Ok(());
                }
            }
        }
        gate.send_replace(true);
        info!("acquired the leader lease; starting the controller");
        let lost = {
            let running = work(shutdown.clone());
            tokio::pin!(running);
            tokio::select! {
                () = &mut running => false,
                _ = until(&mut held, false) => true,
            }
        };
        gate.send_replace(false);
        if lost {
            warn!("lost the leader lease; controller stopped, writes stopped");
            continue;
        }
        // The work ended (shutdown): give the lease up so a standby takes over at once.
        drop(held);
        match task.await {
            Ok(Ok(_)) => info!("released the leader lease"),
            Ok(Err(error)) => warn!(error = %error, "releasing the leader lease failed"),
            Err(error) => warn!(error = %error, "lease manager task failed"),
        }
        return Ok(());
    }
}

/// Waits until the channel shows `want`; `false` when its sender is gone first.
async fn until(rx: &mut watch::Receiver<bool>, want: bool) -> bool {
    rx.wait_for(|v| *v == want).await.is_ok()
}
