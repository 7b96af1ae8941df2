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
