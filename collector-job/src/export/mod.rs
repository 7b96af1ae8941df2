//! Telegram Desktop's JSON export: the file read as a stream (`reader`) and each message in
//! it turned into the row `collect` would store (`mapping`), from each message's JSON
//! (`message_json`).

pub mod mapping;
pub mod message_json;
pub mod reader;
