//! kstatus conditions: `Ready` always; `Reconciling` and `Stalled` only while true.
//!
//! A condition keeps its `lastTransitionTime` while its status stays the same, so
//! rewriting an unchanged status is a no-op on the API server.

use chrono::{DateTime, Utc};
use crds::condition::{READY, RECONCILING, STALLED};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::time::to_k8s;

/// How the collection is doing, as far as conditions tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The spec breaks a rule; nothing runs until it changes.
    Invalid { message: String },
    /// The newest finished run failed and no run is active.
    RunFailed { message: String },
    /// A run's Job exists but its collector pod is not running yet.
    RunStarting { job: String },
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
    };

    match health {
        Health::Invalid { message } => vec![
            make(READY, false, "InvalidSpec", message.clone()),
            make(STALLED, true, "InvalidSpec", message.clone()),
        ],
        Health::RunFailed { message } => vec![make(READY, false, "RunFailed", message.clone())],
        Health::RunStarting { job } => {
            let message = format!("waiting for the collector pod of Job {job} to run");
            vec![
                make(READY, false, "RunStarting", message.clone()),
                make(RECONCILING, true, "RunStarting", message),
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
