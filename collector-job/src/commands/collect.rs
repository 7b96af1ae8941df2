//! The collection loop: for each channel, resolve it once (cached), fetch only what is newer
//! than its checkpoint, store page by page with the checkpoint in the same transaction, and
//! tell the audit log what happened. Generic over the source and the clock; the only I/O is
//! through them, the store and the audit writer.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use contract::audit::{
    AuditEvent, AuditWriter, ChannelError, ChannelProgress, CollectionEnd, CollectionProgress,
    CollectionStart, EndReason, ErrorReason, FloodWait,
};
use tokio::sync::mpsc;

use crate::app::clock::Clock;
use crate::app::config::{Limits, MAX_BATCH, PAGES_PER_STATEMENT};
use crate::app::shutdown::Shutdown;
use crate::store::model::{MessageRow, StoredChannel};
use crate::store::{Store, StoreError, SweepState};
use crate::telegram::flood::FloodNotice;
use crate::telegram::source::{Cursor, RemoteFile, Source, SourceError};
use contract::channel::ChannelRef;
use telemetry::one_line;

mod media;

/// What one run is asked to do.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// The spec's channel strings (the names used in the audit log) and what they parse to.
    pub channels: Vec<(String, ChannelRef)>,
    pub limits: Limits,
    /// Least time between two `collection_channel_progress` rows of one channel.
    pub progress_interval: Duration,
}

/// How a run ended (each one wrote its `collection_end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every channel was tried; some may have failed.
    Finished,
    /// The session is revoked or unauthorised.
    SessionInvalid,
    /// A stop was requested (SIGTERM).
    Terminated,
}

/// The totals of a run, as written to `collection_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunTotals {
    pub total_messages: u64,
    pub channels_synced: u32,
    pub errors: u32,
    /// Edited versions found (kept beside the newest).
    pub edits_found: u64,
    /// Messages found deleted (marked, never removed).
    pub deletions_found: u64,
    /// Files downloaded, skipped and failed (`spec.media`).
    pub media: contract::media::MediaCounts,
    pub end: RunEnd,
}

/// What collecting one channel found, counted also when it stops early.
#[derive(Clone, Copy, Debug, Default)]
struct Found {
    /// Messages stored (new, or seen again and changed).
    messages: u64,
    edits: u64,
    deletions: u64,
    /// Files downloaded, skipped and failed.
    media: contract::media::MediaCounts,
}

/// A run that could not finish its audit trail.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot write the audit log")]
    Audit(#[from] contract::audit::AuditLogError),
    /// The database is gone, or does not allow the write ([`StoreError::ends_run`]).
    #[error("the database failed the run")]
    Database(#[source] StoreError),
}

/// The parts a run works with.
pub struct Run<'a, S, C> {
    pub source: &'a mut S,
    pub store: &'a Store,
    pub audit: &'a AuditWriter,
    pub clock: &'a C,
    /// Flood waits the source sleeps through, reported while it sleeps.
    pub floods: &'a mut mpsc::UnboundedReceiver<FloodNotice>,
    pub shutdown: Shutdown,
    /// Media files to download (`spec.media`); `None` collects messages only.
    pub media: Option<crate::media::Media>,
}

/// Why collecting one channel stopped early.
enum Stop {
    Failed {
        reason: ErrorReason,
        message: String,
    },
    SessionInvalid,
    Terminated,
    Database(StoreError),
    Audit(contract::audit::AuditLogError),
}

impl From<SourceError> for Stop {
    fn from(error: SourceError) -> Self {
        match error {
            SourceError::Channel { reason, message } => Stop::Failed { reason, message },
            SourceError::SessionInvalid { message } => {
                tracing::error!(%message, "Telegram session is not valid");
                Stop::SessionInvalid
            }
        }
    }
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        if error.ends_run() {
            Stop::Database(error)
        } else {
            // A statement the database refused: this channel fails, with PostgreSQL's reason.
            Stop::Failed {
                reason: ErrorReason::Storage,
                message: one_line(&error),
            }
        }
    }
}

