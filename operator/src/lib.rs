//! The ChannelCollection operator: schedules collector Jobs and reports their runs.
//!
//! Pure core: `schedule`, `validate`, `job`, `runs`, `status`, `conditions`, `decide`,
//! `progress` (live progress from the `run-status` crate merged into the status).
//! Shell: `reconcile`, `controller`, `leader`, `http`, `retention` (audit-log retention),
//! `app` (the binary's edge).

pub mod app;
pub mod cli;
pub mod conditions;
pub mod controller;
pub mod decide;
pub mod http;
pub mod job;
pub mod leader;
pub mod metrics;
pub mod progress;
pub mod reconcile;
pub mod retention;
pub mod runs;
pub mod schedule;
pub mod status;
pub mod telemetry;
pub use crds::time;
pub mod validate;
