//! Rows written by the collector's own writer (`contract::audit::AuditWriter`) read back by the operator's
//! reader into the expected status, on a fresh migrated database per test.

mod common;

use std::time::Duration;

use common::progress::*;
use contract::audit::{AuditWriter, EndReason, ErrorReason, PastRunLimits, RunIdentity};
use crds::{CollectionState, RunResult};
use operator::status::reader::{self, AuditSnapshot};
use operator::status::{AuditInput, ProgressUnavailable, derive};
use sqlx::PgPool;

const SPEC: [&str; 4] = ["@alpha", "@bravo", "@charlie", "@delta"];

/// Writes every row of `log` through the collector's writer, in order. The collection is the
/// run id's prefix (`news-7` belongs to `media/news`).
async fn write_all(pool: &PgPool, log: &Log) {
    for (run, row) in log.all() {
        let name = run.split('-').next().unwrap();
        let writer = AuditWriter::new(
            pool.clone(),
            RunIdentity {
                run_id: run.clone(),
                namespace: "media".into(),
                name: name.into(),
                pod_name: row.pod_name.clone(),
                shard: row.shard,
            },
        );
        writer.record(row.event.as_ref().unwrap()).await.unwrap();
    }
}

/// A finished run of the four channels: alpha 10 s, bravo 200 s, charlie 10 s, delta 10 s.
fn previous_run(log: &mut Log, run: &str, start: i64) {
    let mut a = Attempt::start(log, run, &format!("{run}-pod"), 4, start);
    let mut t = start;
    for (channel, took) in SPEC.iter().zip([10, 200, 10, 10]) {
        t += took;
        a.done(log, channel, 10, t);
    }
    a.end(log, t, None);
}

