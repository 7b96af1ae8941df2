//! Re-checks every rule of the CRD schema, the CEL rules included, plus what no schema
//! can express (cron syntax, time zone names, reserved env names).
//!
//! Clusters with CEL validation off accept specs that break the CEL rules, and older
//! objects may predate a schema change, so the operator never trusts the API server
//! alone. A violation is a user error: `Stalled`, a Warning Event, no retries.

use std::{collections::HashMap, fmt, sync::LazyLock};

use contract::channel::{self, ChannelRef};
use contract::media::{MediaKind, parse_size};
use crds::{
    ChannelCollectionSpec, DURATION_PATTERN, LOOKBACK_PATTERN, MAX_CHANNELS, MAX_SESSIONS,
    MediaDestination, MediaSpec, SECRET_NAME_PATTERN, SIZE_PATTERN, SecretKeyRef,
};
use regex::Regex;

use crate::schedule::{Cadence, parse_duration};

static CHANNEL_RE: LazyLock<Regex> = LazyLock::new(|| compile(channel::PATTERN));
static DURATION_RE: LazyLock<Regex> = LazyLock::new(|| compile(DURATION_PATTERN));
static LOOKBACK_RE: LazyLock<Regex> = LazyLock::new(|| compile(LOOKBACK_PATTERN));
static SECRET_NAME_RE: LazyLock<Regex> = LazyLock::new(|| compile(SECRET_NAME_PATTERN));
static SECRET_KEY_RE: LazyLock<Regex> = LazyLock::new(|| compile(r"^[-._a-zA-Z0-9]+$"));
static PULL_POLICY_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^(Always|IfNotPresent|Never)$"));
static SIZE_RE: LazyLock<Regex> = LazyLock::new(|| compile(SIZE_PATTERN));

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the CRD's patterns are valid regexes")
}

/// Every rule a spec breaks, in spec order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSpec(pub Vec<String>);

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for InvalidSpec {}

/// The spec's cadence if every rule holds, otherwise all violations.
///
/// Messages quote only spec values that are not secret (Secret names and keys, never
/// Secret contents, which the operator cannot read anyway).
pub fn validate(spec: &ChannelCollectionSpec) -> Result<Cadence, InvalidSpec> {
    let mut problems = Vec::new();

    if spec.channels.is_empty() || spec.channels.len() > MAX_CHANNELS {
        problems.push(format!(
            "spec.channels must list 1 to {MAX_CHANNELS} channels, not {}",
            spec.channels.len()
        ));
    }
    // Two spellings of one channel (`1006503122`, `-1001006503122`) are one channel.
    let mut seen = HashMap::new();
    for (i, channel) in spec.channels.iter().enumerate() {
        let parsed = (channel.len() <= channel::MAX_LEN && CHANNEL_RE.is_match(channel))
            .then(|| ChannelRef::parse(channel).ok())
            .flatten();
        match parsed {
            None => problems.push(format!(
                "spec.channels[{i}] {:?} is not @username, username, https://t.me/username or a channel id",
                truncate(channel)
            )),
            Some(reference) => {
                let first = *seen.entry(reference.key()).or_insert(i);
                if first != i {
                    problems.push(format!(
                        "spec.channels[{i}] {channel:?} names the same channel as spec.channels[{first}] {:?}",
                        spec.channels[first]
                    ));
                }
            }
        }
    }

    let cadence = Cadence::from_spec(spec)
        .map_err(|e| problems.push(e.to_string()))
        .ok();

    if let Some(timeout) = &spec.timeout
        && (timeout.len() > 32
            || !DURATION_RE.is_match(timeout)
            || parse_duration(timeout).is_none_or(|d| d <= chrono::TimeDelta::zero()))
    {
        problems.push(format!(
            "spec.timeout {:?} is not a positive duration such as 30m or 2h",
            truncate(timeout)
        ));
    }
    if let Some(deadline) = spec.starting_deadline_seconds
        && !(0..=86400).contains(&deadline)
    {
        problems.push(format!(
            "spec.startingDeadlineSeconds must be between 0 and 86400, not {deadline}"
        ));
    }
    range(
        &mut problems,
        "spec.successfulJobsHistoryLimit",
        spec.successful_jobs_history_limit,
        100,
    );
    range(
        &mut problems,
        "spec.failedJobsHistoryLimit",
        spec.failed_jobs_history_limit,
        100,
    );
    range(&mut problems, "spec.backoffLimit", spec.backoff_limit, 10);

    sessions(&mut problems, spec);
    secret_name(
        &mut problems,
        "spec.apiCredentials.secretRef.name",
        &spec.api_credentials.secret_ref.name,
    );
    if let Some(database) = &spec.database {
        secret_key_ref(
            &mut problems,
            "spec.database.secretRef",
            &database.secret_ref,
        );
    }

    if let Some(limits) = &spec.limits {
        if let Some(max) = limits.max_messages_per_channel
            && max < 1
        {
            problems.push(format!(
                "spec.limits.maxMessagesPerChannel must be at least 1, not {max}"
            ));
        }
        for (field, value) in [
            ("since", &limits.since),
            ("refreshWindow", &limits.refresh_window),
            ("deletionSweep", &limits.deletion_sweep),
        ] {
            if let Some(value) = value
                && (value.len() > 32 || !LOOKBACK_RE.is_match(value))
            {
                problems.push(format!(
                    "spec.limits.{field} {:?} is not a duration such as 30d or 72h",
                    truncate(value)
                ));
            }
        }
    }

    if let Some(media) = &spec.media {
        media_spec(&mut problems, media);
    }

    if let Some(collector) = &spec.collector {
        if let Some(policy) = &collector.image_pull_policy
            && !PULL_POLICY_RE.is_match(policy)
        {
            problems.push(format!(
                "spec.collector.imagePullPolicy {:?} is not Always, IfNotPresent or Never",
                truncate(policy)
            ));
        }
        if let Some(image) = &collector.image
            && (image.is_empty() || image.len() > 512)
        {
            problems.push("spec.collector.image must be 1 to 512 characters".to_string());
        }
        if collector.tolerations.as_ref().is_some_and(|t| t.len() > 32) {
            problems.push("spec.collector.tolerations may list at most 32 entries".to_string());
        }
        if let Some(env) = &collector.env {
            if env.len() > 64 {
                problems.push("spec.collector.env may list at most 64 variables".to_string());
            }
            for var in env
                .iter()
                .filter(|v| contract::job::env::RESERVED.contains(&v.name.as_str()))
            {
                problems.push(format!(
                    "spec.collector.env must not set {}: the operator sets it from the spec",
                    var.name
                ));
            }
        }
    }

    match (problems.is_empty(), cadence) {
        (true, Some(cadence)) => Ok(cadence),
        _ => Err(InvalidSpec(problems)),
    }
}

