//! Telegram Desktop's JSON export (`result.json`), one message at a time: a message object as
//! the exporter writes it turned into the row `collect` would store for it. Pure: JSON in,
//! rows out. Reading the file itself (streamed, never whole) is `export::reader`.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use crate::export::message_json::{MessageJson, ReactionJson};
use crate::store::model::{
    Entity, Media, MessageRow, OtherChatReply, Peer, PeerKind, Reaction, Reactor, ServiceAction,
    forward_header,
};

/// Chat types that are channels or supergroups: what `collect` collects.
const CHANNEL_KINDS: [&str; 4] = [
    "public_channel",
    "private_channel",
    "public_supergroup",
    "private_supergroup",
];

/// Older exporters (until 2021) wrote a channel's id as `id + 0x200000000` and a basic group's
/// as `id + 0x100000000` (Telegram Desktop's former peer id encoding). Channel ids were 32-bit
/// then and are still below 2^33, so an id in this range is an old-format one.
const OLD_CHANNEL_BASE: i64 = 0x2_0000_0000;
const OLD_CHAT_BASE: i64 = 0x1_0000_0000;
const OLD_ID_SPAN: i64 = 0x8000_0000;

/// A chat of the export as its header (`name`, `type`, `id`) says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatHeader {
    /// What the chat is called in logs and the audit log: its name, else its id.
    pub name: String,
    /// The chat's name, when the export gives one: the channel's title.
    pub title: Option<String>,
    pub kind: String,
    /// The id as written (Bot API `-100…` and old-format ids included).
    pub raw_id: i64,
}

impl ChatHeader {
    pub fn is_channel(&self) -> bool {
        CHANNEL_KINDS.contains(&self.kind.as_str())
    }

    /// The bare channel id the tables use.
    pub fn channel_id(&self) -> i64 {
        bare_channel_id(self.raw_id)
    }
}

/// A channel id as any exporter writes it, made bare: Bot API `-1001006503122` and
/// old-format `10083966286` (1494031694 + 0x200000000) both become the id `collect` stores.
pub fn bare_channel_id(raw: i64) -> i64 {
    if raw < 0 {
        return (-raw) - 1_000_000_000_000;
    }
    if (OLD_CHANNEL_BASE..OLD_CHANNEL_BASE + OLD_ID_SPAN).contains(&raw) {
        return raw - OLD_CHANNEL_BASE;
    }
    raw
}

/// How dates without `date_unixtime` (exports before 2021, written in the exporter's local
/// time) are read: in this zone, or UTC. Counts how many there were, for the summary.
#[derive(Clone, Debug, Default)]
pub struct LocalDates {
    pub zone: Option<Tz>,
    /// Dates that had no unixtime and were read in `zone` (or UTC).
    pub read: u64,
}

impl LocalDates {
    pub fn new(zone: Option<Tz>) -> Self {
        Self { zone, read: 0 }
    }

    fn instant(&mut self, local: NaiveDateTime) -> DateTime<Utc> {
        self.read += 1;
        match self.zone {
            None => local.and_utc(),
            // An ambiguous time (clocks going back) is read as the earlier one; a time that
            // does not exist (clocks going forward) as the same wall time an hour later.
            Some(zone) => zone
                .from_local_datetime(&local)
                .earliest()
                .or_else(|| {
                    zone.from_local_datetime(&(local + Duration::hours(1)))
                        .earliest()
                })
                .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc)),
        }
    }
}

/// What one chat's messages are mapped against.
#[derive(Clone, Debug)]
pub struct ChatContext {
    /// Bare id of the chat: replies that name it are replies here.
    pub channel_id: i64,
}

