use contract::media::MediaCounts;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A run's id: the name of its Job, written on every audit row of the run.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct RunId(pub String);

impl RunId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RunId {
    fn from(name: &str) -> Self {
        Self(name.to_owned())
    }
}

impl From<String> for RunId {
    fn from(name: String) -> Self {
        Self(name)
    }
}

/// Most entries kept in `status.recentErrors`.
pub const MAX_RECENT_ERRORS: usize = 10;

/// Most entries kept in `status.recentRuns`.
pub const MAX_RECENT_RUNS: usize = 10;

/// Most entries of `status.shards` (one per session, at most `spec.sessions`' bound).
pub const MAX_SHARDS: usize = crate::spec::MAX_SESSIONS;

/// Condition types the operator sets (kstatus: `Ready` always, the others only while true).
pub mod condition {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
    /// True while the audit log cannot be read, so progress fields are not live.
    pub const PROGRESS_UNAVAILABLE: &str = "ProgressUnavailable";
}

/// Observed state of a `ChannelCollection`.
///
/// The eight progress fields keep the seed's names (camelCase) at the top level.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::no_null_in_enums)]
pub struct ChannelCollectionStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// kstatus conditions: `Ready`, and `Reconciling`/`Stalled` while true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub conditions: Vec<Condition>,

    /// The schedule in words, for `kubectl get` (`every 10m`, `0 3 * * * Europe/Berlin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,

    /// Idle, Starting, Collecting, Waiting (flood wait), Suspended or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<CollectionState>,

    /// Channels done out of channels in the current run, e.g. `3/10`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,

    /// Time left in the current run in words (`4m10s`), for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,

    /// Whether a run is going on now.
    #[serde(default)]
    pub currently_collecting: bool,

    /// The channel the current run is working on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_channel: Option<String>,

    /// Channels finished (or failed) in the current run.
    #[serde(default)]
    pub channels_processed: i32,

    /// Channels in the current run.
    #[serde(default)]
    pub channels_total: i32,

    /// Messages stored by the current run.
    #[serde(default)]
    pub messages_collected_current_run: i64,

    /// Channels that failed in the current run.
    #[serde(default)]
    pub errors_current_run: i32,

    /// Seconds of flood waits Telegram imposed on the current run so far (every attempt).
    #[serde(default)]
    pub flood_wait_seconds_current_run: i64,

    /// Files the current run downloaded, skipped and failed so far (`spec.media`; every
    /// attempt); unset while there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_current_run: Option<RunMedia>,

    /// When the current run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_start_time: Option<Time>,

    /// Seconds until the current run is expected to finish; null when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_time_remaining: Option<i64>,

    /// While in a flood wait: when Telegram lets the collector go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_until: Option<Time>,

    /// Name of the Job of the run in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_job: Option<RunId>,

    /// When the latest run was scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,

    /// When the latest successful run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,

    /// When the next run is due (RFC 3339); unset while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_time: Option<Time>,

    /// The last `collection.mtproto.dev/requestedAt` value acted upon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_requested_at: Option<String>,

    /// Summary of the latest finished run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunSummary>,

    /// Summaries of the latest finished runs, newest first (at most 10, one per Job);
    /// the first is `lastRun`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub recent_runs: Vec<RunSummary>,

    /// Latest channel errors, newest first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub recent_errors: Vec<RecentError>,

    /// Per account of a sharded run (`spec.sessions`), in index order (at most 20); empty
    /// for unsharded runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub shards: Vec<ShardStatus>,
}

/// What one index (one account) of a sharded run is doing.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShardStatus {
    /// The Job completion index.
    pub index: i32,
    /// Name of the index's session Secret (never its content).
    pub session: String,
    /// Starting, Collecting, Waiting (flood wait), Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ShardState>,
    /// The channel the index is working on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_channel: Option<String>,
    /// Channels the index finished (or failed).
    #[serde(default)]
    pub channels_processed: i32,
    /// Channels assigned to the index.
    #[serde(default)]
    pub channels_total: i32,
    /// Messages the index stored.
    #[serde(default)]
    pub messages: i64,
    /// Channels that failed on the index.
    #[serde(default)]
    pub errors: i32,
    /// Seconds until the index is expected to finish; unset when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_time_remaining: Option<i64>,
    /// Why the index failed, in `lastRun.reason`'s vocabulary: `SessionInvalid`, `Aborted`,
    /// `RetriesExhausted` or `NoCollectionEnd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What one index of a sharded run is doing.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardState {
    /// Its collector has not written `collection_start` yet.
    Starting,
    /// Collecting its channels.
    Collecting,
    /// Sleeping through a Telegram flood wait.
    Waiting,
    /// Finished its channels.
    Succeeded,
    /// Ended early (session invalid, stopped) or its pod failed.
    Failed,
}

