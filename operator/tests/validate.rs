//! Every CRD rule, the CEL ones included, is re-checked by the operator (clusters with
//! CEL off skip them), plus what no schema can say: cron syntax and time zone names.

mod common;

use crds::testing::TestCollection;
use crds::{ChannelCollection, CollectionLimits, CollectorTemplate};
use k8s_openapi::api::core::v1::EnvVar;
use operator::validate::validate;

fn problems(cc: ChannelCollection) -> Vec<String> {
    match validate(&cc.spec) {
        Ok(_) => Vec::new(),
        Err(invalid) => invalid.0,
    }
}

fn one_problem(name: &str, cc: ChannelCollection, expected: &str) {
    let got = problems(cc);
    assert!(
        got.len() == 1 && got[0].contains(expected),
        "{name}: expected one problem containing {expected:?}, got {got:?}"
    );
}

#[test]
fn a_valid_spec_passes() {
    assert_eq!(problems(ChannelCollection::test()), Vec::<String>::new());
    assert_eq!(
        problems(ChannelCollection::test().cron("0 3 * * 1-5", Some("America/New_York"))),
        Vec::<String>::new()
    );
    assert_eq!(
        problems(ChannelCollection::test().cron("@daily", None)),
        Vec::<String>::new()
    );
}

#[test]
fn cel_rules_are_rechecked() {
    let mut both = ChannelCollection::test();
    both.spec.schedule = Some("0 3 * * *".to_string());
    one_problem(
        "interval and schedule",
        both,
        "exactly one of spec.interval and spec.schedule",
    );

    let mut neither = ChannelCollection::test();
    neither.spec.interval = None;
    one_problem(
        "neither",
        neither,
        "exactly one of spec.interval and spec.schedule",
    );

    let mut tz_on_interval = ChannelCollection::test();
    tz_on_interval.spec.time_zone = Some("Europe/Berlin".to_string());
    one_problem(
        "timeZone with interval",
        tz_on_interval,
        "spec.timeZone only applies to spec.schedule",
    );

    one_problem(
        "interval under 1m",
        ChannelCollection::test().interval("30s"),
        "shorter than the minimum of 1m",
    );
    assert_eq!(
        problems(ChannelCollection::test().interval("60s")),
        Vec::<String>::new(),
        "60s is exactly 1m"
    );
}

#[test]
fn what_no_schema_can_check() {
    one_problem(
        "bad cron",
        ChannelCollection::test().cron("61 * * * *", None),
        "spec.schedule \"61 * * * *\" is not a valid cron expression",
    );
    one_problem(
        "six fields",
        ChannelCollection::test().cron("0 0 3 * * *", None),
        "not a valid cron expression",
    );
    one_problem(
        "TZ prefix",
        ChannelCollection::test().cron("TZ=UTC 0 3 * * *", None),
        "set spec.timeZone instead",
    );
    one_problem(
        "unknown zone",
        ChannelCollection::test().cron("0 3 * * *", Some("Mars/Olympus")),
        "\"Mars/Olympus\" is not a known IANA time zone",
    );
    let mut cc = ChannelCollection::test();
    cc.spec.collector = Some(CollectorTemplate {
        env: Some(vec![EnvVar {
            name: "COLLECTOR_RUN_ID".to_string(),
            value: Some("x".to_string()),
            value_from: None,
        }]),
        ..CollectorTemplate::default()
    });
    one_problem("reserved env", cc, "must not set COLLECTOR_RUN_ID");
    let mut cc = ChannelCollection::test();
    cc.spec.channels = vec!["@durov".to_string(), "https://t.me/durov".to_string()];
    one_problem(
        "duplicate channel",
        cc,
        "spec.channels[1] \"https://t.me/durov\" names the same channel as spec.channels[0] \"@durov\"",
    );
}

/// Seen on a real API server: the bare id and its Bot API spelling were accepted as two
/// channels, and a sharded run gave them to two accounts.
#[test]
fn a_channel_id_and_its_bot_api_spelling_are_one_channel() {
    let mut cc = ChannelCollection::test();
    cc.spec.channels = vec!["1006503122".to_string(), "-1001006503122".to_string()];
    one_problem(
        "duplicate id",
        cc,
        "names the same channel as spec.channels[0]",
    );
}

#[test]
fn a_basic_group_id_is_not_a_channel() {
    let mut cc = ChannelCollection::test();
    cc.spec.channels = vec!["-123456".to_string()];
    one_problem("basic group", cc, "spec.channels[0] \"-123456\"");
}

