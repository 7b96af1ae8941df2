//! Which run a reconcile follows (and so whether it needs the database at all).

use crds::ChannelCollectionStatus;
use k8s_openapi::api::batch::v1::Job;

use crate::job::{self, JobPhase};

/// The run to derive live status for: its id (the Job name) and its Job if it still exists.
///
/// The run `status.activeJob` names comes first, whether its Job is still active, finished or
/// gone: its outcome is not recorded until the derivation saying so has been applied. Without
/// one, the newest active Job in `jobs` (a run just started). `None` when there is nothing to
/// follow: the collection is idle and needs no database query.
pub fn followed_run<'a>(
    previous: &'a ChannelCollectionStatus,
    jobs: &'a [Job],
) -> Option<(&'a str, Option<&'a Job>)> {
    let named = |name: &str| {
        jobs.iter()
            .find(|j| j.metadata.name.as_deref() == Some(name))
    };
    if let Some(active) = previous.active_job.as_deref() {
        return Some((active, named(active)));
    }
    jobs.iter()
        .filter(|j| job::phase(Some(j)) == JobPhase::Active)
        .max_by(|a, b| {
            let key = |j: &Job| {
                (
                    j.metadata.creation_timestamp.clone(),
                    j.metadata.name.clone(),
                )
            };
            key(a).cmp(&key(b))
        })
        .and_then(|j| Some((j.metadata.name.as_deref()?, Some(j))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, created: &str, status: serde_json::Value) -> Job {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "status": status
        }))
        .unwrap()
    }

    fn done(name: &str, created: &str) -> Job {
        job(
            name,
            created,
            serde_json::json!({"conditions": [{"type": "Complete", "status": "True"}]}),
        )
    }

    fn active(name: &str, created: &str) -> Job {
        job(name, created, serde_json::json!({"active": 1}))
    }

    #[test]
    fn idle_collections_follow_nothing() {
        let jobs = [done("news-1", "2026-11-28T10:00:00Z")];
        assert_eq!(
            followed_run(&ChannelCollectionStatus::default(), &jobs),
            None
        );
        assert_eq!(followed_run(&ChannelCollectionStatus::default(), &[]), None);
    }

    #[test]
    fn the_recorded_active_job_is_followed_until_its_end_is_recorded() {
        let status = ChannelCollectionStatus {
            active_job: Some("news-2".into()),
            ..Default::default()
        };
        let jobs = [
            done("news-2", "2026-11-28T10:10:00Z"),
            active("news-3", "2026-11-28T10:20:00Z"),
        ];
        let (run, job) = followed_run(&status, &jobs).unwrap();
        assert_eq!(run, "news-2");
        assert_eq!(job.and_then(|j| j.metadata.name.as_deref()), Some("news-2"));
        // Its Job is gone: still followed, to be recorded as deleted.
        assert_eq!(followed_run(&status, &jobs[1..]), Some(("news-2", None)));
    }

    #[test]
    fn a_new_run_is_followed_from_its_first_reconcile() {
        let jobs = [
            active("news-3", "2026-11-28T10:20:00Z"),
            active("news-4", "2026-11-28T10:30:00Z"),
            done("news-2", "2026-11-28T10:10:00Z"),
        ];
        let status = ChannelCollectionStatus::default();
        let (run, _) = followed_run(&status, &jobs).unwrap();
        assert_eq!(run, "news-4");
    }
}
