//! The rows the collector stores, independent of where they came from (MTProto or a
//! Telegram Desktop export).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One channel message as stored in `messages`.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRow {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub edit_date: Option<DateTime<Utc>>,
    pub text: String,
    pub views: Option<i32>,
    pub forwards: Option<i32>,
    pub replies: Option<i32>,
    pub post_author: Option<String>,
    pub grouped_id: Option<i64>,
    pub reply_to_message_id: Option<i64>,
    /// The forward header as JSON (`from_id`, `from_name`, `date`, `channel_post`, `post_author`).
    pub forward: Option<serde_json::Value>,
    pub media: Option<Media>,
    /// Empty when the message has no reactions.
    pub reactions: Vec<Reaction>,
}

impl MessageRow {
    /// A plain text message; the other fields are filled in by the caller.
    pub fn text(id: i64, date: DateTime<Utc>, text: impl Into<String>) -> Self {
        Self {
            id,
            date,
            edit_date: None,
            text: text.into(),
            views: None,
            forwards: None,
            replies: None,
            post_author: None,
            grouped_id: None,
            reply_to_message_id: None,
            forward: None,
            media: None,
            reactions: Vec::new(),
        }
    }

    /// The `reactions` column: NULL when there are none.
    pub fn reactions_json(&self) -> Option<serde_json::Value> {
        if self.reactions.is_empty() {
            None
        } else {
            Some(serde_json::to_value(&self.reactions).expect("reactions are plain data"))
        }
    }
}

/// What kind of media a message carries, and its metadata (never the file itself).
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// `photo`, `document`, `webpage`, `geo`, `poll`, ...
    pub kind: String,
    pub metadata: serde_json::Value,
}

/// One reaction with its count. The custom emoji id is a string: it is a 64-bit id, and
/// JSON readers that use doubles (JavaScript, jq) would round it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reaction {
    Emoji { emoji: String, count: i32 },
    CustomEmoji { document_id: String, count: i32 },
    Paid { count: i32 },
}

/// A channel as Telegram describes it after resolving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedChannel {
    /// Bare channel id.
    pub id: i64,
    pub access_hash: Option<i64>,
    /// Lowercase, without `@`.
    pub username: Option<String>,
    pub title: Option<String>,
}

/// A channel as stored in `channels`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChannel {
    pub id: i64,
    pub access_hash: Option<i64>,
    pub username: Option<String>,
    pub title: Option<String>,
    /// Highest message id collected so far; 0 before the first run.
    pub checkpoint: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_serialise_with_a_type_tag_and_string_ids() {
        let reactions = vec![
            Reaction::Emoji {
                emoji: "👍".into(),
                count: 5,
            },
            Reaction::CustomEmoji {
                document_id: "5368324170671202286".into(),
                count: 2,
            },
            Reaction::Paid { count: 10 },
        ];
        assert_eq!(
            serde_json::to_value(&reactions).unwrap(),
            serde_json::json!([
                {"type": "emoji", "emoji": "👍", "count": 5},
                {"type": "custom_emoji", "document_id": "5368324170671202286", "count": 2},
                {"type": "paid", "count": 10}
            ])
        );
    }

    #[test]
    fn no_reactions_is_null_not_an_empty_array() {
        let row = MessageRow::text(1, DateTime::UNIX_EPOCH, "x");
        assert_eq!(row.reactions_json(), None);
    }
}
