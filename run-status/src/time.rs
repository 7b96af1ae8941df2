//! Conversions between the audit log's `chrono` times and Kubernetes' `Time`.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// A Kubernetes `Time` at whole-second precision.
///
/// `Time` serializes without fractions, so a status read back from the API server has whole
/// seconds; keeping sub-seconds here would make every comparison with it differ and turn an
/// unchanged run into a patch.
pub fn to_k8s(at: DateTime<Utc>) -> Time {
    let second = Timestamp::from_second(at.timestamp()).unwrap_or(if at.timestamp() < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    Time(second)
}

/// The `chrono` instant of a Kubernetes `Time` (whole seconds, as the API server keeps them).
pub fn from_k8s(at: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp(at.0.as_second(), 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_fractions_and_round_trips() {
        let at = DateTime::parse_from_rfc3339("2025-11-09T07:34:34.849Z")
            .unwrap()
            .to_utc();
        let time = to_k8s(at);
        assert_eq!(serde_json_string(&time), "\"2025-11-09T07:34:34Z\"");
        assert_eq!(
            from_k8s(&time),
            DateTime::parse_from_rfc3339("2025-11-09T07:34:34Z").unwrap()
        );
    }

    fn serde_json_string(time: &Time) -> String {
        serde_json::to_string(time).unwrap()
    }
}
