//! The collector Job: collects Telegram channel history into PostgreSQL and writes the audit
//! log the operator turns into `.status` (docs/job-contract.md).
//!
//! - `app`: the process shell (arguments, configuration, exit codes, signals, the database
//!   connection and the session lock);
//! - `commands`: what `collect`, `import` and `login` do;
//! - `telegram`: the source of messages (grammers over MTProto, its errors and flood waits,
//!   the session blob, and the scripted stand-in of the tests);
//! - `export`: reading a Telegram Desktop export;
//! - `store`: the rows and the tables they are written to.

pub mod app;
pub mod commands;
pub mod export;
pub mod media;
pub mod store;
pub mod telegram;
