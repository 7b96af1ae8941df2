use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use contract::limits::{CollectionLimits, LOOKBACK_PATTERN};
pub use contract::media::{
    DirectoryDestination, MediaDestination, MediaKind, MediaSpec, S3Destination, SIZE_PATTERN,
};

use crate::status::ChannelCollectionStatus;

/// A Go-style duration made of whole units, e.g. `10m`, `1h30m`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(s|m|h))+$";

/// A Kubernetes object name (RFC 1123 subdomain) for Secret references.
pub const SECRET_NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";

/// Most channels one collection may hold; each run walks them all on one session.
pub const MAX_CHANNELS: usize = 500;

/// Most Telegram accounts (`spec.sessions`) one collection may run on; one Job index each.
pub const MAX_SESSIONS: usize = 20;

/// Collects the history of Telegram channels into PostgreSQL on a schedule.
// Each `printcolumn(...)` repeats the same keys, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "collection.mtproto.dev",
    version = "v1alpha1",
    kind = "ChannelCollection",
    plural = "channelcollections",
    shortname = "chc",
    namespaced,
    status = "ChannelCollectionStatus",
    derive = "PartialEq",
    doc = "Collects Telegram channel history into PostgreSQL on a schedule and reports each run's progress.",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".status.schedule"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Progress", type_ = "string", json_path = ".status.progress"),
    printcolumn(
        name = "Messages",
        type_ = "integer",
        json_path = ".status.messagesCollectedCurrentRun"
    ),
    printcolumn(
        name = "Errors",
        type_ = "integer",
        json_path = ".status.errorsCurrentRun"
    ),
    printcolumn(name = "ETA", type_ = "string", json_path = ".status.eta"),
    printcolumn(
        name = "Last Run",
        type_ = "date",
        json_path = ".status.lastScheduleTime"
    ),
    printcolumn(
        name = "Next Run",
        type_ = "string",
        json_path = ".status.nextRunTime",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "(has(self.interval) && !has(self.schedule)) || (!has(self.interval) && has(self.schedule))"
).message("exactly one of spec.interval and spec.schedule must be set"))]
#[x_kube(validation = Rule::new("!has(self.timeZone) || has(self.schedule)")
    .message("spec.timeZone only applies to spec.schedule"))]
#[x_kube(validation = Rule::new(
    "(has(self.session) && !has(self.sessions)) || (!has(self.session) && has(self.sessions))"
).message("exactly one of spec.session and spec.sessions must be set"))]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::no_null_in_enums)]
pub struct ChannelCollectionSpec {
    /// Channels to collect: `@username`, `username`, `https://t.me/username` or a numeric id.
    #[schemars(length(min = 1, max = 500), inner(length(max = 64), regex(pattern = contract::channel::PATTERN)))]
    pub channels: Vec<String>,

    /// Run every so often, as a Go-style duration (`10m`, `1h30m`); at least one minute.
    /// Exactly one of `interval` and `schedule` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m')")
        .message("spec.interval must be at least 1m"))]
    pub interval: Option<String>,

    /// Run on a cron schedule (five fields, or a `@hourly`-style macro).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub schedule: Option<String>,

    /// IANA time zone for `schedule` (e.g. `Europe/Berlin`); UTC when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,

    /// Stop starting new runs; a run in progress is left to finish.
    #[serde(default)]
    pub suspend: bool,

    /// A run that could not start within this many seconds of its time is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub starting_deadline_seconds: Option<i64>,

    /// Finished successful Jobs to keep.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_jobs_history_limit: i32,

    /// Finished failed Jobs to keep.
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_jobs_history_limit: i32,

    /// Longest a run may take (the Job's activeDeadlineSeconds), as a Go-style duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,

    /// Pod retries before a run counts as failed.
    #[serde(default = "default_backoff_limit")]
    #[schemars(range(min = 0, max = 10))]
    pub backoff_limit: i32,

    /// What to do when a run is due while another is still active.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// The Telegram session blob made by `collector-job login`. Exactly one of `session` and
    /// `sessions` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionSource>,

    /// Several Telegram accounts (1 to 20): each run is one Indexed Job with one pod per
    /// session, each collecting its share of the channels. Exactly one of `session` and
    /// `sessions` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(validation = Rule::new(
        "self.all(a, self.exists_one(b, b.secretRef.name == a.secretRef.name && b.secretRef.key == a.secretRef.key))"
    ).message("spec.sessions must not list the same session Secret key twice"))]
    pub sessions: Option<Vec<ShardSession>>,

    /// The Secret holding `api_id` and `api_hash` (of every session without its own).
    pub api_credentials: ApiCredentials,

    /// Where to store messages; the operator-wide default database when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSource>,

    /// How the collector pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<CollectorTemplate>,

    /// Bounds on what one run collects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<CollectionLimits>,

    /// Download the files messages carry (photos, videos, documents, ...) into object storage
    /// or a volume; off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(
        "!has(self.destination) || (has(self.destination.s3) && !has(self.destination.directory)) || (!has(self.destination.s3) && has(self.destination.directory))"
    ).message("spec.media.destination must set exactly one of s3 and directory"))]
    #[x_kube(validation = Rule::new("self.kinds.all(k, self.kinds.exists_one(j, j == k))")
        .message("spec.media.kinds must not list a kind twice"))]
    #[x_kube(validation = Rule::new(
        "!has(self.destination) || !has(self.destination.directory) || !has(self.destination.directory.subPath) || !self.destination.directory.subPath.matches('^/|(^|/)[.][.](/|$)')"
    ).message("spec.media.destination.directory.subPath must be a relative path without '..'"))]
    pub media: Option<MediaSpec>,
}