/// Exactly one of `spec.session` and `spec.sessions` (the CEL rule), each reference valid, no
/// session Secret key listed twice (two pods on one session get it revoked).
fn sessions(problems: &mut Vec<String>, spec: &ChannelCollectionSpec) {
    match (&spec.session, &spec.sessions) {
        (Some(_), Some(_)) | (None, None) => {
            problems.push("exactly one of spec.session and spec.sessions must be set".to_string())
        }
        _ => {}
    }
    if let Some(session) = &spec.session {
        secret_key_ref(problems, "spec.session.secretRef", &session.secret_ref);
    }
    let Some(sessions) = &spec.sessions else {
        return;
    };
    if sessions.is_empty() || sessions.len() > MAX_SESSIONS {
        problems.push(format!(
            "spec.sessions must list 1 to {MAX_SESSIONS} sessions, not {}",
            sessions.len()
        ));
    }
    for (i, session) in sessions.iter().enumerate() {
        secret_key_ref(
            problems,
            &format!("spec.sessions[{i}].secretRef"),
            &session.secret_ref,
        );
        if let Some(credentials) = &session.api_credentials {
            secret_name(
                problems,
                &format!("spec.sessions[{i}].apiCredentials.secretRef.name"),
                &credentials.secret_ref.name,
            );
        }
        if let Some(first) = sessions[..i]
            .iter()
            .position(|s| s.secret_ref == session.secret_ref)
        {
            problems.push(format!(
                "spec.sessions[{i}] repeats spec.sessions[{first}] (Secret {:?}, key {:?}): \
                 two pods on one Telegram session get it revoked",
                truncate(&session.secret_ref.name),
                truncate(&session.secret_ref.key)
            ));
        }
    }
}

