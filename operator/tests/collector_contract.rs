//! The contract between the operator's Job and the collector (docs/job-contract.md): the Job the
//! operator builds, materialised as the kubelet would (env values, Secret keys, the downward
//! API, the session volume), is accepted by the collector's own argument and config parsers.

mod common;

use std::{collections::BTreeMap, path::Path};

use clap::Parser;
use collector_job::app::{
    cli::{Cli, Command},
    config::{RawCollectConfig, RawShardConfig},
};
use common::*;
use crds::testing::*;
use crds::{ChannelCollection, CollectionLimits};
use k8s_openapi::api::{batch::v1::Job, core::v1::Container};

/// What the collector's clap parser builds from a pod's environment `env` (flags at their
/// defaults), with the session blob at `session`.
fn raw_config(env: &BTreeMap<String, String>, session: String) -> RawCollectConfig {
    RawCollectConfig {
        run_id: env.get(contract::job::env::RUN_ID).cloned(),
        namespace: env.get(contract::job::env::NAMESPACE).cloned(),
        name: env.get(contract::job::env::NAME).cloned(),
        pod_name: env.get(contract::job::env::POD_NAME).cloned(),
        channels: env.get(contract::job::env::CHANNELS).cloned(),
        limits: env.get(contract::job::env::LIMITS).cloned(),
        database_url: env
            .get(contract::job::env::DATABASE_URL)
            .cloned()
            .map(Into::into),
        api_id: env.get(contract::job::env::API_ID).cloned(),
        session_file: session.into(),
        flood_wait_threshold: "5m".to_string(),
        progress_interval: "5s".to_string(),
    }
}

/// What the kubelet gives the container: plain values, Secret keys (fake values here: the
/// operator never sees the real ones) and the pod's name from the downward API.
fn materialised_env(container: &Container) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            value.clone()
        } else {
            let from = var
                .value_from
                .as_ref()
                .expect("env var has a value or a source");
            if let Some(secret) = &from.secret_key_ref {
                match secret.key.as_str() {
                    "api_id" => "12345".to_string(),
                    "DATABASE_URL" => "postgres://collector@db:5432/telegram".to_string(),
                    "AWS_ACCESS_KEY_ID" => "AKIAEXAMPLE".to_string(),
                    "AWS_SECRET_ACCESS_KEY" => "example-secret-key".to_string(),
                    other => panic!("unexpected Secret key {other} in the collector's env"),
                }
            } else if let Some(field) = &from.field_ref {
                assert_eq!(field.field_path, "metadata.name");
                "news-29410320-x7k2p".to_string()
            } else {
                panic!("{} comes from an unexpected source", var.name);
            }
        };
        env.insert(var.name.clone(), value);
    }
    env
}

/// The file the session Secret volume puts the blob in.
fn session_file(job: &Job, container: &Container) -> String {
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let (mount, secret) = container
        .volume_mounts
        .iter()
        .flatten()
        .find_map(|mount| {
            let volume = pod
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == mount.name)?;
            Some((mount, volume.secret.as_ref()?))
        })
        .expect("the session is mounted from a Secret volume");
    assert_eq!(mount.read_only, Some(true));
    let items = secret
        .items
        .as_ref()
        .expect("only the session key is projected");
    assert_eq!(items.len(), 1);
    Path::new(&mount.mount_path)
        .join(&items[0].path)
        .to_string_lossy()
        .into_owned()
}

fn collection() -> ChannelCollection {
    let mut cc = ChannelCollection::test();
    cc.spec.limits = Some(CollectionLimits {
        max_messages_per_channel: Some(5000),
        since: Some("30d".to_string()),
        refresh_window: Some("48h".to_string()),
        deletion_sweep: Some("7d".to_string()),
    });
    cc
}

