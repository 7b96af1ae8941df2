//! One message object of an export as JSON, read without building what the mapping ignores.
//!
//! serde_json refuses values nested 128 levels deep when it builds them (its recursion
//! limit, which keeps the stack safe), but skips ignored values iteratively at any depth. So
//! a key nothing reads is skipped, never built: valid JSON of any depth in it is accepted.
//! Values that are kept (the named fields, media fields, a service message's details) are
//! built at most [`KEPT_DEPTH`] levels deep; a deeper detail is left out, a deeper named
//! field is a problem of the message.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// How many levels of a kept value are built (a scalar inside `[[ ]]` is on the third): far beyond anything Telegram Desktop writes, and well
/// within serde_json's limit (the message itself sits a few levels into the file).
pub const KEPT_DEPTH: usize = 64;

/// The keys `mapping::media` reads; the other keys of a message that is not a service
/// message are skipped.
const MEDIA_KEYS: [&str; 12] = [
    "photo",
    "width",
    "height",
    "poll",
    "location_information",
    "contact_information",
    "file",
    "file_name",
    "media_type",
    "mime_type",
    "duration_seconds",
    "sticker_emoji",
];

/// A message object of the export. Keys the mapping does not name stay in `rest` (media
/// fields, a service message's details).
#[derive(Debug)]
pub struct MessageJson {
    pub(super) id: i64,
    pub(super) kind: String,
    pub(super) date: Option<String>,
    pub(super) date_unixtime: Option<Value>,
    pub(super) edited: Option<String>,
    pub(super) edited_unixtime: Option<Value>,
    pub(super) text: Value,
    pub(super) text_entities: Option<Vec<Value>>,
    pub(super) from: Option<String>,
    pub(super) from_id: Option<Value>,
    pub(super) actor: Option<String>,
    pub(super) actor_id: Option<Value>,
    pub(super) action: Option<String>,
    pub(super) author: Option<String>,
    pub(super) forwarded_from: Option<String>,
    pub(super) forwarded_from_id: Option<Value>,
    pub(super) reply_to_message_id: Option<i64>,
    pub(super) reply_to_peer_id: Option<Value>,
    pub(super) reactions: Vec<ReactionJson>,
    pub(super) rest: Map<String, Value>,
}

impl MessageJson {
    pub fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Deserialize, Debug)]
pub(super) struct ReactionJson {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) count: i32,
    #[serde(default)]
    pub(super) emoji: Option<String>,
    #[serde(default)]
    pub(super) document_id: Option<Value>,
    #[serde(default)]
    pub(super) recent: Vec<RecentJson>,
}

#[derive(Deserialize, Debug)]
pub(super) struct RecentJson {
    #[serde(default)]
    pub(super) from: Option<String>,
    #[serde(default)]
    pub(super) from_id: Option<Value>,
    #[serde(default)]
    pub(super) date: Option<String>,
    #[serde(default)]
    pub(super) date_unixtime: Option<Value>,
}

