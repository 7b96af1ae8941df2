//! The per-collection metrics as a pure function of the collections, the run totals and `now`.

mod common;

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use crds::testing::{NAMESPACE, TestCollection, t0};
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunMedia, RunResult, RunSummary,
    condition::STALLED,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use operator::{
    metrics::collections::{
        CollectionKey, FAMILIES, Family, Kind, RunTotals, expected_period, families,
    },
    schedule::Cadence,
    time::to_k8s,
};

/// Every series as `name{labels} value`, the way they are exposed (counters with `_total`).
fn series(families: &[Family]) -> Vec<String> {
    let mut out = Vec::new();
    for family in families {
        let suffix = if family.kind == Kind::Counter {
            "_total"
        } else {
            ""
        };
        for s in &family.samples {
            let extra = s
                .label
                .map(|(k, v)| format!(",{k}=\"{v}\""))
                .unwrap_or_default();
            out.push(format!(
                "{}{suffix}{{namespace=\"{}\",collection=\"{}\"{extra}}} {}",
                family.name, s.namespace, s.collection, s.value
            ));
        }
    }
    out
}

fn of(families: &[Family], collection: &str) -> Vec<String> {
    series(families)
        .into_iter()
        .filter(|s| s.contains(&format!("collection=\"{collection}\"")))
        .collect()
}

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn collecting() -> ChannelCollection {
    ChannelCollection::test()
        .named("news")
        .with_status(ChannelCollectionStatus {
            state: Some(CollectionState::Collecting),
            currently_collecting: true,
            channels_processed: 3,
            channels_total: 10,
            messages_collected_current_run: 1520,
            errors_current_run: 1,
            flood_wait_seconds_current_run: 420,
            estimated_time_remaining: Some(250),
            collection_start_time: Some(to_k8s(t0())),
            last_schedule_time: Some(to_k8s(t0())),
            last_successful_time: Some(to_k8s(t0() - TimeDelta::minutes(5))),
            next_run_time: Some(to_k8s(t0() + TimeDelta::minutes(10))),
            last_run: Some(RunSummary {
                job: "news-1".into(),
                start_time: Some(to_k8s(t0() - TimeDelta::minutes(15))),
                end_time: Some(to_k8s(t0() - TimeDelta::minutes(5))),
                result: Some(RunResult::Succeeded),
                messages: Some(99),
                ..RunSummary::default()
            }),
            ..ChannelCollectionStatus::default()
        })
}

fn session_revoked() -> ChannelCollection {
    ChannelCollection::test()
        .named("daily")
        .cron("0 3 * * *", None)
        .with_status(ChannelCollectionStatus {
            state: Some(CollectionState::Failed),
            conditions: vec![Condition {
                type_: STALLED.into(),
                status: "True".into(),
                reason: "SessionInvalid".into(),
                message: "the Telegram session is revoked".into(),
                last_transition_time: to_k8s(t0()),
                observed_generation: Some(1),
            }],
            last_run: Some(RunSummary {
                job: "daily-1".into(),
                result: Some(RunResult::Failed),
                reason: Some("SessionInvalid".into()),
                ..RunSummary::default()
            }),
            ..ChannelCollectionStatus::default()
        })
}

