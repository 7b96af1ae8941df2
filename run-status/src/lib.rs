//! Live status of a `ChannelCollection` run, derived from its Job and its audit-log rows.
//!
//! The core is pure: [`derive()`] maps (the collection, the run it follows: Job + audit rows +
//! per-channel history, `now`) to a [`DerivedStatus`] that [`DerivedStatus::apply_to`] merges
//! into `.status`. Around it: [`reader`] (the two indexed queries an active run needs),
//! [`Cadence`] (re-read every few seconds while a run is active, never while idle) and
//! [`needs_patch`] (an unchanged run produces no patch).
//!
//! Fixes over the seed: audit rows are matched to runs by run id (never by timestamps); a run
//! is collecting only while its Job is active, and a Job that failed, hit its deadline or was
//! deleted without `collection_end` becomes a failed run with a reason; retried pods each start
//! an attempt and status follows the newest; the ETA costs each channel by what is known about
//! it (see [`eta`]); flood waits show as `Waiting` with their end; future times are only ever
//! written to string fields.
//!
//! Wiring, per reconcile of a collection:
//! 1. Find the run to follow with [`followed_run`] (`status.activeJob`, else a newly active
//!    Job). If there is one, read it with [`reader::read_snapshot`] when a database is
//!    configured (else pass [`ProgressUnavailable::NotConfigured`]); on error log it and pass
//!    [`ProgressUnavailable::Unreachable`] ([`reader::input_from`] does this mapping). No run:
//!    no query.
//! 2. `let derived = derive(&collection, run.as_ref(), now);` (`collection.status` is the
//!    stored status: its final numbers and errors carry over).
//! 3. Build the Job-level status, then `derived.apply_to(&mut status)`; patch only if
//!    `needs_patch(&stored, &derived)` or a Job-level field changed. `apply_to` sets `state`:
//!    an invalid spec's `Failed` must be set after it. When `derived.finished` is set, the run
//!    is over: clear `activeJob` (and set `lastSuccessfulTime` when it succeeded); its
//!    `lastRun` (reason and counts from the audit log) should be kept as is afterwards. Map
//!    `derived.session_invalid` to `Stalled=True` reason [`SESSION_INVALID`] and
//!    `derived.progress_unavailable` to the `ProgressUnavailable` condition.
//! 4. Requeue after [`Cadence::requeue_after`].
//!
//! The operator's `reconcile` and `progress` modules do this; they read the history once per
//! run ([`reader::read_history`]) and only the run's rows ([`reader::read_run_rows`]) on later
//! refreshes.
//!
//! The ETA in the status is rounded ([`eta::quantize`]) so that a run counting down between two
//! audit rows does not need a patch at every refresh, nor a reconcile triggered by the
//! operator's own status patch.

pub mod eta;
pub mod flood;
pub mod follow;
pub mod history;
pub mod job;
pub mod reader;
pub mod runlog;
pub use crds::time;

mod derive;
mod refresh;

pub use derive::{
    ABORTED, AuditInput, DerivedStatus, ProgressUnavailable, SESSION_INVALID, TrackedRun, derive,
};
pub use follow::followed_run;
pub use history::ChannelHistory;
pub use job::{JOB_DELETED, JobPhase};
pub use reader::{AuditSnapshot, ReadError};
pub use refresh::{Cadence, DEFAULT_ACTIVE_INTERVAL, MAX_ACTIVE_INTERVAL, needs_patch};
