//! Conversions between `chrono` (the scheduling clock and the audit log's times) and
//! Kubernetes' `Time` (a `jiff` timestamp in `k8s-openapi`).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

/// A chrono instant as a Kubernetes timestamp, truncated to whole seconds as the API server
/// stores `metav1.Time`: a value we write then compares equal to what we read back, so an
/// unchanged status never turns into a patch.
pub fn to_k8s(at: DateTime<Utc>) -> Time {
    let second = Timestamp::from_second(at.timestamp()).unwrap_or(if at.timestamp() < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    Time(second)
}

/// A Kubernetes timestamp as a chrono instant (nanosecond precision is kept).
pub fn from_k8s(time: &Time) -> DateTime<Utc> {
    let nanos = time.0.as_nanosecond();
    Utc.timestamp_nanos(i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX }))
}

/// A length of time as `status.eta` writes it and `kubectl get` shows it: `45s`, `4m10s`,
/// `2h5m` (seconds dropped from an hour up, where they are noise), `3d4h`; never negative.
pub fn span(duration: TimeDelta) -> String {
    let total = duration.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    match (days, hours) {
        (0, 0) if minutes == 0 => format!("{seconds}s"),
        (0, 0) => format!("{minutes}m{seconds}s"),
        (0, _) => format!("{hours}h{minutes}m"),
        _ => format!("{days}d{hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_truncates_to_whole_seconds() {
        let at = DateTime::parse_from_rfc3339("2025-11-09T07:34:34.849Z")
            .unwrap()
            .to_utc();
        let time = to_k8s(at);
        assert_eq!(
            serde_json::to_string(&time).unwrap(),
            "\"2025-11-09T07:34:34Z\""
        );
        assert_eq!(
            from_k8s(&time),
            DateTime::parse_from_rfc3339("2025-11-09T07:34:34Z").unwrap()
        );
    }

    #[test]
    fn sub_second_kubernetes_times_are_kept() {
        let time: Time = serde_json::from_str("\"2026-03-29T00:59:30.750Z\"").unwrap();
        assert_eq!(from_k8s(&time).timestamp_subsec_millis(), 750);
    }

    #[test]
    fn spans_read_as_kubectl_shows_them() {
        for (secs, text) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m0s"),
            (250, "4m10s"),
            (3_600, "1h0m"),
            (7_530, "2h5m"),
            (90_000, "1d1h"),
            (-5, "0s"),
        ] {
            assert_eq!(span(TimeDelta::seconds(secs)), text, "{secs}s");
        }
    }
}
