//! What the plugin prints, as pure functions of the objects and `now`: tables
//! ([`list`]), a run's live view and result ([`run`]), and the pieces both use here.

pub mod list;
pub mod run;

use chrono::{DateTime, TimeDelta, Utc};
use crds::{ChannelCollection, ChannelCollectionStatus, RunResult, RunSummary};

/// Width of a progress bar between its brackets.
pub const BAR_WIDTH: usize = 10;

/// `[###-------] 3/10`: `done` of `total`, the bar full only when all are done.
pub fn bar(done: i32, total: i32) -> String {
    let total = total.max(0);
    let done = done.clamp(0, total);
    let filled = if total == 0 {
        0
    } else {
        // At most BAR_WIDTH; the product stays far inside i64.
        (i64::from(done) * BAR_WIDTH as i64 / i64::from(total)) as usize
    };
    format!(
        "[{}{}] {done}/{total}",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled)
    )
}

/// How long ago `then` was, as `kubectl get` prints ages (`45s`, `4m10s`, `3h`, `2d4h`). A time
/// after `now` (the API server's clock ahead of ours) is `0s`: an age is never negative.
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds().max(0);
    let minutes = seconds / 60;
    let hours = seconds / 3600;
    let days = hours / 24;
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        },
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        },
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        },
        _ if days < 365 * 2 => format!("{days}d"),
        _ if days < 365 * 8 => match days % 365 {
            0 => format!("{}y", days / 365),
            d => format!("{}y{d}d", days / 365),
        },
        _ => format!("{}y", days / 365),
    }
}

/// A length of time as the operator writes `status.eta`.
pub use crds::time::span;

/// Time until `then`: `in 4m10s`, or `now` once it has come.
pub fn countdown(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if then <= now {
        "now".to_string()
    } else {
        format!("in {}", span(then - now))
    }
}

/// `1 error`, `3 errors`.
pub fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Rows as `kubectl get` aligns them: every column as wide as its widest cell, three spaces
/// apart, the last one not padded.
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count() + 3;
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
            }
            line
        })
        .collect()
}

/// `namespace/name`.
pub fn qualified(cc: &ChannelCollection) -> String {
    format!(
        "{}/{}",
        cc.metadata.namespace.as_deref().unwrap_or_default(),
        cc.metadata.name.as_deref().unwrap_or_default()
    )
}

/// `Succeeded`, `Failed`, or `Ended` for a summary without a result.
pub fn result(run: &RunSummary) -> &'static str {
    match run.result {
        Some(RunResult::Succeeded) => "Succeeded",
        Some(RunResult::Failed) => "Failed",
        None => "Ended",
    }
}

/// How long a finished run took, when both ends are known.
pub fn duration(run: &RunSummary) -> Option<TimeDelta> {
    let start = crds::time::from_k8s(run.start_time.as_ref()?);
    let end = crds::time::from_k8s(run.end_time.as_ref()?);
    Some(end - start)
}

/// `reason: message` of a run, whichever is set.
pub fn detail(run: &RunSummary) -> Option<String> {
    let parts: Vec<&str> = [run.reason.as_deref(), run.message.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// The runs `history` lists: `recentRuns`, or `lastRun` alone from an operator that does not
/// keep the list yet.
pub fn recent_runs(status: &ChannelCollectionStatus) -> Vec<&RunSummary> {
    if status.recent_runs.is_empty() {
        status.last_run.iter().collect()
    } else {
        status.recent_runs.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::testing::t0;

    #[test]
    fn bars() {
        for (done, total, want) in [
            (0, 10, "[----------] 0/10"),
            (3, 10, "[###-------] 3/10"),
            (10, 10, "[##########] 10/10"),
            (1, 3, "[###-------] 1/3"),
            (499, 500, "[#########-] 499/500"),
            (0, 0, "[----------] 0/0"),
            (12, 10, "[##########] 10/10"),
            (-1, 10, "[----------] 0/10"),
        ] {
            assert_eq!(bar(done, total), want, "{done}/{total}");
        }
    }

    #[test]
    fn ages_read_like_kubectl_get() {
        let now = t0();
        for (secs, want) in [
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (250, "4m10s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (2 * 86_400, "2d"),
            (2 * 86_400 + 4 * 3600, "2d4h"),
            (30 * 86_400, "30d"),
            (800 * 86_400, "2y70d"),
            (3000 * 86_400, "8y"),
        ] {
            assert_eq!(age(now - TimeDelta::seconds(secs), now), want, "{secs}s");
        }
    }

    #[test]
    fn a_future_time_is_never_a_negative_age() {
        let now = t0();
        assert_eq!(age(now + TimeDelta::seconds(3), now), "0s");
        assert_eq!(age(now + TimeDelta::days(400), now), "0s");
    }

    #[test]
    fn spans_and_countdowns() {
        for (secs, want) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m0s"),
            (250, "4m10s"),
            (7_530, "2h5m"),
            (90_000, "1d1h"),
            (-5, "0s"),
        ] {
            assert_eq!(span(TimeDelta::seconds(secs)), want, "{secs}s");
        }
        let now = t0();
        assert_eq!(countdown(now + TimeDelta::seconds(42), now), "in 42s");
        assert_eq!(countdown(now, now), "now");
        assert_eq!(countdown(now - TimeDelta::seconds(5), now), "now");
    }

    #[test]
    fn columns_are_aligned_and_the_last_is_not_padded() {
        let rows = vec![
            vec!["NAME".to_string(), "STATE".to_string(), "ETA".to_string()],
            vec![
                "news".to_string(),
                "Collecting".to_string(),
                "4m".to_string(),
            ],
            vec![
                "a-longer-name".to_string(),
                "Idle".to_string(),
                "-".to_string(),
            ],
        ];
        assert_eq!(
            columns(&rows),
            [
                "NAME            STATE        ETA",
                "news            Collecting   4m",
                "a-longer-name   Idle         -",
            ]
        );
    }

    #[test]
    fn counts_and_details() {
        assert_eq!(count(1, "error"), "1 error");
        assert_eq!(count(0, "error"), "0 errors");
        let run = RunSummary {
            reason: Some("SessionInvalid".into()),
            message: Some("the Telegram session is revoked".into()),
            ..RunSummary::default()
        };
        assert_eq!(
            detail(&run).as_deref(),
            Some("SessionInvalid: the Telegram session is revoked")
        );
        assert_eq!(detail(&RunSummary::default()), None);
        assert_eq!(result(&RunSummary::default()), "Ended");
    }

    #[test]
    fn history_falls_back_to_last_run() {
        let last = RunSummary {
            job: "news-1".into(),
            ..RunSummary::default()
        };
        let old = ChannelCollectionStatus {
            last_run: Some(last.clone()),
            ..ChannelCollectionStatus::default()
        };
        assert_eq!(recent_runs(&old), [&last]);
        assert!(recent_runs(&ChannelCollectionStatus::default()).is_empty());
    }
}
