//! Telegram Desktop's JSON export (`result.json`): one chat, or a full export whose chats sit
//! in `chats.list` (and `left_chats.list`). Parsed completely before anything is stored, so
//! an unreadable file changes nothing. Pure: text in, rows out.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::model::{Media, MessageRow, Reaction};

/// One channel (or supergroup) of an export, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedChat {
    /// Bare channel id.
    pub id: i64,
    pub name: String,
    /// Oldest first.
    pub messages: Vec<MessageRow>,
    /// Highest message id in the export, service messages included.
    pub last_id: Option<i64>,
}

/// What an export holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub chats: Vec<ExportedChat>,
    /// Chats of other kinds (private chats, basic groups, bots): nothing to collect there.
    pub skipped: Vec<String>,
}

/// An export that cannot be imported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    #[error("not a Telegram Desktop JSON export ({detail})")]
    Json { detail: String },
    #[error("not a Telegram Desktop JSON export (neither a chat with messages nor chats.list)")]
    Shape,
    #[error("chat {chat:?}, message {message}: {problem}")]
    Message {
        chat: String,
        message: i64,
        problem: String,
    },
    #[error("the export holds no channel or supergroup to import")]
    NoChannels,
}

#[derive(Deserialize)]
struct ChatJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    id: i64,
    #[serde(default)]
    messages: Vec<MessageJson>,
}

#[derive(Deserialize)]
struct ListJson {
    list: Vec<ChatJson>,
}

#[derive(Deserialize)]
struct FullJson {
    chats: ListJson,
    #[serde(default)]
    left_chats: Option<ListJson>,
}

#[derive(Deserialize)]
struct MessageJson {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    date_unixtime: Option<String>,
    #[serde(default)]
    edited: Option<String>,
    #[serde(default)]
    edited_unixtime: Option<String>,
    #[serde(default)]
    text: Value,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    forwarded_from: Option<String>,
    #[serde(default)]
    forwarded_from_id: Option<String>,
    #[serde(default)]
    reply_to_message_id: Option<i64>,
    #[serde(default)]
    reactions: Vec<ReactionJson>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct ReactionJson {
    #[serde(rename = "type")]
    kind: String,
    count: i32,
    #[serde(default)]
    emoji: Option<String>,
    #[serde(default)]
    document_id: Option<Value>,
}

const CHANNEL_KINDS: [&str; 4] = [
    "public_channel",
    "private_channel",
    "public_supergroup",
    "private_supergroup",
];

/// Parses a whole export.
pub fn parse(text: &str) -> Result<Export, ExportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ExportError::Json {
        detail: crate::config::json_detail(&e),
    })?;
    let shape = |e: serde_json::Error| ExportError::Json {
        detail: e.to_string(),
    };
    let chats = if value.get("chats").is_some() {
        let full: FullJson = serde_json::from_value(value).map_err(shape)?;
        let mut chats = full.chats.list;
        chats.extend(full.left_chats.map(|l| l.list).unwrap_or_default());
        chats
    } else if value.get("messages").is_some() {
        vec![serde_json::from_value::<ChatJson>(value).map_err(shape)?]
    } else {
        return Err(ExportError::Shape);
    };
    let mut export = Export {
        chats: Vec::new(),
        skipped: Vec::new(),
    };
    for chat in chats {
        let name = chat.name.clone().unwrap_or_else(|| chat.id.to_string());
        if !CHANNEL_KINDS.contains(&chat.kind.as_str()) {
            export.skipped.push(name);
            continue;
        }
        export.chats.push(chat_rows(chat, name)?);
    }
    if export.chats.is_empty() {
        return Err(ExportError::NoChannels);
    }
    Ok(export)
}

fn chat_rows(chat: ChatJson, name: String) -> Result<ExportedChat, ExportError> {
    // Some exporters write Bot API ids (-100…); the tables hold bare ids.
    let id = if chat.id < 0 {
        (-chat.id) - 1_000_000_000_000
    } else {
        chat.id
    };
    let mut messages = Vec::with_capacity(chat.messages.len());
    let mut last_id = None;
    for message in chat.messages {
        last_id = Some(last_id.map_or(message.id, |last: i64| last.max(message.id)));
        if message.kind != "message" {
            continue;
        }
        let id = message.id;
        let problem = |problem: String| ExportError::Message {
            chat: name.clone(),
            message: id,
            problem,
        };
        messages.push(message_row(message).map_err(problem)?);
    }
    messages.sort_by_key(|m| m.id);
    Ok(ExportedChat {
        id,
        name,
        messages,
        last_id,
    })
}

fn instant(
    unix: Option<&str>,
    local: Option<&str>,
    what: &str,
) -> Result<Option<DateTime<Utc>>, String> {
    if let Some(unix) = unix {
        let seconds: i64 = unix
            .parse()
            .map_err(|_| format!("{what}_unixtime is not a number"))?;
        return DateTime::from_timestamp(seconds, 0)
            .map(Some)
            .ok_or_else(|| format!("{what}_unixtime is out of range"));
    }
    match local {
        // Older exports only have the exporter's local time; read it as UTC.
        Some(local) => NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S")
            .map(|naive| Some(naive.and_utc()))
            .map_err(|_| format!("{what} is not a date")),
        None => Ok(None),
    }
}

