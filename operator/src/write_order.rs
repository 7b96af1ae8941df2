//! The order of the operator's requests to the API server in a due minute: the Jobs first.
//!
//! A real API server is CPU-bound in a burst: every request in flight slows the others, so a
//! status write or an Event sent while Jobs are still to be created delays those Jobs. Each
//! request of a reconcile therefore takes a slot of one [`WriteOrder`] first:
//!
//! - a [`Lane::Run`] request (creating, reading or deleting a run's Job) goes as soon as fewer
//!   than `limit` requests are in flight;
//! - a [`Lane::Status`] write, and after those a [`Lane::Event`], only while no run request
//!   waits or is in flight, so none reaches the server ahead of a due Job.
//!
//! `limit` keeps the requests in flight near what saturates the server (a bare client's 32
//! threads): the kube client opens an HTTP/1.1 connection, with its TLS handshake, per request
//! in flight, and a thousand at once cost the server more than they gain. Watches and the
//! leader Lease do not take slots.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

/// What a request is for, in the order they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A run's Job: created, read back (AlreadyExists) or deleted.
    Run = 0,
    /// A collection's status write.
    Status = 1,
    /// An Event.
    Event = 2,
}

const LANES: usize = 3;

/// Requests in flight and waiting, per lane.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Counts {
    in_flight: [usize; LANES],
    waiting: [usize; LANES],
}

