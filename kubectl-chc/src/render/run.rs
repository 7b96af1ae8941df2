//! A run as `watch` and `run --wait` show it: the live view redrawn on every change, and
//! the one line saying how it ended.

use chrono::{DateTime, TimeDelta, Utc};
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunResult, RunSummary,
    ShardStatus, condition, time::from_k8s,
};

use super::{age, bar, columns, count, countdown, detail, duration, qualified, span};

/// The live view of the collection's current run, as of `now`.
pub fn frame(cc: &ChannelCollection, now: DateTime<Utc>) -> Vec<String> {
    let empty = ChannelCollectionStatus::default();
    let status = cc.status.as_ref().unwrap_or(&empty);
    let state = status
        .state
        .map_or_else(|| "Unknown".to_string(), |s| format!("{s:?}"));
    let mut head = format!("{}: {state}", qualified(cc));
    if let Some(job) = &status.active_job {
        head.push_str(&format!(", run {job}"));
        if let Some(start) = &status.collection_start_time {
            head.push_str(&format!(" (started {} ago)", age(from_k8s(start), now)));
        }
    }
    let mut lines = vec![head];

    if status.state == Some(CollectionState::Starting) {
        // Why a pod cannot start (a missing Secret, an image pull) is the Reconciling message.
        let why = status
            .conditions
            .iter()
            .find(|c| c.type_ == condition::RECONCILING && c.status == "True")
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "waiting for the collector to start".to_string());
        lines.push(format!("  {why}"));
    }
    let mut totals = vec![
        format!(
            "{} channels",
            bar(status.channels_processed, status.channels_total)
        ),
        count(status.messages_collected_current_run, "message"),
        count(i64::from(status.errors_current_run), "error"),
    ];
    if let Some(eta) = status.estimated_time_remaining {
        totals.push(format!("ETA {}", span(TimeDelta::seconds(eta))));
    }
    lines.push(format!("  {}", totals.join("   ")));
    if let Some(channel) = &status.current_channel {
        lines.push(format!("  channel {channel}"));
    }
    if let Some(until) = &status.waiting_until {
        let until = from_k8s(until);
        lines.push(format!(
            "  flood wait: resumes {} (at {})",
            countdown(until, now),
            until.format("%H:%M:%SZ")
        ));
    }
    lines.extend(
        columns(&shard_rows(&status.shards))
            .into_iter()
            .map(|l| format!("  {}", l.trim_end())),
    );
    lines
}

