//! Progress pushed, not polled: PostgreSQL announces every audit row of a collection
//! ([`contract::audit::NOTIFY_CHANNEL`]), and the collection that wrote it is reconciled at
//! once. When the listening connection drops (or before the first one is up), every collection
//! with an active run is reconciled once the connection is back: the rows themselves are the
//! record, so nothing written meanwhile is lost. The periodic refresh stays as the safety net.

use std::{collections::VecDeque, time::Duration};

use contract::audit::{NOTIFY_CHANNEL, notified_collection};
use crds::ChannelCollection;
use futures::{Stream, stream};
use kube::runtime::reflector::ObjectRef;
use sqlx::{PgPool, postgres::PgListener};
use tracing::{debug, info, warn};

use telemetry::ErrorChain;

/// Longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The collections to reconcile: one per announced row, and every active one (from
/// `active`, read from the cache) whenever listening (re)starts.
pub fn triggers<F>(pool: PgPool, active: F) -> impl Stream<Item = ObjectRef<ChannelCollection>>
where
    F: Fn() -> Vec<ObjectRef<ChannelCollection>> + Send + 'static,
{
    let state = Listening {
        pool,
        active,
        listener: None,
        queued: VecDeque::new(),
        backoff: Duration::from_secs(1),
    };
    stream::unfold(state, |mut state| async move {
        let next = state.next().await;
        Some((next, state))
    })
}

struct Listening<F> {
    pool: PgPool,
    active: F,
    listener: Option<PgListener>,
    /// Collections to hand out before listening again (the catch-up after a reconnect).
    queued: VecDeque<ObjectRef<ChannelCollection>>,
    backoff: Duration,
}

impl<F> Listening<F>
where
    F: Fn() -> Vec<ObjectRef<ChannelCollection>>,
{
    async fn next(&mut self) -> ObjectRef<ChannelCollection> {
        loop {
            if let Some(next) = self.queued.pop_front() {
                return next;
            }
            let Some(listener) = self.listener.as_mut() else {
                self.connect().await;
                continue;
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => match notified_collection(notification.payload()) {
                    Some((namespace, name)) => {
                        return ObjectRef::new(name).within(namespace);
                    }
                    None => debug!(
                        payload = notification.payload(),
                        "unknown audit-log notification"
                    ),
                },
                // The connection dropped; sqlx listens again on the next call. What was
                // announced meanwhile is lost: catch up from the rows.
                Ok(None) => {
                    warn!("the audit-log notification connection dropped; catching up");
                    self.queued.extend((self.active)());
                }
                Err(error) => {
                    warn!(error = %ErrorChain(&error), "cannot receive audit-log notifications; listening again");
                    self.listener = None;
                }
            }
        }
    }

    /// Listens again, waiting longer after each failure; then catches up.
    async fn connect(&mut self) {
        let listener = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(listener) => {
                info!(channel = NOTIFY_CHANNEL, "listening to the audit log");
                self.listener = Some(listener);
                self.backoff = Duration::from_secs(1);
                self.queued.extend((self.active)());
            }
            Err(error) => {
                warn!(error = %ErrorChain(&error), retry_in_secs = self.backoff.as_secs(), "cannot listen to the audit log");
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