impl Counts {
    /// Whether a request of `lane` may go now, with `limit` in flight at most.
    fn may_go(&self, lane: Lane, limit: usize) -> bool {
        let total: usize = self.in_flight.iter().sum();
        if total >= limit {
            return false;
        }
        let run = Lane::Run as usize;
        match lane {
            Lane::Run => true,
            Lane::Status => self.waiting[run] == 0 && self.in_flight[run] == 0,
            Lane::Event => {
                self.waiting[run] == 0
                    && self.in_flight[run] == 0
                    && self.waiting[Lane::Status as usize] == 0
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    counts: Counts,
    queues: [VecDeque<oneshot::Sender<()>>; LANES],
}

impl State {
    /// Lets waiting requests go, the first lane first, while the rules allow.
    fn dispatch(&mut self, limit: usize) {
        for lane in [Lane::Run, Lane::Status, Lane::Event] {
            let i = lane as usize;
            while !self.queues[i].is_empty() && self.counts.may_go(lane, limit) {
                let Some(waiter) = self.queues[i].pop_front() else {
                    break;
                };
                self.counts.waiting[i] -= 1;
                // A waiter that gave up (its reconcile was dropped) takes no slot.
                if waiter.send(()).is_ok() {
                    self.counts.in_flight[i] += 1;
                }
            }
        }
    }
}

/// The slots every write of the operator takes (cheap to clone).
#[derive(Debug, Clone)]
pub struct WriteOrder {
    limit: usize,
    state: Arc<Mutex<State>>,
}

/// A request's place in flight; dropping it lets the next one go.
#[derive(Debug)]
pub struct Slot {
    lane: Lane,
    state: Arc<Mutex<State>>,
    limit: usize,
}

/// Requests in flight at most by default: what a bare client keeps in flight to create Jobs
/// at a 2-core API server's full pace.
pub const DEFAULT_LIMIT: usize = 32;

impl Default for WriteOrder {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl WriteOrder {
    /// At most `limit` requests in flight (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot of `lane`.
    pub async fn slot(&self, lane: Lane) -> Slot {
        let i = lane as usize;
        let waiting = {
            let mut state = self.lock();
            if state.queues[i].is_empty() && state.counts.may_go(lane, self.limit) {
                state.counts.in_flight[i] += 1;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                state.queues[i].push_back(tx);
                state.counts.waiting[i] += 1;
                Some(rx)
            }
        };
        if let Some(rx) = waiting {
            let mut pending = Pending {
                rx: Some(rx),
                order: self,
                lane,
            };
            if let Some(rx) = pending.rx.as_mut() {
                // The sender lives in the queue until it is sent on: it is never dropped.
                let _ = rx.await;
            }
            pending.rx = None;
        }
        Slot {
            lane,
            state: self.state.clone(),
            limit: self.limit,
        }
    }

    /// Requests in flight and waiting, by lane.
    #[cfg(test)]
    fn counts(&self) -> Counts {
        self.lock().counts.clone()
    }
}

/// A wait for a slot; dropped before it is granted, it gives back a slot granted meanwhile.
struct Pending<'a> {
    rx: Option<oneshot::Receiver<()>>,
    order: &'a WriteOrder,
    lane: Lane,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        rx.close();
        if rx.try_recv().is_ok() {
            // Granted after all: hand the slot on.
            drop(Slot {
                lane: self.lane,
                state: self.order.state.clone(),
                limit: self.order.limit,
            });
        }
        // Not granted: its sender, still queued, fails on send and takes no slot.
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.counts.in_flight[self.lane as usize] -= 1;
        state.dispatch(self.limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn status_writes_and_events_wait_for_every_run_request() {
        let mut counts = Counts::default();
        assert!(counts.may_go(Lane::Status, 4), "idle: anything goes");
        assert!(counts.may_go(Lane::Event, 4));
        counts.in_flight[Lane::Run as usize] = 1;
        assert!(counts.may_go(Lane::Run, 4));
        assert!(!counts.may_go(Lane::Status, 4), "a Job in flight");
        assert!(!counts.may_go(Lane::Event, 4));
        counts.in_flight[Lane::Run as usize] = 0;
        counts.waiting[Lane::Run as usize] = 1;
        assert!(!counts.may_go(Lane::Status, 4), "a Job waiting");
        counts.waiting[Lane::Run as usize] = 0;
        counts.waiting[Lane::Status as usize] = 1;
        assert!(counts.may_go(Lane::Status, 4));
        assert!(!counts.may_go(Lane::Event, 4), "Events after status writes");
        counts.in_flight[Lane::Status as usize] = 4;
        assert!(!counts.may_go(Lane::Run, 4), "the limit holds for Jobs too");
    }

    #[tokio::test]
    async fn a_status_write_queued_first_goes_after_the_jobs_queued_later() {
        let order = WriteOrder::new(1);
        let first_job = order.slot(Lane::Run).await;
        let mut status = Box::pin(order.slot(Lane::Status));
        let mut event = Box::pin(order.slot(Lane::Event));
        let mut second_job = Box::pin(order.slot(Lane::Run));
        // Queued in this order: the status write, the Event, the Job.
        assert!(status.as_mut().now_or_never().is_none());
        assert!(event.as_mut().now_or_never().is_none());
        assert!(second_job.as_mut().now_or_never().is_none());
        drop(first_job);
        assert!(status.as_mut().now_or_never().is_none(), "a Job waits");
        let second_job = second_job.as_mut().now_or_never().expect("the Job goes");
        assert!(event.as_mut().now_or_never().is_none());
        drop(second_job);
        let status = status.now_or_never().expect("then the status write");
        assert!(event.as_mut().now_or_never().is_none(), "one at a time");
        drop(status);
        assert!(event.now_or_never().is_some(), "then the Event");
        assert_eq!(order.counts(), Counts::default());
    }

    #[tokio::test]
    async fn a_wait_given_up_takes_no_slot() {
        let order = WriteOrder::new(1);
        let job = order.slot(Lane::Run).await;
        let mut abandoned = Box::pin(order.slot(Lane::Run));
        assert!(abandoned.as_mut().now_or_never().is_none());
        drop(abandoned);
        let mut next = Box::pin(order.slot(Lane::Status));
        assert!(next.as_mut().now_or_never().is_none(), "behind the Job");
        drop(job);
        let status = next.as_mut().now_or_never().expect("the slot passed on");
        drop(status);
        assert_eq!(order.counts(), Counts::default());
    }

    #[tokio::test]
    async fn a_slot_granted_to_a_wait_given_up_is_handed_on() {
        let order = WriteOrder::new(1);
        let job = order.slot(Lane::Run).await;
        let mut granted = Box::pin(order.slot(Lane::Run));
        let mut later = Box::pin(order.slot(Lane::Run));
        assert!(granted.as_mut().now_or_never().is_none());
        assert!(later.as_mut().now_or_never().is_none());
        drop(job); // grants `granted`, which is never polled again
        drop(granted);
        assert!(later.now_or_never().is_some(), "the slot reached the next");
    }
}
