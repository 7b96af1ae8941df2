//! The rows the collector stores, independent of where they came from (MTProto or a
//! Telegram Desktop export). Both mappings produce exactly these shapes, so every stored field
//! means the same thing whichever path wrote it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One channel message (or service message) as stored in `messages`.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRow {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub edit_date: Option<DateTime<Utc>>,
    pub text: String,
    /// Formatting and links of `text`, offsets in UTF-16 code units as Telegram gives them.
    pub entities: Vec<Entity>,
    /// Who sent it, when the source says (group senders; exports also name the channel).
    pub from_id: Option<Peer>,
    pub from_name: Option<String>,
    pub views: Option<i32>,
    pub forwards: Option<i32>,
    pub replies: Option<i32>,
    pub post_author: Option<String>,
    pub grouped_id: Option<i64>,
    /// The message of THIS channel it replies to.
    pub reply_to_message_id: Option<i64>,
    /// The message of another chat it replies to (never also in `reply_to_message_id`).
    pub reply_to_other_chat: Option<OtherChatReply>,
    /// The forward header, built by [`forward_header`]: `from_id` (a typed [`Peer`]),
    /// `from_name`, `date`, `channel_post`, `post_author`, each only when known.
    pub forward: Option<Value>,
    pub media: Option<Media>,
    /// Empty when the message has no reactions.
    pub reactions: Vec<Reaction>,
    /// Set for service messages (pins, joins, title changes): then `text` is empty.
    pub action: Option<ServiceAction>,
}

impl MessageRow {
    /// A plain text message; the other fields are filled in by the caller.
    pub fn text(id: i64, date: DateTime<Utc>, text: impl Into<String>) -> Self {
        Self {
            id,
            date,
            edit_date: None,
            text: text.into(),
            entities: Vec::new(),
            from_id: None,
            from_name: None,
            views: None,
            forwards: None,
            replies: None,
            post_author: None,
            grouped_id: None,
            reply_to_message_id: None,
            reply_to_other_chat: None,
            forward: None,
            media: None,
            reactions: Vec::new(),
            action: None,
        }
    }

    /// A service message of kind `action` (Telegram Desktop's name, e.g. `pin_message`).
    pub fn service(id: i64, date: DateTime<Utc>, action: ServiceAction) -> Self {
        Self {
            action: Some(action),
            ..Self::text(id, date, "")
        }
    }

    /// The `reactions` column: NULL when there are none.
    pub fn reactions_json(&self) -> Option<Value> {
        (!self.reactions.is_empty())
            .then(|| serde_json::to_value(&self.reactions).expect("reactions are plain data"))
    }

    /// The `entities` column: NULL for unformatted text.
    pub fn entities_json(&self) -> Option<Value> {
        (!self.entities.is_empty())
            .then(|| serde_json::to_value(&self.entities).expect("entities are plain data"))
    }
}

/// A user, basic group or channel, typed: `{"type": "channel", "id": 777}`. Ids are bare
/// (no Bot API `-100` prefix).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    #[serde(rename = "type")]
    pub kind: PeerKind,
    pub id: i64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum PeerKind {
    User,
    Chat,
    Channel,
}

impl Peer {
    pub fn channel(id: i64) -> Self {
        Self {
            kind: PeerKind::Channel,
            id,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::to_value(self).expect("peers are plain data")
    }
}

/// A reply into another chat: `{"peer": {...}, "message_id": 12}`.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherChatReply {
    pub peer: Peer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
}

/// The forward header JSON of both mappings, with only the keys the source knows.
pub fn forward_header(
    from_id: Option<Peer>,
    from_name: Option<&str>,
    date: Option<DateTime<Utc>>,
    channel_post: Option<i64>,
    post_author: Option<&str>,
) -> Value {
    let mut out = Map::new();
    if let Some(from_id) = from_id {
        out.insert("from_id".into(), from_id.json());
    }
    if let Some(name) = from_name {
        out.insert("from_name".into(), name.into());
    }
    if let Some(date) = date {
        out.insert("date".into(), serde_json::json!(date));
    }
    if let Some(post) = channel_post {
        out.insert("channel_post".into(), post.into());
    }
    if let Some(author) = post_author {
        out.insert("post_author".into(), author.into());
    }
    Value::Object(out)
}

