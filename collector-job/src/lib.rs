//! The collector Job: collects Telegram channel history into PostgreSQL and writes the audit
//! log the operator turns into `.status` (docs/job-contract.md).

pub mod app;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod config;
pub mod export;
pub mod export_reader;
/// The scripted `Source` of the tests (flood waits, private channels, revoked sessions on
/// cue); not in the binary.
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod flood;
pub mod import;
pub mod login;
pub mod mapping;
pub mod model;
pub mod rpc_error;
pub mod session;
pub mod session_lock;
pub mod shutdown;
pub mod source;
pub mod storable;
pub mod store;
pub mod telegram;