impl<'de> Deserialize<'de> for MessageJson {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MessageVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = MessageJson;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MessageJson, A::Error> {
        let mut id = None;
        let mut kind: Option<String> = None;
        let mut m = MessageJson {
            id: 0,
            kind: String::new(),
            date: None,
            date_unixtime: None,
            edited: None,
            edited_unixtime: None,
            text: Value::Null,
            text_entities: None,
            from: None,
            from_id: None,
            actor: None,
            actor_id: None,
            action: None,
            author: None,
            forwarded_from: None,
            forwarded_from_id: None,
            reply_to_message_id: None,
            reply_to_peer_id: None,
            reactions: Vec::new(),
            rest: Map::new(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" => id = Some(map.next_value()?),
                "type" => kind = Some(map.next_value()?),
                "date" => m.date = map.next_value()?,
                "date_unixtime" => m.date_unixtime = optional(named(&mut map, &key)?),
                "edited" => m.edited = map.next_value()?,
                "edited_unixtime" => m.edited_unixtime = optional(named(&mut map, &key)?),
                "text" => m.text = named(&mut map, &key)?,
                "text_entities" => {
                    m.text_entities = match named(&mut map, &key)? {
                        Value::Null => None,
                        Value::Array(entities) => Some(entities),
                        _ => return Err(de::Error::custom("text_entities is not a list")),
                    }
                }
                "from" => m.from = map.next_value()?,
                "from_id" => m.from_id = optional(named(&mut map, &key)?),
                "actor" => m.actor = map.next_value()?,
                "actor_id" => m.actor_id = optional(named(&mut map, &key)?),
                "action" => m.action = map.next_value()?,
                "author" => m.author = map.next_value()?,
                "forwarded_from" => m.forwarded_from = map.next_value()?,
                "forwarded_from_id" => m.forwarded_from_id = optional(named(&mut map, &key)?),
                "reply_to_message_id" => m.reply_to_message_id = map.next_value()?,
                "reply_to_peer_id" => m.reply_to_peer_id = optional(named(&mut map, &key)?),
                "reactions" => m.reactions = map.next_value()?,
                _ if kept(kind.as_deref(), &key) => {
                    // A detail nested too deep is left out; the message still reads.
                    if let Some(value) = map.next_value_seed(Kept(KEPT_DEPTH))? {
                        m.rest.insert(key, value);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        m.id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        m.kind = kind.unwrap_or_else(|| "message".to_owned());
        if m.kind != "service" {
            // Kept while the type was not known yet (keys sorted, `type` last).
            m.rest.retain(|key, _| MEDIA_KEYS.contains(&key.as_str()));
        }
        Ok(m)
    }
}

/// Whether a key the mapping does not name is kept in `rest`: media fields always, anything
/// else while the message may be a service message (whose other keys are its details).
fn kept(kind: Option<&str>, key: &str) -> bool {
    MEDIA_KEYS.contains(&key) || kind.is_none_or(|kind| kind == "service")
}

/// The value of a named field; one nested deeper than [`KEPT_DEPTH`] is the message's problem.
fn named<'de, A: MapAccess<'de>>(map: &mut A, key: &str) -> Result<Value, A::Error> {
    map.next_value_seed(Kept(KEPT_DEPTH))?.ok_or_else(|| {
        de::Error::custom(format!(
            "{key} is nested more than {KEPT_DEPTH} levels deep"
        ))
    })
}

/// `null` is the same as no value, as for the derived `Option` fields.
fn optional(value: Value) -> Option<Value> {
    Some(value).filter(|v| !v.is_null())
}

/// A JSON value built at most `.0` levels deep; `None` when it is deeper (the rest of it is
/// still read, the too-deep part skipped without being built).
struct Kept(usize);

impl<'de> DeserializeSeed<'de> for Kept {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        if self.0 == 0 {
            IgnoredAny::deserialize(deserializer)?;
            return Ok(None);
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Kept {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        let mut whole = true;
        while let Some(item) = seq.next_element_seed(Kept(self.0 - 1))? {
            match item {
                Some(item) => items.push(item),
                None => whole = false,
            }
        }
        Ok(whole.then_some(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Map::new();
        let mut whole = true;
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value_seed(Kept(self.0 - 1))? {
                Some(value) => {
                    entries.insert(key, value);
                }
                None => whole = false,
            }
        }
        Ok(whole.then_some(Value::Object(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number inside `depth` arrays: `depth + 1` levels.
    fn arrays(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn a_service_message_keeps_its_details_but_one_nested_too_deep() {
        let text = format!(
            r#"{{"id": 3, "type": "service", "action": "pin_message", "message_id": 1,
                "shallow": {}, "deep": {}}}"#,
            arrays(KEPT_DEPTH - 1),
            arrays(KEPT_DEPTH),
        );
        let message: MessageJson = serde_json::from_str(&text).unwrap();
        assert_eq!(
            message.rest.keys().collect::<Vec<_>>(),
            ["message_id", "shallow"]
        );
        assert_eq!(
            message.rest["shallow"],
            serde_json::from_str::<Value>(&arrays(KEPT_DEPTH - 1)).unwrap()
        );
    }

    #[test]
    fn a_message_keeps_only_media_keys_whatever_the_order_of_its_keys() {
        let sorted = r#"{"date_unixtime": "1", "extra": [1], "id": 4, "photo": "p.jpg",
                         "type": "message", "width": 10}"#;
        let message: MessageJson = serde_json::from_str(sorted).unwrap();
        assert_eq!(message.rest.keys().collect::<Vec<_>>(), ["photo", "width"]);
        assert_eq!(message.date_unixtime, Some(Value::from("1")));
    }

    #[test]
    fn a_named_field_nested_too_deep_is_the_messages_problem() {
        let text = format!(r#"{{"id": 5, "text": {}}}"#, arrays(KEPT_DEPTH));
        let error = serde_json::from_str::<MessageJson>(&text).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("text is nested more than 64 levels deep"),
            "{error}"
        );
        let null = serde_json::from_str::<MessageJson>(r#"{"id": 6, "from_id": null}"#).unwrap();
        assert_eq!((null.from_id, null.text), (None, Value::Null));
    }
}
