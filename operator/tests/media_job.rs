//! `spec.media` in the collector Job: `COLLECTOR_MEDIA` is the spec resolved to the
//! collector's `MediaSettings`, S3 credentials are Secret references, a directory is the
//! claim mounted where the collector looks, the collection's destination wins over the
//! operator's default, and without `spec.media` the Job is what it was.

mod common;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use common::{at, defaults, reconcile_pure as decide};
use contract::media::{MEDIA_MOUNT_PATH, MediaKind, MediaSettings, MediaStore, S3_CREDENTIAL_KEYS};
use crds::testing::{TestCollection, media_s3, t0};
use crds::{
    ChannelCollection, CollectorTemplate, DirectoryDestination, MediaDestination, S3Destination,
};
use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{EnvVar, PodSpec},
};
use operator::job::{BuildError, JobDefaults, build, media::MEDIA_VOLUME};

fn pod(job: &Job) -> &PodSpec {
    job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn env(job: &Job) -> BTreeMap<String, EnvVar> {
    pod(job).containers[0]
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect()
}

fn settings(job: &Job) -> MediaSettings {
    let vars = env(job);
    let json = vars["COLLECTOR_MEDIA"].value.as_deref().unwrap();
    serde_json::from_str(json).unwrap()
}

fn directory(claim: &str, sub_path: Option<&str>) -> MediaDestination {
    MediaDestination {
        s3: None,
        directory: Some(DirectoryDestination {
            persistent_volume_claim: claim.to_string(),
            sub_path: sub_path.map(str::to_string),
        }),
    }
}

fn with_default(destination: MediaDestination) -> JobDefaults {
    JobDefaults {
        media_destination: Some(destination),
        ..defaults()
    }
}

#[test]
fn s3_media_is_collector_media_in_bytes_with_credentials_by_reference() {
    let mut media = media_s3();
    media.newer_than = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let job = build(
        &ChannelCollection::test().media(media),
        &defaults(),
        t0(),
        None,
    )
    .unwrap();
    assert_eq!(
        settings(&job),
        MediaSettings {
            kinds: vec![MediaKind::Photo, MediaKind::Video],
            max_file_size: Some(50 << 20),
            max_bytes_per_run: Some(1 << 30),
            newer_than: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            store: MediaStore::S3 {
                bucket: "archive".to_string(),
                prefix: "telegram/".to_string(),
                endpoint: Some("http://minio.storage:9000".to_string()),
                region: None,
                path_style: true,
            },
        }
    );
    let vars = env(&job);
    for key in S3_CREDENTIAL_KEYS {
        let var = &vars[key];
        assert_eq!(var.value, None, "{key} is never a literal");
        let secret = var
            .value_from
            .as_ref()
            .and_then(|f| f.secret_key_ref.as_ref())
            .unwrap();
        assert_eq!(
            (secret.name.as_str(), secret.key.as_str()),
            ("media-s3", key)
        );
        assert_eq!(secret.optional, Some(false));
    }
    // Nothing to mount for a bucket.
    assert!(
        pod(&job)
            .volumes
            .iter()
            .flatten()
            .all(|v| v.name != MEDIA_VOLUME)
    );
}

#[test]
fn a_bucket_without_a_prefix_or_credentials_secret() {
    let mut media = media_s3();
    let s3 = media.destination.as_mut().unwrap().s3.as_mut().unwrap();
    s3.prefix = None;
    s3.credentials_secret = None;
    media.max_file_size = None;
    media.max_bytes_per_run = None;
    let job = build(
        &ChannelCollection::test().media(media),
        &defaults(),
        t0(),
        None,
    )
    .unwrap();
    let settings = settings(&job);
    assert!(matches!(&settings.store, MediaStore::S3 { prefix, .. } if prefix.is_empty()));
    assert_eq!(
        (settings.max_file_size, settings.max_bytes_per_run),
        (None, None)
    );
    // The pod's own identity (e.g. IRSA) then: no credential variables at all.
    let vars = env(&job);
    assert!(S3_CREDENTIAL_KEYS.iter().all(|k| !vars.contains_key(*k)));
}

#[test]
fn a_directory_is_its_claim_mounted_where_the_collector_looks() {
    let mut media = media_s3();
    media.destination = Some(directory("archive", Some("telegram/media")));
    let job = build(
        &ChannelCollection::test().media(media),
        &defaults(),
        t0(),
        None,
    )
    .unwrap();
    assert_eq!(
        settings(&job).store,
        MediaStore::Directory {
            path: MEDIA_MOUNT_PATH.to_string()
        }
    );
    let pod = pod(&job);
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == MEDIA_VOLUME)
        .unwrap();
    let claim = volume.persistent_volume_claim.as_ref().unwrap();
    assert_eq!(claim.claim_name, "archive");
    assert_ne!(claim.read_only, Some(true));
    let mount = pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == MEDIA_VOLUME)
        .unwrap();
    assert_eq!(mount.mount_path, MEDIA_MOUNT_PATH);
    assert_eq!(mount.sub_path.as_deref(), Some("telegram/media"));
    assert_ne!(mount.read_only, Some(true));
    let vars = env(&job);
    assert!(S3_CREDENTIAL_KEYS.iter().all(|k| !vars.contains_key(*k)));

    // Without subPath the claim's root is mounted at the same path.
    let mut media = media_s3();
    media.destination = Some(directory("archive", None));
    let job = build(
        &ChannelCollection::test().media(media),
        &defaults(),
        t0(),
        None,
    )
    .unwrap();
    let mount = pod_mount(&job);
    assert_eq!((mount.0.as_str(), mount.1), (MEDIA_MOUNT_PATH, None));
}

