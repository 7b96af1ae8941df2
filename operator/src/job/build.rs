//! The collector Job for one run, built purely from the collection and the scheduled time.
//!
//! This is the operator's half of the Job contract (docs/job-contract.md): command, env names,
//! the session file path. Secrets are only *referenced*
//! (secretKeyRef, a Secret volume); the kubelet injects them and the operator never reads one.

use std::collections::BTreeMap;

use super::media::{self, MediaJob};
use super::read::ShardPlan;
use crate::status::ChannelDurations;
use assignment::{ChannelLoad, Strategy};
use chrono::{DateTime, SecondsFormat, Utc};
use contract::channel;
use contract::job::{API_ID_KEY, SESSION_DIR, SESSION_FILE_NAME, annotation, env, exit, label};
use crds::{
    ChannelCollection, ChannelCollectionSpec, CollectorTemplate, MediaDestination, RunSession,
    SecretKeyRef,
};
use k8s_openapi::api::{
    batch::v1::{
        Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
        PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
    },
    core::v1::{
        Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath,
        ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, ProjectedVolumeSource,
        SeccompProfile, SecretKeySelector, SecretProjection, SecretVolumeSource, SecurityContext,
        Volume, VolumeMount, VolumeProjection,
    },
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{Resource, ResourceExt, api::ObjectMeta};
use sha2::{Digest, Sha256};

/// Name of the collector container.
pub const CONTAINER: &str = contract::job::CONTAINER;
/// UID/GID the collector runs as (distroless `nonroot`).
pub const RUN_AS: i64 = 65532;
/// The projected volume of a sharded run's sessions: `<index>/session`, `<index>/api_id`.
pub const SESSIONS_VOLUME: &str = "telegram-sessions";
/// File name of the api id inside [`SESSION_DIR`] of a sharded run's pod.
pub const API_ID_FILE: &str = "api_id";
/// The annotation Kubernetes puts the completion index in on every pod of an Indexed Job.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// Longest name a Job may have: its name becomes the pods' `job-name` label value.
pub const MAX_NAME: usize = 63;

/// Operator-wide settings a spec may leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDefaults {
    /// Collector image for collections without `spec.collector.image`.
    pub image: String,
    /// DATABASE_URL Secret key for collections without `spec.database`.
    pub database: Option<SecretKeyRef>,
    /// Where files go for collections whose `spec.media` names no destination.
    pub media_destination: Option<MediaDestination>,
}

/// Why a Job cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("collection has no {0} yet")]
    MissingMetadata(&'static str),
    #[error(
        "spec.database is unset and the operator has no default database Secret (--default-database-secret)"
    )]
    NoDatabase,
    #[error("exactly one of spec.session and spec.sessions must be set")]
    NoSession,
    #[error(
        "spec.media.destination is unset and the operator has no default media destination (the chart's media.destination, --media-destination)"
    )]
    NoMediaDestination,
    #[error("the media destination must set exactly one of s3 and directory")]
    MediaDestination,
    #[error("spec.media.{field} {value:?} is not a size such as 50Mi or 2G")]
    MediaSize { field: &'static str, value: String },
    #[error(
        "spec.collector.env must not set {0}: the operator sets it from the media destination's credentialsSecret"
    )]
    MediaEnv(String),
}

/// What `spec.media` adds to the Job (`None`: media is off), with the collection's own
/// destination or the operator's default; refuses a spec whose own `env` would override a
/// variable it sets.
pub fn media_of(
    spec: &ChannelCollectionSpec,
    defaults: &JobDefaults,
) -> Result<Option<MediaJob>, BuildError> {
    let Some(media) = &spec.media else {
        return Ok(None);
    };
    let resolved = media::resolve(media, defaults.media_destination.as_ref())?;
    let extra = spec.collector.as_ref().and_then(|c| c.env.as_ref());
    if let Some(var) = extra
        .into_iter()
        .flatten()
        .find(|v| resolved.env_names().contains(&v.name.as_str()))
    {
        return Err(BuildError::MediaEnv(var.name.clone()));
    }
    Ok(Some(resolved))
}

/// What a sharded run's assignment is made from; read once, when its Job is created.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardInputs<'a> {
    /// Per-channel durations of the collection's previous runs (the ETA's history).
    pub history: Option<&'a ChannelDurations>,
    /// The previous sharded run's indexes (its Job's assignment and session names).
    pub previous: &'a [ShardPlan],
}

