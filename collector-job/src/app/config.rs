//! The `collect` configuration: the Job's environment (docs/job-contract.md) checked and
//! turned into typed settings.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use contract::audit::RunIdentity;
use contract::channel::{ChannelRef, ChannelRefError};
use contract::job::env::{
    API_ID, API_ID_FILE, ASSIGNMENT, CHANNELS, DATABASE_URL, LIMITS, MEDIA, NAME, NAMESPACE,
    RUN_ID, SHARD_COUNT, SHARD_INDEX,
};
use contract::limits::CollectionLimits;
use contract::media::{MediaSettings, MediaStore};
use regex::Regex;

use crate::app::secret::Secret;

/// Telegram's largest page of history, and the pages an export is read in.
pub const MAX_BATCH: usize = 100;

/// Pages written as one statement at most, when more are waiting than the database keeps up
/// with (`collect` and `import` store what was read while the last store ran together): 500
/// messages, about 250 KB of parameters.
pub const PAGES_PER_STATEMENT: usize = 5;

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
    /// How often each channel's stored ids are re-read for deletions; off when unset or zero.
    pub deletion_sweep: Option<Duration>,
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
    pub database_url: Option<Secret>,
    pub api_id: Option<String>,
    pub session_file: PathBuf,
    pub flood_wait_threshold: String,
    pub progress_interval: String,
}

/// The raw values added with sharded runs (docs/sharding.md), apart from
/// [`RawCollectConfig`] so that code building one (the operator's contract test) keeps
/// compiling. All unset: an unsharded run with `TELEGRAM_API_ID` and the default lock timeout.
#[derive(Clone, Debug, Default)]
pub struct RawShardConfig {
    /// `TELEGRAM_API_ID_FILE`: a file holding the api id, instead of `TELEGRAM_API_ID`.
    pub api_id_file: Option<PathBuf>,
    /// `COLLECTOR_SESSION_LOCK_TIMEOUT`; 60 s when unset.
    pub session_lock_timeout: Option<String>,
    pub shard_count: Option<String>,
    pub shard_index: Option<String>,
    pub assignment: Option<String>,
}

