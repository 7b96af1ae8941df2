//! kstatus conditions: `Ready` always; `Reconciling`, `Stalled` and `ProgressUnavailable`
//! only while true.
//!
//! A condition keeps its `lastTransitionTime` while its status stays the same, so
//! rewriting an unchanged status is a no-op on the API server.

use chrono::{DateTime, Utc};
use crds::condition::{PROGRESS_UNAVAILABLE, READY, RECONCILING, STALLED};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::{pods::PodProblem, time::to_k8s};

/// How the collection is doing, as far as conditions tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Nothing runs until the spec (or what it names) changes: `reason` says why
    /// (`InvalidSpec`, `JobNotBuildable`, `JobNameTaken`).
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// The newest finished run failed and no run is active.
    RunFailed { message: String },
    /// A run's Job exists but its collector has not started collecting; `problem` says why its
    /// pod cannot start, when it cannot.
    RunStarting {
        job: String,
        problem: Option<PodProblem>,
    },
    /// `Replace`: the previous run is being torn down before the due one starts.
    Replacing { job: String },
    /// Working as specified; `reason` is the state (`Idle`, `Collecting`, `Suspended`).
    Healthy {
        reason: &'static str,
        message: String,
    },
}

/// The conditions for `health`, reusing transition times from `previous`.
pub fn conditions(
    previous: &[Condition],
    generation: Option<i64>,
    health: &Health,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let make = |type_: &str, status: bool, reason: &str, message: String| {
        condition(previous, generation, now, type_, status, reason, message)
    };

    match health {
        Health::Stalled { reason, message } => vec![
            make(READY, false, reason, message.clone()),
            make(STALLED, true, reason, message.clone()),
        ],
        Health::RunFailed { message } => vec![make(READY, false, "RunFailed", message.clone())],
        Health::RunStarting { job, problem } => {
            let (reason, message) = match problem {
                Some(problem) => (
                    condition_reason(&problem.reason),
                    format!("Job {job}: {}", problem.describe()),
                ),
                None => (
                    "RunStarting",
                    format!("waiting for the collector of Job {job} to start collecting"),
                ),
            };
            vec![
                make(READY, false, reason, message.clone()),
                make(RECONCILING, true, reason, message),
            ]
        }
        Health::Replacing { job } => {
            let message =
                format!("stopping Job {job} before the due run starts (concurrencyPolicy Replace)");
            vec![
                make(READY, false, "ReplacingRun", message.clone()),
                make(RECONCILING, true, "ReplacingRun", message),
            ]
        }
        Health::Healthy { reason, message } => vec![make(READY, true, reason, message.clone())],
    }
}

/// Kubernetes' reason when it is a valid condition reason (CamelCase), else `PodNotStarting`.
fn condition_reason(reason: &str) -> &str {
    let valid = reason.starts_with(|c: char| c.is_ascii_alphabetic())
        && reason.chars().all(|c| c.is_ascii_alphanumeric());
    if valid { reason } else { "PodNotStarting" }
}

/// What the audit log adds to the conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The last run ended because the Telegram session is unusable: `Stalled=True` and
    /// `Ready=False`, reason `SessionInvalid`, with this message.
    pub session_invalid: Option<&'a str>,
    /// Live progress cannot be read for the active run: `ProgressUnavailable=True` with
    /// this reason and message.
    pub unavailable: Option<(&'a str, &'a str)>,
}

/// `current` (from [`conditions`]) with what the audit log says on top. An invalid spec's
/// `Stalled` is kept: the spec has to be fixed first.
pub fn with_progress(
    mut current: Vec<Condition>,
    previous: &[Condition],
    generation: Option<i64>,
    progress: &Progress<'_>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let make = |type_: &str, status: bool, reason: &str, message: &str| {
        condition(
            previous,
            generation,
            now,
            type_,
            status,
            reason,
            message.to_string(),
        )
    };
    if let Some(message) = progress.session_invalid
        && !current.iter().any(|c| c.type_ == STALLED)
    {
        let reason = super::Failure::SessionInvalid.as_str();
        current.retain(|c| c.type_ != READY);
        current.insert(0, make(READY, false, reason, message));
        current.push(make(STALLED, true, reason, message));
    }
    if let Some((reason, message)) = progress.unavailable {
        current.push(make(PROGRESS_UNAVAILABLE, true, reason, message));
    }
    current
}

/// One condition, keeping its `lastTransitionTime` from `previous` while its status is the same.
fn condition(
    previous: &[Condition],
    generation: Option<i64>,
    now: DateTime<Utc>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| to_k8s(now));
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}