/// The channels of `channels` each of `sessions` (Secret names, in index order) collects:
/// balanced by the channels' durations in `history`, a channel kept on the session that
/// collected it in `previous` when that costs little, a stable hash for channels without
/// history. Each index's channels keep the spec's order. Pure.
pub fn assign(
    channels: &[String],
    sessions: &[&str],
    history: Option<&ChannelDurations>,
    previous: &[ShardPlan],
) -> Vec<Vec<String>> {
    let keys: Vec<String> = channels.iter().map(|c| channel::key(c)).collect();
    let loads: Vec<ChannelLoad<'_>> = keys
        .iter()
        .map(|key| ChannelLoad {
            key,
            expected: history
                .and_then(|h| h.expected(key))
                .map(|d| d.as_seconds_f64()),
            previous: previous
                .iter()
                .find(|p| p.channels.iter().any(|c| channel::key(c) == *key))
                .and_then(|p| sessions.iter().position(|s| *s == p.session)),
        })
        .collect();
    assignment::assign(&loads, sessions.len().max(1), Strategy::Balanced)
        .into_iter()
        .map(|shard| shard.into_iter().map(|i| channels[i].clone()).collect())
        .collect()
}

/// `<collection>-<scheduled unix minutes>`, deterministic so a retry finds the same Job.
/// Too-long collection names are cut and made unique again with a short hash.
pub fn job_name(collection: &str, scheduled: DateTime<Utc>) -> String {
    let suffix = format!("-{}", scheduled.timestamp().div_euclid(60));
    if collection.len() + suffix.len() <= MAX_NAME {
        return format!("{collection}{suffix}");
    }
    let hash = short_hash(collection);
    let room = MAX_NAME - suffix.len() - hash.len() - 1;
    format!("{}-{hash}{suffix}", cut(collection, room))
}

/// The Job of a manual request: `<collection>-r<hash>`, where the hash covers the request's
/// value and the one handled before it. Deterministic for the request it serves (a retry or
/// a restarted operator finds the same Job and adopts it), and unrelated to the clock, so a
/// request in the minute of a scheduled run never collides with that run's Job. The previous
/// value tells a repeated value (`a`, `b`, `a`) apart from a retry of the same request.
pub fn manual_job_name(collection: &str, request: &ManualRequest<'_>) -> String {
    let key = format!("{}\n{}", request.previous.unwrap_or(""), request.value);
    let suffix = format!("-r{}", short_hash(&key));
    if collection.len() + suffix.len() <= MAX_NAME {
        return format!("{collection}{suffix}");
    }
    let hash = short_hash(collection);
    let room = MAX_NAME - suffix.len() - hash.len() - 1;
    format!("{}-{hash}{suffix}", cut(collection, room))
}

/// A manual run request (`collection.mtproto.dev/requestedAt`) a Job serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManualRequest<'a> {
    /// The annotation's value.
    pub value: &'a str,
    /// The value handled before it (`status.lastHandledRequestedAt`).
    pub previous: Option<&'a str>,
}

/// A label value for the collection name (at most 63 characters).
pub fn collection_label(collection: &str) -> String {
    if collection.len() <= MAX_NAME {
        return collection.to_string();
    }
    let hash = short_hash(collection);
    format!("{}-{hash}", cut(collection, MAX_NAME - hash.len() - 1))
}

