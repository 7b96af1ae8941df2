//! The `collect` configuration: the Job's environment (see DESIGN.md, "Contract between the
//! operator's Job and the collector") checked and turned into typed settings.

use std::path::PathBuf;
use std::time::Duration;

use audit::RunIdentity;
use audit::contract::env::{API_ID, CHANNELS, DATABASE_URL, LIMITS, NAME, NAMESPACE, RUN_ID};
use serde::Deserialize;

use crate::channel_ref::{ChannelRef, ChannelRefError};

/// Telegram's largest page of history; also our transaction size.
pub const MAX_BATCH: usize = 100;

/// `spec.limits` as the operator passes it in `COLLECTOR_LIMITS`.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSpec {
    #[serde(default)]
    pub max_messages_per_channel: Option<i64>,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub refresh_window: Option<String>,
}

/// Bounds on one run, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most messages stored per channel in one run.
    pub max_messages_per_channel: Option<u64>,
    /// How far back a channel's first run goes.
    pub since: Option<Duration>,
    /// Each run also re-reads the messages sent within this window (their counters and edits
    /// change after we first stored them); off when unset or zero.
    pub refresh_window: Option<Duration>,
}

/// The raw values, as clap read them from flags or the environment.
#[derive(Clone, Debug, Default)]
pub struct RawCollectConfig {
    pub run_id: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub pod_name: Option<String>,
    pub channels: Option<String>,
    pub limits: Option<String>,
    pub database_url: Option<String>,
    pub api_id: Option<String>,
    pub session_file: PathBuf,
    pub flood_wait_threshold: String,
    pub progress_interval: String,
}

/// Everything `collect` needs, checked.
#[derive(Clone, Debug)]
pub struct CollectConfig {
    pub run: RunIdentity,
    /// The spec's strings (used as channel names in the audit log) with their parsed form.
    pub channels: Vec<(String, ChannelRef)>,
    pub limits: Limits,
    pub database_url: String,
    pub api_id: i32,
    pub session_file: PathBuf,
    pub flood_wait_threshold: Duration,
    pub progress_interval: Duration,
}