#[test]
fn schema_rules_are_rechecked_too() {
    let mut cc = ChannelCollection::test();
    cc.spec.channels = vec![];
    one_problem("no channels", cc, "1 to 500 channels");
    let mut cc = ChannelCollection::test();
    cc.spec.channels = (0..501).map(|i| format!("channel{i}")).collect();
    one_problem("too many channels", cc, "1 to 500 channels");
    let mut cc = ChannelCollection::test();
    cc.spec.channels = vec!["not a channel!".to_string()];
    one_problem("bad channel", cc, "spec.channels[0]");
    one_problem(
        "bad interval",
        ChannelCollection::test().interval("10 minutes"),
        "is not a duration",
    );
    let mut cc = ChannelCollection::test();
    cc.spec.timeout = Some("forever".to_string());
    one_problem("bad timeout", cc, "spec.timeout");
    one_problem(
        "deadline range",
        ChannelCollection::test().deadline(-1),
        "startingDeadlineSeconds",
    );
    one_problem(
        "history range",
        ChannelCollection::test().history_limits(101, 1),
        "successfulJobsHistoryLimit",
    );
    let mut cc = ChannelCollection::test();
    cc.spec.backoff_limit = 11;
    one_problem("backoff range", cc, "spec.backoffLimit");
    let mut cc = ChannelCollection::test();
    cc.spec.session.as_mut().unwrap().secret_ref.name = "Bad_Name".to_string();
    one_problem("secret name", cc, "spec.session.secretRef.name");
    let mut cc = ChannelCollection::test();
    cc.spec.limits = Some(CollectionLimits {
        max_messages_per_channel: Some(0),
        since: Some("1 week".to_string()),
        refresh_window: Some("2 days".to_string()),
        deletion_sweep: Some("weekly".to_string()),
    });
    assert_eq!(problems(cc).len(), 4);
    let mut cc = ChannelCollection::test();
    cc.spec.collector = Some(CollectorTemplate {
        image_pull_policy: Some("Sometimes".to_string()),
        ..CollectorTemplate::default()
    });
    one_problem("pull policy", cc, "imagePullPolicy");
}

#[test]
fn all_problems_are_reported_at_once_and_stay_short() {
    let mut cc = ChannelCollection::test().cron(&"9".repeat(120), Some("Nowhere/Land"));
    cc.spec.interval = None;
    cc.spec.backoff_limit = -1;
    let err = validate(&cc.spec).unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert!(err.to_string().contains("; "));
    let mut cc = ChannelCollection::test();
    cc.spec.channels = vec!["x".repeat(300)];
    let msg = validate(&cc.spec).unwrap_err().to_string();
    assert!(
        msg.len() < 200,
        "a long value is truncated in the message: {msg}"
    );
}

