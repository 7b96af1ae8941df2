//! The ChannelCollection operator: schedules collector Jobs and reports their runs.
//!
//! Pure core: `schedule`, `validate`, `job` (the collector Job, built and read), `runs`,
//! `pods`, `decide` (what to do) and `status` (the one status computation: the run's progress
//! from its audit rows, the conditions, `.status`).
//! Shell: `cache` (the reflectors every read comes from), `listen` (the audit log's
//! notifications), `reconcile` (read -> decide -> apply -> status), `events` (Events written in the background), `controller`, `leader`,
//! `http`, `throttle`, `write_order` (Jobs before status writes and Events), `retention` (audit-log retention), `app` (the binary's edge).

pub mod app;
pub mod cache;
pub mod cli;
pub mod controller;
pub mod decide;
pub mod events;
pub mod http;
pub mod job;
pub mod leader;
pub mod listen;
pub mod metrics;
pub mod pods;
pub mod reconcile;
pub mod retention;
pub mod runs;
pub mod schedule;
pub mod status;
pub mod throttle;
pub use crds::time;
pub mod validate;
pub mod write_order;
