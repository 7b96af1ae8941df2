//! A channel's history: which ids exist, what each message says (generated from its id, so
//! 100,000 messages cost no memory), and `messages.getHistory`'s paging as Telegram documents
//! it (<https://core.telegram.org/api/offsets>):
//!
//! - the list is newest first; `offset_id` sets the start at `offsetFromID(offset_id)`, "the
//!   number of results from the beginning of the list up to the result with ID offset_id,
//!   inclusive" (so `add_offset = -limit` includes `offset_id` itself), `offset_date` at the
//!   first message sent before it; `add_offset` moves the start, `limit` (at most 100) cuts;
//! - `min_id` and `max_id` (exclusive bounds) are applied *after* slicing.
//!
//! Every message carries what the collector maps: text with entities, views, forwards,
//! replies, edits, post authors, albums, replies to other posts, forwards from another channel,
//! media and reactions of each kind, by the rules in [`Timeline::post`].

use crate::scenario::{Channel, Edit, File, FileKind};

/// Telegram's largest page.
pub const MAX_LIMIT: i32 = 100;
/// Telegram's page when the request says 0.
const DEFAULT_LIMIT: i32 = 20;
/// The channel forwarded posts come from.
pub const FORWARD_SOURCE: i64 = 1_777_000_001;
/// The custom emoji used in texts and reactions.
pub const CUSTOM_EMOJI: i64 = 5_368_324_170_671_202_286;

/// One message as plain data; [`crate::answer`] turns it into TL.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub id: i32,
    /// Unix time.
    pub date: i64,
    /// `None` for a service message.
    pub content: Option<Content>,
}

/// What a channel post carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Content {
    pub text: String,
    pub entities: Vec<Entity>,
    pub views: i32,
    pub forwards: i32,
    pub replies: i32,
    pub edit_date: Option<i64>,
    pub post_author: Option<String>,
    pub grouped_id: Option<i64>,
    pub reply_to: Option<i32>,
    pub forward: Option<Forward>,
    pub media: Option<Media>,
    pub reactions: Vec<(Reaction, i32)>,
}

/// A text entity; offsets and lengths count UTF-16 code units, as in TL.
#[derive(Clone, Debug, PartialEq)]
pub enum Entity {
    Bold {
        offset: i32,
        length: i32,
    },
    TextUrl {
        offset: i32,
        length: i32,
        url: String,
    },
    Mention {
        offset: i32,
        length: i32,
    },
    CustomEmoji {
        offset: i32,
        length: i32,
        document_id: i64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    pub from_channel: i64,
    pub channel_post: i32,
    pub date: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Media {
    /// A photo or a document, downloadable, with the file reference the message carries.
    File {
        file: File,
        reference: Vec<u8>,
    },
    WebPage {
        url: String,
        title: String,
    },
}

impl Media {
    /// The collector's `media_kind` for this media.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File { file, .. } if file.kind == FileKind::Photo => "photo",
            Self::File { .. } => "document",
            Self::WebPage { .. } => "webpage",
        }
    }

    /// A file as a fresh message carries it (its reference not yet expired).
    pub fn file(file: File) -> Self {
        Self::File {
            reference: crate::files::reference(file.id, 0),
            file,
        }
    }
}

/// Generated photos are this large.
pub const PHOTO_SIZE: u64 = 98_304;
/// Generated videos are this large.
pub const VIDEO_SIZE: u64 = 1_048_576;

#[derive(Clone, Debug, PartialEq)]
pub enum Reaction {
    Emoji(String),
    CustomEmoji(i64),
    Paid,
}

/// `messages.getHistory`'s paging parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub offset_id: i32,
    pub offset_date: i32,
    pub add_offset: i32,
    pub limit: i32,
    pub max_id: i32,
    pub min_id: i32,
}

/// The ids a query selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Newest first, as Telegram answers.
    pub ids: Vec<i32>,
    /// How many messages the channel has.
    pub count: i32,
    /// How many messages are newer than `ids[0]`, when an offset was given.
    pub offset_id_offset: Option<i32>,
}

/// The ids and dates of a channel's messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    id: i64,
    username: Option<String>,
    last: i32,
    /// Sorted, deduplicated, each in 1..=last.
    deleted: Vec<i32>,
    service: Vec<i32>,
    /// The latest edit of each edited message.
    edits: std::collections::BTreeMap<i32, Edit>,
    first_date: i64,
    interval: i64,
    /// The scenario's files, by the message carrying them.
    files: std::collections::BTreeMap<i32, File>,
}

const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ";

fn utf16_len(text: &str) -> i32 {
    text.encode_utf16().count() as i32
}