#[test]
fn sharded_specs_are_rechecked() {
    assert_eq!(
        problems(ChannelCollection::test().sharded(&["tg-a", "tg-b", "tg-c", "tg-d"])),
        Vec::<String>::new()
    );

    let mut both = ChannelCollection::test().sharded(&["tg-a"]);
    both.spec.session = ChannelCollection::test().spec.session;
    one_problem(
        "session and sessions",
        both,
        "exactly one of spec.session and spec.sessions must be set",
    );
    let mut neither = ChannelCollection::test();
    neither.spec.session = None;
    one_problem(
        "neither",
        neither,
        "exactly one of spec.session and spec.sessions must be set",
    );

    one_problem(
        "empty list",
        ChannelCollection::test().sharded(&[]),
        "spec.sessions must list 1 to 20 sessions, not 0",
    );
    let names: Vec<String> = (0..21).map(|i| format!("tg-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    one_problem(
        "too many",
        ChannelCollection::test().sharded(&names),
        "spec.sessions must list 1 to 20 sessions, not 21",
    );

    one_problem(
        "a session twice",
        ChannelCollection::test().sharded(&["tg-a", "tg-b", "tg-a"]),
        "spec.sessions[2] repeats spec.sessions[0] (Secret \"tg-a\", key \"session\")",
    );

    let mut bad = ChannelCollection::test().sharded(&["tg-a", "Bad_Name"]);
    one_problem(
        "secret name",
        bad.clone(),
        "spec.sessions[1].secretRef.name",
    );
    bad.spec.sessions.as_mut().unwrap()[1].secret_ref.name = "tg-b".to_string();
    bad.spec.sessions.as_mut().unwrap()[0].api_credentials = Some(crds::ApiCredentials {
        secret_ref: crds::SecretRef {
            name: "Bad_Api".to_string(),
        },
    });
    one_problem(
        "credentials name",
        bad,
        "spec.sessions[0].apiCredentials.secretRef.name",
    );
}

#[test]
fn the_sharded_job_s_env_names_are_reserved_too() {
    for name in [
        "COLLECTOR_SHARD_COUNT",
        "COLLECTOR_SHARD_INDEX",
        "COLLECTOR_ASSIGNMENT",
        "TELEGRAM_API_ID_FILE",
    ] {
        let mut cc = ChannelCollection::test().sharded(&["tg-a", "tg-b"]);
        cc.spec.collector = Some(CollectorTemplate {
            env: Some(vec![EnvVar {
                name: name.to_string(),
                value: Some("x".to_string()),
                value_from: None,
            }]),
            ..CollectorTemplate::default()
        });
        one_problem(name, cc, &format!("must not set {name}"));
    }
}

fn with_media(change: impl FnOnce(&mut crds::MediaSpec)) -> ChannelCollection {
    let mut media = crds::testing::media_s3();
    change(&mut media);
    ChannelCollection::test().media(media)
}

#[test]
fn media_rules_are_rechecked() {
    assert_eq!(problems(with_media(|_| {})), Vec::<String>::new());
    // No destination is valid here: the operator's default may apply (decided with it).
    assert_eq!(
        problems(with_media(|m| m.destination = None)),
        Vec::<String>::new()
    );
    one_problem(
        "a kind twice",
        with_media(|m| m.kinds.push(crds::MediaKind::Photo)),
        "spec.media.kinds must not list a kind twice (photo again at spec.media.kinds[2])",
    );
    one_problem(
        "no kinds",
        with_media(|m| m.kinds.clear()),
        "spec.media.kinds must list 1 to 7 kinds, not 0",
    );
    one_problem(
        "not a size",
        with_media(|m| m.max_file_size = Some("50MB".to_string())),
        "spec.media.maxFileSize \"50MB\" is not a size",
    );
    // The pattern allows it, 64 bits do not.
    one_problem(
        "too big a size",
        with_media(|m| m.max_bytes_per_run = Some("999999999999999Ti".to_string())),
        "spec.media.maxBytesPerRun \"999999999999999Ti\" is not a size",
    );
    one_problem(
        "two destinations",
        with_media(|m| {
            m.destination.as_mut().unwrap().directory = Some(crds::DirectoryDestination {
                persistent_volume_claim: "archive".to_string(),
                sub_path: None,
            })
        }),
        "spec.media.destination must set exactly one of s3 and directory",
    );
    one_problem(
        "no destination kind",
        with_media(|m| m.destination.as_mut().unwrap().s3 = None),
        "spec.media.destination must set exactly one of s3 and directory",
    );
    one_problem(
        "short bucket",
        with_media(|m| m.destination.as_mut().unwrap().s3.as_mut().unwrap().bucket = "ab".into()),
        "spec.media.destination.s3.bucket \"ab\" must be 3 to 63 characters",
    );
    one_problem(
        "endpoint without a scheme",
        with_media(|m| {
            m.destination
                .as_mut()
                .unwrap()
                .s3
                .as_mut()
                .unwrap()
                .endpoint = Some("minio.storage:9000".into())
        }),
        "spec.media.destination.s3.endpoint \"minio.storage:9000\" is not an http:// or https:// URL",
    );
    for sub_path in ["/srv", "..", "a/../../b"] {
        one_problem(
            sub_path,
            with_media(|m| {
                m.destination = Some(crds::MediaDestination {
                    s3: None,
                    directory: Some(crds::DirectoryDestination {
                        persistent_volume_claim: "archive".to_string(),
                        sub_path: Some(sub_path.to_string()),
                    }),
                })
            }),
            "spec.media.destination.directory.subPath",
        );
    }
    one_problem(
        "bad claim name",
        with_media(|m| {
            m.destination = Some(crds::MediaDestination {
                s3: None,
                directory: Some(crds::DirectoryDestination {
                    persistent_volume_claim: "Archive_1".to_string(),
                    sub_path: None,
                }),
            })
        }),
        "spec.media.destination.directory.persistentVolumeClaim \"Archive_1\" is not a valid claim name",
    );
}