/// One formatting or link span of a message's text: `{"type": "text_link", "offset": 0,
/// "length": 4, "href": "https://…"}`. Types and detail keys follow Telegram Desktop's export
/// (`bold`, `text_link` + `href`, `mention_name` + `user_id`, `custom_emoji` + `document_id`
/// as a string, `pre` + `language`, ...); offsets count UTF-16 code units.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: i64,
    pub length: i64,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

/// What kind of media a message carries, and its metadata (never the file itself).
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// `photo`, `document`, `webpage`, `geo`, `poll`, ...
    pub kind: String,
    pub metadata: Value,
}

/// What a service message records: the `action` and `action_data` columns.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAction {
    /// Telegram Desktop's name (`pin_message`, `edit_group_title`, `invite_members`, ...).
    pub kind: String,
    /// Its details (`title`, `message_id`, `member_ids`, ...); NULL in the table when empty.
    pub details: Map<String, Value>,
}

impl ServiceAction {
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            details: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// One reaction with its count and, when the source lists them, who reacted. The custom
/// emoji id is a string: it is a 64-bit id, and JSON readers that use doubles (JavaScript,
/// jq) would round it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reaction {
    Emoji {
        emoji: String,
        count: i32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recent: Vec<Reactor>,
    },
    CustomEmoji {
        document_id: String,
        count: i32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recent: Vec<Reactor>,
    },
    Paid {
        count: i32,
    },
    /// A kind this version does not know (from a newer exporter), kept with its count.
    Unknown {
        source_type: String,
        count: i32,
    },
}

/// Someone who reacted: Telegram lists the most recent ones in small groups.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Reactor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_id: Option<Peer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateTime<Utc>>,
}

/// Which source saw a version of a message, and when: with `edit_date` it decides which of
/// two versions is newer (docs/collector.md, "One merge rule").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub origin: Origin,
    pub at: DateTime<Utc>,
}

/// Where a version came from. For the same edit, a live read is fresher than an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Collect,
    Import,
}

impl Origin {
    /// The `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Collect => "collect",
            Self::Import => "import",
        }
    }
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

/// A channel as stored in `channels`, with the access hash cached for one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChannel {
    pub id: i64,
    /// The account's own cached hash, else the one of the unknown account 0 (see
    /// [`legacy_hash`](Self::legacy_hash)), else none.
    pub access_hash: Option<i64>,
    /// `access_hash` was cached before hashes were kept per account (account 0): it may belong
    /// to another account, and becomes this account's once Telegram accepts it.
    pub legacy_hash: bool,
    pub username: Option<String>,
    pub title: Option<String>,
    /// Highest message id collected so far; 0 before the first run.
    pub checkpoint: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reactions_serialise_with_a_type_tag_and_string_ids() {
        let reactions = vec![
            Reaction::Emoji {
                emoji: "👍".into(),
                count: 5,
                recent: vec![Reactor {
                    from_id: Some(Peer {
                        kind: PeerKind::User,
                        id: 7,
                    }),
                    from_name: Some("Carol".into()),
                    date: None,
                }],
            },
            Reaction::CustomEmoji {
                document_id: "5368324170671202286".into(),
                count: 2,
                recent: Vec::new(),
            },
            Reaction::Paid { count: 10 },
            Reaction::Unknown {
                source_type: "sparkle".into(),
                count: 1,
            },
        ];
        assert_eq!(
            serde_json::to_value(&reactions).unwrap(),
            json!([
                {"type": "emoji", "emoji": "👍", "count": 5,
                 "recent": [{"from_id": {"type": "user", "id": 7}, "from_name": "Carol"}]},
                {"type": "custom_emoji", "document_id": "5368324170671202286", "count": 2},
                {"type": "paid", "count": 10},
                {"type": "unknown", "source_type": "sparkle", "count": 1}
            ])
        );
    }

    #[test]
    fn no_reactions_or_entities_is_null_not_an_empty_array() {
        let row = MessageRow::text(1, DateTime::UNIX_EPOCH, "x");
        assert_eq!(row.reactions_json(), None);
        assert_eq!(row.entities_json(), None);
    }

    #[test]
    fn entities_flatten_their_details() {
        let mut details = Map::new();
        details.insert("href".into(), json!("https://t.me"));
        let entity = Entity {
            kind: "text_link".into(),
            offset: 3,
            length: 4,
            details,
        };
        assert_eq!(
            serde_json::to_value(&entity).unwrap(),
            json!({"type": "text_link", "offset": 3, "length": 4, "href": "https://t.me"})
        );
    }
}
