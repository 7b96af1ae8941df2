//! The seam between the collection loop and Telegram: resolve a channel, fetch the messages
//! after a checkpoint, and say what went wrong in the collector's terms.

use std::future::Future;

use chrono::{DateTime, Utc};
use contract::audit::ErrorReason;

use crate::store::model::{MessageRow, ResolvedChannel, StoredChannel};
use contract::channel::ChannelRef;

/// Where the next page of a channel's history starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Messages with an id above this one, oldest first (0: from the beginning).
    After(i64),
    /// Messages sent at or after this instant, oldest first (a first run with `limits.since`).
    Since(DateTime<Utc>),
}

/// One page of history, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// The channel's messages in this page, service messages included.
    pub messages: Vec<MessageRow>,
    /// The highest message id the page covered, deleted (empty) messages included, so a page
    /// without any row still moves the checkpoint. `None` for an empty page.
    pub last_id: Option<i64>,
    /// Messages still to fetch after this page, when the source knows.
    pub remaining: Option<u64>,
}

/// Why a source call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// This channel cannot be collected now; the run goes on with the next one.
    #[error("{message}")]
    Channel {
        reason: ErrorReason,
        message: String,
    },
    /// The session is revoked or not authorised: nothing more can be collected.
    #[error("Telegram session is not valid: {message}")]
    SessionInvalid { message: String },
}

impl SourceError {
    pub fn channel(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self::Channel {
            reason,
            message: message.into(),
        }
    }
}

/// Telegram, or a stand-in for it.
pub trait Source {
    /// The Telegram user id of the session's account (what its access hashes are cached
    /// under); fails with `SessionInvalid` when the session is not (or no longer) authorised.
    fn check_session(&mut self) -> impl Future<Output = Result<i64, SourceError>>;

    /// Looks a channel up. Resolving usernames is rate-limited hard by Telegram: callers cache.
    fn resolve(
        &mut self,
        channel: &ChannelRef,
    ) -> impl Future<Output = Result<ResolvedChannel, SourceError>>;

    /// Up to `limit` (at most 100) messages after `cursor`, oldest first.
    fn fetch(
        &mut self,
        channel: &StoredChannel,
        cursor: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<Batch, SourceError>>;
}
