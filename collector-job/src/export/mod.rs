//! Telegram Desktop's JSON export: the file read as a stream (`reader`) and each message in
//! it turned into the row `collect` would store (`mapping`).

pub mod mapping;
pub mod reader;
