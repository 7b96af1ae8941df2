//! The seam between the collection loop and Telegram: resolve a channel, fetch the messages
//! after a checkpoint, and say what went wrong in the collector's terms.

use std::future::Future;

use chrono::{DateTime, Utc};
use contract::audit::ErrorReason;

use crate::store::model::{MessageRow, ResolvedChannel, StoredChannel};
use contract::channel::ChannelRef;
use contract::media::MediaKind;

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
    /// The downloadable files the page's messages carry (at most one per message).
    pub files: Vec<RemoteFile>,
}

/// A file a message carries, as the source can download it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    pub message_id: i64,
    pub kind: MediaKind,
    /// Telegram's id of the file's content (`photo:<id>` or `document:<id>`): the same in
    /// every message and channel that carries the file, so a file is fetched once.
    pub telegram_key: String,
    /// Size in bytes, as Telegram states it.
    pub size: u64,
    pub mime_type: Option<String>,
    /// Where the source fetches it from; meaningful to the source alone.
    pub location: FileLocation,
}

/// The source's own address of a file: for Telegram, the data centre holding it and the
/// serialized `InputFileLocation` (whose file reference expires).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLocation {
    pub dc_id: i32,
    pub input: Vec<u8>,
}

/// Why a part of a file could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The file reference expired: re-read the message ([`Source::fetch_by_id`]) for a fresh
    /// location and continue from the same offset.
    #[error("the file reference expired")]
    ReferenceExpired,
    #[error(transparent)]
    Source(#[from] SourceError),
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

    /// The messages with these ids (at most 100) as they are now, with their files; an id
    /// Telegram no longer has is absent from the answer.
    fn fetch_by_id(
        &mut self,
        channel: &StoredChannel,
        ids: &[i64],
    ) -> impl Future<Output = Result<Batch, SourceError>>;

    /// `limit` bytes of `file` from `offset`, as Telegram's file API requires them (offset a
    /// multiple of `limit`, `limit` a multiple of 4 KiB up to 512 KiB dividing 1 MiB); fewer
    /// bytes than `limit` only at the file's end.
    fn download_part(
        &mut self,
        file: &RemoteFile,
        offset: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<u8>, DownloadError>>;
}
