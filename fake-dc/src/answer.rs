//! The scenario's accounts, channels and posts as the TL objects Telegram sends (layer
//! [`grammers_tl_types::LAYER`]): only construction, no decisions.

use std::net::SocketAddr;

use grammers_tl_types as tl;

use crate::files;
use crate::history::{Content, Entity, Forward, Media, Post, Reaction};
use crate::login::PasswordInfo;
use crate::scenario::{Account, Channel, DEFAULT_DC_ID, File, FileKind};
use crate::srp;

/// How long a `help.getConfig` answer is valid.
const CONFIG_TTL: i32 = 3_600;
/// The account's update counters (`updates.getState`): the same on every call.
pub const UPDATE_PTS: i32 = 1;
pub const UPDATE_SEQ: i32 = 1;

/// The channel as account `user_id` sees it (with that account's access hash).
pub fn channel(channel: &Channel, user_id: i64, last_date: i32) -> tl::enums::Chat {
    tl::enums::Chat::Channel(tl::types::Channel {
        creator: false,
        left: false,
        broadcast: true,
        verified: false,
        megagroup: false,
        restricted: false,
        signatures: true,
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
        stories_unavailable: true,
        signature_profiles: false,
        autotranslation: false,
        broadcast_messages_allowed: false,
        monoforum: false,
        forum_tabs: false,
        id: channel.id,
        access_hash: Some(channel.access_hash_for(user_id)),
        title: channel.title(),
        username: channel.username.clone(),
        photo: tl::enums::ChatPhoto::Empty,
        date: last_date,
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
    })
}

/// The account itself, as `users.getUsers([inputUserSelf])` answers.
pub fn user(account: &Account) -> tl::enums::User {
    tl::enums::User::User(tl::types::User {
        is_self: true,
        contact: false,
        mutual_contact: false,
        deleted: false,
        bot: false,
        bot_chat_history: false,
        bot_nochats: false,
        verified: false,
        restricted: false,
        min: false,
        bot_inline_geo: false,
        support: false,
        scam: false,
        apply_min_photo: false,
        fake: false,
        bot_attach_menu: false,
        premium: false,
        attach_menu_enabled: false,
        bot_can_edit: false,
        close_friend: false,
        stories_hidden: false,
        stories_unavailable: true,
        contact_require_premium: false,
        bot_business: false,
        bot_has_main_app: false,
        bot_forum_view: false,
        bot_forum_can_manage_topics: false,
        bot_can_manage_bots: false,
        bot_guestchat: false,
        bot_guard: false,
        id: account.user_id,
        access_hash: Some(account.user_access_hash()),
        first_name: Some(account.name()),
        last_name: None,
        username: None,
        phone: None,
        photo: None,
        status: Some(tl::enums::UserStatus::Recently(
            tl::types::UserStatusRecently { by_me: false },
        )),
        bot_info_version: None,
        restriction_reason: None,
        bot_inline_placeholder: None,
        lang_code: None,
        emoji_status: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        bot_active_users: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_community_id: None,
    })
}

/// `users.getFullUser` for the account itself.
pub fn user_full(account: &Account) -> tl::enums::users::UserFull {
    tl::enums::users::UserFull::Full(tl::types::users::UserFull {
        full_user: tl::enums::UserFull::Full(tl::types::UserFull {
            blocked: false,
            phone_calls_available: false,
            phone_calls_private: false,
            can_pin_message: true,
            has_scheduled: false,
            video_calls_available: false,
            voice_messages_forbidden: false,
            translations_disabled: false,
            stories_pinned_available: false,
            blocked_my_stories_from: false,
            wallpaper_overridden: false,
            contact_require_premium: false,
            read_dates_private: false,
            sponsored_enabled: false,
            can_view_revenue: false,
            bot_can_manage_emoji_status: false,
            display_gifts_button: false,
            noforwards_my_enabled: false,
            noforwards_peer_enabled: false,
            unofficial_security_risk: false,
            id: account.user_id,
            about: None,
            settings: tl::enums::PeerSettings::Settings(tl::types::PeerSettings {
                report_spam: false,
                add_contact: false,
                block_contact: false,
                share_contact: false,
                need_contacts_exception: false,
                report_geo: false,
                autoarchived: false,
                invite_members: false,
                request_chat_broadcast: false,
                business_bot_paused: false,
                business_bot_can_reply: false,
                geo_distance: None,
                request_chat_title: None,
                request_chat_date: None,
                business_bot_id: None,
                business_bot_manage_url: None,
                charge_paid_message_stars: None,
                registration_month: None,
                phone_country: None,
                name_change_date: None,
                photo_change_date: None,
            }),
            personal_photo: None,
            profile_photo: None,
            fallback_photo: None,
            notify_settings: notify_settings(),
            bot_info: None,
            pinned_msg_id: None,
            common_chats_count: 0,
            folder_id: None,
            ttl_period: None,
            theme: None,
            private_forward_name: None,
            bot_group_admin_rights: None,
            bot_broadcast_admin_rights: None,
            wallpaper: None,
            stories: None,
            business_work_hours: None,
            business_location: None,
            business_greeting_message: None,
            business_away_message: None,
            business_intro: None,
            birthday: None,
            personal_channel_id: None,
            personal_channel_message: None,
            stargifts_count: None,
            starref_program: None,
            bot_verification: None,
            send_paid_messages_stars: None,
            disallowed_gifts: None,
            stars_rating: None,
            stars_my_pending_rating: None,
            stars_my_pending_rating_date: None,
            main_tab: None,
            saved_music: None,
            note: None,
            bot_manager_id: None,
        }),
        chats: Vec::new(),
        users: vec![user(account)],
    })
}

