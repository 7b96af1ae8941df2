//! The real source: grammers over MTProto, with the flood-wait retry policy installed.

use std::sync::Arc;
use std::time::Duration;

use contract::audit::ErrorReason;
use grammers_client::Client;
use grammers_client::peer::Peer;
use grammers_mtsender::{ConnectionParams, InvocationError, SenderPool};
use grammers_tl_types as tl;
use grammers_tl_types::Deserializable;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::config::MAX_BATCH;
use crate::store::model::{ResolvedChannel, StoredChannel};
use crate::telegram::flood::{FloodNotice, FloodPolicy};
use crate::telegram::mapping::{self, ChatProblem};
use crate::telegram::rpc_error::{FileFault, classify, file_fault};
use crate::telegram::session::SessionBlob;
use crate::telegram::source::{Batch, Cursor, DownloadError, RemoteFile, Source, SourceError};
use contract::channel::ChannelRef;

/// The largest part grammers 0.11 can receive: Telegram allows 1 MiB, but the answer to a
/// 1 MiB part is one MTProto message above grammers' limit for a message (about 1,044,000
/// bytes), and the sender pool panics on it (taking every connection down). grammers' own
/// downloads use 512 KiB.
pub const MAX_PART: u32 = 512 * 1024;

/// A file is looked for on at most this many DCs in a row (FILE_MIGRATE_X answers).
const MAX_MIGRATIONS: u32 = 3;

/// A connected grammers client (connections are made on the first call).
pub struct Telegram {
    client: Client,
    runner: JoinHandle<()>,
    threshold: Duration,
    home_dc: i32,
    /// The other DCs our authorization was imported into (once each).
    authorized_dcs: Vec<i32>,
    /// Where the last file that answered FILE_MIGRATE lives (its key and DC), so its later
    /// parts go there directly: a download asks for one file's parts in a row.
    migrated: Option<(String, i32)>,
}

