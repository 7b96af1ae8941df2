//! MTProto objects (grammers' raw TL types) turned into the collector's rows. Pure: no client,
//! no network, so every field and every reaction kind is tested on hand-built TL values.
//! Shapes and names follow the export mapping (`export::mapping`): service actions, entity
//! types and media keys are Telegram Desktop's wherever it has one.

use chrono::{DateTime, Utc};
use contract::media::MediaKind;
use grammers_tl_types::{self as tl, Serializable};
use serde_json::{Map, Value, json};

use crate::store::model::{
    Entity, Media, MessageRow, OtherChatReply, Peer, PeerKind, Reaction, Reactor, ResolvedChannel,
    ServiceAction, forward_header,
};
use crate::telegram::source::{FileLocation, RemoteFile};

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

/// A channel message or service message as a row; `None` for an empty (deleted) message.
pub fn message_row(message: &tl::enums::Message) -> Option<MessageRow> {
    match message {
        tl::enums::Message::Message(m) => Some(post(m)),
        tl::enums::Message::Service(m) => Some(service(m)),
        tl::enums::Message::Empty(_) => None,
    }
}

fn post(m: &tl::types::Message) -> MessageRow {
    let (reply_to_message_id, reply_to_other_chat) = reply(m.reply_to.as_ref(), &m.peer_id);
    MessageRow {
        id: i64::from(m.id),
        date: timestamp(m.date),
        edit_date: m.edit_date.map(timestamp),
        text: m.message.clone(),
        entities: m
            .entities
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(entity)
            .collect(),
        from_id: m.from_id.as_ref().map(peer),
        // Names come with the users and chats of the answer, not the message.
        from_name: None,
        views: m.views,
        forwards: m.forwards,
        replies: m
            .replies
            .as_ref()
            .map(|tl::enums::MessageReplies::Replies(r)| r.replies),
        post_author: m.post_author.clone(),
        grouped_id: m.grouped_id,
        reply_to_message_id,
        reply_to_other_chat,
        forward: m.fwd_from.as_ref().map(forward),
        media: m.media.as_ref().and_then(media),
        reactions: m.reactions.as_ref().map(reactions).unwrap_or_default(),
        action: None,
    }
}

fn service(m: &tl::types::MessageService) -> MessageRow {
    let (reply_to_message_id, reply_to_other_chat) = reply(m.reply_to.as_ref(), &m.peer_id);
    let mut row = MessageRow::service(
        i64::from(m.id),
        timestamp(m.date),
        action(&m.action, reply_to_message_id),
    );
    row.from_id = m.from_id.as_ref().map(peer);
    // A pin's "reply" is the pinned message, already in the action's details.
    if !matches!(m.action, tl::enums::MessageAction::PinMessage) {
        row.reply_to_message_id = reply_to_message_id;
    }
    row.reply_to_other_chat = reply_to_other_chat;
    row.reactions = m.reactions.as_ref().map(reactions).unwrap_or_default();
    row
}

/// Typed peers: `{"type": "channel", "id": 123}`.
pub fn peer(peer: &tl::enums::Peer) -> Peer {
    let (kind, id) = match peer {
        tl::enums::Peer::User(p) => (PeerKind::User, p.user_id),
        tl::enums::Peer::Chat(p) => (PeerKind::Chat, p.chat_id),
        tl::enums::Peer::Channel(p) => (PeerKind::Channel, p.channel_id),
    };
    Peer { kind, id }
}

/// The replied message: in this chat, or (with `reply_to_peer_id` naming another chat) in
/// another one, which must never be mistaken for this channel's message of the same id.
fn reply(
    header: Option<&tl::enums::MessageReplyHeader>,
    this_chat: &tl::enums::Peer,
) -> (Option<i64>, Option<OtherChatReply>) {
    let Some(tl::enums::MessageReplyHeader::Header(h)) = header else {
        return (None, None);
    };
    let message_id = h.reply_to_msg_id.map(i64::from);
    match h.reply_to_peer_id.as_ref().map(peer) {
        Some(other) if other != peer(this_chat) => (
            None,
            Some(OtherChatReply {
                peer: other,
                message_id,
            }),
        ),
        _ => (message_id, None),
    }
}

fn forward(header: &tl::enums::MessageFwdHeader) -> Value {
    let tl::enums::MessageFwdHeader::Header(h) = header;
    forward_header(
        h.from_id.as_ref().map(peer),
        h.from_name.as_deref(),
        Some(timestamp(h.date)),
        h.channel_post.map(i64::from),
        h.post_author.as_deref(),
    )
}

