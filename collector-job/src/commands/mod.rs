//! What each subcommand does, apart from the process shell around it (`app`).

pub mod collect;
pub mod import;
pub mod login;
