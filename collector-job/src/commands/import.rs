//! `collector-job import`: stores a Telegram Desktop export through the same tables, merge
//! rule and audit events as a collection run, without any Telegram call.
//!
//! The file is read twice, streaming both times (memory stays bounded whatever its size):
//! first to check every message and count the channels, so an unreadable export changes
//! nothing; then to store it, page by page, each chat in one transaction (a chat is imported
//! whole or not at all). The second reading runs on a blocking thread and hands pages to the
//! storing task through a small bounded queue. With a media destination, the files the
//! messages name beside the export are stored too ([`media`]).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use contract::audit::{
    AuditEvent, AuditWriter, ChannelError, CollectionEnd, CollectionProgress, CollectionStart,
    EndReason, ErrorReason,
};
use tokio::sync::mpsc;

use crate::app::clock::Clock;
use crate::app::config::{MAX_BATCH, PAGES_PER_STATEMENT};
use crate::app::shutdown::Shutdown;
use crate::commands::collect::{RunEnd, RunError, RunTotals};
use crate::export;
use crate::export::mapping::{ChatHeader, LocalDates};
use crate::export::reader::{ExportError, ExportSink, Halted, ReadStopped};
use crate::media::Media;
use crate::store::model::{MessageRow, Origin, ResolvedChannel, Sighting};
use crate::store::storable;
use crate::store::{ChatImport, PageCounts, Store, StoreError};
use media::{FileTally, Files};
use telemetry::one_line;

pub use media::ExportFiles;

mod media;

/// Pages read ahead of the one being stored: what bounds the import's memory.
const PAGES_AHEAD: usize = 4;

/// What to import and how to read it.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    pub path: PathBuf,
    /// The zone of dates written without `date_unixtime`; UTC when unset.
    pub zone: Option<Tz>,
    /// When the export was made (`--exported-at`): the freshness of its versions (see
    /// [`Sighting`]). Unset, the export's own latest date or edit date is taken: an export
    /// holds no time of its own, and its file's time changes with every copy.
    pub exported_at: Option<DateTime<Utc>>,
    /// Where the files the messages name beside the export are stored; unset, they are not
    /// read (their paths stay in the messages' media metadata).
    pub media: Option<Media>,
}

/// How an import went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    pub summary: RunTotals,
    /// Chats that are not channels or supergroups (nothing to collect there).
    pub skipped: Vec<String>,
    /// Channel chats that could not be stored, with the reason (nothing of them is stored).
    pub failed: Vec<(String, String)>,
    /// Dates without `date_unixtime`, read in the request's zone (or UTC).
    pub local_dates: u64,
    /// Rows inserted or changed (a message already stored as the export has it is not
    /// written again), over the chats imported.
    pub changed: u64,
    /// With a media destination: the files found stored already or missing (the others are
    /// in `summary.media`).
    pub files: Option<ExportFiles>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not a readable export; nothing was written.
    #[error("export {path}: {source}")]
    Export {
        path: String,
        #[source]
        source: ExportError,
    },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("the export reader stopped unexpectedly")]
    Reader,
    /// Stopped by a signal: the chats committed so far stay, the one being stored was rolled
    /// back, and `collection_end` says the run was aborted.
    #[error("stopped by a signal: {imported} of {channels} channels imported")]
    Stopped { imported: u32, channels: u32 },
}

/// The first reading: every chat's header in file order, and the chats skipped.
#[derive(Debug, Default)]
struct Survey {
    chats: Vec<ChatHeader>,
    channels: usize,
    skipped: Vec<String>,
    /// The latest date or edit date of the export's messages: it was made no earlier.
    latest: Option<DateTime<Utc>>,
    /// Whether the files messages name are to be read: their paths must then stay inside
    /// the export's directory.
    files: bool,
}

impl ExportSink for Survey {
    fn chat_start(&mut self, chat: &ChatHeader) -> Result<bool, Halted> {
        self.chats.push(chat.clone());
        if chat.is_channel() {
            self.channels += 1;
            Ok(true)
        } else {
            self.skipped.push(chat.name.clone());
            Ok(false)
        }
    }

    fn message(&mut self, _: MessageRow) -> Result<(), Halted> {
        Ok(())
    }

    fn checked(&mut self, message: &MessageRow) -> Result<(), String> {
        let seen = message
            .edit_date
            .map_or(message.date, |edit| edit.max(message.date));
        self.latest = self.latest.max(Some(seen));
        if self.files
            && let Some(media) = &message.media
        {
            export::files::named(media)?;
        }
        Ok(())
    }