fn pod_mount(job: &Job) -> (String, Option<String>) {
    let mount = pod(job).containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == MEDIA_VOLUME)
        .unwrap()
        .clone();
    (mount.mount_path, mount.sub_path)
}

#[test]
fn the_collection_s_destination_wins_over_the_operator_default() {
    let defaults = with_default(directory("shared-archive", None));
    let own = build(
        &ChannelCollection::test().media(media_s3()),
        &defaults,
        t0(),
        None,
    )
    .unwrap();
    assert!(matches!(settings(&own).store, MediaStore::S3 { .. }));
    assert!(
        pod(&own)
            .volumes
            .iter()
            .flatten()
            .all(|v| v.name != MEDIA_VOLUME)
    );

    let mut media = media_s3();
    media.destination = None;
    let defaulted = build(
        &ChannelCollection::test().media(media),
        &defaults,
        t0(),
        None,
    )
    .unwrap();
    assert!(matches!(
        settings(&defaulted).store,
        MediaStore::Directory { .. }
    ));
    assert_eq!(pod_mount(&defaulted).0, MEDIA_MOUNT_PATH);
}

#[test]
fn without_spec_media_the_job_is_what_it_was() {
    let cc = ChannelCollection::test();
    let plain = build(&cc, &defaults(), t0(), None).unwrap();
    // An operator default changes nothing for a collection that downloads no files.
    let defaulted = build(&cc, &with_default(directory("archive", None)), t0(), None).unwrap();
    assert_eq!(
        serde_json::to_string(&plain).unwrap(),
        serde_json::to_string(&defaulted).unwrap()
    );
    let names: Vec<String> = pod(&plain).containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "COLLECTOR_RUN_ID",
            "COLLECTOR_NAMESPACE",
            "COLLECTOR_NAME",
            "COLLECTOR_CHANNELS",
            "COLLECTOR_LIMITS",
            "DATABASE_URL",
            "TELEGRAM_API_ID",
            "COLLECTOR_POD_NAME",
        ]
    );
    let volumes: Vec<&str> = pod(&plain)
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(volumes, ["session", "tmp"]);
}

