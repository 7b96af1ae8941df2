//! Conversions between the scheduling clock (`chrono`, which `croner` and `chrono-tz`
//! speak) and Kubernetes timestamps (`k8s-openapi`'s `Time`, a `jiff` timestamp).

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

/// A Kubernetes timestamp as a chrono instant (nanosecond precision is kept).
pub fn from_k8s(time: &Time) -> DateTime<Utc> {
    let nanos = time.0.as_nanosecond();
    Utc.timestamp_nanos(i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX }))
}

/// A chrono instant as a Kubernetes timestamp, truncated to whole seconds as the API
/// server stores `metav1.Time` (so a value we write compares equal to what we read back).
pub fn to_k8s(time: DateTime<Utc>) -> Time {
    Time(Timestamp::from_second(time.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_truncates_to_seconds() {
        let t = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 30).unwrap()
            + chrono::TimeDelta::milliseconds(750);
        let k = to_k8s(t);
        assert_eq!(
            from_k8s(&k),
            Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 30).unwrap()
        );
    }
}
