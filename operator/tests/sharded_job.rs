//! The Indexed Job of a sharded run (`spec.sessions`), as docs/sharding.md describes it: one pod
//! per session, each seeing only its own session and api id, the channels balanced by their
//! history and kept on the account that collected them before.

mod common;

use std::collections::BTreeMap;

use chrono::TimeDelta;
use common::defaults;
use contract::audit::{AuditEvent, AuditRow, CollectionProgress, CollectionStart};
use contract::job::{annotation, env::ASSIGNMENT};
use crds::testing::{TestCollection, t0};
use crds::{ApiCredentials, ChannelCollection, SecretRef};
use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{EnvVar, PodSpec},
};
use operator::job::ShardPlan;
use operator::status::ChannelDurations;
use operator::{
    decide::{decide, decide_with},
    job::{ShardInputs, assign, build, build_with},
    runs::owned_runs,
};
use serde_json::Value;

const SESSIONS: [&str; 4] = ["tg-a", "tg-b", "tg-c", "tg-d"];

fn channels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("@channel{i:03}")).collect()
}

fn sharded(n_channels: usize) -> ChannelCollection {
    let mut cc = ChannelCollection::test().sharded(&SESSIONS);
    cc.spec.channels = channels(n_channels);
    cc
}

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

fn assignment(job: &Job) -> Vec<Vec<String>> {
    serde_json::from_str(env(job)[ASSIGNMENT].value.as_deref().unwrap()).unwrap()
}

/// A previous run in which channel `i` of `took` took `took[i]` seconds.
fn history(channels: &[String], took: &[i64]) -> ChannelDurations {
    let start = t0() - TimeDelta::hours(1);
    let mut rows = vec![AuditRow {
        id: 1,
        timestamp: start,
        pod_name: Some("news-1-0-x".into()),
        shard: None,
        event: Ok(AuditEvent::Start(CollectionStart {
            total_channels: channels.len() as u32,
            start_time: start,
        })),
    }];
    let mut at = start;
    for (i, (channel, secs)) in channels.iter().zip(took).enumerate() {
        at += TimeDelta::seconds(*secs);
        rows.push(AuditRow {
            id: i as i64 + 2,
            timestamp: at,
            pod_name: Some("news-1-0-x".into()),
            shard: None,
            event: Ok(AuditEvent::Progress(CollectionProgress {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                channel_name: channel.clone(),
                messages_collected: 10,
                channels_processed: i as u32 + 1,
                total_channels: channels.len() as u32,
                errors: 0,
                progress_time: at,
                error: None,
            })),
        });
    }
    ChannelDurations::from_runs([rows.as_slice()])
}

#[test]
fn a_sharded_job_is_indexed_with_one_pod_per_session() {
    let cc = sharded(10);
    let job = build(&cc, &defaults(), t0(), None).unwrap();
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(4));
    assert_eq!(spec.parallelism, Some(4));
    assert_eq!(spec.backoff_limit_per_index, Some(2), "spec.backoffLimit");
    assert_eq!(spec.backoff_limit, Some(8), "older servers: the same total");
    assert_eq!(spec.max_failed_indexes, None);
    assert_eq!(spec.pod_replacement_policy.as_deref(), Some("Failed"));
    assert_eq!(
        job.metadata.annotations.as_ref().unwrap()[annotation::ASSIGNMENT_SESSIONS],
        r#"["tg-a","tg-b","tg-c","tg-d"]"#
    );

    let vars = env(&job);
    assert_eq!(
        vars["COLLECTOR_RUN_ID"].value.as_deref(),
        Some("news-29931120")
    );
    assert_eq!(vars["COLLECTOR_SHARD_COUNT"].value.as_deref(), Some("4"));
    let index = vars["COLLECTOR_SHARD_INDEX"]
        .value_from
        .as_ref()
        .and_then(|f| f.field_ref.as_ref())
        .unwrap();
    assert_eq!(
        index.field_path,
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let all: Vec<String> =
        serde_json::from_str(vars["COLLECTOR_CHANNELS"].value.as_deref().unwrap()).unwrap();
    assert_eq!(
        all, cc.spec.channels,
        "COLLECTOR_CHANNELS stays the whole list"
    );
    assert_eq!(
        vars["TELEGRAM_SESSION_FILE"].value.as_deref(),
        Some("/var/run/secrets/telegram/session")
    );
    assert_eq!(
        vars["TELEGRAM_API_ID_FILE"].value.as_deref(),
        Some("/var/run/secrets/telegram/api_id")
    );
    assert!(
        !vars.contains_key("TELEGRAM_API_ID"),
        "the api id is a file"
    );
    assert!(!vars.contains_key("TELEGRAM_API_HASH"));

    // Every channel exactly once, each index's in the spec's order.
    let shards = assignment(&job);
    assert_eq!(shards.len(), 4);
    let mut seen: Vec<&String> = shards.iter().flatten().collect();
    seen.sort();
    let mut expected: Vec<&String> = cc.spec.channels.iter().collect();
    expected.sort();
    assert_eq!(seen, expected);
    for shard in &shards {
        let mut sorted = shard.clone();
        sorted.sort();
        assert_eq!(*shard, sorted, "spec order within an index");
    }
}