/// One row per index of a sharded run.
fn shard_rows(shards: &[ShardStatus]) -> Vec<Vec<String>> {
    shards
        .iter()
        .map(|s| {
            vec![
                format!("shard {}", s.index),
                s.session.clone(),
                s.state
                    .map_or_else(|| "-".to_string(), |st| format!("{st:?}")),
                bar(s.channels_processed, s.channels_total),
                count(s.messages, "message"),
                count(i64::from(s.errors), "error"),
                s.estimated_time_remaining
                    .map(|e| format!("ETA {}", span(TimeDelta::seconds(e))))
                    .unwrap_or_default(),
                s.reason
                    .clone()
                    .or_else(|| s.current_channel.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect()
}

/// While `run --wait` waits for the operator to act on its request.
pub fn requested(cc: &ChannelCollection, value: &str) -> Vec<String> {
    let mut line = format!(
        "{}: run requested ({value}), waiting for the operator to start it",
        qualified(cc)
    );
    if let Some(job) = cc.status.as_ref().and_then(|s| s.active_job.as_ref()) {
        // concurrencyPolicy Forbid starts it once the active run ends.
        line.push_str(&format!(" after run {job}"));
    }
    vec![line]
}

/// `run news-1 succeeded in 4m10s (1520 messages, 10/10 channels, 0 errors)`, or
/// `run news-1 failed after 12s: SessionInvalid: ... (0 messages, 0/3 channels, 0 errors)`.
pub fn ended(run: &RunSummary) -> String {
    let (verb, preposition) = match run.result {
        Some(RunResult::Succeeded) => ("succeeded", "in"),
        Some(RunResult::Failed) => ("failed", "after"),
        None => ("ended", "after"),
    };
    let mut line = format!("run {} {verb}", run.job);
    if let Some(took) = duration(run) {
        line.push_str(&format!(" {preposition} {}", span(took)));
    }
    if let Some(why) = detail(run) {
        line.push_str(&format!(": {why}"));
    }
    let mut counts = Vec::new();
    if let Some(messages) = run.messages {
        counts.push(count(messages, "message"));
    }
    if let (Some(synced), Some(total)) = (run.channels_synced, run.channels_total) {
        counts.push(format!("{synced}/{total} channels"));
    }
    if let Some(errors) = run.errors {
        counts.push(count(i64::from(errors), "error"));
    }
    if !counts.is_empty() {
        line.push_str(&format!(" ({})", counts.join(", ")));
    }
    line
}

/// `watch` with no run in progress: what it says instead.
pub fn idle(cc: &ChannelCollection, now: DateTime<Utc>) -> Vec<String> {
    let status = cc.status.as_ref();
    let mut lines = vec![format!("{}: no run in progress", qualified(cc))];
    match status.and_then(|s| s.last_run.as_ref()) {
        Some(run) => lines.push(format!("last {}", ended(run))),
        None => lines.push("no run has finished yet".to_string()),
    }
    if let Some(next) = status.and_then(|s| s.next_run_time.as_ref()) {
        lines.push(format!("next run {}", countdown(from_k8s(next), now)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::ShardState;
    use crds::testing::{TestCollection, t0};
    use crds::time::to_k8s;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    fn at(secs: i64) -> DateTime<Utc> {
        t0() + TimeDelta::seconds(secs)
    }

    fn collecting() -> ChannelCollectionStatus {
        ChannelCollectionStatus {
            state: Some(CollectionState::Collecting),
            active_job: Some("news-29931120".into()),
            collection_start_time: Some(to_k8s(t0())),
            channels_processed: 5,
            channels_total: 10,
            messages_collected_current_run: 1520,
            errors_current_run: 1,
            estimated_time_remaining: Some(250),
            current_channel: Some("@durov".into()),
            ..ChannelCollectionStatus::default()
        }
    }

    #[test]
    fn a_run_collecting() {
        let cc = ChannelCollection::test().with_status(collecting());
        assert_eq!(
            frame(&cc, at(130)),
            [
                "telegram/news: Collecting, run news-29931120 (started 2m10s ago)",
                "  [#####-----] 5/10 channels   1520 messages   1 error   ETA 4m10s",
                "  channel @durov",
            ]
        );
    }

    #[test]
    fn a_flood_wait_counts_down_to_its_end() {
        let cc = ChannelCollection::test().with_status(ChannelCollectionStatus {
            state: Some(CollectionState::Waiting),
            waiting_until: Some(to_k8s(at(100))),
            ..collecting()
        });
        assert_eq!(
            frame(&cc, at(58))[3],
            "  flood wait: resumes in 42s (at 12:01:40Z)"
        );
        assert_eq!(
            frame(&cc, at(100))[3],
            "  flood wait: resumes now (at 12:01:40Z)"
        );
        assert!(frame(&cc, at(58))[0].contains(": Waiting,"));
    }

    #[test]
    fn a_sharded_run_shows_each_index() {
        let shard = |index, session: &str, state, done, total, channel: Option<&str>| ShardStatus {
            index,
            session: session.into(),
            state: Some(state),
            current_channel: channel.map(str::to_string),
            channels_processed: done,
            channels_total: total,
            messages: i64::from(done) * 10,
            errors: 0,
            estimated_time_remaining: (done < total).then_some(60),
            reason: None,
        };
        let mut failed = shard(2, "tg-c", ShardState::Failed, 0, 3, None);
        failed.reason = Some("SessionInvalid".into());
        let cc = ChannelCollection::test().with_status(ChannelCollectionStatus {
            shards: vec![
                shard(0, "tg-a", ShardState::Collecting, 1, 4, Some("@alpha")),
                shard(1, "tg-b", ShardState::Succeeded, 3, 3, None),
                failed,
            ],
            ..collecting()
        });
        let lines = frame(&cc, at(130));
        assert_eq!(
            lines[3..],
            [
                "  shard 0   tg-a   Collecting   [##--------] 1/4   10 messages   0 errors   ETA 1m0s   @alpha",
                "  shard 1   tg-b   Succeeded    [##########] 3/3   30 messages   0 errors",
                "  shard 2   tg-c   Failed       [----------] 0/3   0 messages    0 errors   ETA 1m0s   SessionInvalid",
            ]
        );
    }

    #[test]
    fn a_run_starting_says_why_it_has_not() {
        let cc = ChannelCollection::test().with_status(ChannelCollectionStatus {
            state: Some(CollectionState::Starting),
            active_job: Some("news-29931120".into()),
            channels_total: 3,
            conditions: vec![Condition {
                type_: "Reconciling".into(),
                status: "True".into(),
                reason: "CreateContainerConfigError".into(),
                message: "secret \"tg-session\" not found".into(),
                last_transition_time: to_k8s(t0()),
                observed_generation: Some(1),
            }],
            ..ChannelCollectionStatus::default()
        });
        assert_eq!(
            frame(&cc, at(5)),
            [
                "telegram/news: Starting, run news-29931120",
                "  secret \"tg-session\" not found",
                "  [----------] 0/3 channels   0 messages   0 errors",
            ]
        );
    }

    #[test]
    fn how_runs_end() {
        let succeeded = RunSummary {
            job: "news-29931120".into(),
            start_time: Some(to_k8s(t0())),
            end_time: Some(to_k8s(at(250))),
            result: Some(RunResult::Succeeded),
            messages: Some(1520),
            channels_synced: Some(10),
            channels_total: Some(10),
            errors: Some(0),
            ..RunSummary::default()
        };
        assert_eq!(
            ended(&succeeded),
            "run news-29931120 succeeded in 4m10s (1520 messages, 10/10 channels, 0 errors)"
        );
        let failed = RunSummary {
            job: "news-29931120".into(),
            start_time: Some(to_k8s(t0())),
            end_time: Some(to_k8s(at(12))),
            result: Some(RunResult::Failed),
            reason: Some("SessionInvalid".into()),
            message: Some("the Telegram session is revoked".into()),
            ..RunSummary::default()
        };
        assert_eq!(
            ended(&failed),
            "run news-29931120 failed after 12s: SessionInvalid: the Telegram session is revoked"
        );
        let bare = RunSummary {
            job: "news-1".into(),
            ..RunSummary::default()
        };
        assert_eq!(ended(&bare), "run news-1 ended");
    }

    #[test]
    fn waiting_for_a_request_and_no_run_at_all() {
        let cc = ChannelCollection::test().with_status(collecting());
        assert_eq!(
            requested(&cc, "2026-11-28T12:00:00Z"),
            [
                "telegram/news: run requested (2026-11-28T12:00:00Z), waiting for the operator to start it after run news-29931120"
            ]
        );
        let resting = ChannelCollection::test().with_status(ChannelCollectionStatus {
            next_run_time: Some(to_k8s(at(300))),
            ..ChannelCollectionStatus::default()
        });
        assert_eq!(
            idle(&resting, t0()),
            [
                "telegram/news: no run in progress",
                "no run has finished yet",
                "next run in 5m0s",
            ]
        );
    }
}
