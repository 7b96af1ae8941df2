//! `spec.media`: which files a collection downloads and where they go. Declared once for the
//! CRD (with its schema); the operator resolves the destination (the collection's own or the
//! operator-wide default) and hands the collector [`MediaSettings`] as JSON in
//! `COLLECTOR_MEDIA`. The collector's audit rows count what it did in [`MediaCounts`].

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A size in bytes, with an optional binary or decimal suffix: `500`, `50Mi`, `2G`.
pub const SIZE_PATTERN: &str = r"^[0-9]{1,15}(Ki|Mi|Gi|Ti|k|M|G|T)?$";

/// What kind of file a message carries, as a user picks them.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Photo,
    Video,
    /// Any other file (PDFs, archives, ...).
    Document,
    /// Music and other audio files.
    Audio,
    /// Voice notes.
    Voice,
    Sticker,
    /// GIFs (Telegram sends them as silent MP4s).
    Animation,
}

impl MediaKind {
    pub const ALL: [MediaKind; 7] = [
        MediaKind::Photo,
        MediaKind::Video,
        MediaKind::Document,
        MediaKind::Audio,
        MediaKind::Voice,
        MediaKind::Sticker,
        MediaKind::Animation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "voice",
            MediaKind::Sticker => "sticker",
            MediaKind::Animation => "animation",
        }
    }
}

/// `spec.media`, as the user writes it. Media is off unless this is set.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MediaSpec {
    /// Kinds of files to download.
    #[schemars(length(min = 1, max = 7))]
    pub kinds: Vec<MediaKind>,
    /// Larger files are skipped (counted as skipped), e.g. `50Mi`; no limit when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20), regex(pattern = SIZE_PATTERN))]
    pub max_file_size: Option<String>,
    /// Bytes one run downloads at most, e.g. `10Gi`; the rest waits for the next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20), regex(pattern = SIZE_PATTERN))]
    pub max_bytes_per_run: Option<String>,
    /// Only files of messages sent after this instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_than: Option<DateTime<Utc>>,
    /// Where files go; the operator-wide default (from the chart) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<MediaDestination>,
}

/// Where downloaded files are stored. Exactly one of `s3` and `directory` is set.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MediaDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryDestination>,
}

/// An S3-compatible bucket.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Key prefix inside the bucket (e.g. `telegram/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub prefix: Option<String>,
    /// The endpoint URL of a non-AWS server (MinIO, Ceph, Garage, ...); AWS when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub region: Option<String>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (most non-AWS servers).
    #[serde(default)]
    pub path_style: bool,
    /// A Secret in the collection's namespace with `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`; the pod's own identity (e.g. IRSA) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub credentials_secret: Option<String>,
}

/// A volume the collector mounts (e.g. a ReadWriteMany PersistentVolumeClaim).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryDestination {
    /// The claim, in the collection's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub persistent_volume_claim: String,
    /// A directory inside the volume; its root when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub sub_path: Option<String>,
}

/// What the collector reads from `COLLECTOR_MEDIA`: the spec with sizes in bytes and the
/// destination resolved to what the collector's container sees.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MediaSettings {
    pub kinds: Vec<MediaKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes_per_run: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_than: Option<DateTime<Utc>>,
    pub store: MediaStore,
}

/// The destination as the collector's container sees it. S3 credentials come from the
/// standard `AWS_*` environment (a Secret the operator maps in), never from this JSON.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "type"
)]
pub enum MediaStore {
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        #[serde(default)]
        path_style: bool,
    },
    /// A directory in the collector's container (the mounted volume).
    Directory { path: String },
}

/// Where the operator mounts a [`DirectoryDestination`]'s volume in the collector.
pub const MEDIA_MOUNT_PATH: &str = "/var/lib/collector/media";

/// What a run did with files, per channel (in `collection_progress`) or over the run (in
/// `collection_end`). A file already stored (by any message or channel) counts as neither
/// downloaded nor skipped: it is linked, not fetched again.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaCounts {
    #[serde(default)]
    pub files_downloaded: u64,
    #[serde(default)]
    pub bytes_downloaded: u64,
    /// Files larger than `maxFileSize`.
    #[serde(default)]
    pub files_skipped_too_big: u64,
    /// Files left for a later run because this run's byte budget was spent.
    #[serde(default)]
    pub files_skipped_over_budget: u64,
    /// Bytes of the skipped files.
    #[serde(default)]
    pub bytes_skipped: u64,
    /// Files that could not be downloaded (retried by the next run).
    #[serde(default)]
    pub files_failed: u64,
}

impl MediaCounts {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn add(&mut self, other: &MediaCounts) {
        self.files_downloaded += other.files_downloaded;
        self.bytes_downloaded += other.bytes_downloaded;
        self.files_skipped_too_big += other.files_skipped_too_big;
        self.files_skipped_over_budget += other.files_skipped_over_budget;
        self.bytes_skipped += other.bytes_skipped;
        self.files_failed += other.files_failed;
    }
}

/// Why a size string is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a size (a number of bytes with an optional suffix Ki, Mi, Gi, Ti, k, M, G or T)"
)]
pub struct SizeError {
    pub value: String,
}

/// Reads a [`SIZE_PATTERN`] size as bytes.
pub fn parse_size(value: &str) -> Result<u64, SizeError> {
    let error = || SizeError {
        value: value.to_owned(),
    };
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(digits_end);
    if digits.is_empty() || digits.len() > 15 {
        return Err(error());
    }
    let number: u64 = digits.parse().map_err(|_| error())?;
    let unit: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return Err(error()),
    };
    number.checked_mul(unit).ok_or_else(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_binary_and_decimal_suffixes() {
        assert_eq!(parse_size("500"), Ok(500));
        assert_eq!(parse_size("50Mi"), Ok(50 << 20));
        assert_eq!(parse_size("2G"), Ok(2_000_000_000));
        assert_eq!(parse_size("1Ti"), Ok(1 << 40));
    }

    #[test]
    fn a_size_that_is_not_one_is_refused_with_its_value() {
        for bad in ["", "Mi", "5 Mi", "5mi", "-1", "1.5G", "9999999999999999"] {
            let error = parse_size(bad).unwrap_err();
            assert_eq!(error.value, bad);
        }
    }

    #[test]
    fn the_pattern_and_the_parser_agree() {
        let pattern = regex::Regex::new(SIZE_PATTERN).unwrap();
        for value in [
            "0", "500", "50Mi", "2G", "10Ti", "7k", "5mi", "1.5G", "", "Gi",
        ] {
            assert_eq!(
                pattern.is_match(value),
                parse_size(value).is_ok(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn settings_are_read_from_their_json() {
        let settings: MediaSettings = serde_json::from_str(
            r#"{"kinds":["photo","voice"],"maxFileSize":1048576,
                "store":{"type":"s3","bucket":"archive","prefix":"tg/","pathStyle":true}}"#,
        )
        .unwrap();
        assert_eq!(settings.kinds, [MediaKind::Photo, MediaKind::Voice]);
        assert_eq!(settings.max_file_size, Some(1 << 20));
        assert!(matches!(
            settings.store,
            MediaStore::S3 {
                path_style: true,
                ..
            }
        ));
    }
}