/// A configuration problem; the message names the variable, never its (possibly secret) value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing configuration: set {var}")]
    Missing { var: &'static str },
    #[error("{var} is not a JSON array of channel strings ({detail})")]
    ChannelsJson { var: &'static str, detail: String },
    #[error("{var} holds no channels")]
    NoChannels { var: &'static str },
    #[error("{var}: {source}")]
    Channel {
        var: &'static str,
        #[source]
        source: ChannelRefError,
    },
    #[error("{var} is not a JSON object of spec.limits ({detail})")]
    LimitsJson { var: &'static str, detail: String },
    #[error("{var}: maxMessagesPerChannel must be at least 1, got {value}")]
    MaxMessages { var: &'static str, value: i64 },
    #[error("{var}: {what} {value:?} is not a duration like 30d, 72h or 1h30m")]
    Duration {
        var: &'static str,
        what: &'static str,
        value: String,
    },
    #[error("{var} is not a number")]
    ApiId { var: &'static str },
}

// The names the operator sets are the contract's (`audit::contract::env`); these tune the
// collector only.
pub const FLOOD_WAIT_THRESHOLD: &str = "COLLECTOR_FLOOD_WAIT_THRESHOLD";
pub const PROGRESS_INTERVAL: &str = "COLLECTOR_PROGRESS_INTERVAL";
pub const DATABASE_CONNECT_TIMEOUT: &str = "COLLECTOR_DATABASE_CONNECT_TIMEOUT";

fn required(value: Option<String>, var: &'static str) -> Result<String, ConfigError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing { var })
}

impl RawCollectConfig {
    pub fn check(self) -> Result<CollectConfig, ConfigError> {
        let run = RunIdentity {
            run_id: required(self.run_id, RUN_ID)?,
            namespace: required(self.namespace, NAMESPACE)?,
            name: required(self.name, NAME)?,
            pod_name: self.pod_name.filter(|p| !p.is_empty()),
            shard: None,
        };
        let channels = parse_channels(&required(self.channels, CHANNELS)?)?;
        let limits = parse_limits(self.limits.as_deref().unwrap_or("{}"))?;
        let database_url = required(self.database_url, DATABASE_URL)?;
        let api_id = required(self.api_id, API_ID)?
            .trim()
            .parse()
            .map_err(|_| ConfigError::ApiId { var: API_ID })?;
        let duration = |var, what, value: String| {
            parse_duration(&value).ok_or(ConfigError::Duration { var, what, value })
        };
        Ok(CollectConfig {
            run,
            channels,
            limits,
            database_url,
            api_id,
            session_file: self.session_file,
            flood_wait_threshold: duration(
                FLOOD_WAIT_THRESHOLD,
                "threshold",
                self.flood_wait_threshold,
            )?,
            progress_interval: duration(PROGRESS_INTERVAL, "interval", self.progress_interval)?,
        })
    }
}

/// `COLLECTOR_CHANNELS`: a JSON array of the spec's channel strings.
pub fn parse_channels(json: &str) -> Result<Vec<(String, ChannelRef)>, ConfigError> {
    let strings: Vec<String> =
        serde_json::from_str(json).map_err(|e| ConfigError::ChannelsJson {
            var: CHANNELS,
            detail: json_detail(&e),
        })?;
    if strings.is_empty() {
        return Err(ConfigError::NoChannels { var: CHANNELS });
    }
    let mut channels: Vec<(String, ChannelRef)> = Vec::with_capacity(strings.len());
    for input in strings {
        let parsed = ChannelRef::parse(&input).map_err(|source| ConfigError::Channel {
            var: CHANNELS,
            source,
        })?;
        // `@durov` and `https://t.me/durov` are one channel: collect it once.
        if !channels.iter().any(|(_, seen)| *seen == parsed) {
            channels.push((input, parsed));
        }
    }
    Ok(channels)
}

/// `COLLECTOR_LIMITS`: the JSON of `spec.limits`.
pub fn parse_limits(json: &str) -> Result<Limits, ConfigError> {
    // Unset limits may arrive as an empty variable or JSON null.
    if json.trim().is_empty() || json.trim() == "null" {
        return Ok(Limits::default());
    }
    let spec: LimitsSpec = serde_json::from_str(json).map_err(|e| ConfigError::LimitsJson {
        var: LIMITS,
        detail: json_detail(&e),
    })?;
    let max_messages_per_channel = match spec.max_messages_per_channel {
        None => None,
        Some(value) if value >= 1 => Some(value as u64),
        Some(value) => return Err(ConfigError::MaxMessages { var: LIMITS, value }),
    };
    let duration = |what, value: Option<String>| match value {
        None => Ok(None),
        Some(value) => match parse_duration(&value) {
            Some(duration) => Ok(Some(duration)),
            None => Err(ConfigError::Duration {
                var: LIMITS,
                what,
                value,
            }),
        },
    };
    Ok(Limits {
        max_messages_per_channel,
        since: duration("since", spec.since)?,
        refresh_window: duration("refreshWindow", spec.refresh_window)?
            .filter(|window| !window.is_zero()),
    })
}

/// Whole units of `d`, `h`, `m`, `s`, concatenated (`30d`, `1h30m`), as the CRD's pattern allows.
pub fn parse_duration(input: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in input.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    (digits.is_empty() && !input.trim().is_empty()).then(|| Duration::from_secs(total))
}

/// Where a JSON document went wrong, without quoting its content.
pub fn json_detail(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end",
        Category::Data => "unexpected value",
        Category::Io => "read error",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawCollectConfig {
        RawCollectConfig {
            run_id: Some("news-29384756".into()),
            namespace: Some("default".into()),
            name: Some("news".into()),
            pod_name: Some("news-29384756-abcde".into()),
            channels: Some(r#"["@durov", "https://t.me/Durov", "-1001006503122"]"#.into()),
            limits: Some(
                r#"{"maxMessagesPerChannel": 500, "since": "30d", "refreshWindow": "48h"}"#.into(),
            ),
            database_url: Some("postgres://u:secret@db/x".into()),
            api_id: Some("12345".into()),
            session_file: audit::contract::SESSION_PATH.into(),
            flood_wait_threshold: "5m".into(),
            progress_interval: "5s".into(),
        }
    }

    #[test]
    fn the_operators_environment_is_accepted() {
        let config = raw().check().unwrap();
        assert_eq!(config.run.run_id, "news-29384756");
        assert_eq!(config.run.pod_name.as_deref(), Some("news-29384756-abcde"));
        assert_eq!(
            config.channels,
            vec![
                ("@durov".to_owned(), ChannelRef::Username("durov".into())),
                ("-1001006503122".to_owned(), ChannelRef::Id(1006503122)),
            ],
            "the same channel spelt twice is collected once"
        );
        assert_eq!(
            config.limits,
            Limits {
                max_messages_per_channel: Some(500),
                since: Some(Duration::from_secs(30 * 86_400)),
                refresh_window: Some(Duration::from_secs(48 * 3_600)),
            }
        );
        assert_eq!(config.api_id, 12345);
        assert_eq!(config.flood_wait_threshold, Duration::from_secs(300));
    }

    #[test]
    fn limits_are_optional() {
        let config = RawCollectConfig {
            limits: None,
            ..raw()
        }
        .check()
        .unwrap();
        assert_eq!(config.limits, Limits::default());
        for unset in ["{}", "", "null", r#"{"refreshWindow": "0s"}"#] {
            assert_eq!(parse_limits(unset).unwrap(), Limits::default(), "{unset:?}");
        }
    }

    #[test]
    fn each_missing_variable_is_named() {
        type Unset = fn(&mut RawCollectConfig);
        let cases: [(Unset, &str); 6] = [
            (|r| r.run_id = None, RUN_ID),
            (|r| r.namespace = None, NAMESPACE),
            (|r| r.name = Some(" ".into()), NAME),
            (|r| r.channels = None, CHANNELS),
            (|r| r.database_url = None, DATABASE_URL),
            (|r| r.api_id = None, API_ID),
        ];
        for (unset, var) in cases {
            let mut config = raw();
            unset(&mut config);
            assert_eq!(config.check().unwrap_err(), ConfigError::Missing { var });
        }
    }

    #[test]
    fn bad_values_name_the_variable_and_never_echo_the_database_url() {
        let errors = [
            RawCollectConfig {
                channels: Some("@durov".into()),
                ..raw()
            },
            RawCollectConfig {
                channels: Some("[]".into()),
                ..raw()
            },
            RawCollectConfig {
                channels: Some(r#"["not a channel"]"#.into()),
                ..raw()
            },
            RawCollectConfig {
                limits: Some(r#"{"since": "soon"}"#.into()),
                ..raw()
            },
            RawCollectConfig {
                limits: Some(r#"{"maxMessagesPerChannel": 0}"#.into()),
                ..raw()
            },
            RawCollectConfig {
                limits: Some(r#"{"refreshWindow": "two days"}"#.into()),
                ..raw()
            },
            RawCollectConfig {
                limits: Some("[".into()),
                ..raw()
            },
            RawCollectConfig {
                api_id: Some("abc".into()),
                ..raw()
            },
            RawCollectConfig {
                flood_wait_threshold: "forever".into(),
                ..raw()
            },
        ]
        .map(|r| r.check().unwrap_err().to_string());
        for (message, var) in errors.iter().zip([
            CHANNELS,
            CHANNELS,
            CHANNELS,
            LIMITS,
            LIMITS,
            LIMITS,
            LIMITS,
            API_ID,
            FLOOD_WAIT_THRESHOLD,
        ]) {
            assert!(message.contains(var), "{message}");
            assert!(!message.contains("secret"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn durations_follow_the_crd_pattern() {
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("72h"), Some(Duration::from_secs(259_200)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("45s"), Some(Duration::from_secs(45)));
        for bad in ["", "30", "d", "1x", "1.5h", "-1h", "h1"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