#[test]
fn the_collector_accepts_the_job_the_operator_builds() {
    let cc = collection();
    let job = job_for(&cc, t0());
    let run_id = job.metadata.name.clone().unwrap();
    let container = &job
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];

    let argv: Vec<String> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .cloned()
        .collect();
    assert_eq!(argv.first().map(String::as_str), Some("collector-job"));
    let cli = Cli::try_parse_from(&argv).expect("the collector parses the Job's command");
    assert!(matches!(cli.command, Command::Collect(_)), "{argv:?}");

    let env = materialised_env(container);
    let session = env
        .get(contract::job::env::SESSION_FILE)
        .cloned()
        .unwrap_or_else(|| contract::job::SESSION_PATH.to_string());
    assert_eq!(session, session_file(&job, container));

    let raw = raw_config(&env, session);
    let checked = raw
        .check()
        .expect("the collector accepts the Job's configuration");

    assert_eq!(checked.run.run_id, run_id);
    assert_eq!(checked.run.namespace, NAMESPACE);
    assert_eq!(checked.run.name, NAME);
    assert_eq!(checked.run.pod_name.as_deref(), Some("news-29410320-x7k2p"));
    let channels: Vec<&str> = checked.channels.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        channels,
        cc.spec
            .channels
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(checked.limits.max_messages_per_channel, Some(5000));
    assert_eq!(
        checked.limits.since,
        Some(std::time::Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        checked.limits.refresh_window,
        Some(std::time::Duration::from_secs(48 * 3_600))
    );
    assert_eq!(
        checked.limits.deletion_sweep,
        Some(std::time::Duration::from_secs(7 * 86_400))
    );
    assert_eq!(checked.api_id, 12345);
    assert!(
        !env.contains_key(contract::job::env::API_HASH),
        "the api hash is only for `login`, never in a collector pod"
    );
}

/// A file of the projected sessions volume: (path in the container, Secret name, key).
type ProjectedFile = (String, String, String);

/// What one pod of a sharded Job sees: its env with the completion index `index` from the
/// downward API, and the files of the projected sessions volume under its own `index/`
/// (the `subPathExpr`), as (path in the container, Secret name, key).
fn sharded_pod(job: &Job, index: u32) -> (BTreeMap<String, String>, Vec<ProjectedFile>) {
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let container = &pod.containers[0];
    let mut env = BTreeMap::new();
    for var in container.env.iter().flatten() {
        let value = match (&var.value, var.value_from.as_ref()) {
            (Some(value), _) => value.clone(),
            (None, Some(from)) if from.secret_key_ref.is_some() => {
                let key = &from.secret_key_ref.as_ref().unwrap().key;
                assert_eq!(
                    key, "DATABASE_URL",
                    "only the database URL is an env Secret"
                );
                "postgres://collector@db:5432/telegram".to_string()
            }
            (None, Some(from)) => match from.field_ref.as_ref().unwrap().field_path.as_str() {
                "metadata.name" => format!("news-29410320-{index}-x7k2p"),
                "metadata.annotations['batch.kubernetes.io/job-completion-index']" => {
                    index.to_string()
                }
                other => panic!("{} comes from an unexpected field {other}", var.name),
            },
            (None, None) => panic!("{} has no value", var.name),
        };
        env.insert(var.name.clone(), value);
    }
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "telegram-sessions")
        .expect("the sessions are mounted");
    // The kubelet expands $(VAR) in subPathExpr from the container's env.
    let sub_path = mount
        .sub_path_expr
        .as_deref()
        .unwrap()
        .replace("$(COLLECTOR_SHARD_INDEX)", &env["COLLECTOR_SHARD_INDEX"]);
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    let files = volume
        .projected
        .as_ref()
        .unwrap()
        .sources
        .iter()
        .flatten()
        .filter_map(|source| {
            let secret = source.secret.as_ref()?;
            let item = &secret.items.as_ref()?[0];
            let inside = item.path.strip_prefix(&format!("{sub_path}/"))?;
            Some((
                format!("{}/{inside}", mount.mount_path),
                secret.name.clone(),
                item.key.clone(),
            ))
        })
        .collect();
    (env, files)
}

