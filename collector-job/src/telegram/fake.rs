//! A scripted stand-in for Telegram, for tests: channels with messages, plus interjections
//! (flood waits, RPC errors, a hang, a stop request) at chosen calls. Flood waits and errors
//! go through the same retry policy and error classification as the grammers source.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use grammers_mtsender::{InvocationError, RpcError};
use grammers_tl_types as tl;
use tokio::sync::Notify;

use crate::app::clock::ManualClock;
use crate::app::shutdown::ShutdownTrigger;
use crate::store::model::{MessageRow, ResolvedChannel, ServiceAction, StoredChannel};
use crate::telegram::flood::{Decision, FloodPolicy};
use crate::telegram::rpc_error::classify;
use crate::telegram::source::{
    Batch, Cursor, DownloadError, FileLocation, RemoteFile, Source, SourceError,
};
use contract::channel::ChannelRef;
use contract::media::MediaKind;

/// One channel on the fake server.
#[derive(Clone, Debug)]
pub struct FakeChannel {
    pub id: i64,
    pub access_hash: i64,
    pub username: String,
    pub title: String,
    /// Sorted by id.
    pub messages: Vec<MessageRow>,
    /// Ids of service messages (pins, sent a minute per id after [`epoch`]), collected as
    /// `pin_message` rows.
    pub service_ids: Vec<i64>,
    /// Resolves, but its history answers CHANNEL_PRIVATE.
    pub private: bool,
    /// Files carried by some of `messages`.
    pub files: Vec<FakeFile>,
}

/// A file a fake message carries, with its bytes.
#[derive(Clone, Debug)]
pub struct FakeFile {
    pub message_id: i64,
    pub kind: MediaKind,
    /// The same key in two messages is the same file.
    pub telegram_key: String,
    pub mime_type: Option<String>,
    pub bytes: Arc<Vec<u8>>,
}

impl FakeFile {
    /// A file of `kind` carried by message `message_id`, holding `bytes`.
    pub fn new(message_id: i64, kind: MediaKind, telegram_key: &str, bytes: Vec<u8>) -> Self {
        Self {
            message_id,
            kind,
            telegram_key: telegram_key.to_owned(),
            mime_type: None,
            bytes: Arc::new(bytes),
        }
    }

    /// Its location as the fake hands it out: the key and the reference's generation
    /// (bumped by [`Step::ExpireReference`]).
    fn remote(&self, generation: u32) -> RemoteFile {
        RemoteFile {
            message_id: self.message_id,
            kind: self.kind,
            telegram_key: self.telegram_key.clone(),
            size: self.bytes.len() as u64,
            mime_type: self.mime_type.clone(),
            location: FileLocation {
                dc_id: 2,
                input: location(&self.telegram_key, generation),
            },
        }
    }
}

/// When the first message of a generated channel was sent.
pub fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_762_673_674, 0).expect("valid instant")
}

impl FakeChannel {
    /// A channel whose messages 1..=count were sent one minute apart from [`epoch`].
    pub fn new(id: i64, username: &str, count: i64) -> Self {
        let mut channel = Self {
            id,
            access_hash: id * 7 + 1,
            username: username.to_owned(),
            title: format!("{username} news"),
            messages: Vec::new(),
            service_ids: Vec::new(),
            private: false,
            files: Vec::new(),
        };
        channel.post(count);
        channel
    }

    /// Adds `count` new messages after the current last one.
    pub fn post(&mut self, count: i64) {
        let last = self.last_id();
        for id in last + 1..=last + count {
            let date = epoch() + Duration::minutes(id);
            self.messages.push(MessageRow::text(
                id,
                date,
                format!("post {id} of {}", self.username),
            ));
        }
    }

    pub fn last_id(&self) -> i64 {
        let message = self.messages.last().map_or(0, |m| m.id);
        message.max(self.service_ids.iter().copied().max().unwrap_or(0))
    }
}

