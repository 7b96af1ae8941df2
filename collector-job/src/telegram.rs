//! The real source: grammers over MTProto, with the flood-wait retry policy installed.

use std::sync::Arc;
use std::time::Duration;

use audit::ErrorReason;
use grammers_client::Client;
use grammers_client::peer::Peer;
use grammers_mtsender::{ConnectionParams, InvocationError, SenderPool};
use grammers_tl_types as tl;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::channel_ref::ChannelRef;
use crate::flood::{FloodNotice, FloodPolicy};
use crate::mapping::{self, ChatProblem};
use crate::model::{ResolvedChannel, StoredChannel};
use crate::rpc_error::classify;
use crate::session::SessionBlob;
use crate::source::{Batch, Cursor, Source, SourceError};

/// A connected grammers client (connections are made on the first call).
pub struct Telegram {
    client: Client,
    runner: JoinHandle<()>,
    threshold: Duration,
}

impl Telegram {
    /// Starts the sender pool for `session`; flood waits up to `threshold` are slept through
    /// and reported on the returned receiver.
    pub fn start(
        session: SessionBlob,
        api_id: i32,
        threshold: Duration,
    ) -> (Self, mpsc::UnboundedReceiver<FloodNotice>) {
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
    async fn check_session(&mut self) -> Result<(), SourceError> {
        match self.client.is_authorized().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SourceError::SessionInvalid {
                message: "the session is not logged in (run `collector-job login`)".into(),
            }),
            Err(e) => Err(self.classify(&e)),
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
        let peer = tl::types::InputPeerChannel {
            channel_id: channel.id,
            access_hash: channel.access_hash.unwrap_or(0),
        };
        // reverse(true) walks oldest to newest: with offset_id n grammers asks messages.getHistory
        // for min_id = n, add_offset = -limit, i.e. the page just above the checkpoint.
        let iter = self.client.iter_messages(peer).reverse(true).limit(limit);
        let mut iter = match cursor {
            Cursor::After(id) => iter.offset_id(i32::try_from(id).unwrap_or(i32::MAX)),
            Cursor::Since(date) => {
                iter.offset_date(i32::try_from(date.timestamp()).unwrap_or(i32::MAX))
            }
        };
        let mut batch = Batch::default();
        while let Some(message) = iter.next().await.map_err(|e| self.classify(&e))? {
            let id = mapping::message_id(&message.raw);
            batch.last_id = Some(batch.last_id.map_or(id, |last: i64| last.max(id)));
            batch.messages.extend(mapping::message_row(&message.raw));
        }
        Ok(batch)
    }
}
