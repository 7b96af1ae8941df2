//! A run's audit rows, split into pod attempts and reduced to what happened in each.

use chrono::{DateTime, Utc};
use contract::audit::{AuditEvent, AuditRow, ChannelError, CollectionEnd, FloodWait};
use contract::media::MediaCounts;

/// One channel finished (successfully or not) within an attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct DoneChannel {
    pub name: String,
    pub messages: u64,
    pub at: DateTime<Utc>,
    /// How long the channel took: from the previous channel's end (or the attempt's start).
    pub took: Option<chrono::TimeDelta>,
    pub error: Option<ChannelError>,
    /// What the channel's files came to (`spec.media`).
    pub media: MediaCounts,
}

/// The channel an attempt is working on, as its `collection_channel_progress` /
/// `collection_flood_wait` rows tell.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentChannel {
    pub name: String,
    pub messages: u64,
    pub remaining_estimate: Option<u64>,
    /// When the last `collection_channel_progress` for it was written.
    pub reported_at: Option<DateTime<Utc>>,
}

/// One pod attempt of a run: a `collection_start` and the rows its pod wrote after it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attempt {
    pub pod: Option<String>,
    /// `start_time` of its `collection_start`; `None` for rows written before any start.
    pub started: Option<DateTime<Utc>>,
    pub total_channels: Option<u32>,
    pub done: Vec<DoneChannel>,
    /// `channels_processed` and `errors` of the latest `collection_progress`.
    pub reported_processed: u32,
    pub reported_errors: u32,
    pub current: Option<CurrentChannel>,
    /// Set when the attempt's latest row is a flood wait (a later row means it is over).
    pub flood_wait: Option<FloodWait>,
    pub end: Option<CollectionEnd>,
    /// Time of the latest channel boundary: the last `collection_progress`, else the start.
    pub last_boundary: Option<DateTime<Utc>>,
}

impl Attempt {
    fn new(pod: Option<String>) -> Self {
        Self {
            pod,
            ..Self::default()
        }
    }

    /// Messages this attempt stored: its `collection_end` total, else what its rows add up to.
    pub fn messages(&self) -> u64 {
        if let Some(end) = &self.end {
            return end.total_messages;
        }
        let done: u64 = self.done.iter().map(|d| d.messages).sum();
        done + self.current.as_ref().map_or(0, |c| c.messages)
    }

    /// Files this attempt downloaded, skipped and failed: its `collection_end` counts, else
    /// what its channels' rows add up to (a killed attempt's files are stored all the same).
    pub fn media(&self) -> MediaCounts {
        if let Some(end) = &self.end {
            return end.media;
        }
        let mut sum = MediaCounts::default();
        for done in &self.done {
            sum.add(&done.media);
        }
        sum
    }

    /// Channels done in this attempt: the collector's own count, never less than the rows seen.
    pub fn processed(&self) -> u32 {
        let seen = u32::try_from(self.done.len()).unwrap_or(u32::MAX);
        self.reported_processed.max(seen)
    }

    /// Channels that failed in this attempt.
    pub fn errors(&self) -> u32 {
        let seen = self.done.iter().filter(|d| d.error.is_some()).count();
        self.reported_errors
            .max(u32::try_from(seen).unwrap_or(u32::MAX))
    }

    fn is_done(&self, channel: &str) -> bool {
        self.done.iter().any(|d| d.name == channel)
    }

    fn apply(&mut self, event: &AuditEvent) {
        if !matches!(event, AuditEvent::FloodWait(_)) {
            self.flood_wait = None;
        }
        match event {
            AuditEvent::Start(start) => {
                self.started = Some(start.start_time);
                self.total_channels = Some(start.total_channels);
                self.last_boundary = Some(start.start_time);
            }
            AuditEvent::Progress(p) => {
                self.done.push(DoneChannel {
                    name: p.channel_name.clone(),
                    messages: p.messages_collected,
                    at: p.progress_time,
                    took: self.last_boundary.map(|b| p.progress_time - b),
                    error: p.error.clone(),
                    media: p.media,
                });
                self.reported_processed = p.channels_processed;
                self.reported_errors = p.errors;
                self.total_channels = Some(p.total_channels);
                self.last_boundary = Some(p.progress_time);
                self.current = None;
            }
            AuditEvent::ChannelProgress(p) => {
                if !self.is_done(&p.channel_name) {
                    self.current = Some(CurrentChannel {
                        name: p.channel_name.clone(),
                        messages: p.messages_collected,
                        remaining_estimate: p.remaining_estimate,
                        reported_at: Some(p.progress_time),
                    });
                }
            }
            AuditEvent::FloodWait(wait) => {
                // An empty name: a wait outside any channel (the session check).
                if !wait.channel_name.is_empty() && !self.is_done(&wait.channel_name) {
                    match &mut self.current {
                        Some(c) if c.name == wait.channel_name => {}
                        _ => {
                            self.current = Some(CurrentChannel {
                                name: wait.channel_name.clone(),
                                messages: 0,
                                remaining_estimate: None,
                                reported_at: None,
                            });
                        }
                    }
                }
                self.flood_wait = Some(wait.clone());
            }
            AuditEvent::End(end) => {
                self.end = Some(end.clone());
                self.current = None;
            }
        }
    }
}

