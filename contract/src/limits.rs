//! `spec.limits`: declared once for the CRD (with its schema) and read by the collector from
//! `COLLECTOR_LIMITS`, which holds this type's JSON.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A duration that may also count days, e.g. `30d`, for how far back a first run goes.
pub const LOOKBACK_PATTERN: &str = r"^([0-9]+(s|m|h|d))+$";

/// Bounds on one run.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CollectionLimits {
    /// Most messages one run stores per channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_messages_per_channel: Option<i64>,
    /// How far back a channel's first run goes (e.g. `30d`, `72h`); its whole history when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = LOOKBACK_PATTERN))]
    pub since: Option<String>,
    /// Each run also re-reads the messages sent within this window (e.g. `48h`, `7d`) and
    /// updates their views, forwards, reactions, reply counts and edits; off when unset. Costs
    /// about one extra request per 100 messages in the window, per channel and run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = LOOKBACK_PATTERN))]
    pub refresh_window: Option<String>,
    /// Every this often (e.g. `7d`), re-read each channel's stored messages, 100 ids a request,
    /// and mark the ones Telegram no longer returns as deleted (a deletion older than
    /// `refreshWindow` is found no other way). A pass spans runs: each run re-reads up to
    /// 10,000 stored ids per channel and the next one goes on. Off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = LOOKBACK_PATTERN))]
    pub deletion_sweep: Option<String>,
}