/// The text of a message: a string, or an array of strings and `{type, text}` pieces.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part {
                Value::String(s) => s.as_str(),
                other => other.get("text").and_then(Value::as_str).unwrap_or(""),
            })
            .collect(),
        _ => String::new(),
    }
}

fn message_row(m: MessageJson) -> Result<MessageRow, String> {
    let date = instant(m.date_unixtime.as_deref(), m.date.as_deref(), "date")?
        .ok_or_else(|| "has no date".to_owned())?;
    let mut row = MessageRow::text(m.id, date, text(&m.text));
    row.edit_date = instant(m.edited_unixtime.as_deref(), m.edited.as_deref(), "edited")?;
    row.post_author = m.author;
    row.reply_to_message_id = m.reply_to_message_id;
    if m.forwarded_from.is_some() || m.forwarded_from_id.is_some() {
        let mut forward = Map::new();
        if let Some(name) = m.forwarded_from {
            forward.insert("from_name".into(), json!(name));
        }
        if let Some(id) = m.forwarded_from_id {
            forward.insert("from_id".into(), json!(id));
        }
        row.forward = Some(Value::Object(forward));
    }
    row.reactions = m
        .reactions
        .into_iter()
        .map(|r| match r.kind.as_str() {
            "emoji" => Ok(Reaction::Emoji {
                emoji: r.emoji.ok_or("emoji reaction without emoji")?,
                count: r.count,
            }),
            "custom_emoji" => {
                let document_id = match r.document_id {
                    Some(Value::String(s)) => s,
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err("custom emoji reaction without document_id".to_owned()),
                };
                Ok(Reaction::CustomEmoji {
                    document_id,
                    count: r.count,
                })
            }
            "paid" => Ok(Reaction::Paid { count: r.count }),
            other => Err(format!("unknown reaction type {other:?}")),
        })
        .collect::<Result<_, String>>()?;
    row.media = media(&m.rest);
    Ok(row)
}

/// The export's media fields, as kind + metadata like the MTProto mapping.
fn media(rest: &Map<String, Value>) -> Option<Media> {
    let pick = |keys: &[&str]| {
        let mut out = Map::new();
        for key in keys {
            if let Some(value) = rest.get(*key) {
                out.insert((*key).to_owned(), value.clone());
            }
        }
        Value::Object(out)
    };
    let (kind, metadata) = if rest.contains_key("photo") {
        ("photo", pick(&["photo", "width", "height"]))
    } else if let Some(poll) = rest.get("poll") {
        ("poll", poll.clone())
    } else if let Some(location) = rest.get("location_information") {
        ("geo", location.clone())
    } else if rest.contains_key("file") || rest.contains_key("media_type") {
        (
            "document",
            pick(&[
                "file",
                "file_name",
                "media_type",
                "mime_type",
                "duration_seconds",
                "width",
                "height",
                "sticker_emoji",
            ]),
        )
    } else {
        return None;
    };
    Some(Media {
        kind: kind.to_owned(),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_made_of_pieces_are_joined() {
        let value = json!(["Hello ", {"type": "bold", "text": "world"}, "!"]);
        assert_eq!(text(&value), "Hello world!");
        assert_eq!(text(&json!("plain")), "plain");
    }

    #[test]
    fn bot_api_ids_become_bare_ids() {
        let export = parse(
            r#"{"name": "x", "type": "public_channel", "id": -1001006503122, "messages": []}"#,
        )
        .unwrap();
        assert_eq!(export.chats[0].id, 1006503122);
    }

    #[test]
    fn unparseable_files_say_where_without_quoting() {
        let error = parse("{\"name\": \"secret-ish\", ").unwrap_err();
        assert!(matches!(error, ExportError::Json { .. }), "{error}");
        assert!(!error.to_string().contains("secret-ish"), "{error}");
        assert_eq!(parse("{}").unwrap_err(), ExportError::Shape);
        assert_eq!(parse("[1, 2]").unwrap_err(), ExportError::Shape);
        let personal = r#"{"name": "Bob", "type": "personal_chat", "id": 5, "messages": []}"#;
        assert_eq!(parse(personal).unwrap_err(), ExportError::NoChannels);
    }

    #[test]
    fn a_message_without_a_date_names_the_chat_and_message() {
        let chat = r#"{"name": "News", "type": "public_channel", "id": 9,
                       "messages": [{"id": 4, "type": "message", "text": "x"}]}"#;
        assert_eq!(
            parse(chat).unwrap_err(),
            ExportError::Message {
                chat: "News".into(),
                message: 4,
                problem: "has no date".into()
            }
        );
    }
}
