//! When to re-read a run's audit rows, and whether a derived status is worth a patch.

use std::time::Duration;

use crds::ChannelCollectionStatus;

use crate::derive::DerivedStatus;

/// Default re-read interval while a run is active; the seed's page refreshed every 30 s.
pub const DEFAULT_ACTIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Slowest allowed interval: no slower than the seed's page.
pub const MAX_ACTIVE_INTERVAL: Duration = Duration::from_secs(30);

/// How often the operator re-derives the status of an active run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    active: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            active: DEFAULT_ACTIVE_INTERVAL,
        }
    }
}

impl Cadence {
    /// A cadence re-reading active runs every `active`, clamped to 1 s ..= 30 s.
    pub fn new(active: Duration) -> Self {
        Self {
            active: active.clamp(Duration::from_secs(1), MAX_ACTIVE_INTERVAL),
        }
    }

    /// The re-read interval while a run is active.
    pub fn active_interval(&self) -> Duration {
        self.active
    }

    /// When to reconcile again for progress: every interval while the run is active (also while
    /// its progress is unavailable, to pick the database up again), and never once it is over,
    /// so idle collections cost no database query (the reconcile that sees the run end records
    /// `lastRun` from [`DerivedStatus::finished`] and stops tracking it).
    pub fn requeue_after(&self, derived: &DerivedStatus) -> Option<Duration> {
        derived.currently_collecting.then_some(self.active)
    }
}

/// Whether merging `derived` into `current` changes anything, i.e. whether a status patch is
/// needed. Compares the whole merged status, so no changed field is ignored and an unchanged
/// run produces no patch.
pub fn needs_patch(current: &ChannelCollectionStatus, derived: &DerivedStatus) -> bool {
    let mut next = current.clone();
    derived.apply_to(&mut next);
    next != *current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::CollectionState;

    fn active() -> DerivedStatus {
        DerivedStatus {
            state: CollectionState::Collecting,
            progress: Some("3/10".into()),
            eta: Some("1m0s".into()),
            currently_collecting: true,
            current_channel: Some("@durov".into()),
            channels_processed: 3,
            channels_total: 10,
            messages_collected_current_run: 120,
            errors_current_run: 1,
            flood_wait_seconds_current_run: 0,
            collection_start_time: None,
            estimated_time_remaining: Some(60),
            waiting_until: None,
            recent_errors: Vec::new(),
            finished: None,
            session_invalid: false,
            progress_unavailable: None,
        }
    }

    #[test]
    fn unchanged_run_needs_no_patch() {
        let mut status = ChannelCollectionStatus::default();
        let derived = active();
        assert!(needs_patch(&status, &derived));
        derived.apply_to(&mut status);
        assert!(!needs_patch(&status, &derived));
    }

    /// One edit of a derived status.
    type Change = fn(&mut DerivedStatus);

    #[test]
    fn every_changed_field_needs_a_patch() {
        let mut status = ChannelCollectionStatus::default();
        active().apply_to(&mut status);
        let changes: Vec<(&str, Change)> = vec![
            ("state", |d| d.state = CollectionState::Waiting),
            ("progress", |d| d.progress = Some("4/10".into())),
            ("eta", |d| d.eta = Some("59s".into())),
            ("currently_collecting", |d| d.currently_collecting = false),
            ("current_channel", |d| d.current_channel = None),
            ("channels_processed", |d| d.channels_processed = 4),
            ("channels_total", |d| d.channels_total = 11),
            ("messages", |d| d.messages_collected_current_run = 121),
            ("errors", |d| d.errors_current_run = 2),
            ("start", |d| {
                d.collection_start_time = Some(crate::time::to_k8s(Default::default()))
            }),
            ("seconds left", |d| d.estimated_time_remaining = Some(59)),
            ("waiting_until", |d| {
                d.waiting_until = Some(crate::time::to_k8s(Default::default()))
            }),
            ("recent_errors", |d| {
                d.recent_errors.push(crds::ChannelError {
                    channel: "x".into(),
                    reason: "ChannelPrivate".into(),
                    message: "private".into(),
                    time: crate::time::to_k8s(Default::default()),
                })
            }),
            ("finished", |d| {
                d.finished = Some(crds::RunSummary::default())
            }),
        ];
        for (field, change) in changes {
            let mut derived = active();
            change(&mut derived);
            assert!(
                needs_patch(&status, &derived),
                "a change of {field} must be patched"
            );
        }
    }

    #[test]
    fn active_runs_are_reread_idle_ones_never() {
        let cadence = Cadence::default();
        assert_eq!(
            cadence.requeue_after(&active()),
            Some(DEFAULT_ACTIVE_INTERVAL)
        );
        let idle = DerivedStatus {
            currently_collecting: false,
            ..active()
        };
        assert_eq!(cadence.requeue_after(&idle), None);
        assert!(DEFAULT_ACTIVE_INTERVAL <= MAX_ACTIVE_INTERVAL);
    }

    #[test]
    fn cadence_is_clamped_to_the_seed_refresh() {
        assert_eq!(
            Cadence::new(Duration::from_secs(120)).active_interval(),
            MAX_ACTIVE_INTERVAL
        );
        assert_eq!(
            Cadence::new(Duration::ZERO).active_interval(),
            Duration::from_secs(1)
        );
        assert_eq!(
            Cadence::new(Duration::from_secs(10)).active_interval(),
            Duration::from_secs(10)
        );
    }
}
