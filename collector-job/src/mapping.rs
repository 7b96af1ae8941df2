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

#[cfg(test)]
mod tests {
    use super::*;

    fn channel_peer(id: i64) -> tl::enums::Peer {
        tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id: id })
    }

    /// A channel post with every optional field empty.
    fn bare(id: i32) -> tl::types::Message {
        tl::types::Message {
            out: false,
            mentioned: false,
            media_unread: false,
            silent: false,
            post: true,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: false,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id,
            from_id: None,
            from_boosts_applied: None,
            from_rank: None,
            peer_id: channel_peer(1006503122),
            saved_peer_id: None,
            fwd_from: None,
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to: None,
            date: 1_762_673_674,
            message: String::new(),
            media: None,
            reply_markup: None,
            entities: None,
            views: None,
            forwards: None,
            replies: None,
            edit_date: None,
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        }
    }

    fn count(reaction: tl::enums::Reaction, count: i32) -> tl::enums::ReactionCount {
        tl::enums::ReactionCount::Count(tl::types::ReactionCount {
            chosen_order: None,
            reaction,
            count,
        })
    }

    #[test]
    fn every_field_of_a_channel_post_reaches_its_column() {
        let raw = tl::types::Message {
            message: "Hello, channel".into(),
            edit_date: Some(1_762_677_274),
            views: Some(1500),
            forwards: Some(12),
            replies: Some(tl::enums::MessageReplies::Replies(
                tl::types::MessageReplies {
                    comments: true,
                    replies: 7,
                    replies_pts: 1,
                    recent_repliers: None,
                    channel_id: Some(42),
                    max_id: None,
                    read_max_id: None,
                },
            )),
            post_author: Some("Editor".into()),
            grouped_id: Some(13_600_000_000_000_001),
            reply_to: Some(tl::enums::MessageReplyHeader::Header(
                tl::types::MessageReplyHeader {
                    reply_to_scheduled: false,
                    forum_topic: false,
                    quote: false,
                    reply_to_ephemeral: false,
                    reply_to_msg_id: Some(99),
                    reply_to_peer_id: None,
                    reply_from: None,
                    reply_media: None,
                    reply_to_top_id: None,
                    quote_text: None,
                    quote_entities: None,
                    quote_offset: None,
                    todo_item_id: None,
                    poll_option: None,
                },
            )),
            fwd_from: Some(tl::enums::MessageFwdHeader::Header(
                tl::types::MessageFwdHeader {
                    imported: false,
                    saved_out: false,
                    from_id: Some(channel_peer(777)),
                    from_name: None,
                    date: 1_762_600_000,
                    channel_post: Some(55),
                    post_author: Some("Origin".into()),
                    saved_from_peer: None,
                    saved_from_msg_id: None,
                    saved_from_id: None,
                    saved_from_name: None,
                    saved_date: None,
                    psa_type: None,
                },
            )),
            ..bare(100)
        };
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
                json!({"from_id": "channel:777", "date": "2025-11-08T11:06:40Z",
                        "channel_post": 55, "post_author": "Origin"})
            )
        );
        assert_eq!(row.media, None);
        assert!(row.reactions.is_empty());
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
                    recent_reactions: None,
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
                    count: 31
                },
                Reaction::CustomEmoji {
                    document_id: "5368324170671202286".into(),
                    count: 4
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
        let document = tl::types::Document {
            id: 9_000_000_000_000_000_001,
            access_hash: 1,
            file_reference: vec![],
            date: 0,
            mime_type: "video/mp4".into(),
            size: 1_048_576,
            thumbs: None,
            video_thumbs: None,
            dc_id: 2,
            attributes: vec![
                tl::enums::DocumentAttribute::Filename(tl::types::DocumentAttributeFilename {
                    file_name: "clip.mp4".into(),
                }),
                tl::enums::DocumentAttribute::Video(tl::types::DocumentAttributeVideo {
                    round_message: false,
                    supports_streaming: true,
                    nosound: false,
                    duration: 12.5,
                    w: 1280,
                    h: 720,
                    preload_prefix_size: None,
                    video_start_ts: None,
                    video_codec: None,
                }),
            ],
        };
        let raw = tl::types::Message {
            media: Some(tl::enums::MessageMedia::Document(
                tl::types::MessageMediaDocument {
                    nopremium: false,
                    spoiler: false,
                    video: true,
                    round: false,
                    voice: false,
                    document: Some(tl::enums::Document::Document(document)),
                    alt_documents: None,
                    video_cover: None,
                    video_timestamp: None,
                    ttl_seconds: None,
                },
            )),
            ..bare(6)
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
                   "size": 1_048_576, "file_name": "clip.mp4", "duration": 12.5,
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
    fn service_and_empty_messages_are_not_rows_but_have_ids() {
        let empty = tl::enums::Message::Empty(tl::types::MessageEmpty {
            id: 8,
            peer_id: None,
        });
        assert_eq!(message_row(&empty), None);
        assert_eq!(message_id(&empty), 8);
    }

    fn channel(id: i64, username: Option<&str>) -> tl::types::Channel {
        tl::types::Channel {
            creator: false,
            left: false,
            broadcast: true,
            verified: false,
            megagroup: false,
            restricted: false,
            signatures: false,
            min: false,
            scam: false,
            has_link: false,
            has_geo: false,
            slowmode_enabled: false,
            call_active: false,
            call_not_empty: false,
            fake: false,
            gigagroup: false,
            noforwards: false,
            join_to_send: false,
            join_request: false,
            forum: false,
            stories_hidden: false,
            stories_hidden_min: false,
            stories_unavailable: false,
            signature_profiles: false,
            autotranslation: false,
            broadcast_messages_allowed: false,
            monoforum: false,
            forum_tabs: false,
            id,
            access_hash: Some(-4242),
            title: "Durov's Channel".into(),
            username: username.map(str::to_owned),
            photo: tl::enums::ChatPhoto::Empty,
            date: 0,
            restriction_reason: None,
            admin_rights: None,
            banned_rights: None,
            default_banned_rights: None,
            participants_count: None,
            usernames: None,
            stories_max_id: None,
            color: None,
            profile_color: None,
            emoji_status: None,
            level: None,
            subscription_until_date: None,
            bot_verification_icon: None,
            send_paid_messages_stars: None,
            linked_monoforum_id: None,
            linked_community_id: None,
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
                access_hash: Some(-4242),
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
}
