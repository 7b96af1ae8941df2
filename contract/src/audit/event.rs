use crate::media::MediaCounts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One audit event: the `action` column names the variant, the `metadata` column holds
/// its fields with the seed's keys.
#[derive(Clone, Debug, PartialEq)]
pub enum AuditEvent {
    Start(CollectionStart),
    Progress(CollectionProgress),
    ChannelProgress(ChannelProgress),
    FloodWait(FloodWait),
    End(CollectionEnd),
}

/// `collection_start`: a run (or one pod attempt of it) began.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CollectionStart {
    pub total_channels: u32,
    pub start_time: DateTime<Utc>,
}

/// `collection_progress`: one channel is done, successfully or not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CollectionProgress {
    pub channel_name: String,
    /// Messages stored from this channel in this run.
    pub messages_collected: u64,
    pub channels_processed: u32,
    pub total_channels: u32,
    /// Channels that failed so far in this run.
    pub errors: u32,
    pub progress_time: DateTime<Utc>,
    /// Set when this channel failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ChannelError>,
    /// Edited versions found in this channel in this run (each kept beside the newest).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub edits_found: u64,
    /// Messages found deleted in this channel in this run (marked, never removed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deletions_found: u64,
    /// Files of this channel downloaded, skipped and failed in this run (`spec.media`).
    #[serde(default, skip_serializing_if = "MediaCounts::is_empty")]
    pub media: MediaCounts,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// `collection_channel_progress`: movement inside a long channel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChannelProgress {
    pub channel_name: String,
    /// Messages stored from this channel so far in this run.
    pub messages_collected: u64,
    /// Messages still to fetch, when Telegram told us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_estimate: Option<u64>,
    pub progress_time: DateTime<Utc>,
}

/// `collection_flood_wait`: the collector sleeps until `until` as Telegram asked.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FloodWait {
    pub channel_name: String,
    pub seconds: u32,
    pub until: DateTime<Utc>,
}

/// `collection_end`: the attempt finished, or was aborted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CollectionEnd {
    pub total_messages: u64,
    pub channels_synced: u32,
    pub total_channels: u32,
    pub errors: u32,
    pub end_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
    /// Edited versions found in this run, over all channels.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub edits_found: u64,
    /// Messages found deleted in this run, over all channels.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deletions_found: u64,
    /// Files downloaded, skipped and failed in this run, over all channels (`spec.media`).
    #[serde(default, skip_serializing_if = "MediaCounts::is_empty")]
    pub media: MediaCounts,
}

/// Why a channel failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChannelError {
    pub reason: ErrorReason,
    /// Human-readable detail; never contains a secret.
    pub message: String,
}

/// Stable reasons for a channel's failure.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    /// The channel is private or we were banned from it.
    ChannelPrivate,
    /// The id or access hash is not valid (anymore).
    ChannelInvalid,
    /// No channel has this username.
    UsernameNotFound,
    /// The reference names a user or group, not a channel.
    NotAChannel,
    /// Telegram asked for a wait longer than the configured threshold.
    FloodWait,
    /// Another Telegram RPC error.
    Rpc,
    /// The connection to Telegram failed.
    Network,
    /// Storing messages failed.
    Storage,
    /// A reason written by a newer collector.
    #[serde(other)]
    Other,
}

/// Why a run ended early.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The Telegram session was revoked or is not authorised.
    SessionInvalid,
    /// The pod was asked to stop (SIGTERM).
    Terminated,
    /// A reason written by a newer collector.
    #[serde(other)]
    Other,
}

impl ErrorReason {
    /// PascalCase name for status fields and Events.
    pub fn as_status_reason(self) -> &'static str {
        match self {
            Self::ChannelPrivate => "ChannelPrivate",
            Self::ChannelInvalid => "ChannelInvalid",
            Self::UsernameNotFound => "UsernameNotFound",
            Self::NotAChannel => "NotAChannel",
            Self::FloodWait => "FloodWait",
            Self::Rpc => "TelegramError",
            Self::Network => "NetworkError",
            Self::Storage => "StorageError",
            Self::Other => "Other",
        }
    }
}

/// An audit row whose action or metadata this version does not understand.
#[derive(Debug, thiserror::Error)]
pub enum ParseEventError {
    #[error("unknown audit action {0:?}")]
    UnknownAction(String),
    #[error("malformed metadata for audit action {action:?}")]
    Metadata {
        action: String,
        #[source]
        source: serde_json::Error,
    },
}

impl AuditEvent {
    pub const START: &'static str = "collection_start";
    pub const PROGRESS: &'static str = "collection_progress";
    pub const CHANNEL_PROGRESS: &'static str = "collection_channel_progress";
    pub const FLOOD_WAIT: &'static str = "collection_flood_wait";
    pub const END: &'static str = "collection_end";

