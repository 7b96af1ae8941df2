//! What both binaries print: their logs (one subscriber setup) and their errors (one line per
//! error, its causes included).

mod error_line;
mod logging;

pub use error_line::{ErrorChain, database_reason, one_line};
pub use logging::{LogFormat, init, init_with, subscriber};
