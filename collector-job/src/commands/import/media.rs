//! The files of an imported chat's messages. With a media destination, each file a message
//! names beside the export, of a kind the settings want, is linked to the stored copy of its
//! bytes, or streamed into the destination the way `collect` stores a download (under a
//! staging key, hashed on the way, moved to its content address). A file is hashed first, so
//! bytes stored before (by a collection, an earlier import, another message) are never
//! uploaded again.
//!
//! The chat's links (`message_files`) are written in its transaction; the object and its
//! `media_files` row are not, and stay when the chat is rolled back: both name content, so
//! they are true whatever the chat, and the next import links them without uploading.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use contract::media::MediaCounts;

use crate::app::shutdown::Shutdown;
use crate::export::files::{self, ExportFile};
use crate::media::Media;
use crate::media::local::{self, LocalFileError};
use crate::media::plan::{self, Decision};
use crate::store::media::{ImportedLink, NewFile};
use crate::store::model::MessageRow;
use crate::store::{ChatImport, Store, StoreError};
use telemetry::one_line;

/// The files an import found stored already or missing; the files it uploaded, skipped or
/// failed are counted as a collection counts them ([`MediaCounts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportFiles {
    /// Files whose bytes were stored already: linked, not uploaded.
    pub already_stored: u64,
    /// Files a message names that the export does not hold: left out by the exporter, or
    /// absent on disk.
    pub missing: u64,
}

impl ExportFiles {
    pub fn add(&mut self, other: &ExportFiles) {
        self.already_stored += other.already_stored;
        self.missing += other.missing;
    }
}

/// What one chat's files came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct FileTally {
    pub media: MediaCounts,
    pub files: ExportFiles,
}

/// Where an import's files come from and go.
pub(super) struct Files<'a> {
    media: &'a Media,
    /// The export's directory: where the paths its messages name start.
    dir: PathBuf,
    /// Bytes uploaded so far (against `maxBytesPerRun`).
    spent: u64,
    /// A stop request gives up the upload under way.
    shutdown: Shutdown,
}

impl<'a> Files<'a> {
    /// Files of the export at `export` (its `result.json`) into `media`'s destination.
    pub(super) fn new(media: &'a Media, export: &Path, shutdown: Shutdown) -> Self {
        let dir = match export.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        Self {
            media,
            dir,
            spent: 0,
            shutdown,
        }
    }

    /// Stores or links the file `row` names, if the settings want it, and links it to the
    /// message in `chat`. Only the database's errors are returned (they fail the chat); a
    /// file that cannot be read or uploaded is counted and logged.
    pub(super) async fn message(
        &mut self,
        store: &Store,
        chat: &mut ChatImport,
        chat_name: &str,
        row: &MessageRow,
        now: DateTime<Utc>,
        tally: &mut FileTally,
    ) -> Result<(), StoreError> {
        let Some(named) = row.media.as_ref().map(files::named) else {
            return Ok(());
        };
        let file = match named {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(()),
            // The first reading refused the export for this; the file changed since.
            Err(problem) => {
                tracing::warn!(chat = chat_name, message_id = row.id, %problem, "file not read");
                tally.media.files_failed += 1;
                return Ok(());
            }
        };
        let settings = &self.media.settings;
        if !plan::wanted(settings, file.kind(), row.date) {
            return Ok(());
        }
        let ExportFile::Included {
            path,
            kind,
            mime_type,
        } = file
        else {
            tally.files.missing += 1;
            return Ok(());
        };
        let full = self.dir.join(&path);
        let size = match on_disk(&self.dir, &full) {
            OnDisk::File { size } => size,
            OnDisk::Missing => {
                tally.files.missing += 1;
                return Ok(());
            }
            OnDisk::Unreadable(e) => {
                failed(tally, chat_name, row.id, &path, &e);
                return Ok(());
            }
        };
        // Never read: hashing a file only to skip it would cost as much as storing it.
        if settings.max_file_size.is_some_and(|max| size > max) {
            tally.media.files_skipped_too_big += 1;
            tally.media.bytes_skipped += size;
            return Ok(());
        }
        let sha256 = match local::sha256(&full).await {
            Ok(sha256) => sha256,
            Err(e) => {
                failed(tally, chat_name, row.id, &path, &e);
                return Ok(());
            }
        };
        let destination = &self.media.destination;
        let channel_id = chat.channel_id();
        let stored = store
            .file_by_content(channel_id, destination.name(), &sha256)
            .await?;
        let (file_id, sha256, size) = match plan::decide(settings, size, stored, self.spent) {
            Decision::Link(file_id) => {
                tally.files.already_stored += 1;
                (file_id, sha256, size)
            }
            Decision::TooBig => {
                tally.media.files_skipped_too_big += 1;
                tally.media.bytes_skipped += size;
                return Ok(());
            }
            Decision::OverBudget => {
                tally.media.files_skipped_over_budget += 1;
                tally.media.bytes_skipped += size;
                return Ok(());
            }
            Decision::Download => match local::upload(destination, &full, &self.shutdown).await {
                Ok(object) => {
                    let file_id = store
                        .record_file(
                            channel_id,
                            &NewFile {
                                destination: destination.name(),
                                content_key: &object.key,
                                sha256: &object.sha256,
                                size: object.size,
                                mime_type: mime_type.as_deref(),
                                kind,
                                telegram_key: None,
                            },
                            now,
                        )
                        .await?;
                    tally.media.files_downloaded += 1;
                    tally.media.bytes_downloaded += object.size;
                    self.spent += object.size;
                    tracing::debug!(
                        chat = chat_name,
                        message_id = row.id,
                        key = %object.key,
                        size = object.size,
                        existed = object.existed,
                        "file stored"
                    );
                    // The bytes uploaded, should the file have changed since it was hashed.
                    (file_id, object.sha256, object.size)
                }
                // The storing loop sees the stop next and rolls the chat back.
                Err(LocalFileError::Stopped { .. }) => return Ok(()),
                Err(e) => {
                    failed(tally, chat_name, row.id, &path, &e);
                    return Ok(());
                }
            },
        };
        chat.link_file(
            &ImportedLink {
                message_id: row.id,
                kind,
                sha256: &sha256,
                size,
                file_id,
            },
            now,
        )
        .await?;
        Ok(())
    }
}

/// What is at a path a message names.
enum OnDisk {
    File {
        size: u64,
    },
    /// Nothing, or not a file.
    Missing,
    Unreadable(std::io::Error),
}

/// What is at `file`, its links followed. The path's text was checked when the export was
/// read; a link in the export (`photos/a.jpg -> /etc/shadow`, in an export someone else made)
/// would still copy a file from outside `dir` into the archive, so one is unreadable.
fn on_disk(dir: &Path, file: &Path) -> OnDisk {
    let found = std::fs::canonicalize(file).and_then(|file| {
        let inside = file.starts_with(std::fs::canonicalize(dir)?);
        Ok((inside, std::fs::metadata(&file)?))
    });
    match found {
        Ok((false, _)) => OnDisk::Unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is a link to a file outside the export's directory",
        )),
        Ok((true, meta)) if meta.is_file() => OnDisk::File { size: meta.len() },
        Ok(_) => OnDisk::Missing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OnDisk::Missing,
        Err(e) => OnDisk::Unreadable(e),
    }
}

fn failed(
    tally: &mut FileTally,
    chat: &str,
    message_id: i64,
    path: &Path,
    error: &(dyn std::error::Error + 'static),
) {
    tracing::warn!(
        chat,
        message_id,
        path = %path.display(),
        error = %one_line(error),
        "file not stored"
    );
    tally.media.files_failed += 1;
}