/// Everything `collect` needs, checked.
#[derive(Clone, Debug)]
pub struct CollectConfig {
    /// `run.shard` is the Job completion index of a sharded run.
    pub run: RunIdentity,
    /// The channels this process collects, in order: the spec's strings (used as channel names
    /// in the audit log) with their parsed form. In a sharded run, this index's assignment.
    pub channels: Vec<(String, ChannelRef)>,
    pub limits: Limits,
    pub database_url: Secret,
    pub api_id: i32,
    pub session_file: PathBuf,
    pub flood_wait_threshold: Duration,
    pub progress_interval: Duration,
    /// How long to wait for another collector to release the session's lock.
    pub session_lock_timeout: Duration,
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
    #[error("missing configuration: set {API_ID} or {API_ID_FILE}")]
    MissingApiId,
    #[error("set only one of {API_ID} and {API_ID_FILE}")]
    TwoApiIds,
    #[error("cannot read {API_ID_FILE} {path}: {kind}")]
    ApiIdFile { path: String, kind: String },
    #[error(
        "{var} is set but {SHARD_COUNT} is not (only sharded runs have a shard index or an assignment)"
    )]
    NotSharded { var: &'static str },
    #[error("{var} {value:?} is not a decimal number")]
    ShardNumber { var: &'static str, value: String },
    #[error("{SHARD_COUNT} must be at least 1")]
    NoShards,
    #[error("{SHARD_INDEX} {index} is not below {SHARD_COUNT} {count}")]
    ShardIndex { index: u32, count: u32 },
    #[error("{MEDIA} is not a JSON object of media settings ({detail})")]
    MediaJson { detail: String },
    #[error("{MEDIA} names no kinds of files to download")]
    MediaKinds,
    #[error("{MEDIA}: {what} must not be empty")]
    MediaEmpty { what: &'static str },
    #[error("{ASSIGNMENT} is not a JSON array of arrays of channel strings ({detail})")]
    AssignmentJson { detail: String },
    #[error("{ASSIGNMENT} has {found} lists of channels, {SHARD_COUNT} is {count}")]
    AssignmentLength { found: usize, count: u32 },
    #[error("{ASSIGNMENT} gives index {index} channel {channel:?}, which is not in {CHANNELS}")]
    NotInChannels { index: usize, channel: String },
}

// The names the operator sets are the contract's (`contract::job::env`); these tune the
// collector only.
pub const FLOOD_WAIT_THRESHOLD: &str = "COLLECTOR_FLOOD_WAIT_THRESHOLD";
pub const PROGRESS_INTERVAL: &str = "COLLECTOR_PROGRESS_INTERVAL";
pub const SESSION_LOCK_TIMEOUT: &str = "COLLECTOR_SESSION_LOCK_TIMEOUT";
pub const DATABASE_CONNECT_TIMEOUT: &str = "COLLECTOR_DATABASE_CONNECT_TIMEOUT";
pub const DATABASE_RETRY_BUDGET: &str = "COLLECTOR_DATABASE_RETRY_BUDGET";

fn required(value: Option<String>, var: &'static str) -> Result<String, ConfigError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing { var })
}

/// The session lock timeout when none is given.
pub const DEFAULT_SESSION_LOCK_TIMEOUT: &str = "60s";

impl RawCollectConfig {
    /// An unsharded run's configuration, checked.
    pub fn check(self) -> Result<CollectConfig, ConfigError> {
        self.check_with(RawShardConfig::default())
    }

    /// The configuration with the sharded-run settings `more`, checked.
    pub fn check_with(self, more: RawShardConfig) -> Result<CollectConfig, ConfigError> {
        let mut run = RunIdentity {
            run_id: required(self.run_id, RUN_ID)?,
            namespace: required(self.namespace, NAMESPACE)?,
            name: required(self.name, NAME)?,
            pod_name: self.pod_name.filter(|p| !p.is_empty()),
            shard: None,
        };
        let channels_json = required(self.channels, CHANNELS)?;
        let mut channels = parse_channels(&channels_json)?;
        if let Some(shard) = parse_shard(
            more.shard_count.as_deref(),
            more.shard_index.as_deref(),
            more.assignment.as_deref(),
            &channels_json,
        )? {
            run.shard = Some(shard.index);
            channels = shard.channels;
        }
        let limits = parse_limits(self.limits.as_deref().unwrap_or("{}"))?;
        let database_url = self
            .database_url
            .filter(|url| !url.is_blank())
            .ok_or(ConfigError::Missing { var: DATABASE_URL })?;
        let api_id = api_id(self.api_id, more.api_id_file)?;
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
            session_lock_timeout: duration(
                SESSION_LOCK_TIMEOUT,
                "timeout",
                more.session_lock_timeout
                    .unwrap_or_else(|| DEFAULT_SESSION_LOCK_TIMEOUT.to_owned()),
            )?,
        })
    }
}

/// The api id, from `TELEGRAM_API_ID` or the file `TELEGRAM_API_ID_FILE` names (exactly one;
/// a trailing newline is fine). Neither value is quoted in errors.
fn api_id(value: Option<String>, file: Option<PathBuf>) -> Result<i32, ConfigError> {
    let value = value.filter(|v| !v.trim().is_empty());
    let file = file.filter(|f| !f.as_os_str().is_empty());
    let (text, var) = match (value, file) {
        (Some(_), Some(_)) => return Err(ConfigError::TwoApiIds),
        (None, None) => return Err(ConfigError::MissingApiId),
        (Some(value), None) => (value, API_ID),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::ApiIdFile {
                path: path.display().to_string(),
                kind: e.kind().to_string(),
            })?;
            (text, API_ID_FILE)
        }
    };
    text.trim().parse().map_err(|_| ConfigError::ApiId { var })
}

/// A value that is given and not blank, trimmed.
fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// One index's part of a sharded run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// The Job completion index.
    pub index: u32,
    /// `assignment[index]`, in order, each with its parsed form.
    pub channels: Vec<(String, ChannelRef)>,
}

