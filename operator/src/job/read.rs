//! What Kubernetes says about a run's Job, reduced to what status derivation needs.

use chrono::{DateTime, Utc};
use contract::job::{annotation, env::ASSIGNMENT};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::EnvVar;

use crate::time::from_k8s;

/// Reason recorded when a run's Job disappeared before its outcome was known.
pub const JOB_DELETED: &str = "JobDeleted";

/// What the operator planned for one index of a sharded run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardPlan {
    /// Name of the index's session Secret.
    pub session: String,
    /// The channels assigned to it, as written in the spec, in the order it collects them;
    /// empty when unknown (the Job's env was not available).
    pub channels: Vec<String>,
    /// Kubernetes counts the index as failed: out of its own retries (`status.failedIndexes`,
    /// on servers with `backoffLimitPerIndex`), while the other indexes may still run.
    pub failed: bool,
}

/// The `COLLECTOR_ASSIGNMENT` env of a sharded run's Job (which channels each index collects).
pub fn assignment_env(job: &Job) -> Option<&EnvVar> {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .into_iter()
        .flat_map(|p| &p.containers)
        .flat_map(|c| c.env.iter().flatten())
        .find(|e| e.name == ASSIGNMENT && e.value.is_some())
}

/// The shards of `job`, in index order: its [`annotation::ASSIGNMENT_SESSIONS`] and its
/// container's [`ASSIGNMENT`]. Empty for an unsharded run's Job.
pub fn shard_plan(job: &Job) -> Vec<ShardPlan> {
    let Some(sessions) = job
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotation::ASSIGNMENT_SESSIONS))
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
    else {
        return Vec::new();
    };
    let assignment: Vec<Vec<String>> = assignment_env(job)
        .and_then(|e| e.value.as_deref())
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    let failed = job
        .status
        .as_ref()
        .and_then(|s| s.failed_indexes.as_deref())
        .map(parse_indexes)
        .unwrap_or_default();
    sessions
        .into_iter()
        .enumerate()
        .map(|(i, session)| ShardPlan {
            session,
            channels: assignment.get(i).cloned().unwrap_or_default(),
            failed: failed.contains(&i),
        })
        .collect()
}

/// The indexes of a Job status' index list (`1,3-5`); malformed parts are skipped.
fn parse_indexes(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(from), Ok(to)) = (from.parse::<usize>(), to.parse::<usize>()) {
            // Bounded: a Job has at most 20 indexes here.
            out.extend((from..=to.min(from + 100)).take(101));
        }
    }
    out
}

/// The phase of a run's Job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// Pods are (or will be) running: the run is going on. `ready` once a collector pod runs.
    Active { ready: bool },
    /// The Job completed (`Complete` or `SuccessCriteriaMet`).
    Succeeded {
        /// When Kubernetes says it completed.
        at: Option<DateTime<Utc>>,
    },
    /// The Job failed (`Failed` or `FailureTarget`), or is being deleted.
    Failed {
        /// Kubernetes' reason, e.g. `DeadlineExceeded`, `BackoffLimitExceeded`, or
        /// [`JOB_DELETED`].
        reason: String,
        /// Kubernetes' message for `reason`, when it gave one.
        message: Option<String>,
        /// When it failed.
        at: Option<DateTime<Utc>>,
    },
}

/// The phase of `job`; `None` (the Job is gone) is a failed run with reason [`JOB_DELETED`].
pub fn phase(job: Option<&Job>) -> JobPhase {
    let Some(job) = job else {
        return JobPhase::Failed {
            reason: JOB_DELETED.to_owned(),
            message: None,
            at: None,
        };
    };
    let status = job.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let is_true = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };

    // FailureTarget/SuccessCriteriaMet come first on Kubernetes >= 1.31, while the last pods
    // terminate; the outcome is already decided then.
    if let Some(c) = is_true("Failed").or_else(|| is_true("FailureTarget")) {
        return JobPhase::Failed {
            reason: c
                .reason
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "JobFailed".into()),
            message: c.message.clone().filter(|m| !m.is_empty()),
            at: c.last_transition_time.as_ref().map(from_k8s),
        };
    }
    if let Some(c) = is_true("Complete").or_else(|| is_true("SuccessCriteriaMet")) {
        let at = status
            .and_then(|s| s.completion_time.as_ref())
            .or(c.last_transition_time.as_ref());
        return JobPhase::Succeeded {
            at: at.map(from_k8s),
        };
    }
    if let Some(deleted) = &job.metadata.deletion_timestamp {
        return JobPhase::Failed {
            reason: JOB_DELETED.to_owned(),
            message: Some("the Job is being deleted".into()),
            at: Some(from_k8s(deleted)),
        };
    }
    // `ready` is missing before Kubernetes 1.24's JobReadyPods; fall back to `active`.
    let ready = match status.and_then(|s| s.ready) {
        Some(ready) => ready > 0,
        None => status.and_then(|s| s.active).unwrap_or(0) > 0,
    };
    JobPhase::Active { ready }
}