fn short_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// A prefix of at most `max` bytes that still ends in a letter or digit.
fn cut(value: &str, max: usize) -> &str {
    let mut end = max.min(value.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
}

/// The Job for the run scheduled at `scheduled`, or for the manual request `request` (then
/// `scheduled` is when it was handled). A sharded spec's channels are assigned without
/// history (by hash); see [`build_with`].
pub fn build(
    cc: &ChannelCollection,
    defaults: &JobDefaults,
    scheduled: DateTime<Utc>,
    request: Option<&ManualRequest<'_>>,
) -> Result<Job, BuildError> {
    build_with(cc, defaults, scheduled, request, &ShardInputs::default())
}

/// [`build`], with what a sharded run's assignment is made from. An unsharded spec
/// (`spec.session`) ignores `shards` and gets today's Job; `spec.sessions` gets an Indexed
/// Job of one pod per session, as docs/sharding.md describes.
pub fn build_with(
    cc: &ChannelCollection,
    defaults: &JobDefaults,
    scheduled: DateTime<Utc>,
    request: Option<&ManualRequest<'_>>,
    shards: &ShardInputs<'_>,
) -> Result<Job, BuildError> {
    let name = cc
        .metadata
        .name
        .as_deref()
        .ok_or(BuildError::MissingMetadata("name"))?;
    let namespace = cc
        .metadata
        .namespace
        .as_deref()
        .ok_or(BuildError::MissingMetadata("namespace"))?;
    let mut owner = cc
        .controller_owner_ref(&())
        .ok_or(BuildError::MissingMetadata("uid"))?;
    // blockOwnerDeletion would need `update` on channelcollections/finalizers where the
    // OwnerReferencesPermissionEnforcement admission plugin runs; the Jobs are still
    // garbage-collected with their collection without it.
    owner.block_owner_deletion = None;
    let spec = &cc.spec;
    let job_name = match request {
        Some(request) => manual_job_name(name, request),
        None => job_name(name, scheduled),
    };
    let database = spec
        .database
        .as_ref()
        .map(|d| d.secret_ref.clone())
        .or_else(|| defaults.database.clone())
        .ok_or(BuildError::NoDatabase)?;
    let accounts = Accounts::of(cc, shards)?;
    let media = media_of(spec, defaults)?;
    let collector = spec.collector.clone().unwrap_or_default();

    let labels = BTreeMap::from([
        (label::COLLECTION.to_string(), collection_label(name)),
        (
            label::MANAGED_BY.to_string(),
            label::MANAGED_BY_OPERATOR.to_string(),
        ),
    ]);
    let mut annotations = BTreeMap::from([(
        annotation::SCHEDULED_AT.to_string(),
        scheduled.to_rfc3339_opts(SecondsFormat::Secs, true),
    )]);
    if let Some(request) = request {
        annotations.insert(
            annotation::REQUESTED_AT.to_string(),
            request.value.to_string(),
        );
    }
    annotations.extend(accounts.annotations());
    // The user's pod labels come first so ours win on a clash (selectors depend on them).
    let mut pod_labels = collector.pod_labels.clone().unwrap_or_default();
    pod_labels.extend(labels.clone());

    let env = collector_env(
        cc,
        namespace,
        &job_name,
        &database,
        &accounts,
        media.as_ref(),
        &collector,
    );
    let mut mounts = vec![accounts.mount(), tmp_mount()];
    let mut volumes = vec![accounts.volume(), tmp_volume()];
    mounts.extend(media.as_ref().and_then(MediaJob::mount));
    volumes.extend(media.as_ref().and_then(MediaJob::volume));
    let pod = PodSpec {
        containers: vec![container(&collector, defaults, env, mounts)],
        restart_policy: Some("Never".to_string()),
        // The collector talks to Telegram and PostgreSQL only; it never needs a token.
        automount_service_account_token: Some(false),
        service_account_name: collector.service_account_name.clone(),
        node_selector: collector.node_selector.clone(),
        tolerations: collector.tolerations.clone(),
        affinity: collector.affinity.clone(),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            // Makes the session file readable by the collector's group (mode 0440).
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(runtime_default()),
            ..Default::default()
        }),
        volumes: Some(volumes),
        ..Default::default()
    };
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: collector.pod_annotations.clone(),
            ..Default::default()
        }),
        spec: Some(pod),
    };

    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(job_spec(cc, &accounts, template)),
        status: None,
    })
}

/// The Telegram accounts a run collects on: the one session, or one Job index per session of
/// a sharded run with the channels each collects. What differs between the two lives here.
enum Accounts<'a> {
    One(RunSession<'a>),
    Sharded {
        sessions: Vec<RunSession<'a>>,
        /// The channels of each index, in index order.
        assignment: Vec<Vec<String>>,
    },
}

impl<'a> Accounts<'a> {
    fn of(cc: &'a ChannelCollection, shards: &ShardInputs<'_>) -> Result<Self, BuildError> {
        let spec = &cc.spec;
        let mut sessions = spec.run_sessions();
        if sessions.is_empty() {
            return Err(BuildError::NoSession);
        }
        if !spec.is_sharded() {
            return Ok(Self::One(sessions.swap_remove(0)));
        }
        let names: Vec<&str> = sessions.iter().map(|s| s.session.name.as_str()).collect();
        let assignment = assign(&spec.channels, &names, shards.history, shards.previous);
        Ok(Self::Sharded {
            sessions,
            assignment,
        })
    }