async fn snapshot(pool: &PgPool, run: &str) -> AuditSnapshot {
    read_snapshot(pool, "media", "news", &run.into(), PastRunLimits::default())
        .await
        .unwrap()
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn collector_rows_read_back_into_the_expected_status(pool: PgPool) {
    let mut log = Log::new();
    previous_run(&mut log, "news-1", -10_000);
    // The current run and another collection's run, interleaved.
    let mut run = Attempt::start(&mut log, "news-2", "news-2-x1", 4, 0);
    let mut other = Attempt::start(&mut log, "sports-2", "sports-2-y1", 1, 1);
    run.done(&mut log, "@alpha", 40, 10);
    other.done(&mut log, "@football", 999, 11);
    other.end(&mut log, 12, None);
    run.fail(
        &mut log,
        "@bravo",
        ErrorReason::ChannelPrivate,
        "channel is private",
        15,
    );
    write_all(&pool, &log).await;

    let snap = snapshot(&pool, "news-2").await;
    assert_eq!(snap.rows.len(), 3, "only news-2's rows");
    let job = job_active("news-2", 0);
    let followed = tracked("news-2", Some(&job), snap.as_input());
    let status = derive(&collection(&SPEC), Some(&followed), at(20));
    assert_eq!(status.state, CollectionState::Collecting);
    assert!(status.finished.is_none());
    assert_eq!(status.progress.as_deref(), Some("2/4"));
    assert_eq!(status.messages_collected_current_run, 40);
    assert_eq!(status.errors_current_run, 1);
    assert_eq!(status.current_channel.as_deref(), Some("@charlie"));
    // From news-1: charlie 10 s (5 s in), delta 10 s.
    assert_eq!(status.estimated_time_remaining, Some(15));
    assert_eq!(status.recent_errors.len(), 1);
    assert_eq!(status.recent_errors[0].reason, "ChannelPrivate");

    // The run ends; the Job completes.
    let mut log = Log::new();
    run.done(&mut log, "@charlie", 5, 25);
    run.done(&mut log, "@delta", 6, 35);
    run.end(&mut log, 36, None);
    // `Attempt` numbers rows per log; the writer's ids come from the table.
    write_all(&pool, &log).await;
    let snap = snapshot(&pool, "news-2").await;
    let job = job_complete("news-2", 0, 37);
    let followed = tracked("news-2", Some(&job), snap.as_input());
    let status = derive(&collection(&SPEC), Some(&followed), at(40));
    assert_eq!(status.state, CollectionState::Idle);
    assert!(status.finished.is_some());
    assert_eq!(status.eta, None);
    let summary = status.finished.unwrap();
    assert_eq!(summary.result, Some(RunResult::Succeeded));
    assert_eq!(
        (
            summary.messages,
            summary.channels_synced,
            summary.channels_total,
            summary.errors
        ),
        (Some(51), Some(3), Some(4), Some(1))
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn retried_pod_and_revoked_session(pool: PgPool) {
    let mut log = Log::new();
    let mut first = Attempt::start(&mut log, "news-3", "news-3-a", 4, 0);
    first.done(&mut log, "@alpha", 7, 10);
    let second = Attempt::start(&mut log, "news-3", "news-3-b", 4, 30);
    second.end(&mut log, 31, Some(EndReason::SessionInvalid));
    write_all(&pool, &log).await;

    let snap = snapshot(&pool, "news-3").await;
    let job = job_failed(
        "news-3",
        0,
        32,
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
    let followed = tracked("news-3", Some(&job), snap.as_input());
    let status = derive(&collection(&SPEC), Some(&followed), at(40));
    assert!(status.session_invalid);
    assert_eq!(status.state, CollectionState::Failed);
    assert_eq!(
        status.progress.as_deref(),
        Some("0/4"),
        "the newest attempt did nothing"
    );
    let summary = status.finished.unwrap();
    assert_eq!(summary.reason.as_deref(), Some("SessionInvalid"));
    assert_eq!(
        summary.messages,
        Some(7),
        "the first attempt's messages count"
    );
    assert_eq!(summary.start_time, Some(operator::time::to_k8s(at(0))));
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn history_is_bounded_newest_first_and_skips_unfinished_runs(pool: PgPool) {
    let mut log = Log::new();
    for i in 0..7 {
        previous_run(&mut log, &format!("news-{i}"), -100_000 + 1_000 * i);
    }
    // A crashed run (no end) and another collection's run are not history.
    let mut crashed = Attempt::start(&mut log, "news-crashed", "p", 4, -500);
    crashed.done(&mut log, "@alpha", 1, -400);
    previous_run(&mut log, "sports-9", -300);
    write_all(&pool, &log).await;

    let limits = PastRunLimits {
        max_runs: 3,
        max_scanned_rows: 1_000,
    };
    let runs = contract::audit::recent_finished_runs(&pool, "media", "news", "news-6", limits)
        .await
        .unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["news-5", "news-4", "news-3"]);
    // Start and progress rows only, in write order.
    assert_eq!(runs[0].rows.len(), 5);
    assert!(runs[0].rows.windows(2).all(|w| w[0].id < w[1].id));

    // The scan bound: the newest 8 rows of news hold only the crashed run and news-6.
    let tight = PastRunLimits {
        max_runs: 3,
        max_scanned_rows: 8,
    };
    let runs = contract::audit::recent_finished_runs(&pool, "media", "news", "news-x", tight)
        .await
        .unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["news-6"]);

    let history = reader::read_durations(&pool, "media", "news", &"news-7".into(), limits)
        .await
        .unwrap();
    assert_eq!(
        history.expected("@bravo"),
        Some(chrono::TimeDelta::seconds(200))
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn history_keeps_whole_runs_before_a_run_of_many_shards(pool: PgPool) {
    let mut log = Log::new();
    for i in 1..=3 {
        previous_run(&mut log, &format!("news-{i}"), -100_000 + 1_000 * i);
    }
    // Two runs of 20 indexes, one channel each; every index's first pod is stopped after its
    // channel and its retry ends too: 40 `collection_end` rows per run.
    for (run, start) in [("news-4", -50_000), ("news-5", -40_000)] {
        for index in 0..20u32 {
            let channel = format!("@shard{index:02}");
            let took = 10 + i64::from(index);
            let mut first = Attempt::start_in(
                &mut log,
                run,
                &format!("{run}-{index}-a"),
                Some(index),
                1,
                start,
            );
            first.done(&mut log, &channel, 5, start + took);
            first.end(&mut log, start + took, Some(EndReason::Terminated));
            let retry = Attempt::start_in(
                &mut log,
                run,
                &format!("{run}-{index}-b"),
                Some(index),
                0,
                start + 100,
            );
            retry.end(&mut log, start + 101, None);
        }
    }
    write_all(&pool, &log).await;

    let limits = PastRunLimits::default();
    let runs = contract::audit::recent_finished_runs(&pool, "media", "news", "news-6", limits)
        .await
        .unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["news-5", "news-4", "news-3", "news-2", "news-1"]);
    // Whole: every index's start and progress rows, tagged with their index.
    let shards: std::collections::BTreeSet<Option<u32>> =
        runs[0].rows.iter().map(|r| r.shard).collect();
    assert_eq!(shards.len(), 20);
    assert_eq!(runs[0].rows.len(), 20 * 3);

    let history = reader::read_durations(&pool, "media", "news", &"news-6".into(), limits)
        .await
        .unwrap();
    assert_eq!(
        history.expected("@shard07"),
        Some(chrono::TimeDelta::seconds(17))
    );
    assert_eq!(
        history.expected("@bravo"),
        Some(chrono::TimeDelta::seconds(200))
    );
}

#[tokio::test]
async fn an_unreachable_database_shows_job_status_only_and_no_secret() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://collector:hunter2-secret@127.0.0.1:1/audit")
        .unwrap();
    let read = read_snapshot(
        &pool,
        "media",
        "news",
        &"news-4".into(),
        PastRunLimits::default(),
    )
    .await;
    let error = read.as_ref().unwrap_err();
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(!chain.contains("hunter2"), "{chain}");

    let input = reader::input_from(Some(&read));
    assert!(matches!(
        input,
        AuditInput::Unavailable(ProgressUnavailable::Unreachable)
    ));
    let job = job_active("news-4", 0);
    let followed = tracked("news-4", Some(&job), input);
    let status = derive(&collection(&SPEC), Some(&followed), at(60));
    assert_eq!(
        status.progress_unavailable,
        Some(ProgressUnavailable::Unreachable)
    );
    assert_eq!(status.state, CollectionState::Collecting);
    assert_eq!(
        (
            status.progress,
            status.eta,
            status.messages_collected_current_run
        ),
        (None, None, 0)
    );
    assert!(
        !ProgressUnavailable::Unreachable
            .message()
            .contains("postgres")
    );

    assert!(matches!(
        reader::input_from(None),
        AuditInput::Unavailable(ProgressUnavailable::NotConfigured)
    ));
}
