//! The `get` and `history` tables.

use chrono::{DateTime, Utc};
use crds::{ChannelCollection, ChannelCollectionStatus, RunSummary, time::from_k8s};

use super::{age, bar, columns, countdown, detail, duration, recent_runs, result, span};

/// `get`: one row per collection, with a `NAMESPACE` column when listing all namespaces.
pub fn collections(
    items: &[ChannelCollection],
    all_namespaces: bool,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut header = vec![
        "NAME", "SCHEDULE", "STATE", "PROGRESS", "MESSAGES", "ERRORS", "ETA", "LAST RUN",
        "NEXT RUN", "AGE",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let mut rows = vec![header.into_iter().map(str::to_string).collect::<Vec<_>>()];
    for cc in items {
        let mut row = collection_row(cc, now);
        if all_namespaces {
            row.insert(0, cc.metadata.namespace.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    columns(&rows)
}

fn collection_row(cc: &ChannelCollection, now: DateTime<Utc>) -> Vec<String> {
    let empty = ChannelCollectionStatus::default();
    let status = cc.status.as_ref().unwrap_or(&empty);
    let dash = || "-".to_string();
    let schedule = status
        .schedule
        .clone()
        .or_else(|| cc.spec.interval.as_ref().map(|i| format!("every {i}")))
        .or_else(|| cc.spec.schedule.clone())
        .unwrap_or_else(dash);
    vec![
        cc.metadata.name.clone().unwrap_or_default(),
        schedule,
        state(cc),
        if status.channels_total > 0 {
            bar(status.channels_processed, status.channels_total)
        } else {
            dash()
        },
        status.messages_collected_current_run.to_string(),
        status.errors_current_run.to_string(),
        status
            .estimated_time_remaining
            .map(|s| span(chrono::TimeDelta::seconds(s)))
            .unwrap_or_else(dash),
        status
            .last_run
            .as_ref()
            .map(|run| last_run(run, now))
            .unwrap_or_else(dash),
        status
            .next_run_time
            .as_ref()
            .map(|t| countdown(from_k8s(t), now))
            .unwrap_or_else(dash),
        cc.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| age(from_k8s(t), now))
            .unwrap_or_else(dash),
    ]
}

/// The state, saying when a suspended collection still finishes a run.
fn state(cc: &ChannelCollection) -> String {
    let Some(state) = cc.status.as_ref().and_then(|s| s.state) else {
        return "-".to_string();
    };
    let name = format!("{state:?}");
    if cc.spec.suspend && state != crds::CollectionState::Suspended {
        format!("{name} (suspended)")
    } else {
        name
    }
}

/// `Succeeded 2m ago`: the result and how long ago the run ended (or started).
fn last_run(run: &RunSummary, now: DateTime<Utc>) -> String {
    match run.end_time.as_ref().or(run.start_time.as_ref()) {
        Some(t) => format!("{} {} ago", result(run), age(from_k8s(t), now)),
        None => result(run).to_string(),
    }
}

/// `history`: the run in progress (if any), then the finished runs, newest first.
pub fn history(cc: &ChannelCollection, now: DateTime<Utc>) -> Vec<String> {
    let empty = ChannelCollectionStatus::default();
    let status = cc.status.as_ref().unwrap_or(&empty);
    let dash = || "-".to_string();
    let mut rows = vec![
        [
            "JOB", "RESULT", "STARTED", "DURATION", "MESSAGES", "CHANNELS", "ERRORS", "DETAIL",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    if let Some(job) = &status.active_job {
        rows.push(vec![
            job.to_string(),
            status
                .state
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "Running".to_string()),
            status
                .collection_start_time
                .as_ref()
                .map(|t| format!("{} ago", age(from_k8s(t), now)))
                .unwrap_or_else(dash),
            dash(),
            status.messages_collected_current_run.to_string(),
            format!("{}/{}", status.channels_processed, status.channels_total),
            status.errors_current_run.to_string(),
            status.current_channel.clone().unwrap_or_default(),
        ]);
    }
    for run in recent_runs(status) {
        rows.push(vec![
            run.job.to_string(),
            result(run).to_string(),
            run.start_time
                .as_ref()
                .map(|t| format!("{} ago", age(from_k8s(t), now)))
                .unwrap_or_else(dash),
            duration(run).map(span).unwrap_or_else(dash),
            run.messages.map(|m| m.to_string()).unwrap_or_else(dash),
            match (run.channels_synced, run.channels_total) {
                (Some(synced), Some(total)) => format!("{synced}/{total}"),
                _ => dash(),
            },
            run.errors.map(|e| e.to_string()).unwrap_or_else(dash),
            detail(run).unwrap_or_default(),
        ]);
    }
    if rows.len() == 1 {
        return Vec::new();
    }
    columns(&rows)
        .into_iter()
        .map(|line| line.trim_end().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use crds::testing::{TestCollection, t0};
    use crds::time::to_k8s;
    use crds::{CollectionState, RunResult};

    fn minutes(m: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(m)
    }

    fn collecting() -> ChannelCollection {
        ChannelCollection::test().with_status(ChannelCollectionStatus {
            schedule: Some("every 10m".into()),
            state: Some(CollectionState::Collecting),
            channels_processed: 3,
            channels_total: 10,
            messages_collected_current_run: 1520,
            errors_current_run: 1,
            estimated_time_remaining: Some(250),
            active_job: Some("news-29931180".into()),
            collection_start_time: Some(to_k8s(minutes(60))),
            current_channel: Some("@durov".into()),
            next_run_time: Some(to_k8s(minutes(70))),
            last_run: Some(RunSummary {
                job: "news-29931170".into(),
                start_time: Some(to_k8s(minutes(50))),
                end_time: Some(to_k8s(minutes(54))),
                result: Some(RunResult::Succeeded),
                messages: Some(800),
                channels_synced: Some(10),
                channels_total: Some(10),
                errors: Some(0),
                ..RunSummary::default()
            }),
            ..ChannelCollectionStatus::default()
        })
    }

    #[test]
    fn the_get_table() {
        let now = minutes(62);
        let idle = ChannelCollection::test()
            .named("weekly")
            .cron("0 3 * * 1", None)
            .suspended()
            .created(now - TimeDelta::days(3))
            .with_status(ChannelCollectionStatus {
                schedule: Some("0 3 * * 1".into()),
                state: Some(CollectionState::Suspended),
                ..ChannelCollectionStatus::default()
            });
        let fresh = ChannelCollection::test().named("fresh").created(now);
        assert_eq!(
            collections(&[collecting(), idle, fresh], false, now),
            [
                "NAME     SCHEDULE    STATE        PROGRESS            MESSAGES   ERRORS   ETA     LAST RUN           NEXT RUN   AGE",
                "news     every 10m   Collecting   [###-------] 3/10   1520       1        4m10s   Succeeded 8m ago   in 8m0s    62m",
                "weekly   0 3 * * 1   Suspended    -                   0          0        -       -                  -          3d",
                "fresh    every 10m   -            -                   0          0        -       -                  -          0s",
            ]
        );
    }

    #[test]
    fn all_namespaces_adds_the_namespace_column() {
        let lines = collections(&[collecting().namespaced("ops")], true, minutes(62));
        assert!(lines[0].starts_with("NAMESPACE   NAME "), "{}", lines[0]);
        assert!(lines[1].starts_with("ops         news "), "{}", lines[1]);
    }

    #[test]
    fn a_suspended_collection_finishing_a_run_says_so() {
        let cc = collecting().suspended();
        assert_eq!(state(&cc), "Collecting (suspended)");
    }

    #[test]
    fn times_ahead_of_our_clock_are_not_negative_ages() {
        // The API server's clock is a minute ahead: the run ended "after" now.
        let now = minutes(53);
        let line = &collections(&[collecting()], false, now)[1];
        assert!(line.contains("Succeeded 0s ago"), "{line}");
        assert!(!line.contains("-1"), "{line}");
    }

    #[test]
    fn the_history_table() {
        let mut cc = collecting();
        let status = cc.status.as_mut().unwrap();
        let failed = RunSummary {
            job: "news-29931160".into(),
            start_time: Some(to_k8s(minutes(40))),
            end_time: Some(to_k8s(minutes(40) + TimeDelta::seconds(12))),
            result: Some(RunResult::Failed),
            reason: Some("SessionInvalid".into()),
            message: Some("the Telegram session is revoked".into()),
            messages: Some(0),
            channels_synced: Some(0),
            channels_total: Some(10),
            errors: Some(0),
            edits: None,
            deletions: None,
            media: None,
        };
        let deleted = RunSummary {
            job: "news-29931150".into(),
            start_time: Some(to_k8s(minutes(30))),
            result: Some(RunResult::Failed),
            reason: Some("JobDeleted".into()),
            ..RunSummary::default()
        };
        status.recent_runs = vec![status.last_run.clone().unwrap(), failed, deleted];
        assert_eq!(
            history(&cc, minutes(62)),
            [
                "JOB             RESULT       STARTED   DURATION   MESSAGES   CHANNELS   ERRORS   DETAIL",
                "news-29931180   Collecting   2m ago    -          1520       3/10       1        @durov",
                "news-29931170   Succeeded    12m ago   4m0s       800        10/10      0",
                "news-29931160   Failed       22m ago   12s        0          0/10       0        SessionInvalid: the Telegram session is revoked",
                "news-29931150   Failed       32m ago   -          -          -          -        JobDeleted",
            ]
        );
    }

    #[test]
    fn no_runs_no_history() {
        assert!(history(&ChannelCollection::test(), t0()).is_empty());
    }
}
