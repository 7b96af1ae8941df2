//! The stop request (SIGTERM from the kubelet), as a value the collection loop can be handed,
//! so tests trigger it without signals.

use tokio::sync::watch;

/// Asks a run to stop after its current batch.
#[derive(Clone, Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Observes the stop request.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        // send_replace works even when every receiver is gone.
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// A shutdown that never comes. For tests.
    #[cfg(any(test, feature = "test-support"))]
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        // The receiver keeps reporting `false` once the sender is gone.
        drop(tx);
        Self(rx)
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a stop is requested; never if the trigger is dropped without firing.
    pub async fn requested(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Triggers `trigger` on SIGTERM or Ctrl-C.
pub fn on_signals(trigger: ShutdownTrigger) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stop requested; finishing the current batch");
        trigger.trigger();
    });
    Ok(())
}