/// An entity with Telegram Desktop's type name and detail keys (see [`Entity`]).
pub fn entity(e: &tl::enums::MessageEntity) -> Entity {
    use tl::enums::MessageEntity as E;
    let mut details = Map::new();
    let kind = match e {
        E::Unknown(_) => "unknown",
        E::Mention(_) => "mention",
        E::Hashtag(_) => "hashtag",
        E::BotCommand(_) => "bot_command",
        E::Url(_) => "link",
        E::Email(_) => "email",
        E::Bold(_) => "bold",
        E::Italic(_) => "italic",
        E::Code(_) => "code",
        E::Pre(p) => {
            details.insert("language".into(), json!(p.language));
            "pre"
        }
        E::TextUrl(t) => {
            details.insert("href".into(), json!(t.url));
            "text_link"
        }
        E::MentionName(m) => {
            details.insert("user_id".into(), json!(m.user_id));
            "mention_name"
        }
        E::InputMessageEntityMentionName(_) => "mention_name",
        E::Phone(_) => "phone",
        E::Cashtag(_) => "cashtag",
        E::Underline(_) => "underline",
        E::Strike(_) => "strikethrough",
        E::BankCard(_) => "bank_card",
        E::Spoiler(_) => "spoiler",
        E::CustomEmoji(c) => {
            details.insert("document_id".into(), json!(c.document_id.to_string()));
            "custom_emoji"
        }
        E::Blockquote(b) => {
            details.insert("collapsed".into(), json!(b.collapsed));
            "blockquote"
        }
        E::FormattedDate(d) => {
            details.insert("date".into(), json!(timestamp(d.date)));
            "formatted_date"
        }
        E::DiffInsert(_) => "diff_insert",
        E::DiffReplace(d) => {
            details.insert("old_text".into(), json!(d.old_text));
            "diff_replace"
        }
        E::DiffDelete(_) => "diff_delete",
        E::TonAddress(_) => "ton_address",
    };
    Entity {
        kind: kind.to_owned(),
        offset: i64::from(e.offset()),
        length: i64::from(e.length()),
        details,
    }
}

/// Each reaction kind with its count and the recent reactors Telegram lists with it.
pub fn reactions(reactions: &tl::enums::MessageReactions) -> Vec<Reaction> {
    let tl::enums::MessageReactions::Reactions(r) = reactions;
    let recent = |reaction: &tl::enums::Reaction| -> Vec<Reactor> {
        r.recent_reactions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|tl::enums::MessagePeerReaction::Reaction(p)| p)
            .filter(|p| same_reaction(&p.reaction, reaction))
            .map(|p| Reactor {
                from_id: Some(peer(&p.peer_id)),
                from_name: None,
                date: Some(timestamp(p.date)),
            })
            .collect()
    };
    r.results
        .iter()
        .filter_map(|tl::enums::ReactionCount::Count(c)| match &c.reaction {
            tl::enums::Reaction::Emoji(e) => Some(Reaction::Emoji {
                emoji: e.emoticon.clone(),
                count: c.count,
                recent: recent(&c.reaction),
            }),
            tl::enums::Reaction::CustomEmoji(e) => Some(Reaction::CustomEmoji {
                document_id: e.document_id.to_string(),
                count: c.count,
                recent: recent(&c.reaction),
            }),
            tl::enums::Reaction::Paid => Some(Reaction::Paid { count: c.count }),
            tl::enums::Reaction::Empty => None,
        })
        .collect()
}

fn same_reaction(a: &tl::enums::Reaction, b: &tl::enums::Reaction) -> bool {
    use tl::enums::Reaction as R;
    match (a, b) {
        (R::Emoji(a), R::Emoji(b)) => a.emoticon == b.emoticon,
        (R::CustomEmoji(a), R::CustomEmoji(b)) => a.document_id == b.document_id,
        (R::Paid, R::Paid) | (R::Empty, R::Empty) => true,
        _ => false,
    }
}

/// A service message's action under Telegram Desktop's export name, with the details both
/// sources give (`title`, `message_id` of a pin, `member_ids`, ...). Actions the export has no
/// name for keep their TL constructor's name in snake_case.
pub fn action(action: &tl::enums::MessageAction, reply_to: Option<i64>) -> ServiceAction {
    use tl::enums::MessageAction as A;
    let members = |users: &[i64]| Value::from(users.to_vec());
    match action {
        A::ChatCreate(a) => ServiceAction::new("create_group")
            .with("title", a.title.as_str())
            .with("member_ids", members(&a.users)),
        A::ChatEditTitle(a) => {
            ServiceAction::new("edit_group_title").with("title", a.title.as_str())
        }
        A::ChatEditPhoto(a) => {
            ServiceAction::new("edit_group_photo").with("photo_id", a.photo.id().to_string())
        }
        A::ChatDeletePhoto => ServiceAction::new("delete_group_photo"),
        A::ChatAddUser(a) => {
            ServiceAction::new("invite_members").with("member_ids", members(&a.users))
        }
        A::ChatDeleteUser(a) => {
            ServiceAction::new("remove_members").with("member_ids", members(&[a.user_id]))
        }
        A::ChatJoinedByLink(a) => {
            ServiceAction::new("join_group_by_link").with("inviter_id", a.inviter_id)
        }
        A::ChatJoinedByRequest => ServiceAction::new("join_group_by_request"),
        A::ChannelCreate(a) => ServiceAction::new("create_channel").with("title", a.title.as_str()),
        A::ChatMigrateTo(a) => {
            ServiceAction::new("migrate_to_supergroup").with("channel_id", a.channel_id)
        }
        A::ChannelMigrateFrom(a) => ServiceAction::new("migrate_from_group")
            .with("title", a.title.as_str())
            .with("chat_id", a.chat_id),
        A::PinMessage => {
            let pin = ServiceAction::new("pin_message");
            match reply_to {
                Some(id) => pin.with("message_id", id),
                None => pin,
            }
        }
        A::HistoryClear => ServiceAction::new("clear_history"),
        A::GameScore(a) => ServiceAction::new("score_in_game").with("score", a.score),
        A::PhoneCall(a) => match a.duration {
            Some(seconds) => ServiceAction::new("phone_call").with("duration_seconds", seconds),
            None => ServiceAction::new("phone_call"),
        },
        A::ScreenshotTaken => ServiceAction::new("take_screenshot"),
        A::ContactSignUp => ServiceAction::new("joined_telegram"),
        A::GroupCall(a) => match a.duration {
            Some(seconds) => ServiceAction::new("group_call").with("duration", seconds),
            None => ServiceAction::new("group_call"),
        },
        A::InviteToGroupCall(a) => {
            ServiceAction::new("invite_to_group_call").with("member_ids", members(&a.users))
        }
        A::SetMessagesTtl(a) => ServiceAction::new("set_messages_ttl").with("period", a.period),
        A::GroupCallScheduled(a) => ServiceAction::new("group_call_scheduled")
            .with("schedule_date", json!(timestamp(a.schedule_date))),
        A::SetChatTheme(_) => ServiceAction::new("edit_chat_theme"),
        A::TopicCreate(a) => ServiceAction::new("topic_created").with("title", a.title.as_str()),
        A::TopicEdit(a) => {
            let edit = ServiceAction::new("topic_edit");
            match &a.title {
                Some(title) => edit.with("new_title", title.as_str()),
                None => edit,
            }
        }
        A::SetChatWallPaper(_) => ServiceAction::new("set_chat_wallpaper"),
        A::GiveawayLaunch(_) => ServiceAction::new("giveaway_launch"),
        A::GiveawayResults(a) => ServiceAction::new("giveaway_results")
            .with("winners_count", a.winners_count)
            .with("unclaimed_count", a.unclaimed_count),
        A::BoostApply(a) => ServiceAction::new("boost_apply").with("boosts", a.boosts),
        other => ServiceAction::new(constructor_name(other)),
    }
}