/// Something that happens instead of (or before) a normal answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// Telegram answers FLOOD_WAIT_<seconds> once: the retry policy decides whether to wait
    /// (the clock jumps, the call then succeeds) or to give up (the call fails).
    FloodWait(u32),
    /// Telegram answers this RPC error.
    Error { code: i32, name: String },
    /// The call never returns (the process is killed meanwhile); `reached` is notified.
    Hang,
    /// A stop is requested while this call is answered normally.
    Stop(ShutdownTrigger),
    /// (A download only) the file reference expires: this and every later read with the
    /// old location answers FILE_REFERENCE_EXPIRED until the message is read again.
    ExpireReference,
}

impl Step {
    pub fn error(code: i32, name: &str) -> Self {
        Self::Error {
            code,
            name: name.to_owned(),
        }
    }
}

/// A call the fake answered, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    CheckSession,
    Resolve(ChannelRef),
    Fetch {
        channel_id: i64,
        cursor: Cursor,
        limit: usize,
    },
    FetchById {
        channel_id: i64,
        ids: Vec<i64>,
    },
    Download {
        telegram_key: String,
        offset: u64,
        limit: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Trigger {
    CheckSession,
    Resolve(String),
    /// The `nth` (1-based) fetch of a channel.
    Fetch(i64, usize),
    /// The read of a file (by Telegram key) at an offset.
    Download(String, u64),
}

/// The account user id [`FakeTelegram`]'s session belongs to, unless changed.
pub const FAKE_ACCOUNT: i64 = 777_000_001;

/// The fake Telegram.
pub struct FakeTelegram {
    /// The session's account (what [`Source::check_session`] answers).
    pub account_id: i64,
    pub channels: Vec<FakeChannel>,
    pub calls: Vec<Call>,
    /// Notified when a [`Step::Hang`] is reached.
    pub reached: Arc<Notify>,
    policy: FloodPolicy,
    clock: ManualClock,
    fetch_takes: Duration,
    steps: HashMap<Trigger, Vec<Step>>,
    fetches: HashMap<i64, usize>,
    /// The current file reference generation per Telegram key (0 when never expired).
    references: HashMap<String, u32>,
}

/// The fake's serialized location: the Telegram key and the reference generation.
fn location(telegram_key: &str, generation: u32) -> Vec<u8> {
    format!("{telegram_key}#{generation}").into_bytes()
}

fn rpc(code: i32, message: String) -> InvocationError {
    InvocationError::Rpc(RpcError::from(tl::types::RpcError {
        error_code: code,
        error_message: message,
    }))
}

impl FakeTelegram {
    /// `policy` decides about flood waits; `clock` moves by `fetch_takes` on every fetch and
    /// by the length of every flood wait slept through.
    pub fn new(channels: Vec<FakeChannel>, policy: FloodPolicy, clock: ManualClock) -> Self {
        Self {
            account_id: FAKE_ACCOUNT,
            channels,
            calls: Vec::new(),
            reached: Arc::new(Notify::new()),
            policy,
            clock,
            fetch_takes: Duration::seconds(1),
            steps: HashMap::new(),
            fetches: HashMap::new(),
            references: HashMap::new(),
        }
    }

    pub fn fetch_takes(mut self, duration: Duration) -> Self {
        self.fetch_takes = duration;
        self
    }

    pub fn on_check_session(mut self, step: Step) -> Self {
        self.steps
            .entry(Trigger::CheckSession)
            .or_default()
            .push(step);
        self
    }

    pub fn on_resolve(mut self, username: &str, step: Step) -> Self {
        self.steps
            .entry(Trigger::Resolve(username.to_owned()))
            .or_default()
            .push(step);
        self
    }

    /// Before the `nth` (1-based) fetch of channel `channel_id`.
    pub fn on_fetch(mut self, channel_id: i64, nth: usize, step: Step) -> Self {
        self.steps
            .entry(Trigger::Fetch(channel_id, nth))
            .or_default()
            .push(step);
        self
    }

    /// Before the read of file `telegram_key` at `offset`.
    pub fn on_download(mut self, telegram_key: &str, offset: u64, step: Step) -> Self {
        self.add_download_step(telegram_key, offset, step);
        self
    }

    /// [`Self::on_download`] on a fake already built (between runs).
    pub fn add_download_step(&mut self, telegram_key: &str, offset: u64, step: Step) {
        self.steps
            .entry(Trigger::Download(telegram_key.to_owned(), offset))
            .or_default()
            .push(step);
    }

    /// The reads of file `telegram_key` answered so far: `(offset, limit)`.
    pub fn downloads_of(&self, telegram_key: &str) -> Vec<(u64, u32)> {
        self.calls
            .iter()
            .filter_map(|call| match call {
                Call::Download {
                    telegram_key: key,
                    offset,
                    limit,
                } if key == telegram_key => Some((*offset, *limit)),
                _ => None,
            })
            .collect()
    }

    pub fn channel_mut(&mut self, id: i64) -> &mut FakeChannel {
        self.channels
            .iter_mut()
            .find(|c| c.id == id)
            .expect("fake channel exists")
    }

    /// Plays the steps of `trigger`; `Err` when one of them fails the call, `Ok(true)` when
    /// one expired a file reference.
    async fn play(&mut self, trigger: Trigger) -> Result<bool, SourceError> {
        let mut expired = false;
        for step in self.steps.remove(&trigger).unwrap_or_default() {
            match step {
                Step::FloodWait(seconds) => {
                    let error = rpc(420, format!("FLOOD_WAIT_{seconds}"));
                    match self.policy.decide(&error, NonZeroU32::MIN) {
                        Decision::WaitFlood(wait) | Decision::Reconnect(wait) => {
                            // Let the collector report the wait before the sleep "ends".
                            tokio::task::yield_now().await;
                            self.clock
                                .advance(Duration::from_std(wait).expect("short wait"));
                        }
                        Decision::GiveUp => return Err(classify(&error, self.policy.threshold())),
                    }
                }
                Step::Error { code, name } => {
                    return Err(classify(&rpc(code, name), self.policy.threshold()));
                }
                Step::Hang => {
                    self.reached.notify_one();
                    std::future::pending::<()>().await;
                }
                Step::Stop(trigger) => trigger.trigger(),
                Step::ExpireReference => expired = true,
            }
        }
        Ok(expired)
    }

    fn remote(&self, file: &FakeFile) -> RemoteFile {
        file.remote(
            self.references
                .get(&file.telegram_key)
                .copied()
                .unwrap_or(0),
        )
    }

    /// The files `rows` carry, with current references.
    fn files_of(&self, fake: &FakeChannel, rows: &[MessageRow]) -> Vec<RemoteFile> {
        fake.files
            .iter()
            .filter(|f| rows.iter().any(|m| m.id == f.message_id))
            .map(|f| self.remote(f))
            .collect()
    }
}

impl Source for FakeTelegram {
    async fn check_session(&mut self) -> Result<i64, SourceError> {
        self.calls.push(Call::CheckSession);
        self.play(Trigger::CheckSession).await?;
        Ok(self.account_id)
    }

    async fn resolve(&mut self, channel: &ChannelRef) -> Result<ResolvedChannel, SourceError> {
        self.calls.push(Call::Resolve(channel.clone()));
        let found = self.channels.iter().find(|c| match channel {
            ChannelRef::Username(name) => c.username.eq_ignore_ascii_case(name),
            ChannelRef::Id(id) => c.id == *id,
        });
        let key = match channel {
            ChannelRef::Username(name) => name.clone(),
            ChannelRef::Id(id) => id.to_string(),
        };
        let found = found.cloned();
        self.play(Trigger::Resolve(key)).await?;
        match (channel, found) {
            (ChannelRef::Username(_), Some(c)) => Ok(ResolvedChannel {
                id: c.id,
                access_hash: Some(c.access_hash),
                username: Some(c.username.to_ascii_lowercase()),
                title: Some(c.title),
            }),
            (ChannelRef::Username(_), None) => Err(classify(
                &rpc(400, "USERNAME_NOT_OCCUPIED".into()),
                self.policy.threshold(),
            )),
            // Like Telegram, ids alone cannot be resolved without an access hash.
            (ChannelRef::Id(_), _) => Err(classify(
                &rpc(400, "CHANNEL_INVALID".into()),
                self.policy.threshold(),
            )),
        }
    }

    async fn fetch(
        &mut self,
        channel: &StoredChannel,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Batch, SourceError> {
        self.calls.push(Call::Fetch {
            channel_id: channel.id,
            cursor,
            limit,
        });
        let nth = self.fetches.entry(channel.id).or_default();
        *nth += 1;
        let nth = *nth;
        self.play(Trigger::Fetch(channel.id, nth)).await?;
        self.clock.advance(self.fetch_takes);
        let threshold = self.policy.threshold();
        let Some(fake) = self.channels.iter().find(|c| c.id == channel.id) else {
            return Err(classify(&rpc(400, "CHANNEL_INVALID".into()), threshold));
        };
        if channel.access_hash != Some(fake.access_hash) {
            return Err(classify(&rpc(400, "CHANNEL_INVALID".into()), threshold));
        }
        if fake.private {
            return Err(classify(&rpc(400, "CHANNEL_PRIVATE".into()), threshold));
        }
        let after = |m: &MessageRow| match cursor {
            Cursor::After(after) => m.id > after,
            Cursor::Since(since) => m.date >= since,
        };
        let services = fake.service_ids.iter().map(|&id| {
            MessageRow::service(
                id,
                epoch() + Duration::minutes(id),
                ServiceAction::new("pin_message"),
            )
        });
        let mut rows: Vec<MessageRow> = fake
            .messages
            .iter()
            .cloned()
            .chain(services)
            .filter(after)
            .collect();
        rows.sort_by_key(|m| m.id);
        let remaining = rows.len().saturating_sub(limit) as u64;
        rows.truncate(limit);
        Ok(Batch {
            last_id: rows.last().map(|m| m.id),
            files: self.files_of(fake, &rows),
            messages: rows,
            remaining: Some(remaining),
        })
    }

    async fn fetch_by_id(
        &mut self,
        channel: &StoredChannel,
        ids: &[i64],
    ) -> Result<Batch, SourceError> {
        self.calls.push(Call::FetchById {
            channel_id: channel.id,
            ids: ids.to_vec(),
        });
        self.clock.advance(self.fetch_takes);
        let threshold = self.policy.threshold();
        let Some(fake) = self.channels.iter().find(|c| c.id == channel.id) else {
            return Err(classify(&rpc(400, "CHANNEL_INVALID".into()), threshold));
        };
        let rows: Vec<MessageRow> = fake
            .messages
            .iter()
            .filter(|m| ids.contains(&m.id))
            .cloned()
            .collect();
        Ok(Batch {
            last_id: rows.last().map(|m| m.id),
            files: self.files_of(fake, &rows),
            messages: rows,
            remaining: None,
        })
    }

    async fn download_part(
        &mut self,
        file: &RemoteFile,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<u8>, DownloadError> {
        self.calls.push(Call::Download {
            telegram_key: file.telegram_key.clone(),
            offset,
            limit,
        });
        let threshold = self.policy.threshold();
        let aligned = limit.is_multiple_of(4096)
            && limit > 0
            && (1u32 << 20).is_multiple_of(limit)
            && offset.is_multiple_of(u64::from(limit));
        if !aligned {
            return Err(classify(&rpc(400, "LIMIT_INVALID".into()), threshold).into());
        }
        if self
            .play(Trigger::Download(file.telegram_key.clone(), offset))
            .await?
        {
            *self
                .references
                .entry(file.telegram_key.clone())
                .or_default() += 1;
        }
        let found = self
            .channels
            .iter()
            .flat_map(|c| &c.files)
            .find(|f| f.telegram_key == file.telegram_key)
            .cloned();
        let Some(found) = found else {
            let error = rpc(400, "FILE_ID_INVALID".into());
            return Err(classify(&error, threshold).into());
        };
        if self.remote(&found).location != file.location {
            return Err(DownloadError::ReferenceExpired);
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(found.bytes.len());
        let end = start.saturating_add(limit as usize).min(found.bytes.len());
        Ok(found.bytes[start..end].to_vec())
    }
}