/// The row of one export message; the error says what is wrong with it.
pub fn message_row(
    m: MessageJson,
    chat: &ChatContext,
    dates: &mut LocalDates,
) -> Result<MessageRow, String> {
    let date = instant(m.date_unixtime.as_ref(), m.date.as_deref(), "date", dates)?
        .ok_or_else(|| "has no date".to_owned())?;
    let (text, entities) = text_and_entities(&m.text, m.text_entities.as_deref());
    let mut row = MessageRow::text(m.id, date, text);
    row.entities = entities;
    row.edit_date = instant(
        m.edited_unixtime.as_ref(),
        m.edited.as_deref(),
        "edited",
        dates,
    )?;
    row.post_author = m.author;
    let reply_peer = m.reply_to_peer_id.as_ref().and_then(peer);
    match reply_peer {
        Some(other) if other != Peer::channel(chat.channel_id) => {
            row.reply_to_other_chat = Some(OtherChatReply {
                peer: other,
                message_id: m.reply_to_message_id,
            });
        }
        _ => row.reply_to_message_id = m.reply_to_message_id,
    }
    if m.forwarded_from.is_some() || m.forwarded_from_id.is_some() {
        row.forward = Some(forward_header(
            m.forwarded_from_id.as_ref().and_then(peer),
            m.forwarded_from.as_deref(),
            None,
            None,
            None,
        ));
    }
    row.reactions = m
        .reactions
        .into_iter()
        .map(|r| reaction(r, dates))
        .collect::<Result<_, _>>()?;
    if m.kind == "service" {
        row.from_id = m.actor_id.as_ref().and_then(peer);
        row.from_name = m.actor;
        // Everything else a service message carries is its details (title, members, ...).
        row.action = Some(ServiceAction {
            kind: m.action.unwrap_or_else(|| "unknown".to_owned()),
            details: m.rest,
        });
    } else {
        row.from_id = m.from_id.as_ref().and_then(peer);
        row.from_name = m.from;
        row.media = media(&m.rest);
    }
    Ok(row)
}

/// A date as `*_unixtime` (a string or number of seconds), else the local `date` string.
fn instant(
    unix: Option<&Value>,
    local: Option<&str>,
    what: &str,
    dates: &mut LocalDates,
) -> Result<Option<DateTime<Utc>>, String> {
    if let Some(unix) = unix {
        let seconds = match unix {
            Value::String(s) => s.parse::<i64>().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
        .ok_or_else(|| format!("{what}_unixtime is not a number"))?;
        return DateTime::from_timestamp(seconds, 0)
            .map(Some)
            .ok_or_else(|| format!("{what}_unixtime is out of range"));
    }
    match local {
        Some(local) => NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S")
            .map(|naive| Some(dates.instant(naive)))
            .map_err(|_| format!("{what} is not a date")),
        None => Ok(None),
    }
}

/// `user123`, `channel123`, `chat123` (newer exporters) or a number in the old peer id
/// encoding (user ids as they are, chats + 0x100000000, channels + 0x200000000).
pub fn peer(value: &Value) -> Option<Peer> {
    let (kind, id) = match value {
        Value::String(s) => {
            let (kind, digits) = [
                ("user", PeerKind::User),
                ("channel", PeerKind::Channel),
                ("chat", PeerKind::Chat),
            ]
            .into_iter()
            .find_map(|(prefix, kind)| s.strip_prefix(prefix).map(|rest| (kind, rest)))?;
            (kind, digits.parse::<i64>().ok()?)
        }
        Value::Number(n) => {
            let n = n.as_i64()?;
            if (OLD_CHANNEL_BASE..OLD_CHANNEL_BASE + OLD_ID_SPAN).contains(&n) {
                (PeerKind::Channel, n)
            } else if (OLD_CHAT_BASE..OLD_CHAT_BASE + OLD_ID_SPAN).contains(&n) {
                (PeerKind::Chat, n - OLD_CHAT_BASE)
            } else {
                (PeerKind::User, n)
            }
        }
        _ => return None,
    };
    let id = match kind {
        PeerKind::Channel => bare_channel_id(id),
        _ => id,
    };
    Some(Peer { kind, id })
}

/// The text (a string, or a list of strings and `{type, text, ...}` pieces) and its entities,
/// offsets in UTF-16 code units as Telegram counts them. `text_entities` is read only when
/// `text` is missing.
fn text_and_entities(text: &Value, fallback: Option<&[Value]>) -> (String, Vec<Entity>) {
    let pieces: &[Value] = match text {
        Value::String(s) => return (s.clone(), Vec::new()),
        Value::Array(parts) => parts,
        _ => fallback.unwrap_or_default(),
    };
    let mut out = String::new();
    let mut offset = 0;
    let mut entities = Vec::new();
    for piece in pieces {
        let (piece_text, object) = match piece {
            Value::String(s) => (s.as_str(), None),
            Value::Object(o) => (o.get("text").and_then(Value::as_str).unwrap_or(""), Some(o)),
            _ => continue,
        };
        let length = piece_text.encode_utf16().count() as i64;
        if let Some(object) = object {
            let kind = object
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("plain");
            if kind != "plain" && length > 0 {
                entities.push(Entity {
                    kind: kind.to_owned(),
                    offset,
                    length,
                    details: entity_details(object),
                });
            }
        }
        out.push_str(piece_text);
        offset += length;
    }
    (out, entities)
}

/// An entity's keys besides `type` and `text`, with ids in the mapping's types (a custom
/// emoji's id as a string, a mentioned user's as a number).
fn entity_details(object: &Map<String, Value>) -> Map<String, Value> {
    object
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "type" | "text"))
        .map(|(key, value)| {
            let value = match (key.as_str(), value) {
                ("document_id", Value::Number(n)) => json!(n.to_string()),
                ("user_id", Value::String(s)) => {
                    s.parse::<i64>().map_or(value.clone(), Value::from)
                }
                _ => value.clone(),
            };
            (key.clone(), value)
        })
        .collect()
}