impl<S: Source, C: Clock> Run<'_, S, C> {
    #[tracing::instrument(
        skip_all,
        fields(run_id = %self.audit.run().run_id, pod = ?self.audit.run().pod_name),
        err
    )]
    pub async fn run(mut self, settings: &RunSettings) -> Result<RunTotals, RunError> {
        let total_channels = settings.channels.len() as u32;
        self.audit
            .record(&AuditEvent::Start(CollectionStart {
                total_channels,
                start_time: self.clock.now(),
            }))
            .await?;
        let mut summary = RunTotals {
            total_messages: 0,
            channels_synced: 0,
            errors: 0,
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            end: RunEnd::Finished,
        };

        // A flood wait here belongs to no channel: its audit row has an empty channel name.
        let check = self.guarded("", |source| source.check_session()).await;
        // The account's Telegram user id: its access hashes are cached under it.
        let mut account = match check {
            Ok(account) => Some(account),
            // Telegram unreachable: each channel asks again, and says so in its own error.
            Err(Stop::Failed { message, .. }) => {
                tracing::warn!(%message, "could not check the session");
                None
            }
            Err(stop) => return self.end_early(stop, summary, total_channels).await,
        };
        if let Some(account) = account {
            tracing::info!(account, "collecting as this Telegram account");
        }
        self.sweep_staging().await;

        for (index, (name, reference)) in settings.channels.iter().enumerate() {
            if self.shutdown.is_requested() {
                return self
                    .end_early(Stop::Terminated, summary, total_channels)
                    .await;
            }
            let mut found = Found::default();
            let known = match account {
                Some(account) => Ok(account),
                None => self.guarded(name, |source| source.check_session()).await,
            };
            let outcome = match known {
                Ok(known) => {
                    account = Some(known);
                    self.channel(name, reference, known, settings, &mut found)
                        .await
                }
                Err(stop) => Err(stop),
            };
            summary.total_messages += found.messages;
            summary.edits_found += found.edits;
            summary.deletions_found += found.deletions;
            summary.media.add(&found.media);
            let error = match outcome {
                Ok(()) => {
                    summary.channels_synced += 1;
                    None
                }
                Err(Stop::Failed { reason, message }) => {
                    tracing::warn!(channel = %name, ?reason, %message, "channel failed");
                    summary.errors += 1;
                    Some(ChannelError { reason, message })
                }
                Err(stop) => return self.end_early(stop, summary, total_channels).await,
            };
            self.audit
                .record(&AuditEvent::Progress(CollectionProgress {
                    edits_found: found.edits,
                    deletions_found: found.deletions,
                    media: found.media,
                    channel_name: name.clone(),
                    messages_collected: found.messages,
                    channels_processed: index as u32 + 1,
                    total_channels,
                    errors: summary.errors,
                    progress_time: self.clock.now(),
                    error,
                }))
                .await?;
        }
        self.end(summary, total_channels, None).await
    }

    async fn end_early(
        &mut self,
        stop: Stop,
        summary: RunTotals,
        total_channels: u32,
    ) -> Result<RunTotals, RunError> {
        match stop {
            Stop::SessionInvalid => {
                let summary = RunTotals {
                    end: RunEnd::SessionInvalid,
                    ..summary
                };
                self.end(summary, total_channels, Some(EndReason::SessionInvalid))
                    .await
            }
            Stop::Terminated => {
                let summary = RunTotals {
                    end: RunEnd::Terminated,
                    ..summary
                };
                self.end(summary, total_channels, Some(EndReason::Terminated))
                    .await
            }
            Stop::Database(error) => Err(RunError::Database(error)),
            Stop::Audit(error) => Err(RunError::Audit(error)),
            // Channel failures are handled per channel and never end a run.
            Stop::Failed { .. } => self.end(summary, total_channels, None).await,
        }
    }

    async fn end(
        &mut self,
        summary: RunTotals,
        total_channels: u32,
        reason: Option<EndReason>,
    ) -> Result<RunTotals, RunError> {
        self.audit
            .record(&AuditEvent::End(CollectionEnd {
                edits_found: summary.edits_found,
                deletions_found: summary.deletions_found,
                media: summary.media,
                total_messages: summary.total_messages,
                channels_synced: summary.channels_synced,
                total_channels,
                errors: summary.errors,
                end_time: self.clock.now(),
                aborted: reason.is_some(),
                reason,
            }))
            .await?;
        Ok(summary)
    }

    /// Collects one channel as account `account`; `found` counts what it found, also when it
    /// stops early.
    #[tracing::instrument(skip_all, fields(channel = name))]
    async fn channel(
        &mut self,
        name: &str,
        reference: &ChannelRef,
        account: i64,
        settings: &RunSettings,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let channel = match self.store.channel(reference, account).await? {
            Some(known) if known.access_hash.is_some() => known,
            // Resolve once, then reuse the cached id and access hash on every later run.
            _ => {
                return self
                    .resolve_and_collect(name, reference, account, settings, found)
                    .await;
            }
        };
        let result = self.pages(name, &channel, settings, found).await;
        let refused = matches!(
            &result,
            Err(Stop::Failed {
                reason: ErrorReason::ChannelInvalid,
                ..
            })
        );
        if refused {
            // A cached access hash Telegram does not accept (another account's, or no longer
            // valid): drop it and resolve once more, now.
            tracing::info!(
                channel = name,
                "cached access hash refused, resolving again"
            );
            if !channel.legacy_hash {
                self.store.forget_access_hash(account, channel.id).await?;
            }
            return self
                .resolve_and_collect(name, reference, account, settings, found)
                .await;
        }
        if let (true, Some(hash)) = (channel.legacy_hash, channel.access_hash)
            && (result.is_ok() || found.messages > 0)
        {
            // Telegram took the hash from this account: it is this account's.
            self.store
                .claim_legacy_hash(account, channel.id, hash)
                .await?;
        }
        result
    }

    /// Resolves a channel as account `account`, caches what Telegram said (the hash under the
    /// account) and collects it.
    async fn resolve_and_collect(
        &mut self,
        name: &str,
        reference: &ChannelRef,
        account: i64,
        settings: &RunSettings,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let resolved = self
            .guarded(name, |source| source.resolve(reference))
            .await?;
        let channel = self
            .store
            .remember_channel(&resolved, account, self.clock.now())
            .await?;
        self.pages(name, &channel, settings, found).await
    }

    /// Fetches and stores the pages of one channel after its checkpoint.
    async fn pages(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        settings: &RunSettings,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let started = self.clock.now();
        // `since` bounds only a first run; later runs continue from the checkpoint.
        let cutoff = match settings.limits.since {
            Some(since) if channel.checkpoint == 0 => Some(
                chrono::Duration::from_std(since)
                    .ok()
                    .and_then(|since| started.checked_sub_signed(since))
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            ),
            _ => None,
        };
        if let Some(window) = settings.limits.refresh_window
            && channel.checkpoint > 0
        {
            self.refresh(name, channel, window, found).await?;
        }
        self.resume_files(name, channel, &mut found.media).await?;
        self.history(name, channel, settings, cutoff, found).await?;
        if let Some(interval) = settings.limits.deletion_sweep
            && channel.checkpoint > 0
        {
            self.sweep(name, channel, interval, found).await?;
        }
        Ok(())
    }

    /// Fetches and stores the pages after the checkpoint (or from `cutoff`, on a first run
    /// with `limits.since`) until the channel is caught up or its run's limit is reached.
    ///
    /// The pages fetched so far are stored while the next ones are fetched: Telegram's answer
    /// time and PostgreSQL's write time overlap instead of adding up. Fetching goes on while
    /// the store is busy, up to [`PAGES_PER_STATEMENT`] pages, which the next store writes as
    /// one statement: when PostgreSQL is the slower side, a statement's own cost (a round trip,
    /// a commit) is paid once for several pages; when Telegram is (its answers take far longer
    /// than a write), every page is stored as soon as it arrives. A fetch that fails or finds
    /// the channel caught up ends the fetching; what was fetched before it is stored first.
    async fn history(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        settings: &RunSettings,
        cutoff: Option<DateTime<Utc>>,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let started = self.clock.now();
        let mut cursor = match cutoff {
            Some(cutoff) => Cursor::Since(cutoff),
            None => Cursor::After(channel.checkpoint),
        };
        let mut last_report = started;
        // The pages fetched and not stored yet.
        let mut fetched: Option<Fetched> = None;
        // Whether the store beside the current fetches has finished.
        let stored_all = AtomicBool::new(false);
        // Why fetching ended, once it has: caught up, or the failure to report.
        let mut ended: Option<Result<(), Stop>> = None;
        loop {
            let unstored = fetched.as_ref().map_or(0, |page| page.rows.len() as u64);
            let budget = match settings.limits.max_messages_per_channel {
                Some(max) => max.saturating_sub(found.messages + unstored),
                None => u64::MAX,
            };
            let stopping = self.shutdown.is_requested();
            if fetched.is_none() {
                match ended.take() {
                    Some(end) => return end,
                    None if stopping => return Err(Stop::Terminated),
                    None if budget == 0 => return Ok(()),
                    None => {}
                }
            }
            let fetch_next = ended.is_none() && !stopping && budget > 0;
            stored_all.store(false, Ordering::Relaxed);
            let Self {
                source,
                store,
                audit,
                clock,
                floods,
                shutdown,
                ..
            } = self;
            // Counted and reported as soon as it is stored, whatever the fetch beside it does.
            let store_pages = async {
                let Some(page) = fetched.take() else {
                    stored_all.store(true, Ordering::Relaxed);
                    return Ok(None);
                };
                let stored = store
                    .store_batch(channel.id, &page.rows, page.last_id, clock.now())
                    .await?;
                found.messages += page.rows.len() as u64;
                found.edits += stored.counts.versions;
                let now = clock.now();
                if elapsed(last_report, now) >= settings.progress_interval {
                    last_report = now;
                    audit
                        .record(&AuditEvent::ChannelProgress(ChannelProgress {
                            channel_name: name.to_owned(),
                            messages_collected: found.messages,
                            remaining_estimate: page.remaining,
                            progress_time: now,
                        }))
                        .await
                        .map_err(Stop::Audit)?;
                }
                stored_all.store(true, Ordering::Relaxed);
                Ok::<Option<Fetched>, Stop>(Some(page))
            };
            let fetch_pages = async {
                let mut pages: Option<Fetched> = None;
                let mut budget = budget;
                for _ in 0..PAGES_PER_STATEMENT {
                    // One page at least; more only while the store is busy.
                    let more = pages.is_none()
                        || !(stored_all.load(Ordering::Relaxed) || shutdown.is_requested());
                    if !fetch_next || budget == 0 || !more {
                        break;
                    }
                    let limit = budget.min(MAX_BATCH as u64) as usize;
                    let call = source.fetch(channel, cursor, limit);
                    let batch = match watched(call, name, audit, *clock, floods, shutdown).await {
                        Ok(batch) => batch,
                        Err(stop) => return (pages, Some(Err(stop))),
                    };
                    let previous = match cursor {
                        Cursor::After(id) => id,
                        Cursor::Since(_) => 0,
                    };
                    // An empty page, or one that does not move forward: caught up.
                    let Some(last_id) = batch.last_id.filter(|id| *id > previous) else {
                        return (pages, Some(Ok(())));
                    };
                    let rows: Vec<_> = batch
                        .messages
                        .into_iter()
                        .filter(|m| cutoff.is_none_or(|cutoff| m.date >= cutoff))
                        .collect();
                    budget = budget.saturating_sub(rows.len() as u64);
                    cursor = Cursor::After(last_id);
                    let page = Fetched {
                        rows,
                        last_id,
                        remaining: batch.remaining,
                        files: batch.files,
                    };
                    pages = Some(match pages {
                        Some(earlier) => earlier.followed_by(page),
                        None => page,
                    });
                }
                (pages, None)
            };
            let (stored, (next, end)) = tokio::join!(store_pages, fetch_pages);
            // A stored page's files, once the source is free of the fetch beside it.
            if let Some(page) = stored? {
                self.page_files(name, channel, &page.rows, page.files, &mut found.media)
                    .await?;
            }
            fetched = next;
            if end.is_some() {
                ended = end;
            }
        }
    }

    /// Re-reads the channel's stored messages, 100 ids a request, and marks the ones Telegram
    /// no longer returns as deleted (what it returns is merged in, as a refresh does): a pass
    /// every `interval`, spread over runs, [`SWEEP_PAGES_PER_RUN`] requests a run.
    async fn sweep(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        interval: Duration,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let state = self.store.sweep_state(channel.id).await?;
        let mut after = match state.after {
            Some(after) => after,
            None if sweep_due(state.swept_at, interval, self.clock.now()) => 0,
            None => return Ok(()),
        };
        // Done when a read comes back short: no stored id is left above it.
        let mut pass_done = false;
        for _ in 0..SWEEP_PAGES_PER_RUN {
            if self.shutdown.is_requested() {
                return Err(Stop::Terminated);
            }
            let ids = self
                .store
                .stored_ids_after(channel.id, after, MAX_BATCH)
                .await?;
            let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
                pass_done = true;
                break;
            };
            let batch = self
                .guarded(name, |source| source.fetch_by_id(channel, &ids))
                .await?;
            let rows: Vec<_> = batch
                .messages
                .into_iter()
                .filter(|m| ids.binary_search(&m.id).is_ok())
                .collect();
            let returned: Vec<i64> = rows.iter().map(|m| m.id).collect();
            let now = self.clock.now();
            if !rows.is_empty() {
                let page = self.store.store_batch(channel.id, &rows, 0, now).await?;
                found.edits += page.counts.versions;
            }
            found.deletions += self
                .store
                .mark_missing(channel.id, first..=last, &returned, now)
                .await?;
            after = last;
            if ids.len() < MAX_BATCH {
                pass_done = true;
                break;
            }
            // Where a killed or the next run goes on.
            let going_on = SweepState {
                after: Some(after),
                swept_at: state.swept_at,
            };
            self.store.record_sweep(channel.id, going_on).await?;
        }
        if pass_done {
            let done = SweepState {
                after: None,
                swept_at: Some(self.clock.now()),
            };
            self.store.record_sweep(channel.id, done).await?;
        }
        tracing::info!(
            channel = name,
            swept_through = after,
            "swept stored ids for deletions"
        );
        Ok(())
    }

    /// Re-reads the stored messages sent within `window` (views, reactions and edits change
    /// after we first stored them) and merges them in: ceil(n / 100) extra requests for the n
    /// messages of the window. A page holds every message between its first and last id, so
    /// a stored message in that span it does not hold was deleted: it is marked so. The
    /// checkpoint stays where it is; newer messages are left to the fetch that follows.
    async fn refresh(
        &mut self,
        name: &str,
        channel: &StoredChannel,
        window: Duration,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let now = self.clock.now();
        let cutoff = chrono::Duration::from_std(window)
            .ok()
            .and_then(|window| now.checked_sub_signed(window))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut cursor = Cursor::Since(cutoff);
        let mut refreshed = 0;
        loop {
            if self.shutdown.is_requested() {
                return Err(Stop::Terminated);
            }
            let batch = self
                .guarded(name, |source| source.fetch(channel, cursor, MAX_BATCH))
                .await?;
            let Some(last_id) = batch.last_id else {
                break;
            };
            let rows: Vec<_> = batch
                .messages
                .into_iter()
                .filter(|m| m.id <= channel.checkpoint)
                .collect();
            let returned: Vec<i64> = rows.iter().map(|m| m.id).collect();
            let now = self.clock.now();
            if !rows.is_empty() {
                let page = self.store.store_batch(channel.id, &rows, 0, now).await?;
                refreshed += rows.len();
                found.edits += page.counts.versions;
                // Files of messages stored before media was on, or whose file an edit changed.
                self.page_files(name, channel, &rows, batch.files, &mut found.media)
                    .await?;
            }
            if let Some(covered) = covered_ids(cursor, &returned, last_id, channel.checkpoint) {
                found.deletions += self
                    .store
                    .mark_missing(channel.id, covered, &returned, now)
                    .await?;
            }
            let moved_on = match cursor {
                Cursor::After(previous) => last_id > previous,
                Cursor::Since(_) => true,
            };
            if last_id >= channel.checkpoint || !moved_on {
                break;
            }
            cursor = Cursor::After(last_id);
        }
        tracing::info!(channel = name, refreshed, "refreshed recent messages");
        Ok(())
    }

    /// Removes the staging objects killed runs left in the media destination. A failure is
    /// logged: the run's downloads go on, each under a fresh staging key.
    async fn sweep_staging(&self) {
        let Some(media) = &self.media else {
            return;
        };
        let before = chrono::Duration::from_std(crate::media::STAGING_MAX_AGE)
            .ok()
            .and_then(|age| self.clock.now().checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        match media.destination.sweep(before).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed staging objects of killed runs"),
            Err(error) => tracing::warn!(
                error = %one_line(&error),
                "could not remove the staging objects of killed runs"
            ),
        }
    }

    /// Runs one source call while reporting its flood waits and watching for a stop request.
    /// A stop abandons the call (nothing of it was stored); a store is never interrupted.
    async fn guarded<'s, T, F, Fut>(&'s mut self, channel: &str, call: F) -> Result<T, Stop>
    where
        F: FnOnce(&'s mut S) -> Fut,
        Fut: Future<Output = Result<T, SourceError>> + 's,
    {
        let Self {
            source,
            audit,
            clock,
            floods,
            shutdown,
            ..
        } = self;
        watched(call(source), channel, audit, *clock, floods, shutdown).await
    }
}