impl Telegram {
    /// Starts the sender pool for `session`; flood waits up to `threshold` are slept through
    /// and reported on the returned receiver.
    pub fn start(
        session: SessionBlob,
        api_id: i32,
        threshold: Duration,
    ) -> (Self, mpsc::UnboundedReceiver<FloodNotice>) {
        let home_dc = session.home_dc();
        let (policy, notices) = FloodPolicy::new(threshold);
        let params = ConnectionParams {
            retry_policy: Box::new(policy),
            ..Default::default()
        };
        let pool = SenderPool::with_configuration(Arc::new(session.into_session()), api_id, params);
        let client = Client::new(pool.handle);
        let runner = tokio::spawn(pool.runner.run());
        (
            Self {
                client,
                runner,
                threshold,
                home_dc,
                authorized_dcs: Vec::new(),
                migrated: None,
            },
            notices,
        )
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn classify(&self, error: &InvocationError) -> SourceError {
        classify(error, self.threshold)
    }

    /// One part of a file from the data centre holding it. Telegram answers FILE_MIGRATE_<dc>
    /// when the file lives elsewhere; that data centre answers AUTH_KEY_UNREGISTERED until our
    /// authorization is exported from home and imported there (once per DC). Flood waits and
    /// dropped connections are retried inside `invoke_in_dc` by the same [`FloodPolicy`] as
    /// history requests.
    async fn download_part_in_dc(
        &mut self,
        file: &RemoteFile,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<u8>, DownloadError> {
        if limit > MAX_PART {
            return Err(SourceError::channel(
                ErrorReason::Rpc,
                format!(
                    "a part of {limit} bytes was asked for {}: grammers receives at most {MAX_PART}",
                    file.telegram_key
                ),
            )
            .into());
        }
        let location =
            tl::enums::InputFileLocation::from_bytes(&file.location.input).map_err(|e| {
                SourceError::channel(
                    ErrorReason::Rpc,
                    format!(
                        "the stored location of {} is unreadable: {e}",
                        file.telegram_key
                    ),
                )
            })?;
        let request = tl::functions::upload::GetFile {
            precise: false,
            cdn_supported: false,
            location,
            offset: i64::try_from(offset).unwrap_or(i64::MAX),
            limit: i32::try_from(limit).unwrap_or(i32::MAX),
        };
        let mut dc = match &self.migrated {
            Some((key, dc)) if *key == file.telegram_key => *dc,
            _ => file.location.dc_id,
        };
        let mut migrations = 0;
        loop {
            let error = match self.client.invoke_in_dc(dc, &request).await {
                Ok(tl::enums::upload::File::File(part)) => return Ok(part.bytes),
                Ok(tl::enums::upload::File::CdnRedirect(_)) => {
                    return Err(SourceError::channel(
                        ErrorReason::Rpc,
                        "Telegram redirected a download to a CDN, which we never ask for",
                    )
                    .into());
                }
                Err(error) => error,
            };
            match file_fault(&error) {
                FileFault::ReferenceExpired => return Err(DownloadError::ReferenceExpired),
                FileFault::Migrate(to) if migrations < MAX_MIGRATIONS => {
                    migrations += 1;
                    dc = to;
                    self.migrated = Some((file.telegram_key.clone(), to));
                }
                FileFault::Unauthorized if dc != self.home_dc => {
                    if self.authorized_dcs.contains(&dc) {
                        // Not the session's fault: home still accepts it.
                        return Err(SourceError::channel(
                            ErrorReason::Rpc,
                            format!(
                                "DC {dc} no longer accepts the authorization imported from home \
                                 (downloading {})",
                                file.telegram_key
                            ),
                        )
                        .into());
                    }
                    self.copy_authorization_to(dc).await?;
                    self.authorized_dcs.push(dc);
                }
                _ => return Err(self.classify(&error).into()),
            }
        }
    }

    async fn copy_authorization_to(&self, dc: i32) -> Result<(), SourceError> {
        let tl::enums::auth::ExportedAuthorization::Authorization(exported) = self
            .client
            .invoke(&tl::functions::auth::ExportAuthorization { dc_id: dc })
            .await
            .map_err(|e| self.classify(&e))?;
        self.client
            .invoke_in_dc(
                dc,
                &tl::functions::auth::ImportAuthorization {
                    id: exported.id,
                    bytes: exported.bytes,
                },
            )
            .await
            .map_err(|e| self.classify(&e))?;
        tracing::info!(dc, "authorization imported into another DC for downloads");
        Ok(())
    }

    /// Looks a channel up among the account's dialogs: the only way to get an access hash for
    /// a bare id.
    async fn resolve_id(&self, id: i64) -> Result<ResolvedChannel, SourceError> {
        let mut dialogs = self.client.iter_dialogs();
        while let Some(dialog) = dialogs.next().await.map_err(|e| self.classify(&e))? {
            let chat = match &dialog.peer {
                Peer::Channel(channel) => tl::enums::Chat::Channel(channel.raw.clone()),
                Peer::Group(group) => group.raw.clone(),
                _ => continue,
            };
            let target = tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id: id });
            match mapping::resolved_channel(&target, &[chat]) {
                Ok(channel) => return Ok(channel),
                Err(ChatProblem::Forbidden) => return Err(forbidden(&id.to_string())),
                Err(_) => continue,
            }
        }
        Err(SourceError::channel(
            ErrorReason::ChannelInvalid,
            format!(
                "channel id {id} is not among this account's dialogs; list it by username once \
                 so its access hash is cached"
            ),
        ))
    }
}

fn forbidden(channel: &str) -> SourceError {
    SourceError::channel(
        ErrorReason::ChannelPrivate,
        format!("channel {channel} is private or this account is banned from it"),
    )
}

impl Drop for Telegram {
    fn drop(&mut self) {
        self.client.disconnect();
        self.runner.abort();
    }
}