#[test]
fn no_destination_anywhere_stalls_saying_what_is_missing() {
    let mut media = media_s3();
    media.destination = None;
    let cc = ChannelCollection::test().media(media);
    assert_eq!(
        build(&cc, &defaults(), t0(), None).unwrap_err(),
        BuildError::NoMediaDestination
    );
    let d = decide(&cc, &[], &defaults(), at(12, 0, 5));
    assert!(d.plan.create.is_none());
    let stalled = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert_eq!(stalled.reason, "InvalidSpec");
    assert!(
        stalled.message.contains("spec.media.destination is unset")
            && stalled.message.contains("media.destination"),
        "{}",
        stalled.message
    );
    assert!(
        d.notices
            .iter()
            .any(|n| n.warning && n.note == stalled.message),
        "{:?}",
        d.notices
    );
    // The operator's default makes it runnable.
    let d = decide(
        &cc,
        &[],
        &with_default(directory("archive", None)),
        at(12, 0, 5),
    );
    assert!(d.plan.stall.is_none() && d.plan.create.is_some());
}

#[test]
fn a_spec_env_that_would_override_the_credentials_is_refused() {
    let cc = ChannelCollection::test().media(media_s3());
    let mut own_key = cc.clone();
    own_key.spec.collector = Some(CollectorTemplate {
        env: Some(vec![EnvVar {
            name: "AWS_SECRET_ACCESS_KEY".to_string(),
            value: Some("from-the-spec".to_string()),
            value_from: None,
        }]),
        ..CollectorTemplate::default()
    });
    assert_eq!(
        build(&own_key, &defaults(), t0(), None).unwrap_err(),
        BuildError::MediaEnv("AWS_SECRET_ACCESS_KEY".to_string())
    );
    let d = decide(&own_key, &[], &defaults(), at(12, 0, 5));
    assert!(d.plan.create.is_none() && d.plan.stall.is_some());

    // Without credentialsSecret the spec may bring its own (e.g. from a Secret it names).
    let mut media = media_s3();
    media
        .destination
        .as_mut()
        .unwrap()
        .s3
        .as_mut()
        .unwrap()
        .credentials_secret = None;
    let mut own_credentials = own_key.clone();
    own_credentials.spec.media = Some(media);
    let job = build(&own_credentials, &defaults(), t0(), None).unwrap();
    assert_eq!(
        env(&job)["AWS_SECRET_ACCESS_KEY"].value.as_deref(),
        Some("from-the-spec")
    );
}

#[test]
fn every_index_of_a_sharded_run_gets_the_same_media() {
    let mut media = media_s3();
    media.destination = Some(directory("archive", None));
    let cc = ChannelCollection::test()
        .sharded(&["tg-a", "tg-b"])
        .media(media);
    let job = build(&cc, &defaults(), t0(), None).unwrap();
    assert!(matches!(settings(&job).store, MediaStore::Directory { .. }));
    assert_eq!(pod_mount(&job).0, MEDIA_MOUNT_PATH);
}

#[test]
fn an_s3_default_of_its_own_is_used_with_its_credentials() {
    let defaults = with_default(MediaDestination {
        s3: Some(S3Destination {
            bucket: "org-archive".to_string(),
            prefix: None,
            endpoint: None,
            region: Some("eu-central-1".to_string()),
            path_style: false,
            credentials_secret: Some("org-media".to_string()),
        }),
        directory: None,
    });
    let mut media = media_s3();
    media.destination = None;
    let job = build(
        &ChannelCollection::test().media(media),
        &defaults,
        t0(),
        None,
    )
    .unwrap();
    assert!(matches!(
        settings(&job).store,
        MediaStore::S3 { ref bucket, ref region, .. }
            if bucket == "org-archive" && region.as_deref() == Some("eu-central-1")
    ));
    let secret = env(&job)["AWS_ACCESS_KEY_ID"]
        .value_from
        .clone()
        .and_then(|f| f.secret_key_ref)
        .unwrap();
    assert_eq!(secret.name, "org-media");
}