fn default_successful_history() -> i32 {
    3
}

fn default_failed_history() -> i32 {
    1
}

fn default_backoff_limit() -> i32 {
    2
}

/// Concurrency policy. There is no `Allow`: two processes on one Telegram session
/// get it revoked (AUTH_KEY_DUPLICATED).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConcurrencyPolicy {
    /// Skip a due run while another is active.
    #[default]
    Forbid,
    /// Stop the active run and start the due one.
    Replace,
}

/// A key of a Secret in the collection's namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_NAME_PATTERN))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// A Secret in the collection's namespace, used whole.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_NAME_PATTERN))]
    pub name: String,
}

/// Where the Telegram session blob comes from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionSource {
    /// Secret key holding the session blob.
    pub secret_ref: SecretKeyRef,
}

/// One account of a sharded collection (`spec.sessions`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ShardSession {
    /// Secret key holding this account's session blob.
    pub secret_ref: SecretKeyRef,
    /// This account's API credentials; `spec.apiCredentials` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_credentials: Option<ApiCredentials>,
}

/// One account a run collects on: its session and its API credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSession<'a> {
    /// The session blob's Secret key.
    pub session: &'a SecretKeyRef,
    /// The Secret with `api_id` and `api_hash`.
    pub api_credentials: &'a SecretRef,
}

impl ChannelCollectionSpec {
    /// Whether runs are sharded: `spec.sessions` is set (even with one entry).
    pub fn is_sharded(&self) -> bool {
        self.sessions.is_some()
    }

    /// The accounts a run collects on, in index order: `spec.sessions`, else `spec.session`
    /// alone. Empty only for a spec that sets neither (the operator stalls it).
    pub fn run_sessions(&self) -> Vec<RunSession<'_>> {
        match (&self.sessions, &self.session) {
            (Some(sessions), _) => sessions
                .iter()
                .map(|s| RunSession {
                    session: &s.secret_ref,
                    api_credentials: &s
                        .api_credentials
                        .as_ref()
                        .unwrap_or(&self.api_credentials)
                        .secret_ref,
                })
                .collect(),
            (None, Some(session)) => vec![RunSession {
                session: &session.secret_ref,
                api_credentials: &self.api_credentials.secret_ref,
            }],
            (None, None) => Vec::new(),
        }
    }
}

/// Where the Telegram API credentials come from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiCredentials {
    /// Secret with the keys `api_id` and `api_hash`.
    pub secret_ref: SecretRef,
}

/// Where the database URL comes from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSource {
    /// Secret key holding a `postgres://` DATABASE_URL.
    pub secret_ref: SecretKeyRef,
}

/// Pod settings for the collector Jobs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectorTemplate {
    /// Collector image; the operator's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(Always|IfNotPresent|Never)$"))]
    pub image_pull_policy: Option<String>,
    /// Resource requests and limits of the collector container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node selector of the collector pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the collector pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub tolerations: Option<Vec<Toleration>>,
    /// Affinity of the collector pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Service account of the collector pods (its token is never mounted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// Extra environment variables of the collector container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub env: Option<Vec<EnvVar>>,
    /// Extra labels of the collector pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_labels: Option<BTreeMap<String, String>>,
    /// Extra annotations of the collector pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_annotations: Option<BTreeMap<String, String>>,
}