#[test]
fn each_pod_mounts_only_its_own_session_and_api_id() {
    let mut cc = sharded(4);
    cc.spec.sessions.as_mut().unwrap()[1].api_credentials = Some(ApiCredentials {
        secret_ref: SecretRef {
            name: "tg-api-b".to_string(),
        },
    });
    let job = build(&cc, &defaults(), t0(), None).unwrap();
    let pod = pod(&job);
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "telegram-sessions")
        .unwrap();
    assert!(
        pod.volumes.iter().flatten().all(|v| v.secret.is_none()),
        "no volume holds every session whole"
    );
    let projected = volume.projected.as_ref().unwrap();
    assert_eq!(projected.default_mode, Some(0o440));
    let files: Vec<(String, String, String)> = projected
        .sources
        .iter()
        .flatten()
        .map(|s| {
            let secret = s.secret.as_ref().unwrap();
            let items = secret.items.as_ref().unwrap();
            assert_eq!(items.len(), 1, "one key per projection");
            (
                items[0].path.clone(),
                secret.name.clone(),
                items[0].key.clone(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("0/session", "tg-a", "session"),
        ("0/api_id", "tg-api", "api_id"),
        ("1/session", "tg-b", "session"),
        ("1/api_id", "tg-api-b", "api_id"),
        ("2/session", "tg-c", "session"),
        ("2/api_id", "tg-api", "api_id"),
        ("3/session", "tg-d", "session"),
        ("3/api_id", "tg-api", "api_id"),
    ]
    .iter()
    .map(|(p, n, k)| (p.to_string(), n.to_string(), k.to_string()))
    .collect();
    assert_eq!(files, expected);

    let mount = pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "telegram-sessions")
        .unwrap();
    assert_eq!(mount.mount_path, "/var/run/secrets/telegram");
    assert_eq!(
        mount.sub_path_expr.as_deref(),
        Some("$(COLLECTOR_SHARD_INDEX)")
    );
    assert_eq!(mount.read_only, Some(true));
    // The container defines the variable the subPathExpr expands.
    assert!(env(&job).contains_key("COLLECTOR_SHARD_INDEX"));
}

#[test]
fn one_entry_in_sessions_is_still_an_indexed_job() {
    let cc = ChannelCollection::test().sharded(&["tg-a"]);
    let job = build(&cc, &defaults(), t0(), None).unwrap();
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(1));
    assert_eq!(spec.backoff_limit, Some(2));
    assert_eq!(assignment(&job), vec![cc.spec.channels.clone()]);
}

#[test]
fn an_unsharded_job_has_none_of_it() {
    let job = build(&ChannelCollection::test(), &defaults(), t0(), None).unwrap();
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode, None);
    assert_eq!(spec.completions, None);
    assert_eq!(spec.backoff_limit_per_index, None);
    let vars = env(&job);
    for name in [
        "COLLECTOR_SHARD_COUNT",
        "COLLECTOR_SHARD_INDEX",
        ASSIGNMENT,
        "TELEGRAM_API_ID_FILE",
    ] {
        assert!(!vars.contains_key(name), "{name}");
    }
    assert!(
        !job.metadata
            .annotations
            .as_ref()
            .unwrap()
            .contains_key(annotation::ASSIGNMENT_SESSIONS)
    );
}