impl Timeline {
    pub fn new(channel: &Channel) -> Self {
        let clean = |ids: &[i32]| {
            let mut ids: Vec<i32> = ids
                .iter()
                .copied()
                .filter(|id| (1..=channel.messages).contains(id))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        Self {
            id: channel.id,
            username: channel.username.clone(),
            last: channel.messages,
            deleted: clean(&channel.deleted_ids),
            service: clean(&channel.service_ids),
            edits: channel.edits.iter().fold(
                std::collections::BTreeMap::new(),
                |mut edits, edit| {
                    let newer = edits
                        .get(&edit.id)
                        .is_none_or(|known: &Edit| known.edit_date <= edit.edit_date);
                    if newer {
                        edits.insert(edit.id, edit.clone());
                    }
                    edits
                },
            ),
            first_date: channel.first_date,
            interval: channel.interval_seconds,
            files: channel
                .files
                .iter()
                .map(|file| (file.message, file.clone()))
                .collect(),
        }
    }

    /// The highest id ever used (deleted or not).
    pub fn last_id(&self) -> i32 {
        self.last
    }

    pub fn exists(&self, id: i32) -> bool {
        (1..=self.last).contains(&id) && self.deleted.binary_search(&id).is_err()
    }

    /// All existing messages.
    pub fn count(&self) -> i32 {
        self.last - self.deleted.len() as i32
    }

    /// Existing ids at or above `id`.
    fn count_from(&self, id: i32) -> i32 {
        let id = id.max(1);
        if id > self.last {
            return 0;
        }
        let deleted_above = self.deleted.len() - self.deleted.partition_point(|d| *d < id);
        self.last - id + 1 - deleted_above as i32
    }

    /// The existing id at `position` (0 = newest); `position < count()`.
    fn id_at(&self, position: i32) -> i32 {
        // The largest id with at least position + 1 existing ids at or above it.
        let (mut low, mut high) = (1, self.last);
        while low < high {
            let mid = low + (high - low + 1) / 2;
            if self.count_from(mid) > position {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        low
    }

    pub fn date(&self, id: i32) -> i64 {
        self.first_date + i64::from(id - 1) * self.interval
    }

    /// The first id sent at or after `date`.
    fn first_id_at(&self, date: i64) -> i32 {
        if date <= self.first_date {
            return 1;
        }
        let steps = (date - self.first_date + self.interval - 1) / self.interval;
        i32::try_from(steps + 1).unwrap_or(i32::MAX)
    }

    /// What `messages.getHistory` answers.
    pub fn page(&self, query: &HistoryQuery) -> Page {
        let count = self.count();
        let start = if query.offset_id != 0 {
            self.count_from(query.offset_id)
        } else if query.offset_date != 0 {
            self.count_from(self.first_id_at(i64::from(query.offset_date)))
        } else {
            0
        };
        let limit = match query.limit {
            0 => DEFAULT_LIMIT,
            limit => limit.clamp(1, MAX_LIMIT),
        };
        // The slice [start + add_offset, + limit), cut to the list: a negative start past the
        // newest message leaves fewer than `limit`.
        let first = start.saturating_add(query.add_offset);
        let from = first.clamp(0, count);
        let to = first.saturating_add(limit).clamp(0, count);
        let mut ids = Vec::with_capacity((to - from) as usize);
        if from < to {
            let mut id = self.id_at(from);
            while ids.len() < (to - from) as usize && id >= 1 {
                if self.exists(id) {
                    ids.push(id);
                }
                id -= 1;
            }
        }
        ids.retain(|id| *id > query.min_id && (query.max_id == 0 || *id < query.max_id));
        let offset_given = query.offset_id != 0 || query.offset_date != 0;
        Page {
            offset_id_offset: match ids.first() {
                Some(newest) if offset_given => Some(self.count_from(newest + 1)),
                _ => None,
            },
            ids,
            count,
        }
    }

    /// Message `id` (which must exist).
    pub fn post(&self, id: i32) -> Post {
        let date = self.date(id);
        if self.service.binary_search(&id).is_ok() {
            return Post {
                id,
                date,
                content: None,
            };
        }
        let name = self.username.clone().unwrap_or_else(|| self.id.to_string());
        let headline = format!("Post {id}");
        let mut text = format!(
            "{headline} of @{name}. {}",
            LOREM.repeat(1 + (id % 4) as usize)
        );
        let mut entities = vec![Entity::Bold {
            offset: 0,
            length: utf16_len(&headline),
        }];
        if id % 3 == 0 {
            let offset = utf16_len(&text);
            text.push_str("Read more");
            entities.push(Entity::TextUrl {
                offset,
                length: utf16_len("Read more"),
                url: format!("https://example.org/{name}/{id}"),
            });
        }
        if id % 4 == 0 {
            let mention = format!(" @{name}");
            let offset = utf16_len(&text) + 1;
            text.push_str(&mention);
            entities.push(Entity::Mention {
                offset,
                length: utf16_len(&mention) - 1,
            });
        }
        if id % 6 == 0 {
            let offset = utf16_len(&text) + 1;
            text.push_str(" \u{2b50}");
            entities.push(Entity::CustomEmoji {
                offset,
                length: 1,
                document_id: CUSTOM_EMOJI,
            });
        }
        let album = matches!(id % 20, 1..=3);
        let generated_id = self.id * 1_000_000 + i64::from(id);
        let media = if let Some(file) = self.files.get(&id) {
            Some(Media::file(file.clone()))
        } else if album || id % 5 == 0 {
            Some(Media::file(File::new(
                id,
                generated_id,
                FileKind::Photo,
                PHOTO_SIZE,
            )))
        } else if id % 13 == 0 {
            Some(Media::file(File {
                file_name: Some(format!("clip-{generated_id}.mp4")),
                ..File::new(id, generated_id, FileKind::Video, VIDEO_SIZE)
            }))
        } else if id % 29 == 0 {
            Some(Media::WebPage {
                url: format!("https://example.org/{name}/{id}"),
                title: format!("Article {id}"),
            })
        } else {
            None
        };
        let mut reactions = vec![(Reaction::Emoji("\u{1f44d}".into()), id % 100 + 1)];
        if id % 3 == 0 {
            reactions.push((Reaction::CustomEmoji(CUSTOM_EMOJI), id % 7 + 1));
        }
        if id % 4 == 0 {
            reactions.push((Reaction::Paid, id % 50 + 1));
        }
        let mut edit_date = (id % 11 == 0).then_some(date + 600);
        if let Some(edit) = self.edits.get(&id) {
            text = edit.text.clone();
            entities.clear();
            edit_date = Some(edit.edit_date);
        }
        Post {
            id,
            date,
            content: Some(Content {
                text,
                entities,
                views: 1_000 + (id.wrapping_mul(37)).rem_euclid(5_000),
                forwards: id % 17,
                replies: id % 9,
                edit_date,
                post_author: (id % 2 == 0).then(|| "Editor".to_owned()),
                grouped_id: album.then_some(self.id * 1_000_000 + i64::from(id / 20)),
                reply_to: (id % 5 == 4).then_some(id - 1),
                forward: (id % 7 == 0).then_some(Forward {
                    from_channel: FORWARD_SOURCE,
                    channel_post: id,
                    date: self.first_date - 3_600,
                }),
                media,
                reactions,
            }),
        }
    }

    /// The file of message `id`, if it exists and carries one.
    pub fn file(&self, id: i32) -> Option<File> {
        if !self.exists(id) {
            return None;
        }
        match self.post(id).content?.media? {
            Media::File { file, .. } => Some(file),
            Media::WebPage { .. } => None,
        }
    }

    /// Every existing message, oldest first.
    pub fn posts(&self) -> impl Iterator<Item = Post> + '_ {
        (1..=self.last)
            .filter(|id| self.exists(*id))
            .map(|id| self.post(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(messages: i32, deleted: &[i32]) -> Timeline {
        Timeline::new(&Channel::new(1001, "alpha", messages).deleted(deleted.iter().copied()))
    }

    fn ids(timeline: &Timeline, query: HistoryQuery) -> Vec<i32> {
        timeline.page(&query).ids
    }

    fn range(from: i32, to: i32) -> Vec<i32> {
        (to..=from).rev().collect()
    }

    #[test]
    fn the_documented_examples_page_as_telegram_describes() {
        let t = timeline(1000, &[]);
        let q = |add_offset| HistoryQuery {
            offset_id: 500,
            add_offset,
            limit: 20,
            ..Default::default()
        };
        // "20 messages older than MSGID".
        assert_eq!(ids(&t, q(0)), range(499, 480));
        // "20 messages newer than MSGID": offsetFromID counts MSGID itself.
        assert_eq!(ids(&t, q(-20)), range(519, 500));
        // "20 messages around MSGID".
        assert_eq!(ids(&t, q(-10)), range(509, 490));
        // No offset: the newest.
        assert_eq!(
            ids(
                &t,
                HistoryQuery {
                    limit: 3,
                    ..Default::default()
                }
            ),
            range(1000, 998)
        );
    }

    #[test]
    fn min_id_and_max_id_cut_after_slicing() {
        let t = timeline(1000, &[]);
        // grammers' reverse iteration: offset_id = n, add_offset = -limit, min_id = n.
        let grammers = HistoryQuery {
            offset_id: 200,
            add_offset: -100,
            limit: 100,
            min_id: 200,
            ..Default::default()
        };
        assert_eq!(ids(&t, grammers), range(299, 201), "99, not 100");
        // offset_id = n + 1 with the same bounds: the 100 messages right above n.
        let above = HistoryQuery {
            offset_id: 201,
            ..grammers
        };
        assert_eq!(ids(&t, above), range(300, 201));
        let bounded = HistoryQuery {
            max_id: 250,
            ..above
        };
        assert_eq!(ids(&t, bounded), range(249, 201));
        // grammers' first reverse page: offset_id 1, add_offset -limit + 1.
        let first = HistoryQuery {
            offset_id: 1,
            add_offset: -99,
            limit: 100,
            ..Default::default()
        };
        assert_eq!(ids(&t, first), range(99, 1));
    }

    #[test]
    fn deleted_ids_are_gaps_that_pages_step_over() {
        let t = timeline(300, &[101, 102, 150, 999]);
        assert_eq!(t.count(), 297);
        let page = t.page(&HistoryQuery {
            offset_id: 101,
            add_offset: -100,
            limit: 100,
            min_id: 100,
            ..Default::default()
        });
        let mut expected: Vec<i32> = (103..=203).rev().filter(|id| *id != 150).collect();
        expected.truncate(100);
        assert_eq!(page.ids, expected);
        assert_eq!(page.count, 297);
        assert_eq!(page.offset_id_offset, Some(300 - 203));
    }

    #[test]
    fn pages_beyond_either_end_are_short_or_empty() {
        let t = timeline(250, &[]);
        let above = |offset_id| HistoryQuery {
            offset_id,
            add_offset: -100,
            limit: 100,
            min_id: offset_id - 1,
            ..Default::default()
        };
        assert_eq!(ids(&t, above(201)), range(250, 201));
        assert!(ids(&t, above(251)).is_empty());
        assert!(timeline(0, &[]).page(&above(1)).ids.is_empty());
        let older = HistoryQuery {
            offset_id: 3,
            limit: 100,
            ..Default::default()
        };
        assert_eq!(ids(&t, older), vec![2, 1]);
        let capped = HistoryQuery {
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(ids(&t, capped).len(), 100);
    }

    #[test]
    fn offset_date_starts_at_the_first_message_sent_before_it() {
        let t = timeline(250, &[]);
        // Message n is sent (n - 1) minutes after message 1.
        let cutoff = t.date(200) as i32;
        let since = HistoryQuery {
            offset_date: cutoff,
            add_offset: -100,
            limit: 100,
            ..Default::default()
        };
        assert_eq!(ids(&t, since), range(250, 200));
        let between = HistoryQuery {
            offset_date: cutoff - 30,
            ..since
        };
        assert_eq!(ids(&t, between), range(250, 200));
    }

    #[test]
    fn generated_posts_carry_every_kind_of_content() {
        let t = Timeline::new(&Channel::new(1001, "alpha", 100).service([50]));
        assert_eq!(t.post(50).content, None);
        let posts: Vec<Content> = t.posts().filter_map(|p| p.content).collect();
        assert_eq!(posts.len(), 99);
        let any = |f: &dyn Fn(&Content) -> bool| posts.iter().any(f);
        assert!(any(&|c| c.edit_date.is_some()));
        assert!(any(&|c| c.grouped_id.is_some()));
        assert!(any(&|c| c.reply_to.is_some()));
        assert!(any(&|c| c.forward.is_some()));
        for kind in ["photo", "document", "webpage"] {
            assert!(any(&|c| c.media.as_ref().is_some_and(|m| m.kind() == kind)));
        }
        assert!(any(&|c| c
            .reactions
            .iter()
            .any(|(r, _)| *r == Reaction::Paid)));
        assert!(any(&|c| c
            .entities
            .iter()
            .any(|e| matches!(e, Entity::CustomEmoji { .. }))));
        let post = t.post(12).content.unwrap();
        assert!(post.text.starts_with("Post 12 of @alpha. "));
        for entity in &post.entities {
            let (offset, length) = match entity {
                Entity::Bold { offset, length }
                | Entity::TextUrl { offset, length, .. }
                | Entity::Mention { offset, length }
                | Entity::CustomEmoji { offset, length, .. } => (*offset, *length),
            };
            assert!(offset + length <= utf16_len(&post.text), "{entity:?}");
        }
        assert_eq!(t.post(12), t.post(12), "generated from the id alone");
    }
}
