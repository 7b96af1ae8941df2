//! Which run `watch` and `run --wait` follow and when it has ended, decided from each status
//! the watch delivers. Only states are compared (never "what changed since the last
//! event"), so a watch that restarts and skips updates still ends on the right run.

use crds::{ChannelCollectionStatus, RunId, RunSummary};

/// What is being followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follow {
    /// `watch`: the run in progress at the first status seen.
    Current,
    /// `run --wait`: the run the operator starts for this `requestedAt` value.
    Request(String),
    /// The run of this Job.
    Job(RunId),
}

/// What a status says about the followed run.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Not over yet (or not started yet): keep watching.
    Running,
    /// `watch` found no run in progress; the latest finished run, if any.
    Idle(Option<RunSummary>),
    /// The followed run is over.
    Ended(RunSummary),
}

impl Follow {
    /// Moves on with `status` (absent before the operator first wrote one).
    pub fn step(&mut self, status: Option<&ChannelCollectionStatus>) -> Step {
        let empty = ChannelCollectionStatus::default();
        let status = status.unwrap_or(&empty);
        match self {
            Follow::Current => match &status.active_job {
                Some(job) => {
                    *self = Follow::Job(job.clone());
                    self.step(Some(status))
                }
                None => Step::Idle(status.last_run.clone()),
            },
            Follow::Request(value) => {
                if status.last_handled_requested_at.as_deref() != Some(value.as_str()) {
                    return Step::Running;
                }
                // The status that records a request handled names the Job started for it.
                match (&status.active_job, &status.last_run) {
                    (Some(job), _) => {
                        *self = Follow::Job(job.clone());
                        self.step(Some(status))
                    }
                    // Already over when first seen: the newest finished run started after
                    // the request, so it is that run.
                    (None, Some(last)) => Step::Ended(last.clone()),
                    (None, None) => Step::Running,
                }
            }
            Follow::Job(job) => {
                let summary = status
                    .last_run
                    .iter()
                    .chain(&status.recent_runs)
                    .find(|r| &r.job == job);
                match summary {
                    Some(run) if status.active_job.as_ref() != Some(job) => {
                        Step::Ended(run.clone())
                    }
                    _ => Step::Running,
                }
            }
        }
    }

    /// The Job followed, once known.
    pub fn job(&self) -> Option<&RunId> {
        match self {
            Follow::Job(job) => Some(job),
            Follow::Current | Follow::Request(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::RunResult;

    const VALUE: &str = "2026-11-28T12:00:00Z";

    fn summary(job: &str, result: RunResult) -> RunSummary {
        RunSummary {
            job: job.into(),
            result: Some(result),
            ..RunSummary::default()
        }
    }

    fn status(active: Option<&str>, last: Option<RunSummary>) -> ChannelCollectionStatus {
        ChannelCollectionStatus {
            active_job: active.map(RunId::from),
            last_run: last,
            ..ChannelCollectionStatus::default()
        }
    }

    #[test]
    fn watch_follows_the_active_run_to_its_summary() {
        let old = summary("news-1", RunResult::Succeeded);
        let mut follow = Follow::Current;
        assert_eq!(
            follow.step(Some(&status(Some("news-2"), Some(old.clone())))),
            Step::Running
        );
        assert_eq!(follow.job(), Some(&RunId::from("news-2")));
        // Progress updates, still the old lastRun.
        assert_eq!(
            follow.step(Some(&status(Some("news-2"), Some(old)))),
            Step::Running
        );
        let done = summary("news-2", RunResult::Failed);
        assert_eq!(
            follow.step(Some(&status(None, Some(done.clone())))),
            Step::Ended(done)
        );
    }

    #[test]
    fn watch_with_nothing_running_reports_the_last_run() {
        let last = summary("news-1", RunResult::Failed);
        assert_eq!(
            Follow::Current.step(Some(&status(None, Some(last.clone())))),
            Step::Idle(Some(last))
        );
        assert_eq!(Follow::Current.step(None), Step::Idle(None));
    }

    #[test]
    fn a_missed_update_is_found_in_recent_runs() {
        // The watch restarted while news-2 ended and news-3 ran: news-2 is only in the list.
        let mut follow = Follow::Job("news-2".into());
        let mut later = status(None, Some(summary("news-3", RunResult::Succeeded)));
        later.recent_runs = vec![
            summary("news-3", RunResult::Succeeded),
            summary("news-2", RunResult::Failed),
        ];
        assert_eq!(
            follow.step(Some(&later)),
            Step::Ended(summary("news-2", RunResult::Failed))
        );
    }

    #[test]
    fn a_request_waits_for_the_operator_then_follows_its_run() {
        let mut follow = Follow::Request(VALUE.into());
        let old = summary("news-1", RunResult::Succeeded);
        // Not handled yet; another run is active (Forbid waits for it).
        assert_eq!(
            follow.step(Some(&status(Some("news-1"), None))),
            Step::Running
        );
        assert_eq!(
            follow.step(Some(&status(None, Some(old.clone())))),
            Step::Running,
            "the previous run ending is not ours"
        );
        let mut handled = status(Some("news-r1"), Some(old));
        handled.last_handled_requested_at = Some(VALUE.into());
        assert_eq!(follow.step(Some(&handled)), Step::Running);
        assert_eq!(follow.job(), Some(&RunId::from("news-r1")));
        let mut over = status(None, Some(summary("news-r1", RunResult::Succeeded)));
        over.last_handled_requested_at = Some(VALUE.into());
        assert_eq!(
            follow.step(Some(&over)),
            Step::Ended(summary("news-r1", RunResult::Succeeded))
        );
    }

    #[test]
    fn a_request_already_over_when_first_seen() {
        let mut over = status(None, Some(summary("news-r1", RunResult::Failed)));
        over.last_handled_requested_at = Some(VALUE.into());
        assert_eq!(
            Follow::Request(VALUE.into()).step(Some(&over)),
            Step::Ended(summary("news-r1", RunResult::Failed))
        );
        // An older request handled is not ours.
        over.last_handled_requested_at = Some("2026-11-28T11:00:00Z".into());
        assert_eq!(
            Follow::Request(VALUE.into()).step(Some(&over)),
            Step::Running
        );
    }
}