/// `COLLECTOR_SHARD_COUNT`, `COLLECTOR_SHARD_INDEX` and `COLLECTOR_ASSIGNMENT` (docs/sharding.md):
/// `None` for an unsharded run (no count). The index must be below the count, the assignment
/// must have one list per index, and every channel it names must be one of `channels_json`'s
/// strings, exactly as written there.
pub fn parse_shard(
    count: Option<&str>,
    index: Option<&str>,
    assignment: Option<&str>,
    channels_json: &str,
) -> Result<Option<Shard>, ConfigError> {
    let (count, index, assignment) = (set(count), set(index), set(assignment));
    let Some(count) = count else {
        return match (index, assignment) {
            (Some(_), _) => Err(ConfigError::NotSharded { var: SHARD_INDEX }),
            (None, Some(_)) => Err(ConfigError::NotSharded { var: ASSIGNMENT }),
            (None, None) => Ok(None),
        };
    };
    let number = |var, value: &str| {
        value.parse::<u32>().map_err(|_| ConfigError::ShardNumber {
            var,
            value: value.to_owned(),
        })
    };
    let count = number(SHARD_COUNT, count)?;
    if count == 0 {
        return Err(ConfigError::NoShards);
    }
    let index = number(
        SHARD_INDEX,
        index.ok_or(ConfigError::Missing { var: SHARD_INDEX })?,
    )?;
    if index >= count {
        return Err(ConfigError::ShardIndex { index, count });
    }
    let assignment = assignment.ok_or(ConfigError::Missing { var: ASSIGNMENT })?;
    let lists: Vec<Vec<String>> =
        serde_json::from_str(assignment).map_err(|e| ConfigError::AssignmentJson {
            detail: json_detail(&e),
        })?;
    if lists.len() != count as usize {
        return Err(ConfigError::AssignmentLength {
            found: lists.len(),
            count,
        });
    }
    // Checked by `parse_channels` already: a JSON array of strings.
    let spec: Vec<String> =
        serde_json::from_str(channels_json).map_err(|e| ConfigError::ChannelsJson {
            var: CHANNELS,
            detail: json_detail(&e),
        })?;
    for (i, list) in lists.iter().enumerate() {
        if let Some(channel) = list.iter().find(|c| !spec.contains(c)) {
            return Err(ConfigError::NotInChannels {
                index: i,
                channel: channel.clone(),
            });
        }
    }
    let mut channels: Vec<(String, ChannelRef)> = Vec::new();
    for input in lists.into_iter().nth(index as usize).unwrap_or_default() {
        let parsed = ChannelRef::parse(&input).map_err(|source| ConfigError::Channel {
            var: ASSIGNMENT,
            source,
        })?;
        if !channels.iter().any(|(_, seen)| *seen == parsed) {
            channels.push((input, parsed));
        }
    }
    Ok(Some(Shard { index, channels }))
}

/// `COLLECTOR_MEDIA`: the media settings the operator resolved from `spec.media`; `None`
/// (media off) when unset or blank.
pub fn parse_media(json: Option<&str>) -> Result<Option<MediaSettings>, ConfigError> {
    let Some(json) = set(json) else {
        return Ok(None);
    };
    let settings: MediaSettings =
        serde_json::from_str(json).map_err(|e| ConfigError::MediaJson {
            detail: json_detail(&e),
        })?;
    if settings.kinds.is_empty() {
        return Err(ConfigError::MediaKinds);
    }
    match &settings.store {
        MediaStore::S3 { bucket, .. } if bucket.trim().is_empty() => {
            return Err(ConfigError::MediaEmpty { what: "the bucket" });
        }
        MediaStore::Directory { path } if path.trim().is_empty() => {
            return Err(ConfigError::MediaEmpty {
                what: "the directory path",
            });
        }
        _ => {}
    }
    Ok(Some(settings))
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
    let spec: CollectionLimits =
        serde_json::from_str(json).map_err(|e| ConfigError::LimitsJson {
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
        deletion_sweep: duration("deletionSweep", spec.deletion_sweep)?
            .filter(|interval| !interval.is_zero()),
    })
}