fn notify_settings() -> tl::enums::PeerNotifySettings {
    tl::enums::PeerNotifySettings::Settings(tl::types::PeerNotifySettings {
        show_previews: None,
        silent: None,
        mute_until: None,
        ios_sound: None,
        android_sound: None,
        other_sound: None,
        stories_muted: None,
        stories_hide_sender: None,
        stories_ios_sound: None,
        stories_android_sound: None,
        stories_other_sound: None,
    })
}

/// `help.getConfig`. `dc_options` is empty so the client keeps the loopback address its
/// session names (grammers would otherwise store the listed addresses for each DC).
/// The config the DC `dc_id` sends, listing every DC of the scenario at its address: grammers'
/// sender pool learns where to connect from it (only options flagged `static`).
pub fn config(dc_id: i32, addresses: &[(i32, SocketAddr)], now: i32) -> tl::enums::Config {
    let dc_options = addresses
        .iter()
        .map(|(id, addr)| {
            tl::enums::DcOption::Option(tl::types::DcOption {
                ipv6: addr.is_ipv6(),
                media_only: false,
                tcpo_only: false,
                cdn: false,
                r#static: true,
                this_port_only: false,
                id: *id,
                ip_address: addr.ip().to_string(),
                port: i32::from(addr.port()),
                secret: None,
            })
        })
        .collect();
    tl::enums::Config::Config(tl::types::Config {
        default_p2p_contacts: false,
        preload_featured_stickers: false,
        revoke_pm_inbox: true,
        blocked_mode: false,
        force_try_ipv6: false,
        date: now,
        expires: now + CONFIG_TTL,
        test_mode: false,
        this_dc: dc_id,
        dc_options,
        dc_txt_domain_name: "localhost".into(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5_000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1_500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        tmp_sessions: None,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".into(),
        autoupdate_url_prefix: None,
        gif_search_username: None,
        venue_search_username: None,
        img_search_username: None,
        static_maps_provider: None,
        caption_length_max: 1_024,
        message_length_max: 4_096,
        webfile_dc_id: dc_id,
        suggested_lang_code: None,
        lang_pack_version: None,
        base_lang_pack_version: None,
        reactions_default: None,
        autologin_token: None,
    })
}

/// The account's update state: nothing has happened to it, so the counters stay at
/// [`UPDATE_PTS`], 0 and [`UPDATE_SEQ`], and only the date moves.
pub fn state(now: i32) -> tl::enums::updates::State {
    tl::enums::updates::State::State(tl::types::updates::State {
        pts: UPDATE_PTS,
        qts: 0,
        date: now,
        seq: UPDATE_SEQ,
        unread_count: 0,
    })
}

/// `updates.getDifference`: nothing new since any state (the fake never pushes updates).
pub fn difference_empty(now: i32) -> tl::enums::updates::Difference {
    tl::enums::updates::Difference::Empty(tl::types::updates::DifferenceEmpty {
        date: now,
        seq: UPDATE_SEQ,
    })
}

/// A dialog for `channel`, whose newest message is `top_message` (0: none).
pub fn dialog(channel_id: i64, top_message: i32) -> tl::enums::Dialog {
    tl::enums::Dialog::Dialog(tl::types::Dialog {
        pinned: false,
        unread_mark: false,
        view_forum_as_messages: false,
        peer: peer(channel_id),
        top_message,
        read_inbox_max_id: top_message,
        read_outbox_max_id: 0,
        unread_count: 0,
        unread_mentions_count: 0,
        unread_reactions_count: 0,
        unread_poll_votes_count: 0,
        notify_settings: notify_settings(),
        pts: Some(top_message),
        draft: None,
        folder_id: None,
        ttl_period: None,
    })
}

fn peer(channel_id: i64) -> tl::enums::Peer {
    tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id })
}

