//! Why a run's pod cannot start, read from the pod's status (pure).
//!
//! A Job counts a pod as active from the moment it exists, so a pod that is unschedulable,
//! pulling its image for ever, or failing `CreateContainerConfigError` because a Secret is
//! missing would otherwise look like a run in progress until the Job's deadline.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

/// Waiting reasons that are a normal step of starting, not a problem.
const STARTING_STEPS: [&str; 2] = ["ContainerCreating", "PodInitializing"];

/// Why a pod of the run does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    /// The pod.
    pub pod: String,
    /// Kubernetes' reason, e.g. `CreateContainerConfigError`, `ImagePullBackOff`, `Unschedulable`.
    pub reason: String,
    /// Kubernetes' message, e.g. `secret "telegram-session" not found`.
    pub message: String,
}

impl PodProblem {
    /// One line for a condition or an Event.
    pub fn describe(&self) -> String {
        if self.message.is_empty() {
            format!("pod {} cannot start: {}", self.pod, self.reason)
        } else {
            format!(
                "pod {} cannot start: {}: {}",
                self.pod, self.reason, self.message
            )
        }
    }
}

/// The problem of the newest of `pods` (a Job's pods) that has one.
pub fn problem<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Option<PodProblem> {
    let mut pods: Vec<&Pod> = pods.into_iter().collect();
    pods.sort_by_key(|p| std::cmp::Reverse(p.creation_timestamp()));
    pods.into_iter().find_map(of_pod)
}

fn of_pod(pod: &Pod) -> Option<PodProblem> {
    let status = pod.status.as_ref()?;
    let make = |reason: &str, message: &str| PodProblem {
        pod: pod.name_any(),
        reason: reason.to_string(),
        message: message.to_string(),
    };
    let waiting = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
        .find(|w| {
            w.reason
                .as_deref()
                .is_some_and(|r| !STARTING_STEPS.contains(&r))
        });
    if let Some(waiting) = waiting {
        return Some(make(
            waiting.reason.as_deref().unwrap_or_default(),
            waiting.message.as_deref().unwrap_or_default(),
        ));
    }
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| {
            make(
                c.reason.as_deref().unwrap_or("Unschedulable"),
                c.message.as_deref().unwrap_or_default(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, created: &str, status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "status": status
        }))
        .unwrap()
    }

    fn waiting(reason: &str, message: &str) -> serde_json::Value {
        serde_json::json!({"phase": "Pending", "containerStatuses": [{
            "name": "collector", "image": "c", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}
        }]})
    }

    #[test]
    fn problems_of_pods_that_cannot_start() {
        let t = "2026-11-28T12:00:00Z";
        let cases = [
            (
                "missing Secret",
                vec![pod(
                    "p",
                    t,
                    waiting(
                        "CreateContainerConfigError",
                        "secret \"telegram-session\" not found",
                    ),
                )],
                Some((
                    "CreateContainerConfigError",
                    "secret \"telegram-session\" not found",
                )),
            ),
            (
                "image that cannot be pulled",
                vec![pod(
                    "p",
                    t,
                    waiting("ImagePullBackOff", "Back-off pulling image \"x\""),
                )],
                Some(("ImagePullBackOff", "Back-off pulling image \"x\"")),
            ),
            (
                "creating the container is a normal step",
                vec![pod("p", t, waiting("ContainerCreating", ""))],
                None,
            ),
            (
                "unschedulable",
                vec![pod(
                    "p",
                    t,
                    serde_json::json!({"phase": "Pending", "conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient memory."}]}),
                )],
                Some((
                    "Unschedulable",
                    "0/3 nodes are available: 3 Insufficient memory.",
                )),
            ),
            (
                "running",
                vec![pod(
                    "p",
                    t,
                    serde_json::json!({"phase": "Running", "containerStatuses": [{
                    "name": "collector", "image": "c", "imageID": "", "ready": true, "restartCount": 0,
                    "state": {"running": {}}}]}),
                )],
                None,
            ),
            ("no pod yet", vec![], None),
        ];
        for (name, pods, expected) in cases {
            let got = problem(&pods);
            assert_eq!(
                got.as_ref()
                    .map(|p| (p.reason.as_str(), p.message.as_str())),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn the_newest_pod_speaks_for_the_run() {
        let old = pod(
            "old",
            "2026-11-28T12:00:00Z",
            waiting("ErrImagePull", "old"),
        );
        let new = pod(
            "new",
            "2026-11-28T12:01:00Z",
            waiting("CreateContainerConfigError", "new"),
        );
        let got = problem([&old, &new]).unwrap();
        assert_eq!(got.pod, "new");
        assert_eq!(
            got.describe(),
            "pod new cannot start: CreateContainerConfigError: new"
        );
    }
}