#[test]
fn a_collecting_collection_exports_what_kubectl_shows_and_more() {
    let now = t0() + TimeDelta::minutes(1);
    let out = families(&[Arc::new(collecting())], &HashMap::new(), now);
    let t = |t: DateTime<Utc>| secs(t);
    let l = |name: &str, extra: &str, value: String| {
        format!("{name}{{namespace=\"telegram\",collection=\"news\"{extra}}} {value}")
    };
    assert_eq!(
        of(&out, "news"),
        [
            l("channelcollection_created", "", t(t0()).to_string()),
            l("channelcollection_spec_suspend", "", "0".into()),
            l(
                "channelcollection_spec_schedule_period_seconds",
                "",
                "600".into()
            ),
            l(
                "channelcollection_status_state",
                ",state=\"Idle\"",
                "0".into()
            ),
            l(
                "channelcollection_status_state",
                ",state=\"Starting\"",
                "0".into()
            ),
            l(
                "channelcollection_status_state",
                ",state=\"Collecting\"",
                "1".into()
            ),
            l(
                "channelcollection_status_state",
                ",state=\"Waiting\"",
                "0".into()
            ),
            l(
                "channelcollection_status_state",
                ",state=\"Suspended\"",
                "0".into()
            ),
            l(
                "channelcollection_status_state",
                ",state=\"Failed\"",
                "0".into()
            ),
            l(
                "channelcollection_status_channels_processed",
                "",
                "3".into()
            ),
            l("channelcollection_status_channels", "", "10".into()),
            l(
                "channelcollection_status_messages_collected_current_run",
                "",
                "1520".into()
            ),
            l(
                "channelcollection_status_errors_current_run",
                "",
                "1".into()
            ),
            l(
                "channelcollection_status_flood_wait_seconds_current_run",
                "",
                "420".into()
            ),
            l(
                "channelcollection_status_estimated_time_remaining_seconds",
                "",
                "250".into()
            ),
            l(
                "channelcollection_status_collection_start_time",
                "",
                t(t0()).to_string()
            ),
            l(
                "channelcollection_status_last_run_result",
                ",result=\"Succeeded\"",
                "1".into()
            ),
            l(
                "channelcollection_status_last_run_result",
                ",result=\"Failed\"",
                "0".into()
            ),
            l(
                "channelcollection_status_last_run_start_time",
                "",
                t(t0() - TimeDelta::minutes(15)).to_string()
            ),
            l(
                "channelcollection_status_last_run_end_time",
                "",
                t(t0() - TimeDelta::minutes(5)).to_string()
            ),
            l(
                "channelcollection_status_last_successful_time",
                "",
                t(t0() - TimeDelta::minutes(5)).to_string()
            ),
            l(
                "channelcollection_status_last_schedule_time",
                "",
                t(t0()).to_string()
            ),
            l(
                "channelcollection_status_next_run_time",
                "",
                t(t0() + TimeDelta::minutes(10)).to_string()
            ),
            l("channelcollection_status_session_invalid", "", "0".into()),
            l("channelcollection_messages_collected_total", "", "0".into()),
            l(
                "channelcollection_runs_finished_total",
                ",result=\"Succeeded\"",
                "0".into()
            ),
            l(
                "channelcollection_runs_finished_total",
                ",result=\"Failed\"",
                "0".into()
            ),
        ]
    );
}

#[test]
fn session_invalid_failed_state_and_cron_period() {
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let out = of(
        &families(&[Arc::new(session_revoked())], &HashMap::new(), now),
        "daily",
    );
    for line in [
        "channelcollection_status_session_invalid{namespace=\"telegram\",collection=\"daily\"} 1",
        "channelcollection_status_state{namespace=\"telegram\",collection=\"daily\",state=\"Failed\"} 1",
        "channelcollection_status_last_run_result{namespace=\"telegram\",collection=\"daily\",result=\"Failed\"} 1",
        "channelcollection_spec_schedule_period_seconds{namespace=\"telegram\",collection=\"daily\"} 86400",
    ] {
        assert!(
            out.contains(&line.to_string()),
            "missing {line} in {out:#?}"
        );
    }
    // What the status does not say is not made up: no ETA, no run times, no next run.
    for absent in [
        "estimated_time_remaining",
        "collection_start_time",
        "last_run_start_time",
        "last_successful_time",
        "next_run_time",
    ] {
        assert!(
            !out.iter().any(|s| s.contains(absent)),
            "{absent} in {out:#?}"
        );
    }
}

