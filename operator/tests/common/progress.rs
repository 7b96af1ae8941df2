//! Builders for collections, Jobs and scripted audit logs at fixed instants.
#![allow(dead_code)] // each test binary uses a different part

use chrono::{DateTime, TimeDelta, Utc};
use contract::audit::{
    AuditEvent, AuditRow, ChannelError, ChannelProgress, CollectionEnd, CollectionProgress,
    CollectionStart, EndReason, ErrorReason, FloodWait,
};
use contract::media::MediaCounts;
use crds::{ChannelCollection, ChannelCollectionStatus};
use k8s_openapi::api::batch::v1::Job;
use operator::job;
use operator::status::{AuditInput, Followed};

use crds::testing::TestCollection;
pub use crds::testing::t0;

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

fn rfc3339(secs: i64) -> String {
    at(secs).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The test collection with `channels`, in namespace `media`.
pub fn collection(channels: &[&str]) -> ChannelCollection {
    ChannelCollection::test()
        .channels(channels)
        .namespaced("media")
}

pub fn suspended(mut c: ChannelCollection) -> ChannelCollection {
    c.spec.suspend = true;
    c
}

pub fn with_status(mut c: ChannelCollection, status: ChannelCollectionStatus) -> ChannelCollection {
    c.status = Some(status);
    c
}

fn job(name: &str, status: serde_json::Value) -> Job {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "media"},
        "spec": {"template": {"spec": {"containers": [], "restartPolicy": "Never"}}},
        "status": status
    }))
    .unwrap()
}

/// A Job whose pod started at `start` and is running.
pub fn job_active(name: &str, start: i64) -> Job {
    job(
        name,
        serde_json::json!({"active": 1, "startTime": rfc3339(start)}),
    )
}

/// A Job created a moment ago: no status yet.
pub fn job_pending(name: &str) -> Job {
    job(name, serde_json::json!({}))
}

/// A Job that completed at `end`.
pub fn job_complete(name: &str, start: i64, end: i64) -> Job {
    job(
        name,
        serde_json::json!({
            "succeeded": 1, "startTime": rfc3339(start), "completionTime": rfc3339(end),
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": rfc3339(end)},
                {"type": "Complete", "status": "True", "lastTransitionTime": rfc3339(end)}
            ]
        }),
    )
}

/// A Job that failed at `end` with Kubernetes' `reason` (`DeadlineExceeded`, ...).
pub fn job_failed(name: &str, start: i64, end: i64, reason: &str, message: &str) -> Job {
    job(
        name,
        serde_json::json!({
            "failed": 1, "startTime": rfc3339(start),
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": reason, "message": message,
                 "lastTransitionTime": rfc3339(end)},
                {"type": "Failed", "status": "True", "reason": reason, "message": message,
                 "lastTransitionTime": rfc3339(end)}
            ]
        }),
    )
}

/// An audit log holding several runs' rows in one id sequence, as the table does.
#[derive(Default)]
pub struct Log {
    rows: Vec<(String, AuditRow)>,
}

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn write(&mut self, run: &str, pod: &str, secs: i64, event: AuditEvent) {
        self.write_in(run, pod, None, secs, event);
    }

    /// A row of index `shard` of a sharded run (`None`: unsharded).
    pub fn write_in(
        &mut self,
        run: &str,
        pod: &str,
        shard: Option<u32>,
        secs: i64,
        event: AuditEvent,
    ) {
        let id = self.rows.len() as i64 + 1;
        let row = AuditRow {
            id,
            timestamp: at(secs),
            pod_name: Some(pod.to_owned()),
            event: Ok(event),
            shard,
        };
        self.rows.push((run.to_owned(), row));
    }

    /// The rows of `run`, as `contract::audit::read_run` returns them.
    pub fn rows(&self, run: &str) -> Vec<AuditRow> {
        self.rows
            .iter()
            .filter(|(r, _)| r == run)
            .map(|(_, row)| row.clone())
            .collect()
    }

    /// Every row with its run id, in id order.
    pub fn all(&self) -> &[(String, AuditRow)] {
        &self.rows
    }
}

/// One pod attempt of a run, writing the collector's events with running counts.
pub struct Attempt {
    pub run: String,
    pub pod: String,
    /// The index of a sharded run that writes it; `None`: unsharded.
    pub shard: Option<u32>,
    pub total: u32,
    pub processed: u32,
    pub errors: u32,
    pub messages: u64,
    /// Edited versions and deletions the attempt reports at its end.
    pub edits: u64,
    pub deletions: u64,
    /// Files of the channels done so far, reported again at the end.
    pub media: MediaCounts,
}

impl Attempt {
    /// Writes `collection_start` at `secs`.
    pub fn start(log: &mut Log, run: &str, pod: &str, total: u32, secs: i64) -> Self {
        Self::start_in(log, run, pod, None, total, secs)
    }

    /// Writes `collection_start` of index `shard` at `secs`.
    pub fn start_in(
        log: &mut Log,
        run: &str,
        pod: &str,
        shard: Option<u32>,
        total: u32,
        secs: i64,
    ) -> Self {
        log.write_in(
            run,
            pod,
            shard,
            secs,
            AuditEvent::Start(CollectionStart {
                total_channels: total,
                start_time: at(secs),
            }),
        );
        Self {
            run: run.into(),
            pod: pod.into(),
            shard,
            total,
            processed: 0,
            errors: 0,
            messages: 0,
            edits: 0,
            deletions: 0,
            media: MediaCounts::default(),
        }
    }