impl Source for Telegram {
    async fn check_session(&mut self) -> Result<i64, SourceError> {
        match self.client.is_authorized().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(SourceError::SessionInvalid {
                    message: "the session is not logged in (run `collector-job login`)".into(),
                });
            }
            Err(e) => return Err(self.classify(&e)),
        }
        // The session blob does not store who it is: `users.getUsers([inputUserSelf])` says
        // (grammers' `get_me` would panic on an unexpected answer).
        let users = self
            .client
            .invoke(&tl::functions::users::GetUsers {
                id: vec![tl::enums::InputUser::UserSelf],
            })
            .await
            .map_err(|e| self.classify(&e))?;
        match users.first() {
            Some(tl::enums::User::User(me)) => Ok(me.id),
            _ => Err(SourceError::SessionInvalid {
                message: "Telegram did not say which account the session belongs to".into(),
            }),
        }
    }

    async fn resolve(&mut self, channel: &ChannelRef) -> Result<ResolvedChannel, SourceError> {
        let username = match channel {
            ChannelRef::Username(name) => name,
            ChannelRef::Id(id) => return self.resolve_id(*id).await,
        };
        let tl::enums::contacts::ResolvedPeer::Peer(resolved) = self
            .client
            .invoke(&tl::functions::contacts::ResolveUsername {
                username: username.clone(),
                referer: None,
            })
            .await
            .map_err(|e| self.classify(&e))?;
        mapping::resolved_channel(&resolved.peer, &resolved.chats).map_err(
            |problem| match problem {
                ChatProblem::Forbidden => forbidden(&channel.to_string()),
                ChatProblem::NotAChannel => SourceError::channel(
                    ErrorReason::NotAChannel,
                    format!("{channel} is a user or a basic group, not a channel"),
                ),
                ChatProblem::Missing => SourceError::channel(
                    ErrorReason::ChannelInvalid,
                    format!("Telegram's answer for {channel} did not include the channel"),
                ),
            },
        )
    }

    async fn fetch(
        &mut self,
        channel: &StoredChannel,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Batch, SourceError> {
        let answer = self
            .client
            .invoke(&page_request(channel, cursor, limit))
            .await
            .map_err(|e| self.classify(&e))?;
        Ok(batch(answer))
    }

    async fn fetch_by_id(
        &mut self,
        channel: &StoredChannel,
        ids: &[i64],
    ) -> Result<Batch, SourceError> {
        let answer = self
            .client
            .invoke(&by_id_request(channel, ids))
            .await
            .map_err(|e| self.classify(&e))?;
        Ok(batch(answer))
    }

    async fn download_part(
        &mut self,
        file: &RemoteFile,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<u8>, DownloadError> {
        self.download_part_in_dc(file, offset, limit).await
    }
}

/// The `channels.getMessages` call for these ids (at most 100).
pub fn by_id_request(channel: &StoredChannel, ids: &[i64]) -> tl::functions::channels::GetMessages {
    tl::functions::channels::GetMessages {
        channel: tl::enums::InputChannel::Channel(tl::types::InputChannel {
            channel_id: channel.id,
            access_hash: channel.access_hash.unwrap_or(0),
        }),
        id: ids
            .iter()
            .take(MAX_BATCH)
            .filter_map(|&id| i32::try_from(id).ok())
            .map(|id| tl::enums::InputMessage::Id(tl::types::InputMessageId { id }))
            .collect(),
    }
}

/// The `messages.getHistory` call for the (at most 100) messages right after `cursor`.
///
/// Telegram pages newest first and applies the offsets before `min_id`/`max_id`
/// (<https://core.telegram.org/api/offsets>): the slice starts at `offsetFromID(offset_id) +
/// add_offset`, where offsetFromID counts the messages up to offset_id *inclusive*. So
/// `offset_id = checkpoint + 1, add_offset = -limit` is exactly the `limit` ids above the
/// checkpoint, and `min_id = checkpoint` keeps anything at or below it out. (grammers'
/// `iter_messages(..).reverse(true).offset_id(checkpoint)` sends `offset_id = checkpoint` with
/// the same `min_id`: the checkpoint's own message takes a slot and is filtered out, so each
/// page held 99 and needed a second, empty request.)
pub fn page_request(
    channel: &StoredChannel,
    cursor: Cursor,
    limit: usize,
) -> tl::functions::messages::GetHistory {
    let limit = i32::try_from(limit.min(MAX_BATCH)).unwrap_or(MAX_BATCH as i32);
    let after = |checkpoint: i64| {
        let checkpoint = i32::try_from(checkpoint.max(0)).unwrap_or(i32::MAX);
        (checkpoint.saturating_add(1), 0, checkpoint)
    };
    let (offset_id, offset_date, min_id) = match cursor {
        Cursor::After(checkpoint) => after(checkpoint),
        // The slice starts at the first message sent before offset_date: -limit from there are
        // the oldest `limit` sent at or after it.
        Cursor::Since(date) => match i32::try_from(date.timestamp()) {
            Ok(date) if date > 0 => (0, date, 0),
            // Before any message: from the first one.
            _ => after(0),
        },
    };
    tl::functions::messages::GetHistory {
        peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
            channel_id: channel.id,
            access_hash: channel.access_hash.unwrap_or(0),
        }),
        offset_id,
        offset_date,
        add_offset: -limit,
        limit,
        max_id: 0,
        min_id,
        hash: 0,
    }
}

