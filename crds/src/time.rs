//! Conversions between `chrono` (the scheduling clock and the audit log's times) and
//! Kubernetes' `Time` (a `jiff` timestamp in `k8s-openapi`).

use chrono::{DateTime, TimeZone, Utc};
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
}
