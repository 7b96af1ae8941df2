//! The media stage of a channel: after each stored page, its wanted files are linked (stored
//! before), skipped (too big, over the run's budget) or downloaded part by part into the
//! destination; before the new pages, the files earlier runs left are read again. Every
//! Telegram call goes through `guarded` (flood waits reported, a stop request honoured); a
//! file that fails is counted and retried by the next run, never failing the channel.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use contract::media::MediaCounts;

use super::{Run, Stop};
use crate::app::clock::Clock;
use crate::media::destination::{Destination, DestinationError, StoredObject};
use crate::media::plan::{self, Decision, PartOutcome};
use crate::store::media::{CarriedFile, NewFile, PendingQuery};
use crate::store::model::{MessageRow, StoredChannel};
use crate::telegram::source::{DownloadError, RemoteFile, Source, SourceError};

/// Why one file was not stored.
enum FileError {
    /// This file failed (counted; the next run tries again).
    Failed(String),
    /// The run or channel stops (session invalid, a stop request, the database).
    Stop(Stop),
}

impl<S: Source, C: Clock> Run<'_, S, C> {
    /// Handles the wanted files of a stored page, `rows` being the messages stored.
    pub(super) async fn page_files(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        rows: &[MessageRow],
        files: Vec<RemoteFile>,
        counts: &mut MediaCounts,
    ) -> Result<(), Stop> {
        let dates: HashMap<i64, DateTime<Utc>> = rows.iter().map(|m| (m.id, m.date)).collect();
        let files = self.wanted(files, |id| dates.get(&id).copied());
        self.carried(name, channel, files, counts).await
    }

    /// Reads again, in batches of [`plan::RESUME_BATCH`], the messages whose wanted file an
    /// earlier run did not store (killed, failed, over its budget), and handles their files
    /// with fresh locations. A message that no longer carries a file is marked so.
    pub(super) async fn resume_files(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        counts: &mut MediaCounts,
    ) -> Result<(), Stop> {
        let Some(media) = &self.media else {
            return Ok(());
        };
        let pending = self
            .store
            .pending_files(&PendingQuery {
                channel_id: channel.id,
                kinds: &media.settings.kinds,
                max_file_size: media.settings.max_file_size,
                newer_than: media.settings.newer_than,
                limit: plan::RESUME_LIMIT,
            })
            .await?;
        if pending.is_empty() {
            return Ok(());
        }
        tracing::info!(
            channel = name,
            files = pending.len(),
            "resuming files earlier runs did not store"
        );
        for ids in pending.chunks(plan::RESUME_BATCH) {
            if self.shutdown.is_requested() {
                return Err(Stop::Terminated);
            }
            let batch = self
                .guarded(name, |source| source.fetch_by_id(channel, ids))
                .await?;
            let gone: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| !batch.files.iter().any(|f| f.message_id == *id))
                .collect();
            self.store
                .mark_files_unavailable(channel.id, &gone, self.clock.now())
                .await?;
            let dates: HashMap<i64, DateTime<Utc>> =
                batch.messages.iter().map(|m| (m.id, m.date)).collect();
            let files = self.wanted(batch.files, |id| dates.get(&id).copied());
            self.carried(name, channel, files, counts).await?;
        }
        Ok(())
    }

    /// The files the collection wants, of messages whose date `date_of` knows.
    fn wanted(
        &self,
        files: Vec<RemoteFile>,
        date_of: impl Fn(i64) -> Option<DateTime<Utc>>,
    ) -> Vec<RemoteFile> {
        let Some(media) = &self.media else {
            return Vec::new();
        };
        files
            .into_iter()
            .filter(|f| {
                date_of(f.message_id)
                    .is_some_and(|date| plan::wanted(&media.settings, f.kind, date))
            })
            .collect()
    }

    /// Records which messages carry `files`, then links, skips or downloads each.
    async fn carried(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        files: Vec<RemoteFile>,
        counts: &mut MediaCounts,
    ) -> Result<(), Stop> {
        if files.is_empty() {
            return Ok(());
        }
        let carried: Vec<CarriedFile> = files
            .iter()
            .map(|f| CarriedFile {
                message_id: f.message_id,
                kind: f.kind,
                telegram_key: f.telegram_key.clone(),
                size: f.size,
            })
            .collect();
        self.store
            .record_carried(channel.id, &carried, self.clock.now())
            .await?;
        for file in files {
            if self.shutdown.is_requested() {
                return Err(Stop::Terminated);
            }
            self.file(name, channel, file, counts).await?;
        }
        Ok(())
    }

    async fn file(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        file: RemoteFile,
        counts: &mut MediaCounts,
    ) -> Result<(), Stop> {
        let Some(media) = &self.media else {
            return Ok(());
        };
        let destination = media.destination.clone();
        let stored = self
            .store
            .file_by_telegram_key(channel.id, destination.name(), &file.telegram_key)
            .await?;
        match plan::decide(&media.settings, file.size, stored, media.spent) {
            Decision::Link(file_id) => {
                self.store
                    .link_file(channel.id, file.message_id, file_id, self.clock.now())
                    .await?;
            }
            Decision::TooBig => {
                counts.files_skipped_too_big += 1;
                counts.bytes_skipped += file.size;
            }
            Decision::OverBudget => {
                counts.files_skipped_over_budget += 1;
                counts.bytes_skipped += file.size;
            }
            Decision::Download => match self.download(name, channel, &file, &destination).await {
                Ok(object) => {
                    let now = self.clock.now();
                    let file_id = self
                        .store
                        .record_file(
                            channel.id,
                            &NewFile {
                                destination: destination.name(),
                                content_key: &object.key,
                                sha256: &object.sha256,
                                size: object.size,
                                mime_type: file.mime_type.as_deref(),
                                kind: file.kind,
                                telegram_key: Some(&file.telegram_key),
                            },
                            now,
                        )
                        .await?;
                    self.store
                        .link_file(channel.id, file.message_id, file_id, now)
                        .await?;
                    counts.files_downloaded += 1;
                    counts.bytes_downloaded += object.size;
                    if let Some(media) = &mut self.media {
                        media.spent += object.size;
                    }
                    tracing::debug!(
                        channel = name,
                        message_id = file.message_id,
                        key = %object.key,
                        size = object.size,
                        existed = object.existed,
                        "file stored"
                    );
                }
                Err(FileError::Failed(message)) => {
                    tracing::warn!(
                        channel = name,
                        message_id = file.message_id,
                        telegram_key = %file.telegram_key,
                        %message,
                        "file not stored (the next run tries again)"
                    );
                    counts.files_failed += 1;
                }
                Err(FileError::Stop(stop)) => return Err(stop),
            },
        }
        Ok(())
    }

    /// Streams `file` into `destination` in [`plan::PART_LIMIT`] parts; an expired file
    /// reference is refreshed by re-reading the message (at most [`plan::MAX_REFRESHES`]
    /// times) and the download goes on from the same offset.
    async fn download(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        file: &RemoteFile,
        destination: &Destination,
    ) -> Result<StoredObject, FileError> {
        let failed = |e: DestinationError| FileError::Failed(telemetry::one_line(&e));
        let mut upload = destination.begin().await.map_err(failed)?;
        let mut file = file.clone();
        let mut offset = 0;
        let mut refreshes = 0;
        let outcome = loop {
            let part = {
                let file = &file;
                self.guarded(name, |source| async move {
                    Ok::<_, SourceError>(source.download_part(file, offset, plan::PART_LIMIT).await)
                })
                .await
            };
            let bytes = match part {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(DownloadError::ReferenceExpired)) => {
                    refreshes += 1;
                    if refreshes > plan::MAX_REFRESHES {
                        break Err(FileError::Failed(format!(
                            "the file reference expired {refreshes} times"
                        )));
                    }
                    match self.refreshed(name, channel, &file).await {
                        Ok(fresh) => {
                            file = fresh;
                            continue;
                        }
                        Err(error) => break Err(error),
                    }
                }
                Ok(Err(DownloadError::Source(error))) => break Err(source_failure(error)),
                Err(stop) => break Err(FileError::Stop(stop)),
            };
            if let Err(error) = upload.write(&bytes).await {
                break Err(failed(error));
            }
            match plan::after_part(file.size, offset, bytes.len()) {
                PartOutcome::Next(next) => offset = next,
                PartOutcome::Done => break Ok(()),
                PartOutcome::Mismatch { received } => {
                    break Err(FileError::Failed(format!(
                        "Telegram said the file has {} bytes and sent {received}",
                        file.size
                    )));
                }
            }
        };
        match outcome {
            Ok(()) => upload.finish().await.map_err(failed),
            Err(error) => {
                upload.abort().await;
                Err(error)
            }
        }
    }

    /// `file` with a fresh location, from its message read again.
    async fn refreshed(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        file: &RemoteFile,
    ) -> Result<RemoteFile, FileError> {
        let ids = [file.message_id];
        let batch = self
            .guarded(name, |source| source.fetch_by_id(channel, &ids))
            .await
            .map_err(|stop| match stop {
                Stop::Failed { message, .. } => FileError::Failed(message),
                stop => FileError::Stop(stop),
            })?;
        batch
            .files
            .into_iter()
            .find(|f| f.message_id == file.message_id && f.telegram_key == file.telegram_key)
            .ok_or_else(|| {
                FileError::Failed(format!(
                    "message {} no longer carries the file",
                    file.message_id
                ))
            })
    }
}

fn source_failure(error: SourceError) -> FileError {
    match Stop::from(error) {
        Stop::Failed { message, .. } => FileError::Failed(message),
        stop => FileError::Stop(stop),
    }
}