/// The CRD's lookback pattern: whole units of `d`, `h`, `m`, `s`, concatenated.
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(contract::limits::LOOKBACK_PATTERN).expect("LOOKBACK_PATTERN is a valid regex")
});

/// Whole units of `d`, `h`, `m`, `s`, concatenated (`30d`, `1h30m`), as the CRD's pattern
/// allows; humantime adds them up. Its other forms (fractions, spaces, `ms`, months) are
/// refused, so every duration setting reads the same as `spec.limits`.
pub fn parse_duration(input: &str) -> Option<Duration> {
    let input = input.trim();
    DURATION
        .is_match(input)
        .then(|| humantime::parse_duration(input).ok())
        .flatten()
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

    #[test]
    fn media_is_off_unless_set_and_a_bad_value_names_the_variable() {
        assert_eq!(parse_media(None), Ok(None));
        assert_eq!(parse_media(Some("  ")), Ok(None));
        let settings = parse_media(Some(
            r#"{"kinds":["photo"],"maxBytesPerRun":10,"store":{"type":"directory","path":"/m"}}"#,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(settings.max_bytes_per_run, Some(10));
        for (value, expected) in [
            (
                r#"{"kinds":["photo"]}"#,
                "COLLECTOR_MEDIA is not a JSON object of media settings",
            ),
            (
                r#"{"kinds":["film"],"store":{"type":"directory","path":"/m"}}"#,
                "COLLECTOR_MEDIA is not a JSON object of media settings",
            ),
            (
                r#"{"kinds":[],"store":{"type":"directory","path":"/m"}}"#,
                "COLLECTOR_MEDIA names no kinds of files to download",
            ),
            (
                r#"{"kinds":["voice"],"store":{"type":"s3","bucket":" "}}"#,
                "COLLECTOR_MEDIA: the bucket must not be empty",
            ),
            (
                r#"{"kinds":["voice"],"store":{"type":"directory","path":""}}"#,
                "COLLECTOR_MEDIA: the directory path must not be empty",
            ),
        ] {
            let error = parse_media(Some(value)).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{value}: {error}");
        }
    }

    fn raw() -> RawCollectConfig {
        RawCollectConfig {
            run_id: Some("news-29384756".into()),
            namespace: Some("default".into()),
            name: Some("news".into()),
            pod_name: Some("news-29384756-abcde".into()),
            channels: Some(r#"["@durov", "https://t.me/Durov", "-1001006503122"]"#.into()),
            limits: Some(
                r#"{"maxMessagesPerChannel": 500, "since": "30d", "refreshWindow": "48h",
                    "deletionSweep": "7d"}"#
                    .into(),
            ),
            database_url: Some("postgres://u:secret@db/x".into()),
            api_id: Some("12345".into()),
            session_file: contract::job::SESSION_PATH.into(),
            flood_wait_threshold: "5m".into(),
            progress_interval: "5s".into(),
        }
    }

    /// `raw()` with the channels `@alpha`..`@foxtrot`.
    fn spec() -> RawCollectConfig {
        RawCollectConfig {
            channels: Some(
                r#"["@alpha", "@bravo", "https://t.me/charlie", "@delta", "@foxtrot"]"#.into(),
            ),
            ..raw()
        }
    }

    /// Index `index` of a sharded run of `spec()` on three accounts.
    fn sharded(index: &str) -> RawShardConfig {
        RawShardConfig {
            shard_count: Some("3".into()),
            shard_index: Some(index.into()),
            assignment: Some(
                r#"[["@delta", "@alpha"], ["https://t.me/charlie", "@foxtrot", "@bravo"], []]"#
                    .into(),
            ),
            ..RawShardConfig::default()
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
                deletion_sweep: Some(Duration::from_secs(7 * 86_400)),
            }
        );
        assert_eq!(config.api_id, 12345);
        assert_eq!(config.flood_wait_threshold, Duration::from_secs(300));
        assert_eq!(config.session_lock_timeout, Duration::from_secs(60));
        assert_eq!(config.run.shard, None, "no shard count: an unsharded run");
    }

    #[test]
    fn a_shard_collects_its_own_assignment_in_order_and_says_which_it_is() {
        let names = |config: &CollectConfig| {
            config
                .channels
                .iter()
                .map(|(name, _)| name.clone())
                .collect::<Vec<_>>()
        };
        let first = spec().check_with(sharded("0")).unwrap();
        assert_eq!(first.run.shard, Some(0));
        assert_eq!(names(&first), ["@delta", "@alpha"]);
        let second = spec().check_with(sharded(" 1 ")).unwrap();
        assert_eq!(second.run.shard, Some(1));
        assert_eq!(
            names(&second),
            ["https://t.me/charlie", "@foxtrot", "@bravo"]
        );
        assert_eq!(
            second.channels[0].1,
            ChannelRef::Username("charlie".into()),
            "parsed like COLLECTOR_CHANNELS"
        );
        let idle = spec().check_with(sharded("2")).unwrap();
        assert_eq!((idle.run.shard, idle.channels.len()), (Some(2), 0));
        let one = RawShardConfig {
            shard_count: Some("1".into()),
            shard_index: Some("0".into()),
            assignment: Some(r#"[["@durov"]]"#.into()),
            ..RawShardConfig::default()
        };
        assert_eq!(raw().check_with(one).unwrap().run.shard, Some(0));
    }

    #[test]
    fn inconsistent_shard_settings_are_refused_with_one_line_naming_the_problem() {
        let assignment = |json: &str| RawShardConfig {
            assignment: Some(json.into()),
            ..sharded("0")
        };
        let cases = [
            (sharded("3"), ConfigError::ShardIndex { index: 3, count: 3 }),
            (
                sharded("-1"),
                ConfigError::ShardNumber {
                    var: SHARD_INDEX,
                    value: "-1".into(),
                },
            ),
            (
                RawShardConfig {
                    shard_index: None,
                    ..sharded("0")
                },
                ConfigError::Missing { var: SHARD_INDEX },
            ),
            (
                RawShardConfig {
                    assignment: Some(String::new()),
                    ..sharded("0")
                },
                ConfigError::Missing { var: ASSIGNMENT },
            ),
            (
                RawShardConfig {
                    shard_count: Some("0".into()),
                    ..sharded("0")
                },
                ConfigError::NoShards,
            ),
            (
                RawShardConfig {
                    shard_count: Some("three".into()),
                    ..sharded("0")
                },
                ConfigError::ShardNumber {
                    var: SHARD_COUNT,
                    value: "three".into(),
                },
            ),
            (
                RawShardConfig {
                    shard_count: None,
                    ..sharded("0")
                },
                ConfigError::NotSharded { var: SHARD_INDEX },
            ),
            (
                RawShardConfig {
                    shard_count: None,
                    shard_index: None,
                    ..sharded("0")
                },
                ConfigError::NotSharded { var: ASSIGNMENT },
            ),
            (
                assignment(r#"[["@alpha"], ["@bravo"]]"#),
                ConfigError::AssignmentLength { found: 2, count: 3 },
            ),
            (
                // Another index's list is checked too; `charlie` is in the spec only as a URL.
                assignment(r#"[["@alpha"], ["@charlie"], []]"#),
                ConfigError::NotInChannels {
                    index: 1,
                    channel: "@charlie".into(),
                },
            ),
            (
                assignment(r#"[["@alpha"], ["@bravo"], ["@zulu\n"]]"#),
                ConfigError::NotInChannels {
                    index: 2,
                    channel: "@zulu\n".into(),
                },
            ),
        ];
        for (shard, expected) in cases {
            let error = spec().check_with(shard).unwrap_err();
            let message = error.to_string();
            assert_eq!(error, expected, "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        for bad in [
            r#"{"0": ["@alpha"]}"#,
            r#"["@alpha", "@bravo", "@charlie"]"#,
            "[[1], [], []]",
            "[[",
        ] {
            let error = spec().check_with(assignment(bad)).unwrap_err();
            assert!(
                matches!(error, ConfigError::AssignmentJson { .. }),
                "{bad}: {error}"
            );
            assert!(error.to_string().contains(ASSIGNMENT));
        }
    }

    #[test]
    fn the_api_id_comes_from_the_variable_or_a_file_but_not_both() {
        let dir = std::env::temp_dir().join(format!("collector-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("api_id");
        std::fs::write(&file, "54321\n").unwrap();
        let file_only = RawCollectConfig {
            api_id: None,
            ..raw()
        };
        let with_file = || RawShardConfig {
            api_id_file: Some(file.clone()),
            ..RawShardConfig::default()
        };
        let from_file = || file_only.clone().check_with(with_file());
        assert_eq!(from_file().unwrap().api_id, 54321);
        let both = raw().check_with(with_file()).unwrap_err();
        assert_eq!(both, ConfigError::TwoApiIds);
        let neither = RawCollectConfig {
            api_id: None,
            ..raw()
        };
        let missing = neither.check().unwrap_err();
        assert_eq!(missing, ConfigError::MissingApiId);
        assert!(missing.to_string().contains(API_ID_FILE), "{missing}");
        std::fs::write(&file, "secret-looking 9f8e\n").unwrap();
        let garbage = from_file().unwrap_err();
        assert_eq!(garbage, ConfigError::ApiId { var: API_ID_FILE });
        assert!(!garbage.to_string().contains("9f8e"), "{garbage}");
        std::fs::remove_file(&file).unwrap();
        let gone = from_file().unwrap_err();
        assert!(matches!(gone, ConfigError::ApiIdFile { .. }), "{gone}");
        let _ = std::fs::remove_dir_all(&dir);
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
        let cases: [(Unset, &str); 5] = [
            (|r| r.run_id = None, RUN_ID),
            (|r| r.namespace = None, NAMESPACE),
            (|r| r.name = Some(" ".into()), NAME),
            (|r| r.channels = None, CHANNELS),
            (|r| r.database_url = None, DATABASE_URL),
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
        .map(|r| r.check().unwrap_err().to_string())
        .into_iter()
        .chain([raw()
            .check_with(RawShardConfig {
                session_lock_timeout: Some("a minute".into()),
                ..RawShardConfig::default()
            })
            .unwrap_err()
            .to_string()]);
        for (message, var) in errors.zip([
            CHANNELS,
            CHANNELS,
            CHANNELS,
            LIMITS,
            LIMITS,
            LIMITS,
            LIMITS,
            API_ID,
            FLOOD_WAIT_THRESHOLD,
            SESSION_LOCK_TIMEOUT,
        ]) {
            assert!(message.contains(var), "{message}");
            assert!(!message.contains("secret"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn the_database_url_is_never_shown() {
        let raw = raw();
        // (The session file's path holds "secrets" too: look for the password itself.)
        assert!(!format!("{raw:?}").contains(":secret@"), "{raw:?}");
        let config = raw.check().unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains(":secret@"), "{shown}");
        assert!(shown.contains("database_url: <redacted>"), "{shown}");
        assert_eq!(config.database_url.expose(), "postgres://u:secret@db/x");
    }

    #[test]
    fn durations_follow_the_crd_pattern() {
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("72h"), Some(Duration::from_secs(259_200)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("45s"), Some(Duration::from_secs(45)));
        assert_eq!(
            parse_duration("1d2h3m4s"),
            Some(Duration::from_secs(93_784))
        );
        assert_eq!(parse_duration("90m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration(" 5m\n"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("1m1m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("007s"), Some(Duration::from_secs(7)));
        // Forms humantime alone would take, outside the CRD's pattern.
        for bad in [
            "", "30", "d", "1x", "1.5h", "-1h", "h1", "1h 30m", "100ms", "1M", "2 days", "1hour",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("99999999999999999999d"), None, "overflow");
    }
}