    /// Job indexes: 1 for an unsharded run.
    fn count(&self) -> i32 {
        match self {
            Self::One(_) => 1,
            Self::Sharded { sessions, .. } => i32::try_from(sessions.len()).unwrap_or(i32::MAX),
        }
    }

    /// A sharded Job records its session names in index order, so the next run can keep each
    /// channel on the account that collected it.
    fn annotations(&self) -> Option<(String, String)> {
        let Self::Sharded { sessions, .. } = self else {
            return None;
        };
        let names: Vec<&str> = sessions.iter().map(|s| s.session.name.as_str()).collect();
        Some((
            annotation::ASSIGNMENT_SESSIONS.to_string(),
            serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_string()),
        ))
    }

    /// Where the collector finds its api id and session.
    fn env(&self) -> Vec<EnvVar> {
        match self {
            Self::One(session) => vec![from_secret(
                env::API_ID,
                &session.api_credentials.name,
                API_ID_KEY,
            )],
            Self::Sharded {
                sessions,
                assignment,
            } => vec![
                plain(env::SHARD_COUNT, &sessions.len().to_string()),
                from_field(
                    env::SHARD_INDEX,
                    &format!("metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"),
                ),
                plain(
                    env::ASSIGNMENT,
                    &serde_json::to_string(assignment).unwrap_or_else(|_| "[]".to_string()),
                ),
                plain(
                    env::SESSION_FILE,
                    &format!("{SESSION_DIR}/{SESSION_FILE_NAME}"),
                ),
                plain(env::API_ID_FILE, &format!("{SESSION_DIR}/{API_ID_FILE}")),
            ],
        }
    }

    fn mount(&self) -> VolumeMount {
        match self {
            Self::One(_) => VolumeMount {
                name: "session".to_string(),
                mount_path: SESSION_DIR.to_string(),
                read_only: Some(true),
                ..Default::default()
            },
            // Each pod sees only its own index's directory of the projected volume.
            Self::Sharded { .. } => VolumeMount {
                name: SESSIONS_VOLUME.to_string(),
                mount_path: SESSION_DIR.to_string(),
                sub_path_expr: Some(format!("$({})", env::SHARD_INDEX)),
                read_only: Some(true),
                ..Default::default()
            },
        }
    }

    fn volume(&self) -> Volume {
        match self {
            Self::One(session) => session_volume(session),
            Self::Sharded { sessions, .. } => sessions_volume(sessions),
        }
    }
}

/// The collector's environment: the run, the spec, the database, the accounts, then the
/// spec's own variables (never one the operator sets).
fn collector_env(
    cc: &ChannelCollection,
    namespace: &str,
    job_name: &str,
    database: &SecretKeyRef,
    accounts: &Accounts<'_>,
    media: Option<&MediaJob>,
    collector: &CollectorTemplate,
) -> Vec<EnvVar> {
    let spec = &cc.spec;
    let channels = serde_json::to_string(&spec.channels).unwrap_or_else(|_| "[]".to_string());
    let limits = serde_json::to_string(&spec.limits.clone().unwrap_or_default())
        .unwrap_or_else(|_| "{}".to_string());
    let mut env = vec![
        plain(env::RUN_ID, job_name),
        plain(env::NAMESPACE, namespace),
        plain(env::NAME, &cc.name_any()),
        plain(env::CHANNELS, &channels),
        plain(env::LIMITS, &limits),
    ];
    env.extend(media.map(MediaJob::env).unwrap_or_default());
    env.push(from_secret(
        env::DATABASE_URL,
        &database.name,
        &database.key,
    ));
    env.extend(accounts.env());
    env.push(from_field(env::POD_NAME, "metadata.name"));
    env.extend(
        collector
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| !env::RESERVED.contains(&v.name.as_str()))
            .filter(|v| !media.is_some_and(|m| m.env_names().contains(&v.name.as_str()))),
    );
    env
}

