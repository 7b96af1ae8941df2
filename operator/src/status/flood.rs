//! How long Telegram made a run wait.

use contract::audit::{AuditEvent, AuditRow};

/// Seconds of flood waits in a run's rows: the sum of every `collection_flood_wait`'s
/// `seconds`, over all attempts (each attempt really waited). What Telegram asked for, not the
/// time elapsed, so the value does not change between two rows and needs no status patch.
pub fn flood_wait_seconds(rows: &[AuditRow]) -> i64 {
    let total: u64 = rows
        .iter()
        .filter_map(|row| match &row.event {
            Ok(AuditEvent::FloodWait(wait)) => Some(u64::from(wait.seconds)),
            _ => None,
        })
        .sum();
    i64::try_from(total).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};
    use contract::audit::{ChannelProgress, FloodWait};

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_590_400 + secs, 0).unwrap()
    }

    fn row(id: i64, pod: &str, event: Result<AuditEvent, String>) -> AuditRow {
        AuditRow {
            id,
            timestamp: at(id),
            pod_name: Some(pod.into()),
            shard: None,
            event,
        }
    }

    fn wait(id: i64, pod: &str, seconds: u32) -> AuditRow {
        row(
            id,
            pod,
            Ok(AuditEvent::FloodWait(FloodWait {
                channel_name: "@durov".into(),
                seconds,
                until: at(id) + TimeDelta::seconds(i64::from(seconds)),
            })),
        )
    }

    #[test]
    fn no_rows_no_wait() {
        assert_eq!(flood_wait_seconds(&[]), 0);
    }

    #[test]
    fn every_wait_of_every_attempt_counts_and_nothing_else() {
        let rows = [
            wait(1, "pod-a", 30),
            row(
                2,
                "pod-a",
                Ok(AuditEvent::ChannelProgress(ChannelProgress {
                    channel_name: "@durov".into(),
                    messages_collected: 100,
                    remaining_estimate: None,
                    progress_time: at(2),
                })),
            ),
            row(3, "pod-a", Err("written by a newer collector".into())),
            // The retry waits again.
            wait(4, "pod-b", 420),
        ];
        assert_eq!(flood_wait_seconds(&rows), 450);
    }
}