/// What a collection is doing, as shown in `kubectl get`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectionState {
    /// No run in progress; waiting for the next one.
    Idle,
    /// A run's Job exists but its collector has not started collecting yet (no
    /// `collection_start` in the audit log): the pod is pending, pulling its image, or
    /// cannot start (the `Reconciling` condition says why).
    Starting,
    /// A run is collecting.
    Collecting,
    /// A run is sleeping through a Telegram flood wait.
    Waiting,
    /// `spec.suspend` is set and no run is active.
    Suspended,
    /// The latest run failed, or the collection cannot run as specified.
    Failed,
}

/// How a finished run ended.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunResult {
    /// The Job completed.
    Succeeded,
    /// The Job failed, was deleted, or the collector reported an early end.
    Failed,
}

/// Summary of one finished run.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The run's Job (also its run id).
    pub job: RunId,
    /// When the run started: its first attempt's `collection_start`, else the Job's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run ended: the collector's `collection_end`, else when Kubernetes saw the Job end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// `Succeeded` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
    /// Why a failed run failed: `SessionInvalid`, `Aborted`, `RetriesExhausted`,
    /// `NoCollectionEnd`, or Kubernetes' own (`DeadlineExceeded`, `JobDeleted`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail for `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Messages stored by the run, from the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<i64>,
    /// Channels collected without error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels_synced: Option<i32>,
    /// Channels in the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels_total: Option<i32>,
    /// Channels that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<i32>,
    /// Edited versions the run found (each kept beside the newest), from the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edits: Option<i64>,
    /// Messages the run found deleted (marked in the archive, never removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletions: Option<i64>,
    /// Files the run downloaded, skipped and failed (`spec.media`), from the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<RunMedia>,
}

/// What a run did with the files its messages carry (`spec.media`): the audit log's counts,
/// summed over every attempt and account.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RunMedia {
    /// Files downloaded and stored.
    #[serde(default)]
    pub files_downloaded: i64,
    /// Bytes of the files downloaded.
    #[serde(default)]
    pub bytes_downloaded: i64,
    /// Files skipped for being larger than `spec.media.maxFileSize`.
    #[serde(default)]
    pub files_skipped_too_big: i64,
    /// Files left for a later run once `spec.media.maxBytesPerRun` was spent.
    #[serde(default)]
    pub files_skipped_over_budget: i64,
    /// Bytes of the skipped files.
    #[serde(default)]
    pub bytes_skipped: i64,
    /// Files that could not be downloaded (the next run tries again).
    #[serde(default)]
    pub files_failed: i64,
}

impl RunMedia {
    /// Files skipped, for either reason.
    pub fn files_skipped(&self) -> i64 {
        self.files_skipped_too_big
            .saturating_add(self.files_skipped_over_budget)
    }
}

impl From<MediaCounts> for RunMedia {
    fn from(counts: MediaCounts) -> Self {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            files_downloaded: count(counts.files_downloaded),
            bytes_downloaded: count(counts.bytes_downloaded),
            files_skipped_too_big: count(counts.files_skipped_too_big),
            files_skipped_over_budget: count(counts.files_skipped_over_budget),
            bytes_skipped: count(counts.bytes_skipped),
            files_failed: count(counts.files_failed),
        }
    }
}

/// One channel's failure in a run.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecentError {
    /// The channel as the collector named it.
    pub channel: String,
    /// Stable machine-readable reason, e.g. `ChannelPrivate`, `FloodWait`.
    pub reason: String,
    /// Human-readable detail (at most 256 characters).
    pub message: String,
    /// When the channel failed.
    pub time: Time,
}