fn reaction(r: ReactionJson, dates: &mut LocalDates) -> Result<Reaction, String> {
    let recent = r
        .recent
        .into_iter()
        .map(|who| {
            Ok(Reactor {
                from_id: who.from_id.as_ref().and_then(peer),
                from_name: who.from,
                date: instant(
                    who.date_unixtime.as_ref(),
                    who.date.as_deref(),
                    "reaction date",
                    dates,
                )?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let document_id = match r.document_id {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(match (r.kind.as_str(), r.emoji, document_id) {
        ("emoji", Some(emoji), _) => Reaction::Emoji {
            emoji,
            count: r.count,
            recent,
        },
        ("custom_emoji", _, Some(document_id)) => Reaction::CustomEmoji {
            document_id,
            count: r.count,
            recent,
        },
        ("paid", _, _) => Reaction::Paid { count: r.count },
        // A newer exporter's kind, or one missing its key: its count is still worth keeping.
        (kind, _, _) => Reaction::Unknown {
            source_type: kind.to_owned(),
            count: r.count,
        },
    })
}

/// The export's media fields, as kind + metadata like the MTProto mapping. Only the keys
/// in `message_json::MEDIA_KEYS` reach it: add a key there before reading it here.
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
    } else if let Some(contact) = rest.get("contact_information") {
        ("contact", contact.clone())
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

    fn parse(value: Value) -> Result<MessageRow, String> {
        let message: MessageJson = serde_json::from_value(value).unwrap();
        message_row(
            message,
            &ChatContext { channel_id: 1001 },
            &mut LocalDates::default(),
        )
    }

    #[test]
    fn texts_made_of_pieces_are_joined_and_their_entities_kept_in_utf16_offsets() {
        let row = parse(json!({
            "id": 1, "type": "message", "date_unixtime": "1761987600",
            "text": ["😀 Hello ", {"type": "bold", "text": "world"}, " ",
                     {"type": "text_link", "text": "here", "href": "https://t.me"},
                     {"type": "custom_emoji", "text": "👍", "document_id": 5368324170671202286_u64},
                     {"type": "mention_name", "text": "Bob", "user_id": 42}]
        }))
        .unwrap();
        assert_eq!(row.text, "😀 Hello world here👍Bob");
        let entities = serde_json::to_value(&row.entities).unwrap();
        // The emoji is two UTF-16 code units: "world" starts at 9, not 8.
        assert_eq!(
            entities,
            json!([
                {"type": "bold", "offset": 9, "length": 5},
                {"type": "text_link", "offset": 15, "length": 4, "href": "https://t.me"},
                {"type": "custom_emoji", "offset": 19, "length": 2,
                 "document_id": "5368324170671202286"},
                {"type": "mention_name", "offset": 21, "length": 3, "user_id": 42}
            ])
        );
        let plain = parse(json!({"id": 2, "date_unixtime": "1", "text": "plain"})).unwrap();
        assert_eq!((plain.text.as_str(), plain.entities.len()), ("plain", 0));
    }

    #[test]
    fn bot_api_and_old_format_ids_become_bare_ids() {
        assert_eq!(bare_channel_id(-1001006503122), 1006503122);
        assert_eq!(bare_channel_id(10083966286), 1494031694);
        assert_eq!(bare_channel_id(3397140320), 3397140320);
    }

    #[test]
    fn peers_of_every_exporter_are_typed() {
        let typed = |kind, id| Some(Peer { kind, id });
        assert_eq!(
            peer(&json!("user5684517693")),
            typed(PeerKind::User, 5684517693)
        );
        assert_eq!(
            peer(&json!("channel3397140320")),
            typed(PeerKind::Channel, 3397140320)
        );
        assert_eq!(peer(&json!("chat12")), typed(PeerKind::Chat, 12));
        assert_eq!(
            peer(&json!(10083966286_i64)),
            typed(PeerKind::Channel, 1494031694)
        );
        assert_eq!(peer(&json!(4294967308_i64)), typed(PeerKind::Chat, 12));
        assert_eq!(peer(&json!(777)), typed(PeerKind::User, 777));
        assert_eq!(peer(&json!("someone")), None);
    }

    #[test]
    fn service_messages_keep_their_action_actor_and_details() {
        let row = parse(json!({
            "id": 6, "type": "service", "date_unixtime": "1762171260",
            "actor": "Alpha News", "actor_id": "channel1001", "action": "pin_message",
            "message_id": 5, "text": "", "text_entities": []
        }))
        .unwrap();
        assert_eq!(
            row.action,
            Some(ServiceAction::new("pin_message").with("message_id", 5))
        );
        assert_eq!(row.from_id, Some(Peer::channel(1001)));
        assert_eq!(row.from_name.as_deref(), Some("Alpha News"));
        assert_eq!(row.media, None);
    }

    #[test]
    fn local_dates_are_read_in_the_given_zone_and_counted() {
        let mut dates = LocalDates::new(Some(chrono_tz::Europe::Berlin));
        let row = message_row(
            serde_json::from_value(json!({"id": 1, "date": "2021-07-01T12:00:00", "text": ""}))
                .unwrap(),
            &ChatContext { channel_id: 1 },
            &mut dates,
        )
        .unwrap();
        assert_eq!(
            row.date,
            "2021-07-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(dates.read, 1);
        // 02:30 on the last Sunday of March does not exist in Berlin.
        let gap =
            NaiveDateTime::parse_from_str("2021-03-28T02:30:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(
            dates.instant(gap),
            "2021-03-28T01:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn reactions_keep_who_reacted_and_unknown_kinds() {
        let row = parse(json!({
            "id": 1, "date_unixtime": "1761987600", "text": "",
            "reactions": [
                {"type": "emoji", "count": 2, "emoji": "👍",
                 "recent": [{"from": "Carol", "from_id": "user7", "date": "2025-11-01T09:00:00",
                             "date_unixtime": "1761987600"}]},
                {"type": "sparkle", "count": 3},
                {"type": "emoji", "count": 1}
            ]
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&row.reactions).unwrap(),
            json!([
                {"type": "emoji", "emoji": "👍", "count": 2,
                 "recent": [{"from_id": {"type": "user", "id": 7}, "from_name": "Carol",
                             "date": "2025-11-01T09:00:00Z"}]},
                {"type": "unknown", "source_type": "sparkle", "count": 3},
                {"type": "unknown", "source_type": "emoji", "count": 1}
            ])
        );
    }

    #[test]
    fn a_message_without_a_date_says_so() {
        assert_eq!(
            parse(json!({"id": 4, "type": "message", "text": "x"})).unwrap_err(),
            "has no date"
        );
    }
}