/// Whether the Job's pods are gone: it has its final `Complete` or `Failed` condition. Until
/// then (an outcome decided with `FailureTarget`/`SuccessCriteriaMet`, or a deletion in
/// progress) a pod may still hold the Telegram session.
pub fn pods_gone(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

/// When the Job's first pod started, per Kubernetes.
pub fn start_time(job: &Job) -> Option<DateTime<Utc>> {
    job.status.as_ref()?.start_time.as_ref().map(from_k8s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(value: serde_json::Value) -> Job {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn shard_plans_come_from_the_annotation_and_the_assignment_env() {
        let sharded = job(serde_json::json!({
            "metadata": {"name": "j", "annotations": {
                annotation::ASSIGNMENT_SESSIONS: r#"["tg-a","tg-b"]"#}},
            "spec": {"template": {"spec": {"containers": [{"name": "collector", "env": [
                {"name": "COLLECTOR_CHANNELS", "value": r#"["@a","@b","@c"]"#},
                {"name": ASSIGNMENT, "value": r#"[["@a","@c"],["@b"]]"#}]}]}}}
        }));
        assert_eq!(
            shard_plan(&sharded),
            [
                ShardPlan {
                    session: "tg-a".into(),
                    channels: vec!["@a".into(), "@c".into()],
                    failed: false,
                },
                ShardPlan {
                    session: "tg-b".into(),
                    channels: vec!["@b".into()],
                    failed: false,
                },
            ]
        );
        // Without the env (a cache that dropped it): the sessions still name the indexes; and
        // Kubernetes' failed indexes are marked.
        let mut bare = sharded.clone();
        bare.spec = None;
        bare.status =
            Some(serde_json::from_value(serde_json::json!({"failedIndexes": "1,3-4"})).unwrap());
        assert_eq!(parse_indexes("1,3-4"), [1, 3, 4]);
        assert_eq!(parse_indexes(""), Vec::<usize>::new());
        assert_eq!(parse_indexes("x,2"), [2]);
        assert_eq!(
            shard_plan(&bare),
            [
                ShardPlan {
                    session: "tg-a".into(),
                    channels: vec![],
                    failed: false,
                },
                ShardPlan {
                    session: "tg-b".into(),
                    channels: vec![],
                    failed: true,
                },
            ]
        );
        assert_eq!(
            shard_plan(&job(serde_json::json!({"metadata": {"name": "j"}}))),
            []
        );
    }

    #[test]
    fn phases() {
        let t = "2026-11-28T10:00:00Z";
        let at = Some(DateTime::parse_from_rfc3339(t).unwrap().to_utc());
        let cases = [
            (
                "no status yet",
                serde_json::json!({"metadata": {"name": "j"}}),
                JobPhase::Active { ready: false },
            ),
            (
                "pod started, not ready",
                serde_json::json!({"metadata": {"name": "j"}, "status": {"active": 1, "ready": 0}}),
                JobPhase::Active { ready: false },
            ),
            (
                "running",
                serde_json::json!({"metadata": {"name": "j"}, "status": {"active": 1}}),
                JobPhase::Active { ready: true },
            ),
            (
                "success decided, pods still terminating",
                serde_json::json!({"metadata": {"name": "j"}, "status": {"conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": t}]}}),
                JobPhase::Succeeded { at },
            ),
            (
                "failure decided, pods still terminating",
                serde_json::json!({"metadata": {"name": "j"}, "status": {"conditions": [
                    {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
                     "message": "too long", "lastTransitionTime": t}]}}),
                JobPhase::Failed {
                    reason: "DeadlineExceeded".into(),
                    message: Some("too long".into()),
                    at,
                },
            ),
            (
                "a condition that is not true does not count",
                serde_json::json!({"metadata": {"name": "j"}, "status": {"active": 1, "conditions": [
                    {"type": "Failed", "status": "False", "reason": "X"}]}}),
                JobPhase::Active { ready: true },
            ),
            (
                "being deleted",
                serde_json::json!({"metadata": {"name": "j", "deletionTimestamp": t},
                                   "status": {"active": 1}}),
                JobPhase::Failed {
                    reason: JOB_DELETED.into(),
                    message: Some("the Job is being deleted".into()),
                    at,
                },
            ),
        ];
        for (name, value, expected) in cases {
            assert_eq!(phase(Some(&job(value))), expected, "{name}");
        }
        assert!(matches!(phase(None), JobPhase::Failed { reason, .. } if reason == JOB_DELETED));
    }
}
