//! Events on the collections, written off the reconcile's path (as client-go's broadcaster):
//! a reconcile queues its Events and goes on, and one task writes them through a client on
//! the throttle's background lane, so a due minute's Job creations and status writes never
//! wait behind its Events, and a slow Events API never delays a run.

use std::future::Future;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::{
    status::Notice,
    write_order::{Lane, WriteOrder},
};

/// Events queued and not yet written, at most: a due minute of a thousand collections queues
/// one or two each. Beyond it an Event is dropped (and counted), never a reconcile delayed.
pub const QUEUE_CAPACITY: usize = 4096;

/// Events written at once.
const WRITERS: usize = 8;

/// An Event and the object it is about.
struct Queued {
    event: Event,
    regarding: ObjectReference,
}

/// Queues Events for the writer task (cheap to clone).
#[derive(Clone)]
pub struct Publisher {
    queue: mpsc::Sender<Queued>,
    dropped: Counter,
}

impl Publisher {
    /// A publisher, and the task that writes its Events through `recorder` while `leader` is
    /// true, each in an Event slot of `order` (after every due Job and status write). The task
    /// ends once every clone of the publisher is gone and the queue is empty.
    pub fn new(
        recorder: Recorder,
        leader: watch::Receiver<bool>,
        dropped: Counter,
        order: WriteOrder,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (queue, queued) = mpsc::channel(QUEUE_CAPACITY);
        let writing = futures::stream::unfold(queued, |mut queued| async move {
            queued.recv().await.map(|q| (q, queued))
        })
        .for_each_concurrent(WRITERS, move |queued: Queued| {
            let (recorder, leader, order) = (recorder.clone(), leader.clone(), order.clone());
            async move {
                let _slot = order.slot(Lane::Event).await;
                // The lease may have gone since the Event was queued.
                if !*leader.borrow() {
                    return;
                }
                if let Err(error) = recorder.publish(&queued.event, &queued.regarding).await {
                    warn!(reason = %queued.event.reason, error = %error, "publishing an Event failed");
                }
            }
        });
        (Self { queue, dropped }, writing)
    }

    /// [`Publisher::new`] with its writer task spawned.
    pub fn spawn(
        recorder: Recorder,
        leader: watch::Receiver<bool>,
        dropped: Counter,
        order: WriteOrder,
    ) -> Self {
        let (publisher, writing) = Self::new(recorder, leader, dropped, order);
        tokio::spawn(writing);
        publisher
    }

    /// Queues `notice` about `regarding`; when the queue is full it is dropped and counted.
    pub fn publish(&self, regarding: ObjectReference, notice: &Notice) {
        let event = Event {
            type_: if notice.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: notice.reason.to_string(),
            note: Some(notice.note.clone()),
            action: "Reconcile".to_string(),
            secondary: None,
        };
        if self.queue.try_send(Queued { event, regarding }).is_err() {
            self.dropped.inc();
            warn!(
                reason = notice.reason,
                "the Event queue is full; Event dropped"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::{Client, runtime::events::Reporter};

    fn reporter() -> Reporter {
        Reporter {
            controller: "test".into(),
            instance: None,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (service, _handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let client = Client::new(service, "default");
        let (_gate, leader) = watch::channel(true);
        let dropped = Counter::default();
        // The writer is never run: nothing leaves the queue.
        let (publisher, _writer) = Publisher::new(
            Recorder::new(client, reporter()),
            leader,
            dropped.clone(),
            WriteOrder::default(),
        );
        let notice = Notice::normal("JobCreated", "Created Job news-1".into());
        for _ in 0..QUEUE_CAPACITY + 3 {
            publisher.publish(ObjectReference::default(), &notice);
        }
        assert_eq!(dropped.get(), 3);
    }
}