/// A post of channel `channel_id` as Telegram sends it.
/// What Telegram answers for a message id that does not exist (any more).
pub fn empty_message(channel_id: i64, id: i32) -> tl::enums::Message {
    tl::enums::Message::Empty(tl::types::MessageEmpty {
        id,
        peer_id: Some(peer(channel_id)),
    })
}

pub fn message(channel_id: i64, post: &Post) -> tl::enums::Message {
    let date = i32::try_from(post.date).unwrap_or(i32::MAX);
    let Some(content) = &post.content else {
        let action = if post.id % 2 == 0 {
            tl::enums::MessageAction::PinMessage
        } else {
            tl::enums::MessageAction::ChatEditTitle(tl::types::MessageActionChatEditTitle {
                title: format!("Renamed at {}", post.id),
            })
        };
        return tl::enums::Message::Service(tl::types::MessageService {
            out: false,
            mentioned: false,
            media_unread: false,
            reactions_are_possible: false,
            silent: false,
            post: true,
            legacy: false,
            id: post.id,
            from_id: None,
            peer_id: peer(channel_id),
            saved_peer_id: None,
            reply_to: None,
            date,
            action,
            reactions: None,
            ttl_period: None,
        });
    };
    tl::enums::Message::Message(tl::types::Message {
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
        id: post.id,
        from_id: None,
        from_boosts_applied: None,
        from_rank: None,
        peer_id: peer(channel_id),
        saved_peer_id: None,
        fwd_from: content.forward.as_ref().map(forward),
        via_bot_id: None,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to: content.reply_to.map(reply_to),
        date,
        message: content.text.clone(),
        media: content.media.as_ref().map(|m| media(m, date)),
        reply_markup: None,
        entities: Some(content.entities.iter().map(entity).collect()),
        views: Some(content.views),
        forwards: Some(content.forwards),
        replies: Some(replies(content, channel_id)),
        edit_date: content
            .edit_date
            .map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
        post_author: content.post_author.clone(),
        grouped_id: content.grouped_id,
        reactions: Some(reactions(&content.reactions)),
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
    })
}

fn forward(forward: &Forward) -> tl::enums::MessageFwdHeader {
    tl::enums::MessageFwdHeader::Header(tl::types::MessageFwdHeader {
        imported: false,
        saved_out: false,
        from_id: Some(peer(forward.from_channel)),
        from_name: None,
        date: i32::try_from(forward.date).unwrap_or(0),
        channel_post: Some(forward.channel_post),
        post_author: Some("Origin".into()),
        saved_from_peer: None,
        saved_from_msg_id: None,
        saved_from_id: None,
        saved_from_name: None,
        saved_date: None,
        psa_type: None,
    })
}

fn reply_to(id: i32) -> tl::enums::MessageReplyHeader {
    tl::enums::MessageReplyHeader::Header(tl::types::MessageReplyHeader {
        reply_to_scheduled: false,
        forum_topic: false,
        quote: false,
        reply_to_ephemeral: false,
        reply_to_msg_id: Some(id),
        reply_to_peer_id: None,
        reply_from: None,
        reply_media: None,
        reply_to_top_id: None,
        quote_text: None,
        quote_entities: None,
        quote_offset: None,
        todo_item_id: None,
        poll_option: None,
    })
}

fn replies(content: &Content, channel_id: i64) -> tl::enums::MessageReplies {
    tl::enums::MessageReplies::Replies(tl::types::MessageReplies {
        comments: true,
        replies: content.replies,
        replies_pts: content.replies,
        recent_repliers: None,
        channel_id: Some(channel_id + 1),
        max_id: None,
        read_max_id: None,
    })
}

fn entity(entity: &Entity) -> tl::enums::MessageEntity {
    use tl::enums::MessageEntity as E;
    match entity.clone() {
        Entity::Bold { offset, length } => E::Bold(tl::types::MessageEntityBold { offset, length }),
        Entity::TextUrl {
            offset,
            length,
            url,
        } => E::TextUrl(tl::types::MessageEntityTextUrl {
            offset,
            length,
            url,
        }),
        Entity::Mention { offset, length } => {
            E::Mention(tl::types::MessageEntityMention { offset, length })
        }
        Entity::CustomEmoji {
            offset,
            length,
            document_id,
        } => E::CustomEmoji(tl::types::MessageEntityCustomEmoji {
            offset,
            length,
            document_id,
        }),
    }
}