    fn chat_end(&mut self) -> Result<(), Halted> {
        Ok(())
    }
}

/// What the second reading hands to the storing task.
enum Event {
    Chat(ChatHeader),
    Page(Vec<MessageRow>),
    ChatEnd,
}

/// The second reading: pages of each channel chat, into the bounded queue.
struct Feed {
    queue: mpsc::Sender<Event>,
    page: Vec<MessageRow>,
}

impl Feed {
    fn send(&self, event: Event) -> Result<(), Halted> {
        self.queue.blocking_send(event).map_err(|_| Halted)
    }
}

impl ExportSink for Feed {
    fn chat_start(&mut self, chat: &ChatHeader) -> Result<bool, Halted> {
        if !chat.is_channel() {
            return Ok(false);
        }
        self.send(Event::Chat(chat.clone()))?;
        Ok(true)
    }

    fn message(&mut self, message: MessageRow) -> Result<(), Halted> {
        self.page.push(message);
        if self.page.len() == MAX_BATCH {
            let page = std::mem::replace(&mut self.page, Vec::with_capacity(MAX_BATCH));
            self.send(Event::Page(page))?;
        }
        Ok(())
    }

    fn chat_end(&mut self) -> Result<(), Halted> {
        if !self.page.is_empty() {
            let page = std::mem::take(&mut self.page);
            self.send(Event::Page(page))?;
        }
        self.send(Event::ChatEnd)
    }
}

fn read(
    path: &Path,
    zone: Option<Tz>,
    known: &[ChatHeader],
    sink: &mut impl ExportSink,
) -> Result<u64, ReadStopped> {
    let reader = export::reader::open(path).map_err(ReadStopped::Export)?;
    let mut dates = LocalDates::new(zone);
    export::reader::read(reader, &mut dates, known, sink)?;
    Ok(dates.read)
}

/// Runs a reading on a blocking thread: the parser is synchronous.
async fn on_thread<T: Send + 'static>(
    reading: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ImportError> {
    tokio::task::spawn_blocking(reading)
        .await
        .map_err(|_| ImportError::Reader)
}

/// An export read through once: every message checked, its channel chats counted.
#[derive(Debug)]
pub struct CheckedExport {
    survey: Survey,
    local_dates: u64,
}

impl CheckedExport {
    /// Channel and supergroup chats to import.
    pub fn channels(&self) -> usize {
        self.survey.channels
    }
}

/// The first reading: fails, before anything is written, when any message cannot be read
/// (or, with a media destination, names a file outside the export's directory).
pub async fn check(request: &ImportRequest) -> Result<CheckedExport, ImportError> {
    let (path, zone) = (request.path.clone(), request.zone);
    let files = request.media.is_some();
    let (surveyed, survey) = on_thread(move || {
        let mut survey = Survey {
            files,
            ..Survey::default()
        };
        (read(&path, zone, &[], &mut survey), survey)
    })
    .await?;
    match surveyed {
        Ok(local_dates) => Ok(CheckedExport {
            survey,
            local_dates,
        }),
        Err(ReadStopped::Export(source)) => Err(ImportError::Export {
            path: request.path.display().to_string(),
            source,
        }),
        Err(ReadStopped::Halted) => Err(ImportError::Reader),
    }
}

