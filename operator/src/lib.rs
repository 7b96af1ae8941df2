//! The ChannelCollection operator: schedules collector Jobs and reports their runs.
//!
//! Pure core (`schedule`, `validate`, `job`, `runs`, `status`, `conditions`, `decide`)
//! and a thin shell (`reconcile`, `controller`, `leader`, `http`) that talks to the API
//! server.

pub mod conditions;
pub mod decide;
pub mod job;
pub mod runs;
pub mod schedule;
pub mod status;
pub mod time;
pub mod validate;