/// Requests one run spends per channel on the deletion sweep (10,000 stored ids).
const SWEEP_PAGES_PER_RUN: usize = 100;

/// Whether a new sweep pass is due: never swept, or the last pass ended `interval` ago.
fn sweep_due(swept_at: Option<DateTime<Utc>>, interval: Duration, now: DateTime<Utc>) -> bool {
    swept_at.is_none_or(|swept_at| elapsed(swept_at, now) >= interval)
}

/// Pages fetched and not yet stored: one, or consecutive ones joined.
struct Fetched {
    rows: Vec<MessageRow>,
    /// The highest id the pages covered: the checkpoint once they are stored.
    last_id: i64,
    remaining: Option<u64>,
    /// The downloadable files of the pages' messages, handled once the pages are stored.
    files: Vec<RemoteFile>,
}

impl Fetched {
    /// These pages and the `next` one, as one.
    fn followed_by(mut self, next: Fetched) -> Fetched {
        self.rows.extend(next.rows);
        self.files.extend(next.files);
        Fetched {
            last_id: next.last_id,
            remaining: next.remaining,
            ..self
        }
    }
}

/// Awaits a source call while reporting its flood waits and watching for a stop request.
async fn watched<T, C: Clock>(
    call: impl Future<Output = Result<T, SourceError>>,
    channel: &str,
    audit: &AuditWriter,
    clock: &C,
    floods: &mut mpsc::UnboundedReceiver<FloodNotice>,
    shutdown: &mut Shutdown,
) -> Result<T, Stop> {
    tokio::pin!(call);
    loop {
        tokio::select! {
            biased;
            result = &mut call => {
                while let Ok(notice) = floods.try_recv() {
                    record_flood(audit, clock, channel, notice).await.map_err(Stop::Audit)?;
                }
                return result.map_err(Stop::from);
            }
            Some(notice) = floods.recv() => {
                record_flood(audit, clock, channel, notice).await.map_err(Stop::Audit)?;
            }
            () = shutdown.requested() => return Err(Stop::Terminated),
        }
    }
}