/// Imports each channel chat of a checked export. A chat the database refuses is rolled
/// back, reported and counted; the others are stored. Only an unreachable database or audit
/// log ends the import early.
pub async fn import<C: Clock>(
    request: &ImportRequest,
    checked: CheckedExport,
    store: &Store,
    audit: &AuditWriter,
    clock: &C,
    mut shutdown: Shutdown,
) -> Result<ImportReport, ImportError> {
    let CheckedExport {
        survey,
        local_dates,
    } = checked;
    for skipped in &survey.skipped {
        tracing::info!(chat = %skipped, "skipping a chat that is not a channel");
    }

    let total_channels = survey.channels as u32;
    audit
        .record(&AuditEvent::Start(CollectionStart {
            total_channels,
            start_time: clock.now(),
        }))
        .await
        .map_err(RunError::from)?;
    let (queue, mut events) = mpsc::channel(PAGES_AHEAD);
    let feed = Feed {
        queue,
        page: Vec::with_capacity(MAX_BATCH),
    };
    let (path, zone) = (request.path.clone(), request.zone);
    // The feed (and its end of the queue) is dropped on the thread when the reading ends,
    // which ends the storing loop below.
    let known = survey.chats.clone();
    let reader = on_thread(move || {
        let mut feed = feed;
        read(&path, zone, &known, &mut feed)
    });
    let observed = Sighting {
        origin: Origin::Import,
        // An export without messages stores no version; its title then ranks as the oldest.
        at: request
            .exported_at
            .or(survey.latest)
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
    };
    let mut run = Progress {
        store,
        audit,
        clock,
        shutdown: shutdown.clone(),
        files: request
            .media
            .as_ref()
            .map(|media| Files::new(media, &request.path, shutdown.clone())),
        observed,
        total_channels,
        summary: RunTotals {
            total_messages: 0,
            channels_synced: 0,
            errors: 0,
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            end: RunEnd::Finished,
        },
        failed: Vec::new(),
        processed: 0,
        changed: 0,
        export_files: ExportFiles::default(),
    };
    // Storing and reading run side by side; the queue's bound keeps the reader a few pages
    // ahead. Dropping `events` (an unreachable database) stops the reader.
    let storing = async {
        let mut chat: Option<ChatRun> = None;
        // An event taken from the queue while joining pages, handled next.
        let mut taken: Option<Event> = None;
        loop {
            let event = match taken.take() {
                Some(event) => Some(event),
                None => tokio::select! {
                    // A stop is seen before the next page, however many are queued.
                    biased;
                    // The open chat's transaction is dropped with it: rolled back.
                    () = shutdown.requested() => return Ok(true),
                    event = events.recv() => event,
                },
            };
            let Some(event) = event else { break };
            match event {
                Event::Chat(header) => chat = Some(run.begin(header).await?),
                Event::Page(mut page) => {
                    // The pages read while the last one was stored go in the same statement.
                    for _ in 1..PAGES_PER_STATEMENT {
                        match events.try_recv() {
                            Ok(Event::Page(next)) => page.extend(next),
                            Ok(other) => {
                                taken = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if let Some(chat) = chat.as_mut() {
                        run.page(chat, page).await?;
                    }
                }
                Event::ChatEnd => {
                    if let Some(chat) = chat.take() {
                        run.finish(chat).await?;
                    }
                }
            }
        }
        drop(events);
        Ok::<bool, ImportError>(false)
    };
    let (stored, read) = tokio::join!(storing, reader);
    if stored? {
        audit
            .record(&run.end(Some(EndReason::Terminated)))
            .await
            .map_err(RunError::from)?;
        return Err(ImportError::Stopped {
            imported: run.summary.channels_synced,
            channels: total_channels,
        });
    }
    match read? {
        Ok(_) => {}
        // The file changed between the two readings.
        Err(ReadStopped::Export(source)) => {
            return Err(ImportError::Export {
                path: request.path.display().to_string(),
                source,
            });
        }
        Err(ReadStopped::Halted) => return Err(ImportError::Reader),
    }
    audit.record(&run.end(None)).await.map_err(RunError::from)?;
    Ok(ImportReport {
        summary: run.summary,
        skipped: survey.skipped,
        failed: run.failed,
        local_dates,
        changed: run.changed,
        files: run.files.is_some().then_some(run.export_files),
    })
}

/// The running totals and what storing needs.
struct Progress<'a, C> {
    store: &'a Store,
    audit: &'a AuditWriter,
    clock: &'a C,
    /// Checked between the files of a page.
    shutdown: Shutdown,
    /// The export's files, with a media destination.
    files: Option<Files<'a>>,
    observed: Sighting,
    total_channels: u32,
    summary: RunTotals,
    failed: Vec<(String, String)>,
    processed: u32,
    /// Rows written by the chats imported.
    changed: u64,
    /// Files found stored already or missing, over every chat.
    export_files: ExportFiles,
}

/// One chat being stored: its open transaction, or why it failed (its remaining pages are
/// then read and dropped).
struct ChatRun {
    name: String,
    import: Result<ChatImport, StoreError>,
    /// Distinct messages stored: an id listed twice in the export is one message.
    stored: u64,
    seen: SeenIds,
    counts: PageCounts,
    files: FileTally,
}

/// The message ids of one chat met so far, a bit each (a channel's ids count up from 1), so a
/// message an export lists twice counts once, whatever the export's size.
#[derive(Debug, Default)]
struct SeenIds(Vec<u64>);

impl SeenIds {
    /// Whether `id` was not met before; records it.
    fn insert(&mut self, id: i64) -> bool {
        // Telegram never gives a channel message a negative id; count such a row as new.
        let Ok(id) = usize::try_from(id) else {
            return true;
        };
        let (word, bit) = (id / 64, 1u64 << (id % 64));
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }
}

impl<C: Clock> Progress<'_, C> {
    /// The run's `collection_end`: aborted for `reason`, else finished.
    fn end(&self, reason: Option<EndReason>) -> AuditEvent {
        AuditEvent::End(CollectionEnd {
            edits_found: self.summary.edits_found,
            deletions_found: 0,
            media: self.summary.media,
            total_messages: self.summary.total_messages,
            channels_synced: self.summary.channels_synced,
            total_channels: self.total_channels,
            errors: self.summary.errors,
            end_time: self.clock.now(),
            aborted: reason.is_some(),
            reason,
        })
    }

    async fn begin(&mut self, header: ChatHeader) -> Result<ChatRun, ImportError> {
        // An export knows no access hash or username: whatever a collection stored stays.
        let channel = ResolvedChannel {
            id: header.channel_id(),
            access_hash: None,
            username: None,
            title: header.title.clone(),
        };
        let import = self.store.begin_import(&channel, self.observed).await;
        let import = fatal_if_unreachable(import)?;
        Ok(ChatRun {
            name: storable::text(&header.name).into_owned(),
            import,
            stored: 0,
            seen: SeenIds::default(),
            counts: PageCounts::default(),
            files: FileTally::default(),
        })
    }

    async fn page(&mut self, chat: &mut ChatRun, page: Vec<MessageRow>) -> Result<(), ImportError> {
        let Ok(import) = chat.import.as_mut() else {
            return Ok(());
        };
        let stored = fatal_if_unreachable(import.store(&page).await)?;
        match stored {
            Ok(counts) => {
                chat.counts += counts;
                let new = page.iter().filter(|row| chat.seen.insert(row.id)).count();
                chat.stored += new as u64;
            }
            Err(error) => {
                chat.import = Err(error);
                return Ok(());
            }
        }
        let Some(files) = self.files.as_mut() else {
            return Ok(());
        };
        for row in &page {
            // The storing loop sees the stop next and rolls the chat back.
            if self.shutdown.is_requested() {
                break;
            }
            let now = self.clock.now();
            let handled = files
                .message(self.store, import, &chat.name, row, now, &mut chat.files)
                .await;
            if let Err(error) = fatal_if_unreachable(handled)? {
                chat.import = Err(error);
                break;
            }
        }
        Ok(())
    }

    async fn finish(&mut self, chat: ChatRun) -> Result<(), ImportError> {
        self.processed += 1;
        // Counted whether or not the chat commits: its uploads stay in the destination.
        self.summary.media.add(&chat.files.media);
        self.export_files.add(&chat.files.files);
        let committed = match chat.import {
            Ok(import) => fatal_if_unreachable(import.commit(self.clock.now()).await)?,
            Err(error) => Err(error),
        };
        let error = match committed {
            Ok(()) => {
                self.summary.channels_synced += 1;
                self.summary.total_messages += chat.stored;
                self.summary.edits_found += chat.counts.versions;
                self.changed += chat.counts.written;
                None
            }
            Err(error) => {
                self.summary.errors += 1;
                // Said once, in the import's final line (and the audit row).
                let message = one_line(&error);
                self.failed.push((chat.name.clone(), message.clone()));
                Some(ChannelError {
                    reason: ErrorReason::Storage,
                    message,
                })
            }
        };
        let (messages_collected, edits_found) = match error {
            None => (chat.stored, chat.counts.versions),
            Some(_) => (0, 0),
        };
        self.audit
            .record(&AuditEvent::Progress(CollectionProgress {
                edits_found,
                deletions_found: 0,
                media: chat.files.media,
                channel_name: chat.name,
                messages_collected,
                channels_processed: self.processed,
                total_channels: self.total_channels,
                errors: self.summary.errors,
                progress_time: self.clock.now(),
                error,
            }))
            .await
            .map_err(RunError::from)?;
        Ok(())
    }
}

/// A store result, unless the database is gone or does not allow the write (which ends the
/// import).
fn fatal_if_unreachable<T>(
    result: Result<T, StoreError>,
) -> Result<Result<T, StoreError>, ImportError> {
    match result {
        Err(error) if error.ends_run() => Err(RunError::Database(error).into()),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_counts_once_however_often_it_comes() {
        let mut seen = SeenIds::default();
        assert!(seen.insert(5));
        assert!(seen.insert(1_000_000));
        assert!(!seen.insert(5));
        assert!(!seen.insert(1_000_000));
        assert!(seen.insert(63) && seen.insert(64) && !seen.insert(64));
        assert!(seen.insert(-1), "a negative id is counted, never lost");
    }
}
