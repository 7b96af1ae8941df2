//! MTProto objects (grammers' raw TL types) turned into the collector's rows. Pure: no client,
//! no network, so every field and every reaction kind is tested on hand-built TL values.

use chrono::{DateTime, Utc};
use grammers_tl_types as tl;
use serde_json::{Map, Value, json};

use crate::model::{Media, MessageRow, Reaction, ResolvedChannel};

/// Why a resolved peer cannot be collected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatProblem {
    /// We may not read it (private, banned, left).
    Forbidden,
    /// It is a user or a basic group, not a channel.
    NotAChannel,
    /// The answer did not include the channel it pointed at.
    Missing,
}

fn timestamp(seconds: i32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(seconds), 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// The id of any message object, service messages included.
pub fn message_id(message: &tl::enums::Message) -> i64 {
    i64::from(message.id())
}

/// A channel message as a row; `None` for service and empty messages (joins, pins, deletions).
pub fn message_row(message: &tl::enums::Message) -> Option<MessageRow> {
    let tl::enums::Message::Message(m) = message else {
        return None;
    };
    Some(MessageRow {
        id: i64::from(m.id),
        date: timestamp(m.date),
        edit_date: m.edit_date.map(timestamp),
        text: m.message.clone(),
        views: m.views,
        forwards: m.forwards,
        replies: m
            .replies
            .as_ref()
            .map(|tl::enums::MessageReplies::Replies(r)| r.replies),
        post_author: m.post_author.clone(),
        grouped_id: m.grouped_id,
        reply_to_message_id: m.reply_to.as_ref().and_then(|reply| match reply {
            tl::enums::MessageReplyHeader::Header(h) => h.reply_to_msg_id.map(i64::from),
            tl::enums::MessageReplyHeader::MessageReplyStoryHeader(_) => None,
        }),
        forward: m.fwd_from.as_ref().map(forward_header),
        media: m.media.as_ref().and_then(media),
        reactions: m.reactions.as_ref().map(reactions).unwrap_or_default(),
    })
}

/// `"channel:123"`, `"user:45"`, `"chat:6"`: peer ids keep their kind.
fn peer(peer: &tl::enums::Peer) -> String {
    match peer {
        tl::enums::Peer::User(p) => format!("user:{}", p.user_id),
        tl::enums::Peer::Chat(p) => format!("chat:{}", p.chat_id),
        tl::enums::Peer::Channel(p) => format!("channel:{}", p.channel_id),
    }
}

fn forward_header(header: &tl::enums::MessageFwdHeader) -> Value {
    let tl::enums::MessageFwdHeader::Header(h) = header;
    let mut out = Map::new();
    out.insert("date".into(), json!(timestamp(h.date)));
    if let Some(from) = &h.from_id {
        out.insert("from_id".into(), json!(peer(from)));
    }
    if let Some(name) = &h.from_name {
        out.insert("from_name".into(), json!(name));
    }
    if let Some(post) = h.channel_post {
        out.insert("channel_post".into(), json!(post));
    }
    if let Some(author) = &h.post_author {
        out.insert("post_author".into(), json!(author));
    }
    Value::Object(out)
}

/// Each reaction kind with its count. Ids are strings (64-bit; JSON readers use doubles).
pub fn reactions(reactions: &tl::enums::MessageReactions) -> Vec<Reaction> {
    let tl::enums::MessageReactions::Reactions(r) = reactions;
    r.results
        .iter()
        .filter_map(|tl::enums::ReactionCount::Count(c)| match &c.reaction {
            tl::enums::Reaction::Emoji(e) => Some(Reaction::Emoji {
                emoji: e.emoticon.clone(),
                count: c.count,
            }),
            tl::enums::Reaction::CustomEmoji(e) => Some(Reaction::CustomEmoji {
                document_id: e.document_id.to_string(),
                count: c.count,
            }),
            tl::enums::Reaction::Paid => Some(Reaction::Paid { count: c.count }),
            tl::enums::Reaction::Empty => None,
        })
        .collect()
}

/// The media's kind and metadata, never its bytes.
pub fn media(media: &tl::enums::MessageMedia) -> Option<Media> {
    use tl::enums::MessageMedia as M;
    let (kind, metadata) = match media {
        M::Empty => return None,
        M::Photo(p) => (
            "photo",
            json!({"photo_id": p.photo.as_ref().map(|photo| photo.id().to_string()), "spoiler": p.spoiler}),
        ),
        M::Document(d) => ("document", document(d)),
        M::WebPage(w) => ("webpage", webpage(&w.webpage)),
        M::Geo(g) => ("geo", geo(&g.geo)),
        M::GeoLive(g) => ("geo_live", geo(&g.geo)),
        M::Venue(v) => (
            "venue",
            json!({"title": v.title, "address": v.address, "geo": geo(&v.geo)}),
        ),
        M::Contact(c) => (
            "contact",
            json!({"first_name": c.first_name, "last_name": c.last_name}),
        ),
        M::Poll(p) => {
            let tl::enums::Poll::Poll(poll) = &p.poll;
            let tl::enums::TextWithEntities::Entities(question) = &poll.question;
            (
                "poll",
                json!({"poll_id": poll.id.to_string(), "question": question.text,
                       "answers": poll.answers.len(), "quiz": poll.quiz, "closed": poll.closed}),
            )
        }
        M::Dice(d) => ("dice", json!({"emoticon": d.emoticon, "value": d.value})),
        M::Game(_) => ("game", json!({})),
        M::Invoice(_) => ("invoice", json!({})),
        M::Story(s) => ("story", json!({"story_id": s.id})),
        M::Giveaway(_) => ("giveaway", json!({})),
        M::GiveawayResults(_) => ("giveaway_results", json!({})),
        M::PaidMedia(p) => ("paid_media", json!({"stars": p.stars_amount})),
        M::ToDo(_) => ("todo", json!({})),
        M::VideoStream(_) => ("video_stream", json!({})),
        M::Unsupported => ("unsupported", json!({})),
    };
    Some(Media {
        kind: kind.to_owned(),
        metadata,
    })
}

fn document(media: &tl::types::MessageMediaDocument) -> Value {
    let mut out = Map::new();
    out.insert("video".into(), json!(media.video));
    out.insert("voice".into(), json!(media.voice));
    out.insert("round".into(), json!(media.round));
    if let Some(tl::enums::Document::Document(d)) = &media.document {
        out.insert("document_id".into(), json!(d.id.to_string()));
        out.insert("mime_type".into(), json!(d.mime_type));
        out.insert("size".into(), json!(d.size));
        for attribute in &d.attributes {
            match attribute {
                tl::enums::DocumentAttribute::Filename(f) => {
                    out.insert("file_name".into(), json!(f.file_name));
                }
                tl::enums::DocumentAttribute::Video(v) => {
                    out.insert("duration".into(), json!(v.duration));
                    out.insert("width".into(), json!(v.w));
                    out.insert("height".into(), json!(v.h));
                }
                tl::enums::DocumentAttribute::Audio(a) => {
                    out.insert("duration".into(), json!(a.duration));
                    if let Some(title) = &a.title {
                        out.insert("title".into(), json!(title));
                    }
                    if let Some(performer) = &a.performer {
                        out.insert("performer".into(), json!(performer));
                    }
                }
                tl::enums::DocumentAttribute::Sticker(_) => {
                    out.insert("sticker".into(), json!(true));
                }
                _ => {}
            }
        }
    }
    Value::Object(out)
}

fn webpage(page: &tl::enums::WebPage) -> Value {
    match page {
        tl::enums::WebPage::Page(p) => json!({
            "url": p.url, "site_name": p.site_name, "title": p.title, "description": p.description,
        }),
        tl::enums::WebPage::Empty(p) => json!({"url": p.url}),
        tl::enums::WebPage::Pending(p) => json!({"url": p.url}),
        tl::enums::WebPage::NotModified(_) => json!({}),
    }
}

fn geo(point: &tl::enums::GeoPoint) -> Value {
    match point {
        tl::enums::GeoPoint::Point(p) => json!({"lat": p.lat, "long": p.long}),
        tl::enums::GeoPoint::Empty => json!({}),
    }
}

/// The channel a resolve answer points at, from the chats that came with it.
pub fn resolved_channel(
    target: &tl::enums::Peer,
    chats: &[tl::enums::Chat],
) -> Result<ResolvedChannel, ChatProblem> {
    let tl::enums::Peer::Channel(target) = target else {
        return Err(ChatProblem::NotAChannel);
    };
    chats
        .iter()
        .find_map(|chat| match chat {
            tl::enums::Chat::Channel(c) if c.id == target.channel_id => Some(Ok(ResolvedChannel {
                id: c.id,
                access_hash: c.access_hash,
                username: c.username.as_deref().map(str::to_ascii_lowercase),
                title: Some(c.title.clone()),
            })),
            tl::enums::Chat::ChannelForbidden(c) if c.id == target.channel_id => {
                Some(Err(ChatProblem::Forbidden))
            }
            _ => None,
        })
        .unwrap_or(Err(ChatProblem::Missing))
}