#[test]
fn history_balances_the_longest_channels_first() {
    let channels = channels(8);
    // One channel takes as long as the seven others together, plus some.
    let took = [100, 10, 10, 10, 10, 10, 10, 10];
    let history = history(&channels, &took);
    let shards = assign(&channels, &["tg-a", "tg-b"], Some(&history), &[]);
    let load = |shard: &[String]| -> i64 {
        shard
            .iter()
            .map(|c| took[channels.iter().position(|x| x == c).unwrap()])
            .sum()
    };
    let loads: Vec<i64> = shards.iter().map(|s| load(s)).collect();
    assert_eq!(loads.iter().max(), Some(&100), "{shards:?}");
    assert_eq!(loads.iter().sum::<i64>(), 170);
    // The long channel is alone on its account.
    assert!(
        shards.iter().any(|s| s == &vec![channels[0].clone()]),
        "{shards:?}"
    );
}

#[test]
fn a_channel_stays_on_the_session_that_collected_it() {
    let channels = channels(12);
    let sessions = ["tg-a", "tg-b", "tg-c"];
    let first = assign(&channels, &sessions, None, &[]);
    let previous: Vec<ShardPlan> = sessions
        .iter()
        .zip(&first)
        .map(|(s, c)| ShardPlan {
            session: s.to_string(),
            channels: c.clone(),
            failed: false,
        })
        .collect();
    // The same sessions in another order: the channels follow their session, not the index.
    let reordered = ["tg-c", "tg-a", "tg-b"];
    let second = assign(&channels, &reordered, None, &previous);
    assert_eq!(
        second,
        vec![first[2].clone(), first[0].clone(), first[1].clone()]
    );
}

/// A channel respelled in the spec (`-100` prefix dropped, a username's case or form changed)
/// is still the channel the previous run's account collected: it stays there.
#[test]
fn a_respelled_channel_stays_on_the_session_that_collected_it() {
    let ids = [1006503122_i64, 1006503123, 1006503124, 1006503125];
    let names = ["alpha", "bravo", "charlie", "delta"];
    let previous = vec![
        ShardPlan {
            session: "tg-a".to_string(),
            channels: ids.iter().map(|id| format!("-100{id}")).collect(),
            failed: false,
        },
        ShardPlan {
            session: "tg-b".to_string(),
            channels: names.iter().map(|n| format!("https://t.me/{n}")).collect(),
            failed: false,
        },
    ];
    let respelled_ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let respelled_names: Vec<String> = names
        .iter()
        .map(|n| format!("@{}", n.to_uppercase()))
        .collect();
    let channels: Vec<String> = respelled_ids
        .iter()
        .chain(&respelled_names)
        .cloned()
        .collect();
    let shards = assign(&channels, &["tg-a", "tg-b"], None, &previous);
    assert_eq!(shards, vec![respelled_ids, respelled_names]);
}

#[test]
fn the_next_run_reads_the_previous_assignment_from_the_cached_job() {
    let cc = sharded(20);
    let history = history(&cc.spec.channels, &[30; 20]);
    let first = build_with(
        &cc,
        &defaults(),
        t0(),
        None,
        &ShardInputs {
            history: Some(&history),
            previous: &[],
        },
    )
    .unwrap();
    // As the operator's cache holds it: metadata, status, and the assignment env only.
    let mut cached: Value = serde_json::to_value(&first).unwrap();
    cached["spec"] = serde_json::json!({"template": {"spec": {"containers": [{
        "name": "collector",
        "env": [{"name": ASSIGNMENT, "value": env(&first)[ASSIGNMENT].value}]}]}}});
    cached["status"] = serde_json::json!({
        "conditions": [{"type": "Complete", "status": "True"}],
        "completionTime": "2026-11-28T12:05:00Z"
    });
    let cached: Job = serde_json::from_value(cached).unwrap();

    // The sessions are listed in reverse now.
    let mut next = cc.clone();
    next.spec.sessions.as_mut().unwrap().reverse();
    let runs = owned_runs(&next, [&cached]);
    assert_eq!(runs[0].shards.len(), 4);
    let later = t0() + TimeDelta::minutes(10);
    let plan = decide_with(&next, &runs, &defaults(), Some(&history), later);
    let job = plan.create.expect("the next run is due").job;
    let before = assignment(&first);
    let after = assignment(&job);
    // Equal durations: every channel can stay where it was at no cost.
    assert_eq!(
        after,
        vec![
            before[3].clone(),
            before[2].clone(),
            before[1].clone(),
            before[0].clone()
        ]
    );
    let without_history = decide(&next, &runs, &defaults(), later).create.unwrap().job;
    assert_eq!(assignment(&without_history), after);
}