async fn record_flood<C: Clock>(
    audit: &AuditWriter,
    clock: &C,
    channel: &str,
    notice: FloodNotice,
) -> Result<(), contract::audit::AuditLogError> {
    let now = clock.now();
    tracing::info!(
        channel,
        seconds = notice.wait.as_secs(),
        "sleeping through a flood wait"
    );
    audit
        .record(&AuditEvent::FloodWait(FloodWait {
            channel_name: channel.to_owned(),
            seconds: u32::try_from(notice.wait.as_secs()).unwrap_or(u32::MAX),
            until: chrono::Duration::from_std(notice.wait)
                .ok()
                .and_then(|wait| now.checked_add_signed(wait))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }))
        .await
}

/// The ids a refresh page read in full: after the cursor's message (or from the page's first
/// one, for a page found by date) through its last id, never above the checkpoint (newer ids
/// were never stored). `None` when the page covered nothing stored.
fn covered_ids(
    cursor: Cursor,
    returned: &[i64],
    last_id: i64,
    checkpoint: i64,
) -> Option<std::ops::RangeInclusive<i64>> {
    let first = match cursor {
        Cursor::After(previous) => previous + 1,
        Cursor::Since(_) => *returned.first()?,
    };
    let last = last_id.min(checkpoint);
    (first <= last).then_some(first..=last)
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or(Duration::ZERO)
}