fn container(
    collector: &CollectorTemplate,
    defaults: &JobDefaults,
    env: Vec<EnvVar>,
    mounts: Vec<VolumeMount>,
) -> Container {
    Container {
        name: CONTAINER.to_string(),
        image: Some(
            collector
                .image
                .clone()
                .unwrap_or_else(|| defaults.image.clone()),
        ),
        image_pull_policy: collector.image_pull_policy.clone(),
        command: Some(vec!["collector-job".to_string(), "collect".to_string()]),
        env: Some(env),
        resources: collector.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                ..Default::default()
            }),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            seccomp_profile: Some(runtime_default()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tmp_mount() -> VolumeMount {
    VolumeMount {
        name: "tmp".to_string(),
        mount_path: "/tmp".to_string(),
        ..Default::default()
    }
}

fn tmp_volume() -> Volume {
    Volume {
        name: "tmp".to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity("64Mi".to_string())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn job_spec(cc: &ChannelCollection, accounts: &Accounts<'_>, template: PodTemplateSpec) -> JobSpec {
    let spec = &cc.spec;
    let sharded = matches!(accounts, Accounts::Sharded { .. });
    JobSpec {
        active_deadline_seconds: spec
            .timeout
            .as_deref()
            .and_then(crate::schedule::parse_duration)
            .map(|d| d.num_seconds().max(1)),
        // Sharded: each index retries on its own where the server knows backoffLimitPerIndex;
        // older servers ignore it and share one budget of the same total.
        backoff_limit: Some(spec.backoff_limit.saturating_mul(accounts.count())),
        backoff_limit_per_index: sharded.then_some(spec.backoff_limit),
        completion_mode: sharded.then(|| "Indexed".to_string()),
        completions: sharded.then(|| accounts.count()),
        parallelism: sharded.then(|| accounts.count()),
        // A retried pod starts only after the old one is fully gone: two processes on one
        // Telegram session get it revoked.
        pod_replacement_policy: Some("Failed".to_string()),
        pod_failure_policy: Some(pod_failure_policy()),
        template,
        ..Default::default()
    }
}

/// Exit codes no retry can fix fail the Job at once; a pod disrupted by the cluster (drain,
/// preemption) is retried without counting against the backoff limit.
fn pod_failure_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "FailJob".to_string(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some(CONTAINER.to_string()),
                    operator: "In".to_string(),
                    values: exit::FATAL.iter().map(|&code| i32::from(code)).collect(),
                }),
                on_pod_conditions: None,
            },
            PodFailurePolicyRule {
                action: "Ignore".to_string(),
                on_exit_codes: None,
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".to_string(),
                    status: "True".to_string(),
                }]),
            },
        ],
    }
}

pub(super) fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}

pub(super) fn from_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
    }
}

fn from_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// The unsharded run's session: one Secret key as the file `session`.
fn session_volume(session: &RunSession<'_>) -> Volume {
    Volume {
        name: "session".to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(session.session.name.clone()),
            // Only the session key; nothing else in that Secret reaches the pod.
            items: Some(vec![KeyToPath {
                key: session.session.key.clone(),
                path: SESSION_FILE_NAME.to_string(),
                mode: None,
            }]),
            default_mode: Some(0o440),
            optional: Some(false),
        }),
        ..Default::default()
    }
}

/// A sharded run's sessions: for each index `i`, its session at `i/session` and its api id
/// at `i/api_id`; each pod mounts only its own `i/` (`subPathExpr`).
fn sessions_volume(sessions: &[RunSession<'_>]) -> Volume {
    let secret = |name: &str, key: &str, path: String| VolumeProjection {
        secret: Some(SecretProjection {
            name: name.to_string(),
            items: Some(vec![KeyToPath {
                key: key.to_string(),
                path,
                mode: None,
            }]),
            optional: Some(false),
        }),
        ..Default::default()
    };
    let sources = sessions
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            [
                secret(
                    &s.session.name,
                    &s.session.key,
                    format!("{i}/{SESSION_FILE_NAME}"),
                ),
                secret(
                    &s.api_credentials.name,
                    API_ID_KEY,
                    format!("{i}/{API_ID_FILE}"),
                ),
            ]
        })
        .collect();
    Volume {
        name: SESSIONS_VOLUME.to_string(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(sources),
            default_mode: Some(0o440),
        }),
        ..Default::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        localhost_profile: None,
    }
}

/// True when the Job was created for this collection object (not a namesake's leftover).
pub fn is_owned_by(job: &Job, cc: &ChannelCollection) -> bool {
    let Some(uid) = cc.uid() else { return false };
    job.owner_references().iter().any(|o| {
        o.controller == Some(true) && o.uid == uid && o.kind == ChannelCollection::kind(&())
    })
}
