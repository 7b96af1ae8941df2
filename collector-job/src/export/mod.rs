//! Telegram Desktop's JSON export: the file read as a stream (`reader`) and each message in
//! it turned into the row `collect` would store (`mapping`), from each message's JSON
//! (`message_json`), and the file a message names beside the export (`files`).

pub mod files;
pub mod mapping;
pub mod message_json;
pub mod reader;