fn media(media: &Media, date: i32) -> tl::enums::MessageMedia {
    match media {
        Media::File { file, reference } if file.kind == FileKind::Photo => {
            tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
                spoiler: false,
                live_photo: false,
                photo: Some(photo(file, reference.clone(), date)),
                ttl_seconds: None,
                video: None,
            })
        }
        Media::File { file, reference } => {
            tl::enums::MessageMedia::Document(tl::types::MessageMediaDocument {
                nopremium: false,
                spoiler: false,
                video: matches!(file.kind, FileKind::Video | FileKind::Round),
                round: file.kind == FileKind::Round,
                voice: file.kind == FileKind::Voice,
                document: Some(document(file, reference.clone(), date)),
                alt_documents: None,
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
            })
        }
        Media::WebPage { url, title } => {
            tl::enums::MessageMedia::WebPage(tl::types::MessageMediaWebPage {
                force_large_media: false,
                force_small_media: false,
                manual: false,
                safe: true,
                webpage: tl::enums::WebPage::Page(tl::types::WebPage {
                    has_large_media: false,
                    video_cover_photo: false,
                    id: i64::from(date),
                    url: url.clone(),
                    display_url: url.trim_start_matches("https://").to_owned(),
                    hash: 0,
                    r#type: Some("article".into()),
                    site_name: Some("Example".into()),
                    title: Some(title.clone()),
                    description: Some("An article".into()),
                    photo: None,
                    embed_url: None,
                    embed_type: None,
                    embed_width: None,
                    embed_height: None,
                    duration: None,
                    author: None,
                    document: None,
                    cached_page: None,
                    attributes: None,
                }),
            })
        }
    }
}

/// The type of a photo's largest size, the one `upload.getFile` serves.
pub const PHOTO_SIZE_TYPE: &str = "y";

/// A photo with Telegram's usual sizes: an inline stripped preview, a small `m` and the
/// progressive `y` whose last size is the file's.
fn photo(file: &File, file_reference: Vec<u8>, date: i32) -> tl::enums::Photo {
    let size = i32::try_from(file.size).unwrap_or(i32::MAX);
    tl::enums::Photo::Photo(tl::types::Photo {
        has_stickers: false,
        id: file.id,
        access_hash: files::access_hash(file.id),
        file_reference,
        date,
        sizes: vec![
            tl::enums::PhotoSize::PhotoStrippedSize(tl::types::PhotoStrippedSize {
                r#type: "i".into(),
                bytes: vec![1, 40, 22],
            }),
            tl::enums::PhotoSize::Size(tl::types::PhotoSize {
                r#type: "m".into(),
                w: 320,
                h: 180,
                size: (size / 8).max(1),
            }),
            tl::enums::PhotoSize::Progressive(tl::types::PhotoSizeProgressive {
                r#type: PHOTO_SIZE_TYPE.into(),
                w: 1280,
                h: 720,
                sizes: vec![(size / 4).max(1), (size / 2).max(1), size],
            }),
        ],
        video_sizes: None,
        dc_id: file.dc_id.unwrap_or(DEFAULT_DC_ID),
    })
}

fn document(file: &File, file_reference: Vec<u8>, date: i32) -> tl::enums::Document {
    use tl::enums::DocumentAttribute as A;
    let duration = f64::from(file.message % 120) + 0.5;
    let mut attributes = Vec::new();
    if let Some(name) = &file.file_name {
        attributes.push(A::Filename(tl::types::DocumentAttributeFilename {
            file_name: name.clone(),
        }));
    }
    let video = |round_message| {
        A::Video(tl::types::DocumentAttributeVideo {
            round_message,
            supports_streaming: true,
            nosound: false,
            duration,
            w: 1280,
            h: 720,
            preload_prefix_size: None,
            video_start_ts: None,
            video_codec: None,
        })
    };
    let audio = |voice| {
        A::Audio(tl::types::DocumentAttributeAudio {
            voice,
            duration: duration as i32,
            title: (!voice).then(|| format!("Track {}", file.id)),
            performer: None,
            waveform: None,
        })
    };
    match file.kind {
        FileKind::Video => attributes.push(video(false)),
        FileKind::Round => attributes.push(video(true)),
        FileKind::Animation => {
            attributes.push(video(false));
            attributes.push(A::Animated);
        }
        FileKind::Voice => attributes.push(audio(true)),
        FileKind::Audio => attributes.push(audio(false)),
        FileKind::Sticker => attributes.push(A::Sticker(tl::types::DocumentAttributeSticker {
            mask: false,
            alt: "\u{1f600}".into(),
            stickerset: tl::enums::InputStickerSet::Empty,
            mask_coords: None,
        })),
        FileKind::Photo | FileKind::Document => {}
    }
    tl::enums::Document::Document(tl::types::Document {
        id: file.id,
        access_hash: files::access_hash(file.id),
        file_reference,
        date,
        mime_type: file.mime_type().to_owned(),
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
        thumbs: None,
        video_thumbs: None,
        dc_id: file.dc_id.unwrap_or(DEFAULT_DC_ID),
        attributes,
    })
}

