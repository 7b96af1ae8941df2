//! The one test fixture of a `ChannelCollection`, for every crate's tests and benches
//! (feature `test-support`): `ChannelCollection::test()` and builders such as
//! `.suspended()`, `.sharded(&["tg-a", "tg-b"])`, at the one instant [`t0`].

use chrono::{DateTime, TimeZone, Utc};
use contract::job::annotation;
use kube::api::ObjectMeta;

use crate::time::to_k8s;
use crate::{
    ApiCredentials, ChannelCollection, ChannelCollectionSpec, ChannelCollectionStatus,
    ConcurrencyPolicy, DatabaseSource, MediaDestination, MediaKind, MediaSpec, S3Destination,
    SecretKeyRef, SecretRef, SessionSource, ShardSession,
};

pub const NAMESPACE: &str = "telegram";
pub const NAME: &str = "news";
pub const UID: &str = "5b0f2a8e-1c1e-4a39-9f59-6f1f3f0d0c11";

/// 2026-11-28T12:00:00Z, the instant most tests start from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

pub fn spec() -> ChannelCollectionSpec {
    ChannelCollectionSpec {
        channels: vec![
            "@durov".to_string(),
            "https://t.me/telegram".to_string(),
            "1006503122".to_string(),
        ],
        interval: Some("10m".to_string()),
        schedule: None,
        time_zone: None,
        suspend: false,
        starting_deadline_seconds: None,
        successful_jobs_history_limit: 3,
        failed_jobs_history_limit: 1,
        timeout: Some("30m".to_string()),
        backoff_limit: 2,
        concurrency_policy: ConcurrencyPolicy::Forbid,
        session: Some(SessionSource {
            secret_ref: SecretKeyRef {
                name: "tg-session".to_string(),
                key: "session".to_string(),
            },
        }),
        sessions: None,
        api_credentials: ApiCredentials {
            secret_ref: SecretRef {
                name: "tg-api".to_string(),
            },
        },
        database: None,
        collector: None,
        limits: None,
        media: None,
    }
}

/// A `spec.media` downloading photos and videos of at most 50 MiB, 1 GiB per run, into the
/// bucket `archive` of an S3-compatible server, with credentials from the Secret `media-s3`.
pub fn media_s3() -> MediaSpec {
    MediaSpec {
        kinds: vec![MediaKind::Photo, MediaKind::Video],
        max_file_size: Some("50Mi".to_string()),
        max_bytes_per_run: Some("1Gi".to_string()),
        newer_than: None,
        destination: Some(MediaDestination {
            s3: Some(S3Destination {
                bucket: "archive".to_string(),
                prefix: Some("telegram/".to_string()),
                endpoint: Some("http://minio.storage:9000".to_string()),
                region: None,
                path_style: true,
                credentials_secret: Some("media-s3".to_string()),
            }),
            directory: None,
        }),
    }
}

pub trait TestCollection: Sized {
    fn test() -> Self;
    fn suspended(self) -> Self;
    fn named(self, name: &str) -> Self;
    fn interval(self, interval: &str) -> Self;
    fn cron(self, schedule: &str, time_zone: Option<&str>) -> Self;
    fn deadline(self, seconds: i64) -> Self;
    fn replace(self) -> Self;
    fn created(self, t: DateTime<Utc>) -> Self;
    fn requested(self, value: &str) -> Self;
    fn history_limits(self, successful: i32, failed: i32) -> Self;
    fn with_status(self, status: ChannelCollectionStatus) -> Self;
    fn last_scheduled(self, t: DateTime<Utc>) -> Self;
    fn database(self, name: &str, key: &str) -> Self;
    /// `spec.sessions` with one entry per Secret name (key `session`), instead of `session`.
    fn sharded(self, secrets: &[&str]) -> Self;
    fn channels(self, channels: &[&str]) -> Self;
    fn namespaced(self, namespace: &str) -> Self;
    fn generation(self, generation: i64) -> Self;
    fn media(self, media: MediaSpec) -> Self;
}

impl TestCollection for ChannelCollection {
    fn test() -> Self {
        let mut cc = ChannelCollection::new(NAME, spec());
        cc.metadata = ObjectMeta {
            name: Some(NAME.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            uid: Some(UID.to_string()),
            generation: Some(1),
            resource_version: Some("100".to_string()),
            creation_timestamp: Some(to_k8s(t0())),
            ..ObjectMeta::default()
        };
        cc
    }
    fn suspended(mut self) -> Self {
        self.spec.suspend = true;
        self
    }
    fn sharded(mut self, secrets: &[&str]) -> Self {
        self.spec.session = None;
        self.spec.sessions = Some(
            secrets
                .iter()
                .map(|name| ShardSession {
                    secret_ref: SecretKeyRef {
                        name: name.to_string(),
                        key: "session".to_string(),
                    },
                    api_credentials: None,
                })
                .collect(),
        );
        self
    }
    fn named(mut self, name: &str) -> Self {
        self.metadata.name = Some(name.to_string());
        self
    }
    fn interval(mut self, interval: &str) -> Self {
        self.spec.interval = Some(interval.to_string());
        self.spec.schedule = None;
        self
    }
    fn cron(mut self, schedule: &str, time_zone: Option<&str>) -> Self {
        self.spec.interval = None;
        self.spec.schedule = Some(schedule.to_string());
        self.spec.time_zone = time_zone.map(str::to_string);
        self
    }
    fn deadline(mut self, seconds: i64) -> Self {
        self.spec.starting_deadline_seconds = Some(seconds);
        self
    }
    fn replace(mut self) -> Self {
        self.spec.concurrency_policy = ConcurrencyPolicy::Replace;
        self
    }
    fn created(mut self, t: DateTime<Utc>) -> Self {
        self.metadata.creation_timestamp = Some(to_k8s(t));
        self
    }
    fn requested(mut self, value: &str) -> Self {
        self.metadata
            .annotations
            .get_or_insert_default()
            .insert(annotation::REQUESTED_AT.to_string(), value.to_string());
        self
    }
    fn history_limits(mut self, successful: i32, failed: i32) -> Self {
        self.spec.successful_jobs_history_limit = successful;
        self.spec.failed_jobs_history_limit = failed;
        self
    }
    fn with_status(mut self, status: ChannelCollectionStatus) -> Self {
        self.status = Some(status);
        self
    }
    fn last_scheduled(mut self, t: DateTime<Utc>) -> Self {
        self.status.get_or_insert_default().last_schedule_time = Some(to_k8s(t));
        self
    }
    fn database(mut self, name: &str, key: &str) -> Self {
        self.spec.database = Some(DatabaseSource {
            secret_ref: SecretKeyRef {
                name: name.to_string(),
                key: key.to_string(),
            },
        });
        self
    }
    fn channels(mut self, channels: &[&str]) -> Self {
        self.spec.channels = channels.iter().map(|c| c.to_string()).collect();
        self
    }
    fn namespaced(mut self, namespace: &str) -> Self {
        self.metadata.namespace = Some(namespace.to_string());
        self
    }
    fn generation(mut self, generation: i64) -> Self {
        self.metadata.generation = Some(generation);
        self
    }
    fn media(mut self, media: MediaSpec) -> Self {
        self.spec.media = Some(media);
        self
    }
}