/// A run's rows grouped by pod attempt, oldest attempt first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunLog {
    pub attempts: Vec<Attempt>,
    /// Rows this version could not parse (written by a newer collector); skipped.
    pub unreadable: usize,
}

impl RunLog {
    /// Splits `rows` (one run's rows, in id order as [`contract::audit::read_run`] returns them) into
    /// attempts. Each `collection_start` opens an attempt for its pod; later rows belong to
    /// the newest attempt of the same pod, so a dying pod's last rows never move the
    /// status of its replacement.
    pub fn from_rows(rows: &[AuditRow]) -> Self {
        let mut log = RunLog::default();
        let mut sorted: Vec<&AuditRow> = rows.iter().collect();
        sorted.sort_by_key(|r| r.id);
        for row in sorted {
            let Ok(event) = &row.event else {
                log.unreadable += 1;
                continue;
            };
            let index = if matches!(event, AuditEvent::Start(_)) {
                log.attempts.push(Attempt::new(row.pod_name.clone()));
                log.attempts.len() - 1
            } else {
                match log.attempt_of(row.pod_name.as_deref()) {
                    Some(i) => i,
                    None => {
                        // Rows without a start (its insert failed): an attempt of their own.
                        log.attempts.push(Attempt::new(row.pod_name.clone()));
                        log.attempts.len() - 1
                    }
                }
            };
            log.attempts[index].apply(event);
        }
        log
    }

    /// The newest attempt of `pod`; rows without a pod name go to the newest attempt.
    fn attempt_of(&self, pod: Option<&str>) -> Option<usize> {
        match pod {
            None => self.attempts.len().checked_sub(1),
            Some(pod) => self
                .attempts
                .iter()
                .rposition(|a| a.pod.as_deref() == Some(pod)),
        }
    }

    /// The attempt status follows: the one that started last.
    pub fn newest(&self) -> Option<&Attempt> {
        self.attempts
            .iter()
            .rev()
            .find(|a| a.started.is_some())
            .or(self.attempts.last())
    }

    /// When the run started: its first attempt's start.
    pub fn started(&self) -> Option<DateTime<Utc>> {
        self.attempts.iter().filter_map(|a| a.started).min()
    }

    /// Messages stored by the whole run: every attempt's messages (retries resume from
    /// checkpoints, so they do not count a message twice).
    pub fn messages(&self) -> u64 {
        self.attempts.iter().map(Attempt::messages).sum()
    }

    /// Files of the whole run: every attempt's. Each attempt's downloads are stored; a file
    /// one attempt skipped or failed and a retry meets again counts again.
    pub fn media(&self) -> MediaCounts {
        let mut sum = MediaCounts::default();
        for attempt in &self.attempts {
            sum.add(&attempt.media());
        }
        sum
    }
}

/// Seconds of flood waits in a run's rows: the sum of every `collection_flood_wait`'s
/// `seconds`, over all attempts (each attempt really waited). What Telegram asked for, not the
/// time elapsed, so the value does not change between two rows and needs no status patch.
pub fn flood_wait_seconds(rows: &[AuditRow]) -> i64 {
    let total: u64 = rows
        .iter()
        .filter_map(|row| match &row.event {
            Ok(AuditEvent::FloodWait(wait)) => Some(u64::from(wait.seconds)),
            _ => None,
        })
        .sum();
    i64::try_from(total).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod flood_wait_tests {
    use chrono::{DateTime, TimeDelta, Utc};
    use contract::audit::{ChannelProgress, FloodWait};

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_590_400 + secs, 0).unwrap()
    }

    fn row(id: i64, pod: &str, event: Result<AuditEvent, String>) -> AuditRow {
        AuditRow {
            id,
            timestamp: at(id),
            pod_name: Some(pod.into()),
            shard: None,
            event,
        }
    }

    fn wait(id: i64, pod: &str, seconds: u32) -> AuditRow {
        row(
            id,
            pod,
            Ok(AuditEvent::FloodWait(FloodWait {
                channel_name: "@durov".into(),
                seconds,
                until: at(id) + TimeDelta::seconds(i64::from(seconds)),
            })),
        )
    }

    #[test]
    fn no_rows_no_wait() {
        assert_eq!(flood_wait_seconds(&[]), 0);
    }

    #[test]
    fn every_wait_of_every_attempt_counts_and_nothing_else() {
        let rows = [
            wait(1, "pod-a", 30),
            row(
                2,
                "pod-a",
                Ok(AuditEvent::ChannelProgress(ChannelProgress {
                    channel_name: "@durov".into(),
                    messages_collected: 100,
                    remaining_estimate: None,
                    progress_time: at(2),
                })),
            ),
            row(3, "pod-a", Err("written by a newer collector".into())),
            // The retry waits again.
            wait(4, "pod-b", 420),
        ];
        assert_eq!(flood_wait_seconds(&rows), 450);
    }
}