/// `spec.media`: its schema (kinds, size patterns), its CEL rules (unique kinds, one
/// destination, a relative subPath) and sizes that fit in 64 bits, which the pattern alone
/// does not promise (`999999999999999Ti`). `newerThan` needs nothing more: it is parsed with
/// the object. Whether a destination is set at all depends on the operator's default
/// ([`crate::job::media`]).
fn media_spec(problems: &mut Vec<String>, media: &MediaSpec) {
    if media.kinds.is_empty() || media.kinds.len() > MediaKind::ALL.len() {
        problems.push(format!(
            "spec.media.kinds must list 1 to {} kinds, not {}",
            MediaKind::ALL.len(),
            media.kinds.len()
        ));
    }
    for (i, kind) in media.kinds.iter().enumerate() {
        if media.kinds[..i].contains(kind) {
            problems.push(format!(
                "spec.media.kinds must not list a kind twice ({} again at spec.media.kinds[{i}])",
                kind.as_str()
            ));
        }
    }
    for (field, value) in [
        ("maxFileSize", &media.max_file_size),
        ("maxBytesPerRun", &media.max_bytes_per_run),
    ] {
        if let Some(value) = value
            && (value.len() > 20 || !SIZE_RE.is_match(value) || parse_size(value).is_err())
        {
            problems.push(format!(
                "spec.media.{field} {:?} is not a size such as 50Mi or 2G (at most 16 EiB)",
                truncate(value)
            ));
        }
    }
    if let Some(destination) = &media.destination {
        problems.extend(media_destination("spec.media.destination", destination));
    }
}

/// What is wrong with a media destination named `field` (the spec's, or the operator's
/// default at start-up): the CRD's bounds and CEL rules, and an endpoint that is an http(s)
/// URL. Quotes only names, never anything a Secret holds.
pub fn media_destination(field: &str, destination: &MediaDestination) -> Vec<String> {
    let mut problems = Vec::new();
    match (&destination.s3, &destination.directory) {
        (Some(_), None) | (None, Some(_)) => {}
        _ => problems.push(format!("{field} must set exactly one of s3 and directory")),
    }
    if let Some(s3) = &destination.s3 {
        if !(3..=63).contains(&s3.bucket.len()) {
            problems.push(format!(
                "{field}.s3.bucket {:?} must be 3 to 63 characters",
                truncate(&s3.bucket)
            ));
        }
        for (name, value, max) in [
            ("prefix", &s3.prefix, 512),
            ("endpoint", &s3.endpoint, 2048),
            ("region", &s3.region, 64),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > max) {
                problems.push(format!(
                    "{field}.s3.{name} must be at most {max} characters"
                ));
            }
        }
        if let Some(endpoint) = &s3.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.push(format!(
                "{field}.s3.endpoint {:?} is not an http:// or https:// URL",
                truncate(endpoint)
            ));
        }
        if let Some(secret) = &s3.credentials_secret {
            secret_name(
                &mut problems,
                &format!("{field}.s3.credentialsSecret"),
                secret,
            );
        }
    }
    if let Some(directory) = &destination.directory {
        let claim = &directory.persistent_volume_claim;
        if claim.is_empty() || claim.len() > 253 || !SECRET_NAME_RE.is_match(claim) {
            problems.push(format!(
                "{field}.directory.persistentVolumeClaim {:?} is not a valid claim name",
                truncate(claim)
            ));
        }
        if let Some(sub_path) = &directory.sub_path
            && (sub_path.len() > 512
                || sub_path.starts_with('/')
                || sub_path.split('/').any(|part| part == ".."))
        {
            problems.push(format!(
                "{field}.directory.subPath {:?} must be a relative path without '..' of at most 512 characters",
                truncate(sub_path)
            ));
        }
    }
    problems
}

fn range(problems: &mut Vec<String>, field: &str, value: i32, max: i32) {
    if !(0..=max).contains(&value) {
        problems.push(format!("{field} must be between 0 and {max}, not {value}"));
    }
}

fn secret_name(problems: &mut Vec<String>, field: &str, name: &str) {
    if name.is_empty() || name.len() > 253 || !SECRET_NAME_RE.is_match(name) {
        problems.push(format!(
            "{field} {:?} is not a valid Secret name",
            truncate(name)
        ));
    }
}

fn secret_key_ref(problems: &mut Vec<String>, field: &str, r: &SecretKeyRef) {
    secret_name(problems, &format!("{field}.name"), &r.name);
    if r.key.is_empty() || r.key.len() > 253 || !SECRET_KEY_RE.is_match(&r.key) {
        problems.push(format!(
            "{field}.key {:?} is not a valid Secret key",
            truncate(&r.key)
        ));
    }
}

/// Keeps messages (and so Events and conditions) short whatever the user typed.
fn truncate(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_string(),
    }
}