#[test]
fn each_index_of_a_sharded_job_gets_a_configuration_the_collector_accepts() {
    let mut cc = collection().sharded(&["tg-a", "tg-b", "tg-c"]);
    cc.spec.channels = (0..9).map(|i| format!("@channel{i}")).collect();
    let job = job_for(&cc, t0());
    let run_id = job.metadata.name.clone().unwrap();
    // The content of the api_id file the kubelet projects (a Secret value ends in a newline
    // when it was made with `echo`).
    let api_id_file = std::env::temp_dir().join(format!("contract-api-id-{}", std::process::id()));
    std::fs::write(&api_id_file, "12345\n").unwrap();
    let mut collected = Vec::new();
    for index in 0..3u32 {
        let (env, files) = sharded_pod(&job, index);
        let session = env[contract::job::env::SESSION_FILE].clone();
        let secret = format!("tg-{}", ["a", "b", "c"][index as usize]);
        assert_eq!(
            files,
            [
                (session.clone(), secret, "session".to_string()),
                (
                    env[contract::job::env::API_ID_FILE].clone(),
                    "tg-api".to_string(),
                    "api_id".to_string()
                ),
            ],
            "index {index} sees its own session and api id, nothing else"
        );
        let raw = raw_config(&env, session);
        let shard = RawShardConfig {
            // The file the pod reads is the one projected at this path.
            api_id_file: env
                .get(contract::job::env::API_ID_FILE)
                .map(|_| api_id_file.clone()),
            session_lock_timeout: None,
            shard_count: env.get(contract::job::env::SHARD_COUNT).cloned(),
            shard_index: env.get(contract::job::env::SHARD_INDEX).cloned(),
            assignment: env.get(contract::job::env::ASSIGNMENT).cloned(),
        };
        let checked = raw
            .check_with(shard)
            .expect("the collector accepts each index's configuration");
        assert_eq!(checked.run.run_id, run_id, "one run id for every index");
        assert_eq!(checked.run.shard, Some(index), "the rows carry the index");
        assert_eq!(checked.api_id, 12345);
        assert!(
            !env.contains_key(contract::job::env::API_ID),
            "the api id is a file"
        );
        assert!(!env.contains_key(contract::job::env::API_HASH));
        collected.extend(checked.channels.iter().map(|(name, _)| name.clone()));
    }
    let _ = std::fs::remove_file(&api_id_file);
    collected.sort();
    assert_eq!(
        collected, cc.spec.channels,
        "the indexes collect every channel once between them"
    );
}

/// The pod's view of a Job with `spec.media`: its env and where its media volume is mounted.
fn media_pod(cc: &ChannelCollection) -> (BTreeMap<String, String>, Option<(String, String)>) {
    let job = job_for(cc, t0());
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let container = &pod.containers[0];
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == operator::job::media::MEDIA_VOLUME)
        .map(|m| {
            let volume = pod.volumes.iter().flatten().find(|v| v.name == m.name);
            let claim = volume
                .and_then(|v| v.persistent_volume_claim.as_ref())
                .expect("the media volume is the claim");
            (m.mount_path.clone(), claim.claim_name.clone())
        });
    let env = materialised_env(container);
    // The collector's own configuration still accepts the Job.
    let session = contract::job::SESSION_PATH.to_string();
    raw_config(&env, session)
        .check()
        .expect("the collector accepts a Job with media");
    (env, mount)
}

/// `COLLECTOR_MEDIA` is exactly the contract's `MediaSettings` as JSON, which is what the
/// collector reads; the store it names is where the pod finds it (a mounted directory, or a
/// bucket with the standard AWS credential variables).
#[test]
fn the_media_settings_are_what_the_collector_reads() {
    use contract::media::{MEDIA_MOUNT_PATH, MediaSettings, MediaStore, S3_CREDENTIAL_KEYS};

    let (env, mount) = media_pod(&collection().media(media_s3()));
    let settings: MediaSettings =
        serde_json::from_str(&env[contract::job::env::MEDIA]).expect("MediaSettings JSON");
    assert_eq!(settings.max_file_size, Some(50 << 20));
    assert!(matches!(settings.store, MediaStore::S3 { ref bucket, .. } if bucket == "archive"));
    assert_eq!(mount, None);
    for key in S3_CREDENTIAL_KEYS {
        assert!(env.contains_key(key), "{key} reaches the pod");
    }

    let mut media = media_s3();
    media.destination = Some(crds::MediaDestination {
        s3: None,
        directory: Some(crds::DirectoryDestination {
            persistent_volume_claim: "archive".to_string(),
            sub_path: Some("telegram".to_string()),
        }),
    });
    let (env, mount) = media_pod(&collection().media(media));
    let settings: MediaSettings =
        serde_json::from_str(&env[contract::job::env::MEDIA]).expect("MediaSettings JSON");
    let MediaStore::Directory { path } = settings.store else {
        panic!("a directory store expected")
    };
    assert_eq!(
        mount,
        Some((path, "archive".to_string())),
        "the collector's directory is the claim's mount"
    );
    assert_eq!(mount.unwrap().0, MEDIA_MOUNT_PATH);
    assert!(S3_CREDENTIAL_KEYS.iter().all(|k| !env.contains_key(*k)));

    // Without spec.media the variable is not set: no files are downloaded.
    let (env, mount) = media_pod(&collection());
    assert!(!env.contains_key(contract::job::env::MEDIA));
    assert_eq!(mount, None);
}