#[test]
fn a_collection_never_reconciled_has_every_state_at_zero() {
    let cc = ChannelCollection::test().named("fresh").suspended();
    let out = of(&families(&[Arc::new(cc)], &HashMap::new(), t0()), "fresh");
    let states: Vec<&String> = out.iter().filter(|s| s.contains("status_state")).collect();
    assert_eq!(states.len(), 6);
    assert!(states.iter().all(|s| s.ends_with(" 0")), "{states:#?}");
    assert!(
        out.contains(
            &"channelcollection_spec_suspend{namespace=\"telegram\",collection=\"fresh\"} 1"
                .to_string()
        )
    );
    assert!(!out.iter().any(|s| s.contains("last_run_result")));
}

#[test]
fn counters_come_from_the_run_totals() {
    let mut totals = RunTotals::default();
    for (messages, result) in [
        (Some(40), RunResult::Succeeded),
        (Some(2), RunResult::Failed),
        (None, RunResult::Failed),
    ] {
        totals.add(&RunSummary {
            job: "news-x".into(),
            result: Some(result),
            messages,
            ..RunSummary::default()
        });
    }
    let totals = HashMap::from([(CollectionKey::new(NAMESPACE, "news"), totals)]);
    let out = of(&families(&[Arc::new(collecting())], &totals, t0()), "news");
    for line in [
        "channelcollection_messages_collected_total{namespace=\"telegram\",collection=\"news\"} 42",
        "channelcollection_runs_finished_total{namespace=\"telegram\",collection=\"news\",result=\"Succeeded\"} 1",
        "channelcollection_runs_finished_total{namespace=\"telegram\",collection=\"news\",result=\"Failed\"} 2",
    ] {
        assert!(
            out.contains(&line.to_string()),
            "missing {line} in {out:#?}"
        );
    }
}

#[test]
fn media_counters_are_by_outcome_and_only_for_collections_with_media() {
    let mut totals = RunTotals::default();
    for files in [3, 4] {
        totals.add(&RunSummary {
            job: "news-x".into(),
            result: Some(RunResult::Succeeded),
            media: Some(RunMedia {
                files_downloaded: files,
                bytes_downloaded: files * 1_000,
                files_skipped_too_big: 1,
                files_skipped_over_budget: 2,
                bytes_skipped: 7_000,
                files_failed: 1,
            }),
            ..RunSummary::default()
        });
    }
    // A run that had no media (before spec.media was set) adds nothing.
    totals.add(&RunSummary {
        job: "news-y".into(),
        result: Some(RunResult::Succeeded),
        ..RunSummary::default()
    });
    let key = CollectionKey::new(NAMESPACE, "news");
    let with_media = collecting().media(crds::testing::media_s3());
    let out = of(
        &families(
            &[Arc::new(with_media.clone())],
            &HashMap::from([(key.clone(), totals)]),
            t0(),
        ),
        "news",
    );
    let media: Vec<&String> = out.iter().filter(|s| s.contains("_media_")).collect();
    let expected = [
        "channelcollection_media_files_total{namespace=\"telegram\",collection=\"news\",outcome=\"downloaded\"} 7",
        "channelcollection_media_files_total{namespace=\"telegram\",collection=\"news\",outcome=\"skipped_too_big\"} 2",
        "channelcollection_media_files_total{namespace=\"telegram\",collection=\"news\",outcome=\"skipped_over_budget\"} 4",
        "channelcollection_media_files_total{namespace=\"telegram\",collection=\"news\",outcome=\"failed\"} 2",
        "channelcollection_media_bytes_total{namespace=\"telegram\",collection=\"news\",outcome=\"downloaded\"} 7000",
        "channelcollection_media_bytes_total{namespace=\"telegram\",collection=\"news\",outcome=\"skipped\"} 14000",
    ];
    assert_eq!(media, expected.iter().collect::<Vec<_>>());

    // With media on but no run seen yet, every outcome starts at 0.
    let fresh = of(
        &families(&[Arc::new(with_media)], &HashMap::new(), t0()),
        "news",
    );
    assert_eq!(fresh.iter().filter(|s| s.contains("_media_")).count(), 6);
    assert!(
        fresh
            .iter()
            .filter(|s| s.contains("_media_"))
            .all(|s| s.ends_with(" 0"))
    );
    // Without spec.media and nothing counted: no media series at all.
    let off = of(
        &families(&[Arc::new(collecting())], &HashMap::new(), t0()),
        "news",
    );
    assert!(!off.iter().any(|s| s.contains("_media_")), "{off:#?}");
}