/// One page of history as a batch, oldest first. Telegram's `offset_id_offset` (the position
/// of the page's newest message) is how many newer messages remain.
pub fn batch(answer: tl::enums::messages::Messages) -> Batch {
    use tl::enums::messages::Messages;
    let (messages, newer) = match answer {
        Messages::Messages(m) => (m.messages, None),
        Messages::Slice(m) => (m.messages, m.offset_id_offset),
        Messages::ChannelMessages(m) => (m.messages, m.offset_id_offset),
        // Only sent for a non-zero `hash`, which we never send.
        Messages::NotModified(_) => (Vec::new(), None),
    };
    let mut rows: Vec<_> = messages.iter().filter_map(mapping::message_row).collect();
    rows.sort_by_key(|row| row.id);
    let mut files: Vec<_> = messages.iter().filter_map(mapping::remote_file).collect();
    files.sort_by_key(|file| file.message_id);
    Batch {
        last_id: messages.iter().map(mapping::message_id).max(),
        messages: rows,
        remaining: newer.and_then(|n| u64::try_from(n).ok()),
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn channel() -> StoredChannel {
        StoredChannel {
            id: 1001,
            access_hash: Some(-77),
            legacy_hash: false,
            username: Some("alpha".into()),
            title: None,
            checkpoint: 0,
        }
    }

    /// `(offset_id, offset_date, add_offset, limit, min_id, max_id)`
    fn offsets(cursor: Cursor, limit: usize) -> (i32, i32, i32, i32, i32, i32) {
        let r = page_request(&channel(), cursor, limit);
        (
            r.offset_id,
            r.offset_date,
            r.add_offset,
            r.limit,
            r.min_id,
            r.max_id,
        )
    }

    #[test]
    fn a_page_after_a_checkpoint_starts_right_above_it() {
        assert_eq!(
            offsets(Cursor::After(200), 100),
            (201, 0, -100, 100, 200, 0)
        );
        assert_eq!(offsets(Cursor::After(0), 100), (1, 0, -100, 100, 0, 0));
        assert_eq!(offsets(Cursor::After(5), 20), (6, 0, -20, 20, 5, 0));
        assert_eq!(
            offsets(Cursor::After(5), 500).3,
            100,
            "Telegram's largest page"
        );
        let request = page_request(&channel(), Cursor::After(0), 100);
        assert_eq!(
            request.peer,
            tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                channel_id: 1001,
                access_hash: -77
            })
        );
    }

    #[test]
    fn a_first_page_since_a_date_asks_by_date() {
        let date = DateTime::from_timestamp(1_762_673_674, 0).unwrap();
        assert_eq!(
            offsets(Cursor::Since(date), 100),
            (0, 1_762_673_674, -100, 100, 0, 0)
        );
        // Before 1970 (a huge `since`): every message is newer, start from the first.
        assert_eq!(
            offsets(Cursor::Since(DateTime::<chrono::Utc>::MIN_UTC), 100),
            offsets(Cursor::After(0), 100)
        );
    }

    #[test]
    fn a_page_becomes_an_oldest_first_batch_with_what_remains() {
        let timeline =
            fake_dc::Timeline::new(&fake_dc::Channel::new(1001, "alpha", 10).service([9]));
        let messages = (7..=10)
            .rev()
            .map(|id| fake_dc::answer::message(1001, &timeline.post(id)))
            .collect();
        let page =
            tl::enums::messages::Messages::ChannelMessages(tl::types::messages::ChannelMessages {
                inexact: false,
                pts: 10,
                count: 10,
                offset_id_offset: Some(3),
                messages,
                topics: Vec::new(),
                chats: Vec::new(),
                users: Vec::new(),
            });
        let batch = batch(page);
        assert_eq!(
            batch.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![7, 8, 9, 10],
            "oldest first, service message 9 kept"
        );
        assert_eq!((batch.last_id, batch.remaining), (Some(10), Some(3)));
        let empty = tl::enums::messages::Messages::Messages(tl::types::messages::Messages {
            messages: Vec::new(),
            topics: Vec::new(),
            chats: Vec::new(),
            users: Vec::new(),
        });
        assert_eq!(super::batch(empty), Batch::default());
    }
}