/// `StarGiftUnique(..)` -> `star_gift_unique`: grammers names variants after the TL schema.
fn constructor_name(action: &tl::enums::MessageAction) -> String {
    let debug = format!("{action:?}");
    let variant = debug.split(['(', ' ', '{']).next().unwrap_or("unknown");
    let mut name = String::with_capacity(variant.len() + 4);
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
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
        M::Poll(p) => ("poll", poll(p)),
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

/// The file a message carries, as `upload.getFile` fetches it: a photo's largest size or a
/// document itself. `None` for other media, for a photo or document Telegram sent empty, and
/// for a photo without a downloadable size.
pub fn remote_file(message: &tl::enums::Message) -> Option<RemoteFile> {
    let tl::enums::Message::Message(m) = message else {
        return None;
    };
    let message_id = i64::from(m.id);
    match m.media.as_ref()? {
        tl::enums::MessageMedia::Photo(media) => match media.photo.as_ref()? {
            tl::enums::Photo::Photo(photo) => photo_file(message_id, photo),
            tl::enums::Photo::Empty(_) => None,
        },
        tl::enums::MessageMedia::Document(media) => match media.document.as_ref()? {
            tl::enums::Document::Document(document) => Some(document_file(message_id, document)),
            tl::enums::Document::Empty(_) => None,
        },
        _ => None,
    }
}

/// The largest size of a photo: (type, bytes). Stripped and path sizes are inline previews,
/// not files.
fn largest_size(sizes: &[tl::enums::PhotoSize]) -> Option<(&str, u64)> {
    sizes
        .iter()
        .filter_map(|size| match size {
            tl::enums::PhotoSize::Size(s) => Some((s.r#type.as_str(), i64::from(s.size))),
            tl::enums::PhotoSize::Progressive(s) => {
                Some((s.r#type.as_str(), i64::from(*s.sizes.last()?)))
            }
            tl::enums::PhotoSize::PhotoCachedSize(s) => {
                Some((s.r#type.as_str(), s.bytes.len() as i64))
            }
            tl::enums::PhotoSize::Empty(_)
            | tl::enums::PhotoSize::PhotoStrippedSize(_)
            | tl::enums::PhotoSize::PhotoPathSize(_) => None,
        })
        .map(|(kind, size)| (kind, u64::try_from(size).unwrap_or(0)))
        .max_by_key(|(_, size)| *size)
}

fn photo_file(message_id: i64, photo: &tl::types::Photo) -> Option<RemoteFile> {
    let (thumb_size, size) = largest_size(&photo.sizes)?;
    let input =
        tl::enums::InputFileLocation::InputPhotoFileLocation(tl::types::InputPhotoFileLocation {
            id: photo.id,
            access_hash: photo.access_hash,
            file_reference: photo.file_reference.clone(),
            thumb_size: thumb_size.to_owned(),
        });
    Some(RemoteFile {
        message_id,
        kind: MediaKind::Photo,
        telegram_key: format!("photo:{}", photo.id),
        size,
        mime_type: Some("image/jpeg".to_owned()),
        location: FileLocation {
            dc_id: photo.dc_id,
            input: input.to_bytes(),
        },
    })
}

fn document_file(message_id: i64, document: &tl::types::Document) -> RemoteFile {
    let input = tl::enums::InputFileLocation::InputDocumentFileLocation(
        tl::types::InputDocumentFileLocation {
            id: document.id,
            access_hash: document.access_hash,
            file_reference: document.file_reference.clone(),
            thumb_size: String::new(),
        },
    );
    RemoteFile {
        message_id,
        kind: document_kind(&document.attributes),
        telegram_key: format!("document:{}", document.id),
        size: u64::try_from(document.size).unwrap_or(0),
        mime_type: (!document.mime_type.is_empty()).then(|| document.mime_type.clone()),
        location: FileLocation {
            dc_id: document.dc_id,
            input: input.to_bytes(),
        },
    }
}

/// A document's kind from its attributes, the most specific first: a sticker or an animation
/// also has a video attribute or an image size.
fn document_kind(attributes: &[tl::enums::DocumentAttribute]) -> MediaKind {
    use tl::enums::DocumentAttribute as A;
    let has = |test: fn(&A) -> bool| attributes.iter().any(test);
    if has(|a| matches!(a, A::Sticker(_) | A::CustomEmoji(_))) {
        MediaKind::Sticker
    } else if has(|a| matches!(a, A::Animated)) {
        MediaKind::Animation
    } else if has(|a| matches!(a, A::Video(_))) {
        MediaKind::Video
    } else if has(|a| matches!(a, A::Audio(audio) if audio.voice)) {
        MediaKind::Voice
    } else if has(|a| matches!(a, A::Audio(_))) {
        MediaKind::Audio
    } else {
        MediaKind::Document
    }
}

/// A poll in the export's shape (`question`, `closed`, `total_voters`, `answers` with `text`
/// and `voters`), plus what only the API knows (`poll_id`, `quiz`).
fn poll(media: &tl::types::MessageMediaPoll) -> Value {
    let tl::enums::Poll::Poll(poll) = &media.poll;
    let tl::enums::PollResults::Results(results) = &media.results;
    let tl::enums::TextWithEntities::Entities(question) = &poll.question;
    let voters = |option: &[u8]| {
        results
            .results
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|tl::enums::PollAnswerVoters::Voters(v)| v)
            .find(|v| v.option == option)
            .and_then(|v| v.voters)
    };
    let answers: Vec<Value> = poll
        .answers
        .iter()
        .filter_map(|answer| match answer {
            tl::enums::PollAnswer::Answer(a) => Some(a),
            // Only sent by clients creating a poll.
            tl::enums::PollAnswer::InputPollAnswer(_) => None,
        })
        .map(|a| {
            let tl::enums::TextWithEntities::Entities(text) = &a.text;
            json!({"text": text.text, "voters": voters(&a.option)})
        })
        .collect();
    json!({"poll_id": poll.id.to_string(), "question": question.text, "closed": poll.closed,
           "quiz": poll.quiz, "total_voters": results.total_voters, "answers": answers})
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

#[cfg(test)]
mod tests {
    use super::*;

    fn channel_peer(id: i64) -> tl::enums::Peer {
        tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id: id })
    }

    /// A channel post with every optional field empty, as the fake DC builds it (the TL
    /// literal lives there once, at the layer grammers speaks).
    fn bare(id: i32) -> tl::types::Message {
        let post = fake_dc::Post {
            id,
            date: 1_762_673_674,
            content: Some(fake_dc::history::Content {
                text: String::new(),
                entities: Vec::new(),
                views: 0,
                forwards: 0,
                replies: 0,
                edit_date: None,
                post_author: None,
                grouped_id: None,
                reply_to: None,
                forward: None,
                media: None,
                reactions: Vec::new(),
            }),
        };
        let tl::enums::Message::Message(mut message) = fake_dc::answer::message(1006503122, &post)
        else {
            panic!("the fake DC answers a post with content as a message");
        };
        // What the fake DC always sends, emptied: each test sets what it is about.
        message.entities = None;
        message.views = None;
        message.forwards = None;
        message.replies = None;
        message.reactions = None;
        message
    }

    fn count(reaction: tl::enums::Reaction, count: i32) -> tl::enums::ReactionCount {
        tl::enums::ReactionCount::Count(tl::types::ReactionCount {
            chosen_order: None,
            reaction,
            count,
        })
    }

    /// What a post of the fake DC's scenario can carry, all of it set but media and reactions.
    fn full_post_content() -> fake_dc::history::Content {
        fake_dc::history::Content {
            text: "Hello, channel".into(),
            entities: Vec::new(),
            views: 1500,
            forwards: 12,
            replies: 7,
            edit_date: Some(1_762_677_274),
            post_author: Some("Editor".into()),
            grouped_id: Some(13_600_000_000_000_001),
            reply_to: Some(99),
            forward: Some(fake_dc::history::Forward {
                from_channel: 777,
                channel_post: 55,
                date: 1_762_600_000,
            }),
            media: None,
            reactions: Vec::new(),
        }
    }

    /// A post with [`full_post_content`], as the fake DC sends it.
    fn full_post(id: i32) -> tl::types::Message {
        let post = fake_dc::Post {
            id,
            date: 1_762_673_674,
            content: Some(full_post_content()),
        };
        match fake_dc::answer::message(1006503122, &post) {
            tl::enums::Message::Message(message) => message,
            other => panic!("the fake DC answered {other:?}"),
        }
    }

    #[test]
    fn every_field_of_a_channel_post_reaches_its_column() {
        let raw = full_post(100);
        let row = message_row(&tl::enums::Message::Message(raw)).unwrap();
        assert_eq!(row.id, 100);
        assert_eq!(row.date, timestamp(1_762_673_674));
        assert_eq!(row.edit_date, Some(timestamp(1_762_677_274)));
        assert_eq!(row.text, "Hello, channel");
        assert_eq!(
            (row.views, row.forwards, row.replies),
            (Some(1500), Some(12), Some(7))
        );
        assert_eq!(row.post_author.as_deref(), Some("Editor"));
        assert_eq!(row.grouped_id, Some(13_600_000_000_000_001));
        assert_eq!(row.reply_to_message_id, Some(99));
        assert_eq!(
            row.forward,
            Some(
                json!({"from_id": {"type": "channel", "id": 777}, "date": "2025-11-08T11:06:40Z",
                        "channel_post": 55, "post_author": "Origin"})
            )
        );
        assert_eq!(row.media, None);
        assert!(row.reactions.is_empty());
    }

    /// A reply header to `msg_id`, in the chat `peer` names (this channel when `None`).
    fn reply_header(msg_id: i32, peer: Option<tl::enums::Peer>) -> tl::enums::MessageReplyHeader {
        let Some(tl::enums::MessageReplyHeader::Header(mut header)) = full_post(1).reply_to else {
            panic!("the fake DC's full post is a reply");
        };
        header.reply_to_msg_id = Some(msg_id);
        header.reply_to_peer_id = peer;
        tl::enums::MessageReplyHeader::Header(header)
    }

    #[test]
    fn a_reply_into_another_chat_is_not_a_reply_to_this_channels_message() {
        let elsewhere = tl::types::Message {
            reply_to: Some(reply_header(12, Some(channel_peer(777)))),
            ..bare(100)
        };
        let row = message_row(&tl::enums::Message::Message(elsewhere)).unwrap();
        assert_eq!(row.reply_to_message_id, None);
        // Telegram may name this channel itself: that is a reply here.
        let here = tl::types::Message {
            reply_to: Some(reply_header(12, Some(channel_peer(1006503122)))),
            ..bare(101)
        };
        let row = message_row(&tl::enums::Message::Message(here)).unwrap();
        assert_eq!(row.reply_to_message_id, Some(12));
    }

    #[test]
    fn every_reaction_kind_is_kept_with_its_count() {
        let raw = tl::types::Message {
            reactions: Some(tl::enums::MessageReactions::Reactions(
                tl::types::MessageReactions {
                    min: false,
                    can_see_list: false,
                    reactions_as_tags: false,
                    results: vec![
                        count(
                            tl::enums::Reaction::Emoji(tl::types::ReactionEmoji {
                                emoticon: "👍".into(),
                            }),
                            31,
                        ),
                        count(
                            tl::enums::Reaction::CustomEmoji(tl::types::ReactionCustomEmoji {
                                document_id: 5_368_324_170_671_202_286,
                            }),
                            4,
                        ),
                        count(tl::enums::Reaction::Paid, 250),
                        count(tl::enums::Reaction::Empty, 1),
                    ],
                    recent_reactions: Some(vec![tl::enums::MessagePeerReaction::Reaction(
                        tl::types::MessagePeerReaction {
                            big: false,
                            unread: false,
                            my: false,
                            peer_id: tl::enums::Peer::User(tl::types::PeerUser { user_id: 7 }),
                            date: 1_762_673_700,
                            reaction: tl::enums::Reaction::Emoji(tl::types::ReactionEmoji {
                                emoticon: "👍".into(),
                            }),
                        },
                    )]),
                    top_reactors: None,
                },
            )),
            ..bare(5)
        };
        let row = message_row(&tl::enums::Message::Message(raw)).unwrap();
        assert_eq!(
            row.reactions,
            vec![
                Reaction::Emoji {
                    emoji: "👍".into(),
                    count: 31,
                    recent: vec![Reactor {
                        from_id: Some(Peer {
                            kind: PeerKind::User,
                            id: 7
                        }),
                        from_name: None,
                        date: Some(timestamp(1_762_673_700)),
                    }],
                },
                Reaction::CustomEmoji {
                    document_id: "5368324170671202286".into(),
                    count: 4,
                    recent: Vec::new(),
                },
                Reaction::Paid { count: 250 },
            ]
        );
        // The id survives JSON as a string, digit for digit.
        assert_eq!(
            row.reactions_json().unwrap()[1]["document_id"],
            json!("5368324170671202286")
        );
    }

    #[test]
    fn media_keeps_kind_and_metadata() {
        let post = fake_dc::Post {
            id: 6,
            date: 1_762_673_674,
            content: Some(fake_dc::history::Content {
                media: Some(fake_dc::history::Media::file(fake_dc::File {
                    file_name: Some("clip-9000000000000000001.mp4".into()),
                    // Its duration is the message id's seconds and a half.
                    ..fake_dc::File::new(
                        12,
                        9_000_000_000_000_000_001,
                        fake_dc::FileKind::Video,
                        1_048_576,
                    )
                })),
                ..full_post_content()
            }),
        };
        let tl::enums::Message::Message(raw) = fake_dc::answer::message(1006503122, &post) else {
            panic!("the fake DC answers a post with content as a message");
        };
        let media = message_row(&tl::enums::Message::Message(raw))
            .unwrap()
            .media
            .unwrap();
        assert_eq!(media.kind, "document");
        assert_eq!(
            media.metadata,
            json!({"video": true, "voice": false, "round": false,
                   "document_id": "9000000000000000001", "mime_type": "video/mp4",
                   "size": 1_048_576, "file_name": "clip-9000000000000000001.mp4", "duration": 12.5,
                   "width": 1280, "height": 720})
        );
        let geo = tl::types::Message {
            media: Some(tl::enums::MessageMedia::Geo(tl::types::MessageMediaGeo {
                geo: tl::enums::GeoPoint::Point(tl::types::GeoPoint {
                    long: 13.4,
                    lat: 52.5,
                    access_hash: 0,
                    accuracy_radius: None,
                }),
            })),
            ..bare(7)
        };
        let media = message_row(&tl::enums::Message::Message(geo))
            .unwrap()
            .media
            .unwrap();
        assert_eq!(
            (media.kind.as_str(), media.metadata),
            ("geo", json!({"lat": 52.5, "long": 13.4}))
        );
    }

    #[test]
    fn empty_messages_are_not_rows_but_have_ids() {
        let empty = tl::enums::Message::Empty(tl::types::MessageEmpty {
            id: 8,
            peer_id: None,
        });
        assert_eq!(message_row(&empty), None);
        assert_eq!(message_id(&empty), 8);
    }

    /// A service message of user 7 in this channel, built by the fake DC with `action`.
    fn service_message(id: i32, action: tl::enums::MessageAction) -> tl::types::MessageService {
        let post = fake_dc::Post {
            id,
            date: 1_762_673_674,
            content: None,
        };
        let tl::enums::Message::Service(service) = fake_dc::answer::message(1006503122, &post)
        else {
            panic!("the fake DC answers a post without content as a service message");
        };
        tl::types::MessageService {
            from_id: Some(tl::enums::Peer::User(tl::types::PeerUser { user_id: 7 })),
            action,
            ..service
        }
    }

    #[test]
    fn service_messages_are_rows_with_the_exports_action_names() {
        let pin = tl::types::MessageService {
            reply_to: Some(reply_header(5, None)),
            ..service_message(9, tl::enums::MessageAction::PinMessage)
        };
        let row = message_row(&tl::enums::Message::Service(pin)).unwrap();
        assert_eq!(
            row.action,
            Some(ServiceAction::new("pin_message").with("message_id", 5))
        );
        assert_eq!(
            row.reply_to_message_id, None,
            "the pinned message is in the details"
        );
        assert_eq!(
            row.from_id,
            Some(Peer {
                kind: PeerKind::User,
                id: 7
            })
        );
        assert_eq!((row.id, row.text.as_str()), (9, ""));

        let title =
            tl::enums::MessageAction::ChatEditTitle(tl::types::MessageActionChatEditTitle {
                title: "New name".into(),
            });
        let row = message_row(&tl::enums::Message::Service(service_message(10, title))).unwrap();
        assert_eq!(
            row.action,
            Some(ServiceAction::new("edit_group_title").with("title", "New name"))
        );
        let gift = tl::enums::MessageAction::PaidMessagesRefunded(
            tl::types::MessageActionPaidMessagesRefunded { count: 1, stars: 5 },
        );
        let row = message_row(&tl::enums::Message::Service(service_message(11, gift))).unwrap();
        assert_eq!(row.action.unwrap().kind, "paid_messages_refunded");
    }

    #[test]
    fn entities_keep_utf16_offsets_and_the_exports_names() {
        let text_url = tl::enums::MessageEntity::TextUrl(tl::types::MessageEntityTextUrl {
            offset: 3,
            length: 4,
            url: "https://t.me".into(),
        });
        let emoji = tl::enums::MessageEntity::CustomEmoji(tl::types::MessageEntityCustomEmoji {
            offset: 8,
            length: 2,
            document_id: 5_368_324_170_671_202_286,
        });
        let strike = tl::enums::MessageEntity::Strike(tl::types::MessageEntityStrike {
            offset: 0,
            length: 2,
        });
        let raw = tl::types::Message {
            message: "😀 link 👍".into(),
            entities: Some(vec![text_url, emoji, strike]),
            from_id: Some(tl::enums::Peer::User(tl::types::PeerUser { user_id: 7 })),
            ..bare(12)
        };
        let row = message_row(&tl::enums::Message::Message(raw)).unwrap();
        assert_eq!(
            row.entities_json(),
            Some(json!([
                {"type": "text_link", "offset": 3, "length": 4, "href": "https://t.me"},
                {"type": "custom_emoji", "offset": 8, "length": 2,
                 "document_id": "5368324170671202286"},
                {"type": "strikethrough", "offset": 0, "length": 2}
            ]))
        );
        assert_eq!(
            row.from_id.map(|p| p.json()),
            Some(json!({"type": "user", "id": 7}))
        );
    }

    /// The account the channels are seen by (an access hash is per account).
    const USER: i64 = 777_000_001;

    fn fake_channel(id: i64, username: Option<&str>) -> fake_dc::Channel {
        let mut channel = fake_dc::Channel::new(id, username.unwrap_or("unnamed"), 0);
        channel.username = username.map(str::to_owned);
        channel.title = Some("Durov's Channel".into());
        channel
    }

    /// A channel as the fake DC sends it to [`USER`].
    fn channel(id: i64, username: Option<&str>) -> tl::types::Channel {
        match fake_dc::answer::channel(&fake_channel(id, username), USER, 0) {
            tl::enums::Chat::Channel(channel) => channel,
            other => panic!("the fake DC answered {other:?}"),
        }
    }

    #[test]
    fn a_resolved_username_yields_the_channel_with_its_access_hash() {
        let chats = vec![
            tl::enums::Chat::Channel(channel(1, Some("other"))),
            tl::enums::Chat::Channel(channel(1006503122, Some("Durov"))),
        ];
        assert_eq!(
            resolved_channel(&channel_peer(1006503122), &chats),
            Ok(ResolvedChannel {
                id: 1006503122,
                access_hash: Some(fake_channel(1006503122, None).access_hash_for(USER)),
                username: Some("durov".into()),
                title: Some("Durov's Channel".into()),
            })
        );
        let forbidden = vec![tl::enums::Chat::ChannelForbidden(
            tl::types::ChannelForbidden {
                broadcast: true,
                megagroup: false,
                monoforum: false,
                id: 5,
                access_hash: 1,
                title: "secret".into(),
                until_date: None,
            },
        )];
        assert_eq!(
            resolved_channel(&channel_peer(5), &forbidden),
            Err(ChatProblem::Forbidden)
        );
        let user = tl::enums::Peer::User(tl::types::PeerUser { user_id: 5 });
        assert_eq!(
            resolved_channel(&user, &chats),
            Err(ChatProblem::NotAChannel)
        );
        assert_eq!(
            resolved_channel(&channel_peer(6), &chats),
            Err(ChatProblem::Missing)
        );
    }

    fn with_media(id: i32, media: tl::enums::MessageMedia) -> tl::enums::Message {
        tl::enums::Message::Message(tl::types::Message {
            media: Some(media),
            ..bare(id)
        })
    }

    fn document_media(
        mime_type: &str,
        attributes: Vec<tl::enums::DocumentAttribute>,
    ) -> tl::enums::MessageMedia {
        tl::enums::MessageMedia::Document(tl::types::MessageMediaDocument {
            nopremium: false,
            spoiler: false,
            video: false,
            round: false,
            voice: false,
            document: Some(tl::enums::Document::Document(tl::types::Document {
                id: 555,
                access_hash: -9,
                file_reference: vec![7, 7],
                date: 0,
                mime_type: mime_type.to_owned(),
                size: 3_000_000_000,
                thumbs: None,
                video_thumbs: None,
                dc_id: 4,
                attributes,
            })),
            alt_documents: None,
            video_cover: None,
            video_timestamp: None,
            ttl_seconds: None,
        })
    }

    fn location(file: &RemoteFile) -> tl::enums::InputFileLocation {
        use tl::Deserializable;
        tl::enums::InputFileLocation::from_bytes(&file.location.input).unwrap()
    }

    #[test]
    fn a_photo_is_fetched_at_its_largest_size() {
        let sizes = vec![
            tl::enums::PhotoSize::PhotoStrippedSize(tl::types::PhotoStrippedSize {
                r#type: "i".into(),
                bytes: vec![0; 5_000_000],
            }),
            tl::enums::PhotoSize::Size(tl::types::PhotoSize {
                r#type: "x".into(),
                w: 800,
                h: 600,
                size: 90_000,
            }),
            tl::enums::PhotoSize::Progressive(tl::types::PhotoSizeProgressive {
                r#type: "y".into(),
                w: 1280,
                h: 960,
                sizes: vec![10_000, 60_000, 150_000],
            }),
            tl::enums::PhotoSize::PhotoCachedSize(tl::types::PhotoCachedSize {
                r#type: "s".into(),
                w: 90,
                h: 90,
                bytes: vec![0; 2_000],
            }),
        ];
        let photo = |sizes| {
            tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
                spoiler: false,
                live_photo: false,
                photo: Some(tl::enums::Photo::Photo(tl::types::Photo {
                    has_stickers: false,
                    id: 42,
                    access_hash: 43,
                    file_reference: vec![1, 2, 3],
                    date: 0,
                    sizes,
                    video_sizes: None,
                    dc_id: 1,
                })),
                ttl_seconds: None,
                video: None,
            })
        };
        let file = remote_file(&with_media(9, photo(sizes.clone()))).unwrap();
        assert_eq!(
            (
                file.message_id,
                file.kind,
                file.telegram_key.as_str(),
                file.size,
                file.location.dc_id
            ),
            (9, MediaKind::Photo, "photo:42", 150_000, 1),
            "the progressive size's last size is its size; the stripped one is no file"
        );
        assert_eq!(file.mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(
            location(&file),
            tl::enums::InputFileLocation::InputPhotoFileLocation(
                tl::types::InputPhotoFileLocation {
                    id: 42,
                    access_hash: 43,
                    file_reference: vec![1, 2, 3],
                    thumb_size: "y".into(),
                }
            )
        );
        let only_small = remote_file(&with_media(
            9,
            photo(vec![sizes[1].clone(), sizes[3].clone()]),
        ));
        assert_eq!(
            only_small.map(|f| (f.size, f.kind)),
            Some((90_000, MediaKind::Photo))
        );
        let cached = remote_file(&with_media(9, photo(vec![sizes[3].clone()]))).unwrap();
        assert_eq!(cached.size, 2_000);
        assert_eq!(
            remote_file(&with_media(9, photo(vec![sizes[0].clone()]))),
            None
        );
    }

    #[test]
    fn a_documents_kind_comes_from_its_attributes() {
        use tl::enums::DocumentAttribute as A;
        let video = |round_message| {
            A::Video(tl::types::DocumentAttributeVideo {
                round_message,
                supports_streaming: true,
                nosound: false,
                duration: 1.0,
                w: 1,
                h: 1,
                preload_prefix_size: None,
                video_start_ts: None,
                video_codec: None,
            })
        };
        let audio = |voice| {
            A::Audio(tl::types::DocumentAttributeAudio {
                voice,
                duration: 1,
                title: None,
                performer: None,
                waveform: None,
            })
        };
        let sticker = A::Sticker(tl::types::DocumentAttributeSticker {
            mask: false,
            alt: String::new(),
            stickerset: tl::enums::InputStickerSet::Empty,
            mask_coords: None,
        });
        let name = A::Filename(tl::types::DocumentAttributeFilename {
            file_name: "a.pdf".into(),
        });
        for (attributes, kind) in [
            (vec![name.clone()], MediaKind::Document),
            (vec![], MediaKind::Document),
            (vec![video(false)], MediaKind::Video),
            (vec![video(true)], MediaKind::Video),
            (vec![video(false), A::Animated], MediaKind::Animation),
            (vec![audio(true)], MediaKind::Voice),
            (vec![audio(false), name.clone()], MediaKind::Audio),
            (vec![video(false), sticker.clone()], MediaKind::Sticker),
            (vec![sticker], MediaKind::Sticker),
        ] {
            let file =
                remote_file(&with_media(3, document_media("x/y", attributes.clone()))).unwrap();
            assert_eq!(file.kind, kind, "{attributes:?}");
        }
        let file = remote_file(&with_media(
            3,
            document_media("application/pdf", vec![name]),
        ))
        .unwrap();
        assert_eq!(
            (
                file.telegram_key.as_str(),
                file.size,
                file.mime_type.as_deref(),
                file.location.dc_id
            ),
            ("document:555", 3_000_000_000, Some("application/pdf"), 4),
            "sizes above 2 GiB are kept"
        );
        assert_eq!(
            location(&file),
            tl::enums::InputFileLocation::InputDocumentFileLocation(
                tl::types::InputDocumentFileLocation {
                    id: 555,
                    access_hash: -9,
                    file_reference: vec![7, 7],
                    thumb_size: String::new(),
                }
            )
        );
        let unnamed = remote_file(&with_media(3, document_media("", vec![]))).unwrap();
        assert_eq!(unnamed.mime_type, None);
    }

    #[test]
    fn other_media_and_other_messages_carry_no_file() {
        let geo = tl::enums::MessageMedia::Geo(tl::types::MessageMediaGeo {
            geo: tl::enums::GeoPoint::Empty,
        });
        assert_eq!(remote_file(&with_media(1, geo)), None);
        let empty_photo = tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
            spoiler: false,
            live_photo: false,
            photo: None,
            ttl_seconds: None,
            video: None,
        });
        assert_eq!(remote_file(&with_media(1, empty_photo)), None);
        assert_eq!(remote_file(&tl::enums::Message::Message(bare(1))), None);
        let deleted = tl::enums::Message::Empty(tl::types::MessageEmpty {
            id: 1,
            peer_id: None,
        });
        assert_eq!(remote_file(&deleted), None);
    }

    #[test]
    fn the_fake_dcs_files_map_to_their_kinds_sizes_and_references() {
        use fake_dc::{File, FileKind};
        let channel = fake_dc::Channel::new(1001, "alpha", 10)
            .file(File::new(1, 11, FileKind::Round, 100))
            .file(File::new(2, 12, FileKind::Voice, 0))
            .file(File::new(3, 13, FileKind::Sticker, 5).on_dc(4))
            .file(File::new(4, 14, FileKind::Photo, 5_000));
        let timeline = fake_dc::Timeline::new(&channel);
        let files: Vec<_> = (1..=4)
            .map(|id| remote_file(&fake_dc::answer::message(1001, &timeline.post(id))).unwrap())
            .map(|f| {
                (
                    f.message_id,
                    f.kind,
                    f.size,
                    f.location.dc_id,
                    f.telegram_key,
                )
            })
            .collect();
        assert_eq!(
            files,
            vec![
                (1, MediaKind::Video, 100, 2, "document:11".to_owned()),
                (2, MediaKind::Voice, 0, 2, "document:12".to_owned()),
                (3, MediaKind::Sticker, 5, 4, "document:13".to_owned()),
                (4, MediaKind::Photo, 5_000, 2, "photo:14".to_owned()),
            ]
        );
    }
}