fn reactions(reactions: &[(Reaction, i32)]) -> tl::enums::MessageReactions {
    tl::enums::MessageReactions::Reactions(tl::types::MessageReactions {
        min: false,
        can_see_list: false,
        reactions_as_tags: false,
        results: reactions
            .iter()
            .map(|(reaction, count)| {
                tl::enums::ReactionCount::Count(tl::types::ReactionCount {
                    chosen_order: None,
                    reaction: match reaction {
                        Reaction::Emoji(emoticon) => {
                            tl::enums::Reaction::Emoji(tl::types::ReactionEmoji {
                                emoticon: emoticon.clone(),
                            })
                        }
                        Reaction::CustomEmoji(document_id) => {
                            tl::enums::Reaction::CustomEmoji(tl::types::ReactionCustomEmoji {
                                document_id: *document_id,
                            })
                        }
                        Reaction::Paid => tl::enums::Reaction::Paid,
                    },
                    count: *count,
                })
            })
            .collect(),
        recent_reactions: None,
        top_reactors: None,
    })
}

/// `auth.sendCode`: the code went to the account's other apps.
pub fn sent_code(phone_code_hash: String, length: i32) -> tl::enums::auth::SentCode {
    tl::enums::auth::SentCode::Code(tl::types::auth::SentCode {
        r#type: tl::enums::auth::SentCodeType::App(tl::types::auth::SentCodeTypeApp { length }),
        phone_code_hash,
        next_type: None,
        timeout: None,
    })
}

/// `auth.signIn` / `auth.checkPassword` once the account is signed in.
pub fn authorization(account: &Account) -> tl::enums::auth::Authorization {
    tl::enums::auth::Authorization::Authorization(tl::types::auth::Authorization {
        setup_password_required: false,
        otherwise_relogin_days: None,
        tmp_sessions: None,
        future_auth_token: None,
        user: user(account),
    })
}

fn srp_algo(salt1: Vec<u8>, salt2: Vec<u8>) -> tl::enums::PasswordKdfAlgo {
    tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(
        tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
            salt1,
            salt2,
            g: srp::G,
            p: srp::prime(),
        },
    )
}

/// `account.getPassword`: the 2FA parameters and an SRP challenge, or no password.
pub fn password(
    info: Option<PasswordInfo<'_>>,
    secure_random: Vec<u8>,
) -> tl::enums::account::Password {
    // What a client would use to set a new password; the same salts serve.
    let new_algo = match &info {
        Some(info) => srp_algo(info.verifier.salt1.clone(), info.verifier.salt2.clone()),
        None => srp_algo(secure_random[..8].to_vec(), secure_random[8..24].to_vec()),
    };
    let new_secure_algo = tl::enums::SecurePasswordKdfAlgo::Pbkdf2Hmacsha512iter100000(
        tl::types::SecurePasswordKdfAlgoPbkdf2Hmacsha512iter100000 {
            salt: secure_random[24..32].to_vec(),
        },
    );
    tl::enums::account::Password::Password(tl::types::account::Password {
        has_recovery: false,
        has_secure_values: false,
        has_password: info.is_some(),
        current_algo: info
            .as_ref()
            .map(|i| srp_algo(i.verifier.salt1.clone(), i.verifier.salt2.clone())),
        srp_b: info.as_ref().map(|i| i.challenge.g_b.to_vec()),
        srp_id: info.as_ref().map(|i| i.challenge.srp_id),
        hint: info.as_ref().and_then(|i| i.hint.map(str::to_owned)),
        email_unconfirmed_pattern: None,
        new_algo,
        new_secure_algo,
        secure_random,
        pending_reset_date: None,
        login_email_pattern: None,
    })
}