    /// The `action` column value.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Start(_) => Self::START,
            Self::Progress(_) => Self::PROGRESS,
            Self::ChannelProgress(_) => Self::CHANNEL_PROGRESS,
            Self::FloodWait(_) => Self::FLOOD_WAIT,
            Self::End(_) => Self::END,
        }
    }

    /// The `metadata` column value.
    pub fn metadata(&self) -> serde_json::Value {
        let value = match self {
            Self::Start(m) => serde_json::to_value(m),
            Self::Progress(m) => serde_json::to_value(m),
            Self::ChannelProgress(m) => serde_json::to_value(m),
            Self::FloodWait(m) => serde_json::to_value(m),
            Self::End(m) => serde_json::to_value(m),
        };
        value.expect("audit metadata has only string keys and plain values")
    }

    /// Rebuilds an event from its `action` and `metadata` columns.
    pub fn parse(action: &str, metadata: serde_json::Value) -> Result<Self, ParseEventError> {
        fn from<T: serde::de::DeserializeOwned>(
            action: &str,
            metadata: serde_json::Value,
        ) -> Result<T, ParseEventError> {
            serde_json::from_value(metadata).map_err(|source| ParseEventError::Metadata {
                action: action.to_owned(),
                source,
            })
        }
        Ok(match action {
            Self::START => Self::Start(from(action, metadata)?),
            Self::PROGRESS => Self::Progress(from(action, metadata)?),
            Self::CHANNEL_PROGRESS => Self::ChannelProgress(from(action, metadata)?),
            Self::FLOOD_WAIT => Self::FloodWait(from(action, metadata)?),
            Self::END => Self::End(from(action, metadata)?),
            other => return Err(ParseEventError::UnknownAction(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_762_673_674 + secs, 849_000_000)
            .unwrap()
    }

    #[test]
    fn metadata_uses_the_seed_keys() {
        let start = AuditEvent::Start(CollectionStart {
            total_channels: 1,
            start_time: at(0),
        });
        assert_eq!(
            start.metadata(),
            serde_json::json!({"total_channels": 1, "start_time": "2025-11-09T07:34:34.849Z"})
        );
        let progress = AuditEvent::Progress(CollectionProgress {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            channel_name: "ABC LEGACY NEWS".into(),
            messages_collected: 50,
            channels_processed: 1,
            total_channels: 1,
            errors: 0,
            progress_time: at(4),
            error: None,
        });
        assert_eq!(
            progress.metadata(),
            serde_json::json!({
                "channel_name": "ABC LEGACY NEWS", "messages_collected": 50,
                "channels_processed": 1, "total_channels": 1, "errors": 0,
                "progress_time": "2025-11-09T07:34:38.849Z"
            })
        );
        let end = AuditEvent::End(CollectionEnd {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 50,
            channels_synced: 1,
            total_channels: 1,
            errors: 0,
            end_time: at(4),
            aborted: false,
            reason: None,
        });
        assert_eq!(
            end.metadata(),
            serde_json::json!({
                "total_messages": 50, "channels_synced": 1, "total_channels": 1,
                "errors": 0, "end_time": "2025-11-09T07:34:38.849Z"
            })
        );
    }

    #[test]
    fn every_event_round_trips_through_its_columns() {
        let events = [
            AuditEvent::Start(CollectionStart {
                total_channels: 3,
                start_time: at(0),
            }),
            AuditEvent::Progress(CollectionProgress {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                channel_name: "durov".into(),
                messages_collected: 0,
                channels_processed: 1,
                total_channels: 3,
                errors: 1,
                progress_time: at(1),
                error: Some(ChannelError {
                    reason: ErrorReason::ChannelPrivate,
                    message: "channel is private".into(),
                }),
            }),
            AuditEvent::ChannelProgress(ChannelProgress {
                channel_name: "big".into(),
                messages_collected: 1200,
                remaining_estimate: Some(800),
                progress_time: at(2),
            }),
            AuditEvent::FloodWait(FloodWait {
                channel_name: "big".into(),
                seconds: 30,
                until: at(32),
            }),
            AuditEvent::End(CollectionEnd {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                total_messages: 1200,
                channels_synced: 1,
                total_channels: 3,
                errors: 1,
                end_time: at(40),
                aborted: true,
                reason: Some(EndReason::SessionInvalid),
            }),
        ];
        for event in events {
            let parsed = AuditEvent::parse(event.action(), event.metadata()).unwrap();
            assert_eq!(parsed, event);
        }
    }

    #[test]
    fn unknown_reasons_from_newer_collectors_still_parse() {
        let metadata = serde_json::json!({
            "channel_name": "x", "messages_collected": 0, "channels_processed": 1,
            "total_channels": 1, "errors": 1, "progress_time": "2025-11-09T07:34:38Z",
            "error": {"reason": "something_new", "message": "?"}
        });
        let AuditEvent::Progress(progress) =
            AuditEvent::parse(AuditEvent::PROGRESS, metadata).unwrap()
        else {
            panic!("expected progress");
        };
        assert_eq!(progress.error.unwrap().reason, ErrorReason::Other);
    }

    #[test]
    fn malformed_metadata_names_the_action() {
        let err = AuditEvent::parse(AuditEvent::END, serde_json::json!({"total_messages": "x"}))
            .unwrap_err();
        assert!(err.to_string().contains("collection_end"), "{err}");
    }
}