#[test]
fn only_listed_collections_have_series_sorted_by_namespace_and_name() {
    let mut elsewhere = collecting();
    elsewhere.metadata.namespace = Some("archive".into());
    let totals = HashMap::from([(
        // Totals of a collection that is gone are not exported.
        CollectionKey::new(NAMESPACE, "deleted"),
        RunTotals {
            messages: 5,
            succeeded: 1,
            ..RunTotals::default()
        },
    )]);
    let out = families(
        &[
            Arc::new(session_revoked()),
            Arc::new(collecting()),
            Arc::new(elsewhere),
        ],
        &totals,
        t0(),
    );
    let created: Vec<String> = series(&out)
        .into_iter()
        .filter(|s| s.starts_with("channelcollection_created"))
        .map(|s| s.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        created,
        [
            "channelcollection_created{namespace=\"archive\",collection=\"news\"}",
            "channelcollection_created{namespace=\"telegram\",collection=\"daily\"}",
            "channelcollection_created{namespace=\"telegram\",collection=\"news\"}",
        ]
    );
    assert!(of(&out, "deleted").is_empty());
    assert!(
        families(&[], &totals, t0()).is_empty(),
        "no collection, no family"
    );
}

#[test]
fn every_family_has_help_and_a_kube_state_metrics_name() {
    for d in FAMILIES {
        assert!(d.name.starts_with("channelcollection_"), "{}", d.name);
        assert!(!d.help.is_empty() && d.help.ends_with('.'), "{}", d.name);
        assert!(
            !d.name.ends_with("_total"),
            "the encoder adds _total: {}",
            d.name
        );
        if d.name.ends_with("_time") || d.name.ends_with("_seconds") || d.name.contains("_seconds_")
        {
            assert_eq!(d.kind, Kind::Gauge, "{}", d.name);
        }
    }
}

#[test]
fn expected_period_is_the_interval_or_the_gap_between_the_last_two_cron_times() {
    let utc = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
    let cadence = |cc: ChannelCollection| Cadence::from_spec(&cc.spec).unwrap();
    let every = cadence(ChannelCollection::test().interval("1h30m"));
    assert_eq!(
        expected_period(&every, utc(28, 12)),
        Some(TimeDelta::minutes(90))
    );

    let weekdays = cadence(ChannelCollection::test().cron("0 9 * * 1-5", None));
    // 2026-11-30 is a Monday: after its 09:00 the last two times are Friday and Monday.
    assert_eq!(
        expected_period(&weekdays, utc(30, 10)),
        Some(TimeDelta::hours(72))
    );
    // 2026-11-26 is a Thursday: Wednesday and Thursday.
    assert_eq!(
        expected_period(&weekdays, utc(26, 10)),
        Some(TimeDelta::hours(24))
    );

    let berlin = cadence(ChannelCollection::test().cron("0 3 * * *", Some("Europe/Berlin")));
    assert_eq!(
        expected_period(&berlin, utc(28, 12)),
        Some(TimeDelta::hours(24))
    );
    // Across the end of summer time (2026-10-25 in Berlin) the day had 25 hours.
    let after_dst = Utc.with_ymd_and_hms(2026, 10, 25, 12, 0, 0).unwrap();
    assert_eq!(
        expected_period(&berlin, after_dst),
        Some(TimeDelta::hours(25))
    );
}

#[test]
fn an_invalid_spec_has_no_period() {
    let broken = ChannelCollection::test()
        .named("broken")
        .interval("10 minutes");
    let out = of(
        &families(&[Arc::new(broken)], &HashMap::new(), t0()),
        "broken",
    );
    assert!(
        !out.iter().any(|s| s.contains("schedule_period")),
        "{out:#?}"
    );
}