    /// `channel` finished at `secs` with `messages` stored.
    pub fn done(&mut self, log: &mut Log, channel: &str, messages: u64, secs: i64) {
        self.progress(log, channel, messages, MediaCounts::default(), secs, None);
    }

    /// `channel` finished at `secs` with `messages` stored and `media` of its files.
    pub fn done_with_media(
        &mut self,
        log: &mut Log,
        channel: &str,
        messages: u64,
        media: MediaCounts,
        secs: i64,
    ) {
        self.progress(log, channel, messages, media, secs, None);
    }

    /// `channel` failed at `secs`.
    pub fn fail(
        &mut self,
        log: &mut Log,
        channel: &str,
        reason: ErrorReason,
        message: &str,
        secs: i64,
    ) {
        let error = ChannelError {
            reason,
            message: message.into(),
        };
        self.progress(log, channel, 0, MediaCounts::default(), secs, Some(error));
    }

    fn progress(
        &mut self,
        log: &mut Log,
        channel: &str,
        messages: u64,
        media: MediaCounts,
        secs: i64,
        error: Option<ChannelError>,
    ) {
        self.processed += 1;
        self.errors += u32::from(error.is_some());
        self.messages += messages;
        self.media.add(&media);
        let event = AuditEvent::Progress(CollectionProgress {
            edits_found: 0,
            deletions_found: 0,
            media,
            channel_name: channel.into(),
            messages_collected: messages,
            channels_processed: self.processed,
            total_channels: self.total,
            errors: self.errors,
            progress_time: at(secs),
            error,
        });
        log.write_in(&self.run, &self.pod, self.shard, secs, event);
    }

    /// Movement inside a long channel.
    pub fn inside(
        &self,
        log: &mut Log,
        channel: &str,
        messages: u64,
        remaining: Option<u64>,
        secs: i64,
    ) {
        let event = AuditEvent::ChannelProgress(ChannelProgress {
            channel_name: channel.into(),
            messages_collected: messages,
            remaining_estimate: remaining,
            progress_time: at(secs),
        });
        log.write_in(&self.run, &self.pod, self.shard, secs, event);
    }

    /// A flood wait of `seconds` starting at `secs`.
    pub fn flood(&self, log: &mut Log, channel: &str, seconds: u32, secs: i64) {
        let event = AuditEvent::FloodWait(FloodWait {
            channel_name: channel.into(),
            seconds,
            until: at(secs + i64::from(seconds)),
        });
        log.write_in(&self.run, &self.pod, self.shard, secs, event);
    }

    /// `collection_end` at `secs`.
    pub fn end(&self, log: &mut Log, secs: i64, reason: Option<EndReason>) {
        let event = AuditEvent::End(CollectionEnd {
            edits_found: self.edits,
            deletions_found: self.deletions,
            media: self.media,
            total_messages: self.messages,
            channels_synced: self.processed - self.errors,
            total_channels: self.total,
            errors: self.errors,
            end_time: at(secs),
            aborted: reason.is_some(),
            reason,
        });
        log.write_in(&self.run, &self.pod, self.shard, secs, event);
    }
}

/// A finished previous run of `channels`, each taking `durations[i]` seconds, starting at
/// `start`; returns its rows.
pub fn past_run(run: &str, channels: &[&str], durations: &[i64], start: i64) -> Vec<AuditRow> {
    let mut log = Log::new();
    let mut attempt = Attempt::start(
        &mut log,
        run,
        &format!("{run}-pod"),
        channels.len() as u32,
        start,
    );
    let mut t = start;
    for (channel, took) in channels.iter().zip(durations) {
        t += took;
        attempt.done(&mut log, channel, 10, t);
    }
    attempt.end(&mut log, t, None);
    log.rows(run)
}

/// Run `run` as the operator follows it: its Job (`None`: gone) read once for its phase.
pub fn tracked<'a>(run: &str, job: Option<&Job>, audit: AuditInput<'a>) -> Followed<'a> {
    Followed {
        id: run.into(),
        phase: job::phase(job),
        job_started: job.and_then(job::start_time),
        audit,
        shards: &[],
    }
}

/// The seed's ETA, kept for comparison: elapsed time per channel done, times the channels
/// left; `None` before the first channel is done.
pub fn flat_average(
    attempt: &operator::status::runlog::Attempt,
    now: DateTime<Utc>,
) -> Option<TimeDelta> {
    let started = attempt.started?;
    let total = attempt.total_channels?;
    let processed = attempt.processed();
    if processed == 0 {
        return None;
    }
    let per_channel = (now - started).as_seconds_f64() / f64::from(processed);
    let secs = per_channel * f64::from(total.saturating_sub(processed));
    Some(TimeDelta::milliseconds((secs * 1000.0).round() as i64))
}

/// Both reads a run's status needs: its rows and its collection's per-channel history.
pub async fn read_snapshot(
    pool: &sqlx::PgPool,
    namespace: &str,
    name: &str,
    run: &crds::RunId,
    limits: contract::audit::PastRunLimits,
) -> Result<operator::status::AuditSnapshot, operator::status::ReadError> {
    use operator::status::reader::{read_durations, read_run_rows};
    Ok(operator::status::AuditSnapshot {
        rows: read_run_rows(pool, run).await?,
        history: read_durations(pool, namespace, name, run, limits).await?,
    })
}
